"""`customer360 demo`: generate → serve → load every source with dlt → dbt build → summary."""

from __future__ import annotations

import os
import sys
import time
from datetime import date
from pathlib import Path

import duckdb

from ingestion import settings
from ingestion.dbt_runner import run_dbt
from ingestion.errors import UserError, duckdb_locked, is_duckdb_lock_error
from ingestion.generate import generate
from ingestion.loading import load
from ingestion.servers.run import running_servers


def _step(message: str) -> float:
    print(f"==> {message}", file=sys.stderr, flush=True)
    return time.perf_counter()


def warehouse_summary(path: Path) -> tuple[dict[str, int], int | None]:
    """Rows per raw source schema, and unified customers when the customers mart exists."""
    try:
        # Same configuration as dbt's in-process connection (read-write), or DuckDB refuses a second one.
        con = duckdb.connect(str(path))
    except duckdb.Error as error:
        if is_duckdb_lock_error(error):
            raise duckdb_locked(path) from error
        raise
    try:
        tables = con.execute(
            """
            select table_schema, table_name from information_schema.tables
            where table_schema like 'raw\\_%' escape '\\' and table_schema not like '%\\_staging' escape '\\'
              and table_name not like '\\_dlt%' escape '\\'
              and table_type = 'BASE TABLE'
            """
        ).fetchall()
        rows: dict[str, int] = {}
        for schema, table in tables:
            (count,) = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()
            rows[schema.removeprefix("raw_")] = rows.get(schema.removeprefix("raw_"), 0) + count
        has_customers = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'marts' and table_name = 'customers'"
        ).fetchone()[0]
        customers = con.execute("select count(*) from marts.customers").fetchone()[0] if has_customers else None
        return rows, customers
    finally:
        con.close()


def run_demo(customers: int, seed: int, as_of: date | None, data_dir: Path | None) -> int:
    started = time.perf_counter()
    data = (data_dir or settings.data_dir()).resolve()

    t = _step(f"generating {customers:,} people (seed {seed}) into {data}")
    manifest = generate(data, customers=customers, seed=seed, as_of=as_of)
    print(f"    {sum(manifest['row_counts'].values()):,} rows in {time.perf_counter() - t:.1f}s", file=sys.stderr)

    t = _step("serving HubSpot and Shopify locally, loading all sources with dlt")
    with running_servers(data) as servers:
        os.environ.update(servers.loader_environment())
        summaries = load("all", data_dir=data)
    for summary in summaries:
        print(f"    {summary.line()}", file=sys.stderr)
    print(f"    loaded in {time.perf_counter() - t:.1f}s", file=sys.stderr)

    t = _step("dbt build")
    outcome = run_dbt(["build"])
    print(f"    dbt build finished in {time.perf_counter() - t:.1f}s", file=sys.stderr)

    rows, unified = warehouse_summary(settings.duckdb_path())
    print("\ncustomer360 demo summary")
    for source, count in sorted(rows.items()):
        print(f"  rows loaded, {source}: {count:,}")
    rejected = sum(s.rejected for s in summaries)
    print(f"  rejected at load (kept in rejected tables): {rejected:,}")
    print(
        f"  unified customers: {unified:,}"
        if unified is not None
        else "  unified customers: (customers mart not built)"
    )
    print(f"  dbt tests passed: {outcome.tests_passed:,}, failed: {outcome.tests_failed:,}")
    print(f"  warehouse: {settings.duckdb_path()}")
    print(f"  wall time: {time.perf_counter() - started:.0f}s")
    for failure in outcome.failures[:20]:
        print(f"  FAILED {failure}", file=sys.stderr)
    if not outcome.success:
        raise UserError(f"dbt build failed ({len(outcome.failures)} failing nodes, listed above)")
    return 0
