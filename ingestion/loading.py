"""`customer360 load <source>`: pick the loader, find its inputs, return what each load did."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import active_children, get_context
from pathlib import Path
from typing import Any, TypeVar

from ingestion.errors import UserError, exception_chain
from ingestion.pipeline import LoadSummary, descriptors_of, warehouse_turn
from ingestion.progress import say
from ingestion.settings import Settings, resolve
from ingestion.sources import LOADED_SOURCES

# The order `load all` starts them in, the longest first (docs/benchmarks.md: at 1M people Shopify ~630 s, Segment
# ~280, HubSpot ~35, CSV ~9), so two side by side end close together.
START_ORDER = ("shopify", "segment", "hubspot", "csv_contacts")
T = TypeVar("T")


@dataclass(frozen=True)
class ApiAccess:
    """Where an API source answers and its token, handed to its loader as arguments. Without one, the loader
    reads them from dlt's config and secrets (``SOURCES__HUBSPOT__BASE_URL`` ...), as in production."""

    url: str
    token: str = field(repr=False)  # never printed


class LoadAllFailed(UserError):
    """`load all` where a source failed; ``committed``: the summaries of the sources that loaded."""

    def __init__(self, message: str, committed: list[LoadSummary]) -> None:
        super().__init__(message)
        self.committed = committed


class LoadAllInterrupted(KeyboardInterrupt):
    """`load all` stopped by Ctrl-C; ``committed``: the summaries of the sources that loaded before it ended."""

    def __init__(self, committed: list[LoadSummary]) -> None:
        super().__init__()
        self.committed = committed


def csv_drops(data_dir: Path) -> list[Path]:
    """Every drop folder (one with a mapping.json) under DATA/csv_contacts."""
    root = data_dir / "csv_contacts"
    return sorted(p for p in root.iterdir() if (p / "mapping.json").is_file()) if root.is_dir() else []


def load(
    source: str,
    data_dir: Path | None = None,
    path: Path | None = None,
    mapping: Path | None = None,
    source_name: str | None = None,
    settings: Settings | None = None,
    access: Mapping[str, ApiAccess] | None = None,
) -> list[LoadSummary]:
    """``access``: {source: ApiAccess} for the API sources reached with explicit settings (the demo's servers)."""
    settings = resolve(settings)
    if source == "all":
        if path or mapping or source_name:
            raise UserError("--path, --mapping and --source-name apply to one source, not to `load all`")
        data = data_dir or settings.data_dir
        workers = min(settings.parallel_loads, len(START_ORDER))
        if workers > 1 and holds_open(settings.duckdb_path):
            # (a caller that built with dbt in this process, or has its own connection): no other process could
            # open the warehouse, while this one's loads share its open DuckDB
            say("load all: this process has the warehouse open, so its loads run here, one after another")
            workers = 1
        try:
            loaded, failed = side_by_side(
                START_ORDER,
                # each load process gets its share of DuckDB's memory limit and threads
                partial(_load, settings=settings.shared_by(workers), access=access or {}, data_dir=data),
                load_pool(workers),
                workers,
            )
        finally:
            # once every load has ended (also after a Ctrl-C: what committed is checked), never beside one: it
            # deletes from every raw table and empties the staging datasets a running merge reads
            enforce_erasures(settings)
        for error in failed.values():
            if not isinstance(error, UserError):
                raise error  # a bug, with its traceback, once the other loads have ended
        if failed:
            done = ", ".join(s for s in LOADED_SOURCES if s in loaded) or "none"
            reasons = "; ".join(f"{each}: {failed[each]}" for each in LOADED_SOURCES if each in failed)
            raise LoadAllFailed(
                f"load all: {reasons} (committed: {done})", [x for each in LOADED_SOURCES for x in loaded.get(each, [])]
            )
        return [summary for each in LOADED_SOURCES for summary in loaded[each]]
    # each loader refuses first, without the salt, a warehouse with erasure requests (refuse_load_without_salt)
    summaries = _load(source, settings, access or {}, data_dir, path, mapping, source_name)
    enforce_erasures(settings)  # erased people who came back leave raw
    return summaries


def enforce_erasures(settings: Settings) -> None:
    """The erasure enforcement after loading, in its own turn at the warehouse (another command's loads may be
    taking theirs)."""
    from ingestion.privacy.erasure import enforce_after_load, print_run

    with warehouse_turn(settings, "erasure enforcement after loading"):
        print_run(enforce_after_load(settings.duckdb_path, settings))


