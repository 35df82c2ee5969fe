"""One place that builds dlt pipelines into the warehouse and turns their failures into plain words."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination import Destination
from dlt.common.pipeline import LoadInfo
from dlt.pipeline.exceptions import PipelineStepFailed

from ingestion.dlt_config import dlt_setting
from ingestion.errors import UserError, duckdb_locked, is_duckdb_lock_error, root_cause
from ingestion.progress import say
from ingestion.settings import Settings, resolve


def warehouse_destination(settings: Settings) -> Destination:  # type: ignore[type-arg]
    """dlt's DuckDB destination with every SQL job run in one transaction.

    The DuckDB destination reports no transaction support, so dlt wraps only SQL that contains DDL and a
    merge's DELETE and INSERT commit one by one: a process killed between them leaves the table emptied
    of every reloaded key. ``supports_transactions`` is a capability the destination factory takes as an
    argument (dlt applies explicit capability arguments over the defaults); with it, each merge job (the
    deletes and inserts of one table and its child tables) commits as one DuckDB transaction, which
    DuckDB makes durable all at once or not at all. dlt marks a load complete (``_dlt_loads``) only after
    every merge job, and restores pipeline state only from complete loads, so cursors and file
    checksums never run ahead of the data. DuckDB's memory limit, threads and spill folder are the
    project's (``Settings.duckdb_warehouse_settings``), the same as dbt's.
    """
    credentials = {"database": str(settings.duckdb_path), "global_config": settings.duckdb_warehouse_settings()}
    return dlt.destinations.duckdb(credentials, supports_transactions=True)


def make_pipeline(source_system: str, settings: Settings | None = None) -> dlt.Pipeline:
    """A pipeline per source system, each into its own dataset ``raw_<source_system>``.

    The DuckDB file and dlt's working folder come from ``settings``, so tests and users can point a run
    elsewhere without touching code. Loaders print their own short progress lines on stderr; dlt's
    progress collector would write blocks to stdout, which is the CLI's summary.
    """
    settings = resolve(settings)
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    keep_no_personal_copies()
    write_packages_uncompressed()
    return dlt.pipeline(
        pipeline_name=f"customer360_{source_system}",
        destination=warehouse_destination(settings),
        dataset_name=f"raw_{source_system}",
        pipelines_dir=str(settings.pipelines_dir),
    )


def keep_no_personal_copies() -> None:
    """dlt keeps two copies of every loaded row unless told otherwise: the package files under the
    pipelines folder and the ``raw_<source>_staging`` dataset a merge goes through. Both are deleted once
    a load completes (dlt's ``load.delete_completed_jobs`` and ``load.truncate_staging_dataset``), so a
    person erased from the warehouse is not still on disk (docs/decisions.md, "Privacy"). A deployment
    that sets either option itself keeps its value."""
    for key in ("load.delete_completed_jobs", "load.truncate_staging_dataset"):
        if dlt_setting(key, bool) is None:
            dlt.config[key] = True


def write_packages_uncompressed() -> None:
    """dlt gzips the files of a load package by default (``data_writer.disable_compression``), and the package
    lives only until its load completes (``keep_no_personal_copies``). Gzip cost 10 of the 65 CPU seconds of a
    100k-people Shopify load (docs/benchmarks.md, "Round 11") to save disk for minutes, so the files are written
    plain; a deployment short of disk sets the option back to false and keeps its value."""
    if dlt_setting("data_writer.disable_compression", bool) is None:
        dlt.config["data_writer.disable_compression"] = True


def descriptors_of(process: Path, file: Path) -> list[str]:
    """The descriptors (names in ``/proc/<pid>/fd``) through which ``process`` (``/proc/<pid>``, Linux) has ``file``
    open; none when it cannot be read (another user's process, one that just ended, no ``/proc``)."""
    target = str(file.resolve())
    found = []
    with suppress(OSError):
        for fd in (process / "fd").iterdir():
            with suppress(OSError):
                if os.readlink(fd) == target:
                    found.append(fd.name)
    return found


def lock_holders(lock: Path) -> set[int]:
    """The processes that hold the flock on ``lock`` (Linux: a descriptor of the file whose ``/proc/<pid>/fdinfo``
    lists the lock), this one aside; a process that has the file open without the lock is not one."""
    holders = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        for fd in descriptors_of(entry, lock):
            with suppress(OSError):
                if "\nlock:" in (entry / "fdinfo" / fd).read_text():
                    holders.add(int(entry.name))
    return holders


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (Linux ``/proc``; a zombie, dead but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def recorded_pid(descriptor: int) -> int | None:
    """The pid a holder writes into its lock file (a run lock: the pid; a turn: "what (pid N)")."""
    text = os.pread(descriptor, 200, 0).decode(errors="replace")
    found = re.search(r"(?:pid )?(\d+)\)?\s*$", text.strip())
    return int(found[1]) if found else None


LEFTOVER_GRACE_SECONDS = 5.0  # a new holder writes its pid right after locking; a leftover never does


def stop_leftover_workers(lock: Path, descriptor: int, who: str) -> bool:
    """When ``lock`` is held while the process recorded in it is dead, the holders are processes that it forked and
    that outlived it (dlt's normalize workers, blocked for good): stop them (SIGKILL; they were writing a package the
    next run builds again from the start) and take the lock. Only processes that hold the lock are stopped (Linux
    ``/proc/<pid>/fdinfo`` lists it on the holder's descriptor), and only after ``LEFTOVER_GRACE_SECONDS`` in which
    the record stayed the same: a live new holder has locked but not yet written its pid. False when a live
    process holds it, or on a system without ``/proc``."""
    if not Path("/proc/self/fdinfo").is_dir():
        return False
    record = recorded_pid(descriptor)
    deadline = time.monotonic() + LEFTOVER_GRACE_SECONDS
    while record is not None and not alive(record) and time.monotonic() < deadline:
        time.sleep(0.1)
        if recorded_pid(descriptor) != record:
            return False  # a new holder wrote its pid
        with suppress(BlockingIOError):
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True  # released meanwhile
    holders = lock_holders(lock)
    if record is None or alive(record) or record in holders or not holders:
        return False
    if recorded_pid(descriptor) != record:
        return False
    for pid in sorted(holders):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    say(f"{who}: stopped {len(holders)} worker processes a killed load left behind (pids {sorted(holders)})")
    deadline = time.monotonic() + 30
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            now = recorded_pid(descriptor)
            if time.monotonic() > deadline or (now is not None and now != record and alive(now)):
                return False  # another run took it meanwhile
            time.sleep(0.1)


@contextmanager
def exclusive_run(pipeline_name: str, source_system: str, pipelines_dir: Path) -> Iterator[None]:
    """Hold the pipeline's run lock for the block, or fail at once with one line if another run has it.

    Two runs of one pipeline share its working folder: the second would take the first's package for an
    interrupted run's leftovers and delete it. An OS file lock (``flock``) is released by the kernel when
    its holder dies, even by ``kill -9``, so a crash never leaves a stale lock behind. Processes the holder forked
    share the lock: dlt's normalize workers (``shopify.normalize_in_parallel``) outlive a killed load, blocked
    for good and holding it, so a run that finds the lock held by a dead load's pid stops them first
    (``stop_leftover_workers``). The lock file lives beside the pipelines' folders, not inside one (dlt deletes
    a pipeline's folder on ``drop``).
    """
    folder = pipelines_dir / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pipeline_name}.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            if not stop_leftover_workers(path, descriptor, source_system):
                raise UserError(
                    f"a load of {source_system} is already running (pid {holder}); wait for it to finish, then retry"
                ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock


WAREHOUSE_TURN_SUFFIX = ".load-turn.lock"


@contextmanager
def warehouse_turn(settings: Settings, what: str) -> Iterator[None]:
    """Hold the warehouse for one step of a load, waiting while another load's step has it.

    DuckDB lets one process at a time open the file for writing. `load all` runs the loads side by side in
    separate processes (``loading.side_by_side``), each holding the warehouse only for its steps that read or
    write it (the checks and state sync before extracting, the load step that commits) and closing it in
    between, so one load's extract and normalize run beside another's commit. ``what`` ("shopify: load")
    goes into the lock file, for the line a waiting load prints. The lock is an OS file lock (``flock``): the
    kernel releases it when its holder dies, even by ``kill -9``, and processes forked under it that outlived their
    killed parent are stopped by the next load that waits for it (``stop_leftover_workers``); nothing is forked
    under it by design (``finish_interrupted`` normalizes outside it). It is not the run's writer lock
    (``steps.warehouse_writer_lock``), which `customer360 run` holds around its child loads.
    """
    lock_path = settings.duckdb_path.with_name(settings.duckdb_path.name + WAREHOUSE_TURN_SUFFIX)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not stop_leftover_workers(lock_path, descriptor, what):
                holder = os.pread(descriptor, 200, 0).decode(errors="replace").strip() or "another load"
                say(f"{what}: waiting for the warehouse ({holder} has it)")
                fcntl.flock(descriptor, fcntl.LOCK_EX)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{what} (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def extract_then_load(
    pipeline: dlt.Pipeline, data: Any, settings: Settings, source_system: str, loader_file_format: str | None = None
) -> LoadInfo:
    """dlt's ``run`` after the caller's ``sync_destination``, with the warehouse held only for the load step.

    Extract and normalize work in the pipeline's own folder; only the load step opens the warehouse, under
    ``warehouse_turn``. The caller synced the state in its own turn, before extracting; the load is still all or
    nothing (``warehouse_destination``)."""
    pipeline.extract(data, loader_file_format=loader_file_format)  # type: ignore[arg-type]
    pipeline.normalize()
    with warehouse_turn(settings, f"{source_system}: load"):
        return pipeline.load()


@contextmanager
def user_errors(source_system: str, duckdb_path: Path) -> Iterator[None]:
    """Re-raise a failed load as a one-line ``UserError`` naming the source and the reason."""
    try:
        yield
    except UserError:
        raise
    except PipelineStepFailed as error:
        if is_duckdb_lock_error(error):
            raise duckdb_locked(duckdb_path) from error
        cause = root_cause(error)
        raise UserError(
            f"loading {source_system} failed at the {error.step} step, nothing was committed: "
            f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"
        ) from error
    except Exception as error:
        if is_duckdb_lock_error(error):
            raise duckdb_locked(duckdb_path) from error
        raise


RESUMED_PACKAGE_UNCHECKED = "resumed_package_unchecked"  # see finish_interrupted


def finish_interrupted(pipeline: dlt.Pipeline, settings: Settings) -> None:
    """Load the package a killed run left behind before extracting anything new.

    For the API sources the package holds both the extracted rows and the cursors that go with them, so
    completing it is right (its merges are idempotent). ``run`` would do the same but then skip the
    extraction it was asked for.

    A finished package may hold rows its resumed jobs wrote twice (``drop_rows_loaded_twice``). A marker file in
    the pipeline's working folder, written before the package is finished and removed once those rows are gone,
    makes a run killed in between do the check on the next run: the package is complete by then, so nothing else
    would remember it.
    """
    unchecked = Path(pipeline.working_dir) / RESUMED_PACKAGE_UNCHECKED
    if pipeline.has_pending_data:
        say(f"{pipeline.pipeline_name}: finishing a load an interrupted run left behind")
        unchecked.touch()
        pipeline.normalize()  # outside the warehouse's turn: it may fork workers, which would share the lock
    with warehouse_turn(settings, f"{pipeline.pipeline_name}: finishing an interrupted load"):
        if pipeline.has_pending_data:
            pipeline.load()
        if unchecked.exists():
            drop_rows_loaded_twice(pipeline)
            unchecked.unlink()


def drop_rows_loaded_twice(pipeline: dlt.Pipeline) -> int:
    """After finishing a killed run's package: keep one of each row its resumed jobs wrote twice.

    dlt marks a job done only after its SQL committed, and runs again every job not marked done. A run killed
    between the two (a copy into the staging table, an append) therefore has that job's rows written again, and the
    merge inserts both copies (test_atomic_loads). The copies share their ``_dlt_id``, the row key dlt gives each
    extracted row and no two rows of a table share otherwise, so one of each is kept, in one transaction. Returns
    the rows removed."""
    removed = 0
    with pipeline.sql_client() as client:
        tables = client.execute_sql(
            "select distinct table_name from information_schema.columns "
            "where table_schema = %s and column_name = '_dlt_id' order by 1",
            pipeline.dataset_name,
        )
        with client.begin_transaction():
            for (table,) in tables or []:
                qualified = client.make_qualified_table_name(table)
                # rowid: DuckDB's row address, the one thing that tells two identical copies apart
                deleted = client.execute_sql(
                    f"delete from {qualified} where rowid in (select rowid from (select rowid, row_number() "
                    f"over (partition by _dlt_id order by rowid) as copy from {qualified}) where copy > 1)"
                )
                removed += int(deleted[0][0]) if deleted else 0
    if removed:
        say(f"{pipeline.pipeline_name}: {removed:,} rows the interrupted run's resumed jobs wrote twice removed")
    return removed


def rows_loaded(info: LoadInfo, pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows written per table in the last run (from dlt's normalize step)."""
    normalized = pipeline.last_trace.last_normalize_info if pipeline.last_trace else None
    counts = normalized.row_counts if normalized else {}
    return {table: n for table, n in counts.items() if not table.startswith("_dlt")}


@dataclass
class LoadSummary:
    """What one `customer360 load <source>` did, for the CLI summary and the benchmarks."""

    source_system: str
    rows_by_table: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    skipped: str | None = None  # why nothing was loaded (e.g. "no new files"), when nothing was
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.rows_by_table.values())

    def line(self) -> str:
        if self.skipped:
            return f"{self.source_system}: nothing new ({self.skipped}) in {self.seconds:.1f}s"
        tables = ", ".join(f"{t}={n:,}" for t, n in sorted(self.rows_by_table.items()))
        rate = f", {self.rows / self.seconds:,.0f} rows/s" if self.seconds > 0 else ""
        return (
            f"{self.source_system}: {self.rows:,} rows ({tables}), {self.rejected:,} rejected, "
            f"{self.seconds:.1f}s{rate}"
        )
