"""`customer360 load <source>`: pick the loader, find its inputs, return what each load did."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.errors import UserError
from ingestion.pipeline import LoadSummary
from ingestion.settings import Settings, resolve

ALL_SOURCES = ("hubspot", "shopify", "segment", "csv_contacts")  # `load all`, reported in this order
# The order `load all` starts them in, the longest first (docs/benchmarks.md: at 1M people Shopify ~630 s, Segment
# ~280, HubSpot ~35, CSV ~9), so two side by side end close together.
START_ORDER = ("shopify", "segment", "hubspot", "csv_contacts")


@dataclass(frozen=True)
class ApiAccess:
    """Where an API source answers and its token, handed to its loader as arguments. Without one, the loader
    reads them from dlt's config and secrets (``SOURCES__HUBSPOT__BASE_URL`` ...), as in production."""

    url: str
    token: str = field(repr=False)  # never printed


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
    from ingestion.privacy.erasure import enforce_after_load, print_run

    if source == "all":
        if path or mapping or source_name:
            raise UserError("--path, --mapping and --source-name apply to one source, not to `load all`")
        data = data_dir or settings.data_dir
        loaded, failed = side_by_side(
            START_ORDER, lambda each: _load(each, settings, access or {}, data), settings.parallel_loads
        )
        # once every load has ended, never beside one: it deletes from every raw table and empties the staging
        # datasets a running merge reads
        print_run(enforce_after_load(settings.duckdb_path, settings))
        for error in failed.values():
            if not isinstance(error, UserError):
                raise error  # a bug, with its traceback, once the other loads have ended
        if failed:
            done = ", ".join(s for s in ALL_SOURCES if s in loaded) or "none"
            reasons = "; ".join(f"{each}: {failed[each]}" for each in ALL_SOURCES if each in failed)
            raise UserError(f"load all: {reasons} (committed: {done})")
        return [summary for each in ALL_SOURCES for summary in loaded[each]]
    # each loader refuses first, without the salt, a warehouse with erasure requests (refuse_load_without_salt)
    summaries = _load(source, settings, access or {}, data_dir, path, mapping, source_name)
    print_run(enforce_after_load(settings.duckdb_path, settings))  # erased people who came back leave raw
    return summaries


def side_by_side(
    sources: Sequence[str], load_one: Callable[[str], list[LoadSummary]], workers: int
) -> tuple[dict[str, list[LoadSummary]], dict[str, BaseException]]:
    """Run ``load_one`` for every source, up to ``workers`` at a time (``CUSTOMER360_PARALLEL_LOADS``), in threads
    of this process: each load is its own dlt pipeline, all-or-nothing on its own, and their writes share the
    warehouse's one DuckDB instance, which a second process could not open. What keeps a core busy differs by
    source (Shopify's dlt normalize holds Python's GIL; Segment and CSV parse in DuckDB, which releases it), so
    two side by side take about the longest one's time on two cores, not the sum (docs/benchmarks.md, round 25).

    A failed load does not stop the others: returns the summaries of those that loaded and the error of each that
    failed, once all have ended. Ctrl-C starts no further load; the running ones finish, each all or nothing (a
    thread cannot be interrupted; killing the process stops them, and each recovers on its next run as after any
    crash)."""
    loaded: dict[str, list[LoadSummary]] = {}
    failed: dict[str, BaseException] = {}
    stopping = threading.Event()

    def attempt(source: str) -> None:
        if stopping.is_set():
            return
        try:
            loaded[source] = load_one(source)
        except Exception as error:  # reported with the others' outcomes, below
            failed[source] = error
        except BaseException:
            stopping.set()
            raise

    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="load")
    try:
        for future in [pool.submit(attempt, source) for source in sources]:
            future.result()
    except BaseException:
        stopping.set()  # Ctrl-C (delivered to this thread): a load a worker already took does not start either
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return loaded, failed


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
