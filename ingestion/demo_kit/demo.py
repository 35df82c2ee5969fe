"""`customer360 demo`: generate → serve → load every source with dlt → dbt build → sync → summary."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from ingestion.activation.sync import sync
from ingestion.dbt_runner import print_outcome, run_dbt
from ingestion.demo_kit.generate import generate
from ingestion.demo_kit.servers.mailchimp import MailchimpServer, mailchimp_platform, new_api_key
from ingestion.demo_kit.servers.run import running_servers
from ingestion.errors import UserError, duckdb_locked, is_duckdb_lock_error
from ingestion.loading import load
from ingestion.progress import step
from ingestion.settings import Settings


@dataclass
class WarehouseSummary:
    """What the warehouse holds after a demo: the figures a user checks first."""

    rows_by_source: dict[str, int] = field(default_factory=dict)  # raw rows landed (rejected tables excluded)
    rejected_by_table: dict[str, int] = field(default_factory=dict)  # raw_<source>.rejected_* rows, all loads
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)
    # source -> copies folded into a row already kept: Segment redeliveries of a messageId, CSV rows of a
    # contact_id exported again (staging keeps its latest version)
    duplicates_merged: dict[str, int] = field(default_factory=dict)
    source_records: int | None = None
    customers: int | None = None
    sendable: int | None = None


def _relation_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    sql = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    return bool(con.execute(sql, [schema, name]).fetchone()[0])


def warehouse_summary(settings: Settings) -> WarehouseSummary:
    """Rows per raw source, rejected rows, duplicates merged, quarantine per rule, unified customers and
    sendable audience."""
    from ingestion.sources.segment import delivered_messages

    path = settings.duckdb_path
    delivered = delivered_messages(settings=settings)  # dlt's committed state (read before DuckDB is opened here)
    try:
        # Same configuration as dbt's in-process connection (read-write), or DuckDB refuses a second one.
        con = duckdb.connect(str(path))
    except duckdb.Error as error:
        if is_duckdb_lock_error(error):
            raise duckdb_locked(path) from error
        raise
    summary = WarehouseSummary()
    try:
        tables = con.execute(
            """
            select table_schema, table_name from information_schema.tables
            where table_schema like 'raw\\_%' escape '\\' and table_schema not like '%\\_staging' escape '\\'
              and table_name not like '\\_dlt%' escape '\\'
              and table_type = 'BASE TABLE'
            """
        ).fetchall()
        for schema, table in tables:
            (count,) = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()
            if table.startswith("rejected_"):
                summary.rejected_by_table[f"{schema}.{table}"] = count
            else:
                source = schema.removeprefix("raw_")
                summary.rows_by_source[source] = summary.rows_by_source.get(source, 0) + count
        if delivered is not None and _relation_exists(con, "raw_segment", "events"):
            (events,) = con.execute("select count(*) from raw_segment.events").fetchone()
            summary.duplicates_merged["segment"] = max(delivered - events, 0)
        for (table,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw_csv_contacts' "
            "and table_name <> 'rejected_rows' and table_name not like '\\_dlt%' escape '\\' "
            "and table_type = 'BASE TABLE' order by 1"
        ).fetchall():
            (extra_versions,) = con.execute(
                f"select count(nullif(trim(contact_id), '')) - count(distinct nullif(trim(contact_id), '')) "
                f'from raw_csv_contacts."{table}"'
            ).fetchone()
            summary.duplicates_merged[table] = extra_versions
        if _relation_exists(con, "marts", "customer_identities"):
            summary.source_records = con.execute("select count(*) from marts.customer_identities").fetchone()[0]
        if _relation_exists(con, "intermediate", "int_quality__quarantine"):
            summary.quarantined_by_rule = dict(
                con.execute(
                    "select rule_name, count(*) from intermediate.int_quality__quarantine group by 1 order by 2 desc"
                ).fetchall()
            )
        if _relation_exists(con, "marts", "customers"):
            summary.customers = con.execute("select count(*) from marts.customers").fetchone()[0]
        if _relation_exists(con, "marts", "email_audience"):
            summary.sendable = con.execute("select count(*) from marts.email_audience").fetchone()[0]
        return summary
    finally:
        con.close()


def sync_to_local_platform(settings: Settings) -> list[str]:
    """`customer360 sync` twice against a fresh local Mailchimp audience: the counts of each run."""
    with MailchimpServer(new_api_key()) as server:
        platform = mailchimp_platform(server)
        return [sync(settings=settings, platform=platform).line() for _ in range(2)]


def run_demo(customers: int, seed: int, as_of: date | None, data_dir: Path | None, settings: Settings) -> int:
    started = time.perf_counter()
    data = (data_dir or settings.data_dir).resolve()

    t = step(f"generating {customers:,} people (seed {seed}) into {data}")
    manifest = generate(data, customers=customers, seed=seed, as_of=as_of)
    print(f"    {sum(manifest['row_counts'].values()):,} rows in {time.perf_counter() - t:.1f}s", file=sys.stderr)

    t = step("serving HubSpot and Shopify locally, loading all sources with dlt")
    with running_servers(data) as servers:
        summaries = load("all", data_dir=data, settings=settings, access=servers.access())
    for summary in summaries:
        print(f"    {summary.line()}", file=sys.stderr)
    print(f"    loaded in {time.perf_counter() - t:.1f}s", file=sys.stderr)

    t = step("dbt build (progress below; full log in logs/dbt.log)")
    outcome = run_dbt(["build"], progress=sys.stderr, settings=settings)
    print(f"    dbt build finished in {time.perf_counter() - t:.1f}s", file=sys.stderr)

    synced: list[str] = []
    if outcome.success:
        t = step("customer360 sync to a local Mailchimp audience, twice (the second run has nothing to send)")
        synced = sync_to_local_platform(settings)
        print(f"    synced in {time.perf_counter() - t:.1f}s", file=sys.stderr)

    summary = warehouse_summary(settings)
    print("\ncustomer360 demo summary")
    for source, count in sorted(summary.rows_by_source.items()):
        print(f"  rows landed, {source}: {count:,}")
    rejected = sum(summary.rejected_by_table.values())
    where = ", ".join(f"{table} ({n:,})" for table, n in sorted(summary.rejected_by_table.items()) if n)
    print(f"  rejected at load, all loads: {rejected:,}" + (f" — see {where}" if where else ""))
    merged = ", ".join(f"{source} {n:,}" for source, n in sorted(summary.duplicates_merged.items()))
    print(
        f"  duplicates merged: {sum(summary.duplicates_merged.values()):,}"
        + (
            f" ({merged}: Segment messages delivered more than once keep one row per messageId; CSV contacts "
            "exported again keep their latest row)"
            if merged
            else ""
        )
    )
    quarantined = sum(summary.quarantined_by_rule.values())
    rules = ", ".join(f"{rule} {n:,}" for rule, n in summary.quarantined_by_rule.items())
    detail = f" ({rules}; see intermediate.int_quality__quarantine)" if rules else ""
    print(f"  quarantined in staging: {quarantined:,}{detail}")
    not_built = "(not built)"
    records = "" if summary.source_records is None else f" (from {summary.source_records:,} source records)"
    print(f"  unified customers: {not_built if summary.customers is None else f'{summary.customers:,}'}{records}")
    print(f"  sendable audience: {not_built if summary.sendable is None else f'{summary.sendable:,}'}")
    tests = f"passed: {outcome.tests_passed:,}, warned: {outcome.tests_warned:,}, failed: {outcome.tests_failed:,}"
    print(f"  dbt tests {tests}")
    for line in synced:
        print(f"  email platform, {line}")
    print(f"  warehouse: {settings.duckdb_path}  (query it: customer360 sql)")
    print(f"  wall time: {time.perf_counter() - started:.0f}s")
    if not outcome.success:
        print_outcome(outcome)
        raise UserError(f"dbt build failed ({len(outcome.failures)} failing nodes, listed above)")
    return 0
