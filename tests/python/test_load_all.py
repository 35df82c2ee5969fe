"""`load all` runs the sources side by side (CUSTOMER360_PARALLEL_LOADS), each all-or-nothing on its own.

The real loaders in threads of one process must land exactly what they land one after another; a failed
source must not stop the others; the erasure enforcement, which deletes from every raw table and empties the
staging datasets a running merge reads, must run once, after every load has ended."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion import loading
from ingestion.errors import UserError
from ingestion.pipeline import LoadSummary
from ingestion.settings import Settings


class Recorder:
    """A fake loader: how many loads run at once, and the most that ever did."""

    def __init__(self, seconds: float = 0.3, failing: dict[str, BaseException] | None = None) -> None:
        self.seconds = seconds
        self.failing = failing or {}
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.started: list[str] = []

    def __call__(self, source: str, *args: Any, **kwargs: Any) -> list[LoadSummary]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.started.append(source)
        try:
            time.sleep(self.seconds)
            if source in self.failing:
                raise self.failing[source]
            return [LoadSummary(source, rows_by_table={source: 1})]
        finally:
            with self.lock:
                self.running -= 1


def test_side_by_side_runs_as_many_at_once_as_asked() -> None:
    two = Recorder()
    loaded, failed = loading.side_by_side(loading.START_ORDER, two, workers=2)
    assert two.most == 2 and not failed
    assert sorted(loaded) == sorted(loading.START_ORDER)
    assert two.started[:2] == ["shopify", "segment"]  # the longest first

    one = Recorder(seconds=0.05)
    loading.side_by_side(loading.START_ORDER, one, workers=1)
    assert one.most == 1 and one.started == list(loading.START_ORDER)


def test_a_failed_source_does_not_stop_the_others() -> None:
    recorder = Recorder(failing={"shopify": UserError("shopify rejected the access token (401)")})
    loaded, failed = loading.side_by_side(loading.START_ORDER, recorder, workers=2)
    assert set(failed) == {"shopify"}
    assert set(loaded) == {"segment", "hubspot", "csv_contacts"}


def test_an_interrupt_starts_no_further_load() -> None:
    recorder = Recorder(seconds=0.05, failing={"shopify": KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        loading.side_by_side(loading.START_ORDER, recorder, workers=1)
    assert recorder.started == ["shopify"]


@pytest.fixture
def fake_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Recorder, list[int]]:
    """`load all` over fake loaders; the erasure enforcement records how many loads ran when it was called."""
    import ingestion.privacy.erasure as erasure

    recorder = Recorder()
    running_at_enforcement: list[int] = []

    def enforce(*args: Any, **kwargs: Any) -> None:
        running_at_enforcement.append(recorder.running)

    monkeypatch.setattr(loading, "_load", recorder)
    monkeypatch.setattr(erasure, "enforce_after_load", enforce)
    return recorder, running_at_enforcement


def _settings(tmp_path: Path, parallel: int) -> Settings:
    return Settings(
        project_dir=None,
        duckdb_path=tmp_path / "w.duckdb",
        data_dir=tmp_path,
        pipelines_dir=tmp_path / "dlt",
        parallel_loads=parallel,
    )


def test_load_all_enforces_erasure_once_after_every_load(
    fake_loads: tuple[Recorder, list[int]], tmp_path: Path
) -> None:
    recorder, running_at_enforcement = fake_loads
    summaries = loading.load("all", settings=_settings(tmp_path, 2))
    assert recorder.most == 2
    assert running_at_enforcement == [0]
    assert [s.source_system for s in summaries] == list(loading.ALL_SOURCES)  # reported in the usual order


def test_load_all_names_each_failed_source_and_what_committed(
    fake_loads: tuple[Recorder, list[int]], tmp_path: Path
) -> None:
    recorder, running_at_enforcement = fake_loads
    recorder.failing = {
        "segment": UserError("segment events folder not found: /nowhere"),
        "hubspot": UserError("no HubSpot access token"),
    }
    with pytest.raises(UserError) as raised:
        loading.load("all", settings=_settings(tmp_path, 2))
    assert str(raised.value) == (
        "load all: hubspot: no HubSpot access token; segment: segment events folder not found: /nowhere "
        "(committed: shopify, csv_contacts)"
    )
    assert running_at_enforcement == [0]  # what did load is still checked for erased people


def test_a_bug_in_one_load_surfaces_with_its_traceback_after_the_others(
    fake_loads: tuple[Recorder, list[int]], tmp_path: Path
) -> None:
    recorder, running_at_enforcement = fake_loads
    recorder.failing = {"csv_contacts": KeyError("unexpected")}
    with pytest.raises(KeyError):
        loading.load("all", settings=_settings(tmp_path, 2))
    assert sorted(recorder.started) == sorted(loading.START_ORDER)
    assert running_at_enforcement == [0]


def _raw_tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every raw table's rows without dlt's own ids and load ids (they differ between any two loads)."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_schema like 'raw\\_%' "
            "escape '\\' and table_schema not like '%\\_staging' escape '\\' and table_name not like '\\_dlt%' "
            "escape '\\' order by 1, 2"
        ).fetchall()
        result = {}
        for schema, table in tables:
            columns = [
                c
                for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                    "order by 1",
                    [schema, table],
                ).fetchall()
                if not c.startswith("_dlt") and c not in ("loaded_at", "rejected_at")
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            result[f"{schema}.{table}"] = sorted(
                con.execute(f'select {select} from "{schema}"."{table}"').fetchall(), key=repr
            )
    return result


def test_side_by_side_lands_what_one_after_another_lands(
    demo_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingestion.demo_kit.servers.run import running_servers

    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    landed = {}
    for parallel in (1, 2):
        root = tmp_path / f"parallel{parallel}"
        monkeypatch.setenv("DLT_DATA_DIR", str(root / "dlt_data"))
        settings = Settings(
            project_dir=None,
            duckdb_path=root / "warehouse.duckdb",
            data_dir=demo_data,
            pipelines_dir=root / "dlt_pipelines",
            parallel_loads=parallel,
        )
        with running_servers(demo_data) as servers:
            summaries = loading.load("all", data_dir=demo_data, settings=settings, access=servers.access())
        assert [s.source_system for s in summaries][:3] == ["hubspot", "shopify", "segment"]
        landed[parallel] = _raw_tables(settings.duckdb_path)
    assert landed[2].keys() == landed[1].keys()
    assert {"raw_shopify.orders__line_items", "raw_segment.events", "raw_hubspot.contacts"} <= landed[2].keys()
    for table, rows in landed[1].items():
        assert landed[2][table] == rows, table
