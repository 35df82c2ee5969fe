"""Quality history: every run appends its figures to ``monitoring.run_metrics``.

The table belongs to the runner, not to dbt: dbt reads it as the source ``monitoring.run_metrics``, so
no `dbt build --full-refresh` (and no rebuilt warehouse schema) can drop the history. One row per
(run, metric, dimension); the dimension is the source system, the quarantine rule, or '' for
warehouse-wide figures. docs/decisions.md lists the metrics.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from ingestion.dbt_runner import DbtOutcome

CREATE_TABLES = """
create schema if not exists monitoring;
create table if not exists monitoring.run_metrics (
    run_id varchar not null,
    run_started_at timestamp not null,
    metric_name varchar not null,
    dimension varchar not null,
    metric_value double,
    recorded_at timestamp not null
);
create table if not exists monitoring.runs (
    run_id varchar not null,
    run_started_at timestamp not null,
    finished_at timestamp,
    status varchar not null,
    failed_steps varchar,
    published boolean not null
);
"""


@dataclass(frozen=True)
class MetricRow:
    run_id: str
    run_started_at: datetime
    metric_name: str
    dimension: str
    metric_value: float | None


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    sql = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    return bool(con.execute(sql, [schema, table]).fetchone()[0])  # type: ignore[index]


def run_quarantine(con: duckdb.DuckDBPyConnection, started_epoch: float) -> tuple[int, dict[str, int]]:
    """Rows brought in by this run's loads (dlt load ids are the load's unix time) and, per rule, the
    rows of those loads the quarantine holds. (0, {}) before the quality models exist."""
    if not _exists(con, "intermediate", "int_quality__load_summary"):
        return 0, {}
    (rows_in,) = con.execute(
        "select coalesce(sum(rows_in), 0) from intermediate.int_quality__load_summary"
        " where try_cast(load_id as double) >= ?",
        [started_epoch],
    ).fetchone()  # type: ignore[misc]
    by_rule = con.execute(
        "select rule_name, sum(rows_quarantined) from intermediate.int_quality__rule_summary"
        " where try_cast(load_id as double) >= ? group by rule_name order by rule_name",
        [started_epoch],
    ).fetchall()
    return int(rows_in), {rule: int(n) for rule, n in by_rule}


def freshness_lag_hours(con: duckdb.DuckDBPyConnection, now: datetime) -> dict[str, float]:
    """Hours since each raw dataset's last completed dlt load (``_dlt_loads``, status 0)."""
    schemas = con.execute(
        "select table_schema from information_schema.tables where table_name = '_dlt_loads'"
        " and table_schema like 'raw\\_%' escape '\\' and table_schema not like '%\\_staging' escape '\\'"
    ).fetchall()
    lags: dict[str, float] = {}
    for (schema,) in schemas:
        (newest,) = con.execute(f'select max(inserted_at) from "{schema}"._dlt_loads where status = 0').fetchone()  # type: ignore[misc]
        if newest is not None:
            if newest.tzinfo is not None:
                newest = newest.astimezone(UTC).replace(tzinfo=None)
            lags[schema.removeprefix("raw_")] = max(0.0, (now - newest).total_seconds() / 3600)
    return lags


def collect(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    started_at: datetime,
    now: datetime,
    rows_landed: dict[str, int],
    rows_rejected: dict[str, int],
    outcome: DbtOutcome | None,
) -> list[MetricRow]:
    """This run's figures, read from the load results, the dbt outcome and the built warehouse."""
    rows: list[MetricRow] = []

    def add(name: str, dimension: str, value: float | None) -> None:
        rows.append(MetricRow(run_id, started_at, name, dimension, value))

    for system, n in sorted(rows_landed.items()):
        add("rows_landed", system, n)
    for system, n in sorted(rows_rejected.items()):
        add("rows_rejected", system, n)
    rows_in, by_rule = run_quarantine(con, epoch(started_at))
    for rule, n in by_rule.items():
        add("quarantined_rows", rule, n)
        if rows_in:
            add("quarantine_rate", rule, n / rows_in)
    for system, lag in sorted(freshness_lag_hours(con, now).items()):
        add("freshness_lag_hours", system, round(lag, 3))
    if _exists(con, "marts", "customers"):
        add("unified_customers", "", con.execute("select count(*) from marts.customers").fetchone()[0])  # type: ignore[index]
    if _exists(con, "marts", "customer_id_history"):
        changes = dict(
            con.execute(
                "select change_reason, count(*) from marts.customer_id_history where assigned_at >= ?"
                " and change_reason in ('merge', 'split') group by change_reason",
                [started_at],
            ).fetchall()
        )
        add("identity_merges", "", changes.get("merge", 0))
        add("identity_splits", "", changes.get("split", 0))
    if _exists(con, "marts", "email_audience"):
        add("sendable_audience", "", con.execute("select count(*) from marts.email_audience").fetchone()[0])  # type: ignore[index]
    if outcome is not None:
        add("test_failures", "", outcome.tests_failed)
        add("test_warnings", "", outcome.tests_warned)
    return rows


def epoch(naive_utc: datetime) -> float:
    return naive_utc.replace(tzinfo=UTC).timestamp()


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in filter(str.strip, CREATE_TABLES.split(";")):
        con.execute(statement)


def append(con: duckdb.DuckDBPyConnection, rows: Iterable[MetricRow], recorded_at: datetime) -> int:
    ensure_tables(con)
    values = [(r.run_id, r.run_started_at, r.metric_name, r.dimension, r.metric_value, recorded_at) for r in rows]
    if values:
        con.executemany("insert into monitoring.run_metrics values (?, ?, ?, ?, ?, ?)", values)
    return len(values)


def record_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    started_at: datetime,
    finished_at: datetime,
    failed_steps: list[str],
    published: bool,
) -> None:
    ensure_tables(con)
    status = "succeeded" if not failed_steps else "failed"
    con.execute(
        "insert into monitoring.runs values (?, ?, ?, ?, ?, ?)",
        [run_id, started_at, finished_at, status, ",".join(failed_steps) or None, published],
    )
