"""The steps of a scheduled run, shared by `customer360 run` and the Airflow DAG.

load (per source, retried with exponential backoff, each attempt a child process with a timeout)
→ freshness gate (`dbt source freshness`) → build (`dbt build`, data tests are the second gate)
→ quality history (figures appended to ``monitoring.run_metrics``) → anomaly check (dbt, warn)
→ publish (``published.*`` replaced in one DuckDB transaction, only when every gate passed) → sync hook.

DuckDB allows one writer per file. Every step that writes takes ``warehouse_writer_lock`` (an OS file
lock next to the warehouse, released by the kernel if its holder dies), so two runs, or two Airflow
tasks, never write at once whatever the scheduler does; the DAG also puts them in a one-slot pool.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ingestion.dbt_runner import DbtOutcome, production_build_args
from ingestion.errors import UserError, duckdb_locked, is_duckdb_lock_error
from ingestion.orchestration.alerts import Alert, first_line
from ingestion.settings import Settings, resolve

# The activation marts the email platform reads; `published.<name>_rows` keeps their last good rows and
# the dbt view `published.<name>` serves them through the live suppression guard.
PUBLISHED_MODELS = ("email_audience", "cart_abandonment_triggers")
MONITORING_SELECTOR = "tag:monitoring"
PUBLISHED_SELECTOR = "tag:published"
SYNC_COMMAND_ENV = "CUSTOMER360_SYNC_COMMAND"


def _float_env(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1
    if number < 0:
        raise UserError(f"{name} must be a non-negative number, got {value!r}")
    return number


@dataclass(frozen=True)
class RetryPolicy:
    """Per load: attempts, exponential backoff (initial delay doubled each retry, capped) and a timeout."""

    attempts: int = 3
    initial_delay: float = 30.0
    max_delay: float = 600.0
    timeout: float = 3600.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        attempts = int(_float_env("CUSTOMER360_LOAD_ATTEMPTS", cls.attempts))
        if attempts < 1:
            raise UserError("CUSTOMER360_LOAD_ATTEMPTS must be at least 1")
        return cls(
            attempts=attempts,
            initial_delay=_float_env("CUSTOMER360_LOAD_RETRY_DELAY_SECONDS", cls.initial_delay),
            max_delay=_float_env("CUSTOMER360_LOAD_MAX_RETRY_DELAY_SECONDS", cls.max_delay),
            timeout=_float_env("CUSTOMER360_LOAD_TIMEOUT_SECONDS", cls.timeout),
        )

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return min(self.initial_delay * 2 ** (retry - 1), self.max_delay)


def new_run_id(now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    return "run_" + moment.strftime("%Y%m%dT%H%M%S%fZ")


def utc_now() -> datetime:
    """Now in UTC without tzinfo: the warehouse's timestamps are naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


@contextmanager
def warehouse_writer_lock(wait_seconds: float | None = None, settings: Settings | None = None) -> Iterator[None]:
    """Hold the warehouse's writer lock for the block; wait for it up to ``wait_seconds`` (default
    CUSTOMER360_WRITER_WAIT_SECONDS, 3600), then fail with one line."""
    path = resolve(settings).duckdb_path
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".writer.lock")
    wait = _float_env("CUSTOMER360_WRITER_WAIT_SECONDS", 3600.0) if wait_seconds is None else wait_seconds
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UserError(
                        f"another step is writing to {path} (lock {lock_path}) for more than {wait:.0f}s"
                    ) from None
                time.sleep(0.5)
        yield
    finally:
        os.close(descriptor)


class StepFailed(Exception):
    """A step or gate failed; ``subjects`` maps each failing source/node to its error's first line."""

    def __init__(self, step: str, subjects: dict[str, str]) -> None:
        self.step = step
        self.subjects = subjects
        summary = "; ".join(f"{subject}: {message}" for subject, message in list(subjects.items())[:5])
        more = f" (and {len(subjects) - 5} more)" if len(subjects) > 5 else ""
        super().__init__(f"{step} failed: {summary}{more}")


# ---------------------------------------------------------------------------------------------- load


@dataclass
class LoadResult:
    source: str
    summaries: list[dict[str, object]] = field(default_factory=list)
    attempts: int = 0
    error: str | None = None

    @property
    def rows_by_source_system(self) -> dict[str, int]:
        rows: dict[str, int] = {}
        for summary in self.summaries:
            system = str(summary["source_system"])
            tables = summary.get("rows_by_table") or {}
            assert isinstance(tables, dict)
            rows[system] = rows.get(system, 0) + sum(n for t, n in tables.items() if not str(t).startswith("rejected_"))
        return rows

    @property
    def rejected_by_source_system(self) -> dict[str, int]:
        rejected: dict[str, int] = {}
        for summary in self.summaries:
            system = str(summary["source_system"])
            rejected[system] = rejected.get(system, 0) + int(summary.get("rejected") or 0)  # type: ignore[call-overload]
        return rejected