def side_by_side(
    sources: Sequence[str], load_one: Callable[[str], list[LoadSummary]], pool: Executor, workers: int
) -> tuple[dict[str, list[LoadSummary]], dict[str, BaseException]]:
    """Run ``load_one`` for every source in ``pool``, up to ``workers`` at a time (``CUSTOMER360_PARALLEL_LOADS``),
    starting the next as one ends; shuts the pool down.

    A failed load does not stop the others: returns the summaries of those that loaded and the error of each that
    failed, once all have ended. Ctrl-C (or any error of this process) starts no further load; the running ones
    finish, each all or nothing, before it is raised (``LoadAllInterrupted``, with what committed, in the order
    `load all` reports its sources)."""
    loaded: dict[str, list[LoadSummary]] = {}
    failed: dict[str, BaseException] = {}
    waiting = list(sources)
    running: dict[Future[list[LoadSummary]], str] = {}
    try:
        while waiting or running:
            while waiting and len(running) < max(1, workers):
                source = waiting.pop(0)
                try:
                    # a load process started now is out of the terminal's reach (not a load run here, inline)
                    with terminal_interrupts_ignored() if isinstance(pool, ProcessPoolExecutor) else nullcontext():
                        running[pool.submit(load_one, source)] = source
                except BrokenProcessPool:
                    failed[source] = UserError("not started: another load's process ended abruptly")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                source = running.pop(future)
                error = future.exception()
                if error is None:
                    loaded[source] = future.result()
                elif isinstance(error, Exception):
                    failed[source] = _outcome(error)  # reported with the others' outcomes
                else:
                    raise error  # an interrupt inside a load: no further one starts
    except KeyboardInterrupt as interrupt:
        if running:
            say("load all: interrupted; the running loads finish first (Ctrl-C again stops them at once)")
            try:
                wait(running)
            except KeyboardInterrupt:  # again: stop them now, each recovers on its next run as after a crash
                for process in active_children():
                    process.kill()
                say("load all: the running loads were stopped")
        with terminal_interrupts_ignored():  # quick now, and a pool shut down half way never ends
            pool.shutdown(wait=True, cancel_futures=True)
        for future, source in running.items():  # the loads that ended by committing, also after the interrupt
            if future.done() and not future.cancelled() and future.exception() is None:
                loaded[source] = future.result()
        reported = sorted(sources, key=lambda s: LOADED_SOURCES.index(s) if s in LOADED_SOURCES else len(sources))
        raise LoadAllInterrupted([x for each in reported for x in loaded.get(each, [])]) from interrupt
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True, cancel_futures=True)
    return loaded, failed


@contextmanager
def terminal_interrupts_ignored() -> Iterator[None]:
    """SIGINT ignored for the block (in the main thread; elsewhere signals cannot be set): a process started in it
    inherits that, so a Ctrl-C before it has left the terminal's process group (``_load_process_started``) does
    not reach it. The load processes never handle a Ctrl-C: `load all` decides what stops."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def holds_open(path: Path) -> bool:
    """Whether this process has the file open (Linux: ``/proc/self/fd``; elsewhere assumed not)."""
    return bool(descriptors_of(Path("/proc/self"), path))


def load_pool(workers: int) -> Executor:
    """Where `load all` runs its loads: with more than one worker, processes, one Python each, so no load waits
    for another's hold on the GIL (in two threads of one process, Shopify's dlt normalize slowed HubSpot's 35 s
    load to 264 s at 1M people; docs/benchmarks.md, round 26). The loads share the warehouse by taking turns
    at it (``pipeline.warehouse_turn``). With one worker, this process's own thread, one source after another,
    as `load <source>` runs them (dlt forks its normalize workers only from a main thread)."""
    if workers <= 1:
        return InlineExecutor()
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),  # not fork: the demo's servers run threads in this process
        initializer=_load_process_started,
        initargs=(os.getpid(),),
    )


class InlineExecutor(Executor):
    """Runs each submitted call at once, in the calling thread; an interrupt raised inside propagates."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            if any(isinstance(cause, KeyboardInterrupt) for cause in exception_chain(error)):
                # in the main thread dlt catches a Ctrl-C itself and fails its step: still an interrupt
                raise KeyboardInterrupt from error
            future.set_exception(error)
        return future


def _load_process_started(parent: int) -> None:
    """In each load process, first: its own process group, so a Ctrl-C at the terminal reaches only `load all`,
    which lets the running loads finish and starts no more; and on Linux, death with its parent (prctl
    PR_SET_PDEATHSIG), so a `load all` killed outright leaves no load running on: each recovers on its next
    run as after any crash."""
    os.setpgid(0, 0)
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)


def _outcome(error: BaseException) -> BaseException:
    """A load process that died (killed, out of memory) breaks the pool, which stops the others: one line each."""
    if isinstance(error, BrokenProcessPool):
        return UserError(
            "a load process ended abruptly (killed, or out of memory), which stops every running load; run "
            "`load all` again: each load recovers as after a crash"
        )
    return error


def _load(
    source: str,
    settings: Settings,
    access: Mapping[str, ApiAccess],
    data_dir: Path | None = None,
    path: Path | None = None,
    mapping: Path | None = None,
    source_name: str | None = None,
) -> list[LoadSummary]:
    data = data_dir or settings.data_dir
    given = access.get(source)
    if source == "hubspot":
        from ingestion.sources.hubspot import load_hubspot

        return [load_hubspot(*((given.url, given.token) if given else ()), settings=settings)]
    if source == "shopify":
        from ingestion.sources.shopify import load_shopify

        return [load_shopify(*((given.url, given.token) if given else ()), settings=settings)]
    if source == "segment":
        from ingestion.sources.segment import load_segment

        return [load_segment(path or data / "segment", settings)]
    if source == "mailchimp":
        from ingestion.sources.mailchimp import load_mailchimp

        return [load_mailchimp(settings=settings)]
    if source == "csv_contacts":
        from ingestion.sources.csv_contacts import load_csv_contacts

        if path is not None:
            if mapping is None or source_name is None:
                raise UserError("load csv_contacts --path needs --mapping FILE and --source-name NAME too")
            return [load_csv_contacts(path, mapping, source_name, settings)]
        drops = csv_drops(data)
        if not drops:
            raise UserError(f"no CSV drops (folders with a mapping.json) under {data / 'csv_contacts'}")
        return [load_csv_contacts(drop, drop / "mapping.json", drop.name, settings) for drop in drops]
    raise UserError(f"unknown source {source!r}")