def _child_env(settings: Settings) -> dict[str, str]:
    """This process's environment plus every setting, so the child resolves the same settings (and imports
    this same package: the folder it was imported from leads PYTHONPATH)."""
    paths = [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")]
    return {**os.environ, **settings.child_environment(), "PYTHONPATH": os.pathsep.join(filter(None, paths))}


def run_dbt(args: list[str], settings: Settings | None = None) -> DbtOutcome:
    """dbt in a child process (ingestion/orchestration/dbt_task.py) that writes its progress to our
    stderr: this process never holds the warehouse open between steps, so the next step's child
    processes can write to it."""
    done = subprocess.run(
        [sys.executable, "-m", "ingestion.orchestration.dbt_task", *args],
        stdout=subprocess.PIPE,
        text=True,
        env=_child_env(resolve(settings)),
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise StepFailed("dbt", {"dbt": f"dbt {' '.join(args[:1])} could not run (exit status {done.returncode})"})
    result = json.loads(lines[-1])
    outcome = DbtOutcome(success=bool(result["success"]), failures=list(result["failures"]))
    outcome.statuses.update(result["statuses"])
    return outcome


def load_once(
    source: str, data_dir: Path | None, timeout: float, settings: Settings | None = None
) -> list[dict[str, object]]:
    """One load attempt as a child process; raises StepFailed with the error's first line."""
    command = [sys.executable, "-m", "ingestion.orchestration.load_task", source]
    if data_dir is not None:
        command += ["--data", str(data_dir)]
    env = _child_env(resolve(settings))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout or None, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise StepFailed("load", {source: f"timed out after {timeout:.0f}s (the load was stopped)"}) from None
    for line in done.stderr.splitlines():
        print(f"    [{source}] {line}", file=sys.stderr)
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("customer360: error:")]
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        message = errors[-1].removeprefix("customer360: error:").strip() if errors else (lines[-1] if lines else "")
        raise StepFailed("load", {source: message or f"exit status {done.returncode}"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def load_with_retries(
    source: str, data_dir: Path | None, policy: RetryPolicy, settings: Settings | None = None
) -> LoadResult:
    """Up to ``policy.attempts`` attempts with exponential backoff between them."""
    result = LoadResult(source)
    for attempt in range(1, policy.attempts + 1):
        result.attempts = attempt
        try:
            with warehouse_writer_lock(settings=settings):
                result.summaries = load_once(source, data_dir, policy.timeout, settings)
            result.error = None
            return result
        except StepFailed as failure:
            result.error = failure.subjects[source]
            if attempt < policy.attempts:
                delay = policy.delay(attempt)
                print(f"  {source}: attempt {attempt} failed ({result.error}); retrying in {delay:g}s", file=sys.stderr)
                time.sleep(delay)
    return result


# --------------------------------------------------------------------------------------------- gates


def _failed_nodes(outcome: DbtOutcome) -> dict[str, str]:
    subjects: dict[str, str] = {}
    for failure in outcome.failures:
        node, _, message = failure.partition(": ")
        subjects[node] = first_line(message) or "failed"
    if not outcome.success and not subjects:
        subjects["dbt"] = "dbt reported a failure without a failing node (see logs/dbt.log)"
    return subjects


def freshness_gate(settings: Settings | None = None) -> DbtOutcome:
    """`dbt source freshness`: a source past its error_after threshold (or unreadable) fails the gate."""
    with warehouse_writer_lock(settings=settings):
        outcome = run_dbt(["source", "freshness"], settings)
    stale = {key: n for key, n in outcome.statuses.items() if key.endswith(("error", "runtime error"))}
    if not outcome.success or stale:
        subjects = {
            node: message if message != "failed" else "no row loaded within its error_after threshold (or no rows)"
            for node, message in _failed_nodes(outcome).items()
        }
        raise StepFailed("freshness", subjects or {"freshness": f"sources failing: {stale}"})
    return outcome


def build(dbt_args: list[str] | None = None, settings: Settings | None = None) -> DbtOutcome:
    """`dbt build` of everything but the monitoring models; its data tests at error severity are a gate."""
    with warehouse_writer_lock(settings=settings):
        return run_dbt(production_build_args(["build", "--exclude", MONITORING_SELECTOR, *(dbt_args or [])]), settings)


def build_gate(outcome: DbtOutcome) -> None:
    if not outcome.success:
        raise StepFailed("build", _failed_nodes(outcome))


# ------------------------------------------------------------------------------------------- publish


def connect(settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    path = resolve(settings).duckdb_path
    try:
        return duckdb.connect(str(path))
    except duckdb.Error as error:
        if is_duckdb_lock_error(error):
            raise duckdb_locked(path) from error
        raise


def publish(run_id: str, settings: Settings | None = None) -> dict[str, int]:
    """Replace ``published.<mart>_rows`` for every activation mart in ONE transaction, and log it.

    Readers see the previous published rows or the new ones, never a mix, and a crash mid-way rolls back
    to the previous state. They read them through the dbt views ``published.<mart>``, which apply the
    suppression guard live. Returns rows published per mart.
    """
    with warehouse_writer_lock(settings=settings):
        con = connect(settings)
        try:
            first_publish = not all(_table_exists(con, "published", f"{model}_rows") for model in PUBLISHED_MODELS)
            con.execute("begin transaction")
            con.execute("create schema if not exists published")
            con.execute(
                "create table if not exists published.publish_log"
                " (run_id varchar, published_at timestamp, model_name varchar, row_count bigint)"
            )
            counts: dict[str, int] = {}
            now = utc_now()
            for model in PUBLISHED_MODELS:
                con.execute(f'create or replace table published."{model}_rows" as select * from marts."{model}"')
                (counts[model],) = con.execute(f'select count(*) from published."{model}_rows"').fetchone()  # type: ignore[misc]
                con.execute(
                    "insert into published.publish_log values (?, ?, ?, ?)", [run_id, now, model, counts[model]]
                )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        finally:
            con.close()
        if first_publish:
            # the published views were built before their tables existed (empty): build them on the tables
            outcome = run_dbt(["run", "--select", PUBLISHED_SELECTOR], settings)
            if not outcome.success:
                raise StepFailed("publish", _failed_nodes(outcome))
        return counts


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    sql = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    return bool(con.execute(sql, [schema, table]).fetchone()[0])  # type: ignore[index]


def sync_command() -> list[str] | None:
    """The command that pushes the published audience to the email platform, when configured
    (``CUSTOMER360_SYNC_COMMAND``, e.g. ``customer360 sync``); it runs only after a publish."""
    value = os.environ.get(SYNC_COMMAND_ENV, "").strip()
    return shlex.split(value) if value else None


def run_sync(command: list[str], timeout: float, settings: Settings | None = None) -> None:
    env = _child_env(resolve(settings))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout or None, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise StepFailed("sync", {"sync": first_line(error)}) from error
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise StepFailed("sync", {"sync": lines[-1] if lines else f"exit status {done.returncode}"})


# ---------------------------------------------------------------------------------------- monitoring


@dataclass(frozen=True)
class Anomaly:
    metric_name: str
    dimension: str
    value: float | None
    baseline_median: float | None
    tolerance: float | None
    direction: str | None

    @property
    def subject(self) -> str:
        """What the alert names: the source system or rule, else the warehouse-wide metric."""
        return self.dimension or self.metric_name

    def describe(self) -> str:
        return (
            f"{self.metric_name} {self.value:g} ({self.direction} from a baseline median of "
            f"{self.baseline_median:g}, tolerance {self.tolerance:g})"
        )


def monitor(
    run_id: str, dbt_args: list[str] | None = None, settings: Settings | None = None
) -> tuple[DbtOutcome, list[Anomaly]]:
    """Build the monitoring models and their warn-severity anomaly test; return this run's anomalies."""
    with warehouse_writer_lock(settings=settings):
        args = production_build_args(["build", "--select", MONITORING_SELECTOR, *(dbt_args or [])])
        outcome = run_dbt(args, settings)
        if not outcome.success:
            raise StepFailed("monitor", _failed_nodes(outcome))
        con = connect(settings)
        try:
            found = con.execute(
                "select metric_name, dimension, metric_value, baseline_median, tolerance, direction"
                " from intermediate.int_monitoring__metric_anomalies where run_id = ? and is_anomaly"
                " order by dimension, metric_name",
                [run_id],
            ).fetchall()
        finally:
            con.close()
    return outcome, [Anomaly(*row) for row in found]


def group_anomalies(anomalies: list[Anomaly]) -> dict[str, list[Anomaly]]:
    """One alert per source system / rule / metric: an outage moves several figures of one source."""
    grouped: dict[str, list[Anomaly]] = {}
    for anomaly in anomalies:
        grouped.setdefault(anomaly.subject, []).append(anomaly)
    return grouped


def anomaly_alerts(run_id: str, anomalies: list[Anomaly], quarantine: dict[str, int]) -> list[Alert]:
    """One alert per subject, listing each of its anomalous figures against its baseline."""
    return [
        Alert("anomaly", run_id, subject, "monitor", "; ".join(anomaly.describe() for anomaly in found), quarantine)
        for subject, found in group_anomalies(anomalies).items()
    ]
