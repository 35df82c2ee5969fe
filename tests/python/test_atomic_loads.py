"""Loads under ``kill -9``: a merge fully applies or leaves the table as it was, and the rerun converges.

Each test runs the real CLI in a subprocess through a small harness that stops the process right before
one chosen SQL statement reaches the warehouse (after the statements before it ran, in whatever
transaction dlt opened), then kills it with SIGKILL: a crash at an exact, repeatable point. The harness
only pauses (it splits dlt's batched statements and runs each unchanged); it is not part of the loaders.

After each kill the warehouse must hold exactly what the last committed load left (never fewer rows),
and the next load must converge to exactly the right rows: nothing lost, nothing twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion.demo_kit.servers.hubspot import HubSpotServer
from ingestion.demo_kit.servers.shopify import ShopifyServer
from ingestion.sources.csv_contacts import load_csv_contacts
from ingestion.sources.hubspot import load_hubspot
from ingestion.sources.segment import load_segment
from ingestion.sources.shopify import load_shopify

HARNESS = r'''
"""Run the customer360 CLI, stopping before the first SQL statement that matches PAUSE_BEFORE (or, with
C360_PAUSE_AFTER set, right after it ran: a statement outside a transaction is then committed)."""
import os, re, sys, time
from pathlib import Path

from dlt.destinations.impl.duckdb.sql_client import DuckDbSqlClient

pause = re.compile(os.environ["C360_PAUSE_BEFORE"], re.S)
after = bool(os.environ.get("C360_PAUSE_AFTER"))
marker = Path(os.environ["C360_PAUSE_MARKER"])
resume = Path(os.environ["C360_RESUME_MARKER"])
original = DuckDbSqlClient.execute_sql


def wait_here(statement):
    marker.write_text(statement[:200])
    while not resume.exists():  # killed here, or told to go on
        time.sleep(0.05)


def run(self, statement, *args, **kwargs):
    matches = not marker.exists() and pause.search(str(statement))
    if matches and not after:
        wait_here(str(statement))
    result = original(self, statement, *args, **kwargs)
    if matches and after:
        wait_here(str(statement))
    return result


def execute_sql(self, sql, *args, **kwargs):
    if args or kwargs or not isinstance(sql, str):
        return run(self, sql, *args, **kwargs)
    # dlt's execute_many joins statements with ";\n": run them one by one, exactly as written
    result = None
    for statement in sql.split(";\n"):
        if statement.strip():
            result = run(self, statement)
    return result


DuckDbSqlClient.execute_sql = execute_sql

from ingestion.cli import main

sys.exit(main(sys.argv[1:]))
'''


class Paused:
    """A CLI process stopped before a chosen statement; ``kill()`` it or ``resume()`` it."""

    def __init__(self, process: subprocess.Popen[str], marker: Path, resume_marker: Path) -> None:
        self.process, self.marker, self.resume_marker = process, marker, resume_marker

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def resume(self) -> subprocess.CompletedProcess[str]:
        self.resume_marker.write_text("go")
        out, err = self.process.communicate(timeout=120)
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, out, err)


@pytest.fixture
def start_paused(tmp_path: Path) -> Iterator[Callable[..., Paused]]:
    harness = tmp_path / "pause_harness.py"
    harness.write_text(HARNESS)
    started: list[subprocess.Popen[str]] = []

    def start(pause_before: str, *cli_args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Paused:
        n = len(started)
        marker, resume = tmp_path / f"paused-{n}", tmp_path / f"resume-{n}"
        process = subprocess.Popen(
            [sys.executable, str(harness), *cli_args],
            env={
                **os.environ,
                **(env or {}),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(Path.cwd()), os.environ.get("PYTHONPATH", "")])),
                "C360_PAUSE_BEFORE": pause_before,
                "C360_PAUSE_MARKER": str(marker),
                "C360_RESUME_MARKER": str(resume),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if process.poll() is not None:
                out, err = process.communicate()
                raise AssertionError(f"the load ended before pausing at {pause_before!r}:\n{out}\n{err}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the load did not reach {pause_before!r} in {timeout}s")
            time.sleep(0.05)
        return Paused(process, marker, resume)

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def count(path: Path, table: str) -> int:
    return int(query(path, f"select count(*) from {table}")[0][0])


def insert_into(table: str) -> str:
    """The pattern of the statement that (re)fills ``table``: dlt's merge insert, after its delete of the old
    rows, or an append's insert of the load's file (``INSERT INTO ... BY NAME SELECT * FROM read_parquet``)."""
    schema, name = table.split(".")
    return rf'^\s*INSERT INTO "{schema}"\."{name}"\s*(\(|BY NAME)'


# -- Segment: a changed file is reloaded -------------------------------------------------------------
def event(message_id: str, n: int, received: str) -> str:
    return json.dumps(
        {
            "messageId": message_id,
            "type": "track",
            "event": "Product Viewed",
            "anonymousId": f"anon-{n % 7}",
            "properties": {"n": n},
            "timestamp": "2026-01-01T10:00:00.000Z",
            "receivedAt": received,
        }
    )


FIRST, AGAIN = "2026-01-01T10:00:02.000Z", "2026-01-03T08:00:00.000Z"


def write_events(path: Path, ids: list[int], broken: int = 0, received: str = FIRST) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [event(f"m{i}", i, received) for i in ids]
    lines += ["{not json"] * broken
    path.write_text("\n".join(lines) + "\n")


SEGMENT_KILL_POINTS = {
    # dlt's merge of events has deleted the old copies of the reloaded messages, not inserted the new
    "events_merge": insert_into("raw_segment.events"),
    # events merged, the file's old rejects deleted but the new ones not yet written
    "rejects_merge": insert_into("raw_segment.rejected_events"),
    # every merge applied, the load not yet marked complete (so the state has not advanced)
    "load_completion": insert_into("raw_segment._dlt_loads"),
}


@pytest.mark.parametrize("point", sorted(SEGMENT_KILL_POINTS))
def test_segment_reload_killed_keeps_committed_rows_and_converges(
    point: str, tmp_path: Path, warehouse: Path, start_paused: Callable[..., Paused]
) -> None:
    events = tmp_path / "segment"
    write_events(events / "2026-01-01" / "a.jsonl", list(range(0, 300)), broken=2)
    write_events(events / "2026-01-02" / "b.jsonl", list(range(300, 400)))
    load_segment(events)
    committed = query(warehouse, "select * exclude (_dlt_load_id) from raw_segment.events order by message_id")
    committed_rejects = count(warehouse, "raw_segment.rejected_events")
    assert len(committed) == 400 and committed_rejects == 2

    # a re-export of a.jsonl: every message delivered again (a later receivedAt), 50 more, one broken line fixed
    write_events(events / "2026-01-01" / "a.jsonl", [*range(0, 300), *range(500, 550)], broken=1, received=AGAIN)
    paused = start_paused(SEGMENT_KILL_POINTS[point], "load", "segment", "--path", str(events))
    paused.kill()

    after_kill = query(warehouse, "select * exclude (_dlt_load_id) from raw_segment.events order by message_id")
    assert len(after_kill) >= len(committed), f"killed at {point}: {len(committed)} -> {len(after_kill)} events"
    if point == "events_merge":
        assert after_kill == committed  # the merge did not apply at all
    assert count(warehouse, "raw_segment.rejected_events") >= 1

    summary = load_segment(events)
    assert summary.files_read == ["2026-01-01/a.jsonl"]
    assert count(warehouse, "raw_segment.events") == 450
    assert query(warehouse, "select count(distinct message_id) from raw_segment.events") == [(450,)]
    assert query(
        warehouse,
        "select count(*) from raw_segment.events where _source_file = '2026-01-01/a.jsonl' "
        f"and received_at = '{AGAIN}'::timestamptz",
    ) == [(350,)]
    assert query(warehouse, "select source_file, line_number from raw_segment.rejected_events") == [
        ("2026-01-01/a.jsonl", 351)
    ]
    assert load_segment(events).skipped  # converged: nothing left to do


APPEND_KILL_POINTS = {
    # no message of the load is stored yet, so the events are appended, not merged: killed before that insert
    "events_append": insert_into("raw_segment.events"),
    # appended and merged, the load not yet marked complete (so the state has not advanced)
    "load_completion": insert_into("raw_segment._dlt_loads"),
}


@pytest.mark.parametrize("first_load", [True, False], ids=["first_load", "new_file"])
@pytest.mark.parametrize("point", sorted(APPEND_KILL_POINTS))
def test_segment_append_killed_keeps_committed_rows_and_converges(
    point: str, first_load: bool, tmp_path: Path, warehouse: Path, start_paused: Callable[..., Paused]
) -> None:
    """A load none of whose messages the warehouse holds appends them (one insert): a kill before it leaves the
    table as it was, a kill after it but before the load completes leaves rows the rerun must not double."""
    events = tmp_path / "segment"
    before = 0
    if not first_load:
        write_events(events / "2026-01-01" / "a.jsonl", list(range(0, 300)))
        load_segment(events)
        before = 300
    write_events(events / "2026-01-02" / "b.jsonl", list(range(300, 400)), broken=1)
    paused = start_paused(APPEND_KILL_POINTS[point], "load", "segment", "--path", str(events))
    paused.kill()

    after_kill = count(warehouse, "raw_segment.events")
    if point == "events_append":
        assert after_kill == before  # the insert did not run at all
    else:
        assert after_kill == before + 100  # the insert committed; the rerun must not add the rows twice

    summary = load_segment(events)
    assert summary.files_read == ["2026-01-02/b.jsonl"]
    assert query(warehouse, "select count(*), count(distinct message_id) from raw_segment.events") == [
        (before + 100, before + 100)
    ]
    assert query(warehouse, "select source_file, line_number from raw_segment.rejected_events") == [
        ("2026-01-02/b.jsonl", 101)
    ]
    assert load_segment(events).skipped  # converged: nothing left to do


DROP_KILL_HARNESS = r'''
"""Run the CLI with the Segment events cut into items of ten, and a SIGKILL in the middle of dlt's drop: right
after the wipe of the working folder removed the schemas, while the local state (the new files' prints) is left."""
import os, signal, sys

from ingestion.sources import file_loads, segment

file_loads.DUCKDB_ROW_GROUP_ROWS = segment.DUCKDB_ROW_GROUP_ROWS = 10
remove_folder = os.rmdir


def rmdir(path, *args, **kwargs):
    remove_folder(path, *args, **kwargs)
    if os.path.basename(str(path)) == "schemas":
        os.kill(os.getpid(), signal.SIGKILL)


os.rmdir = rmdir

from ingestion.cli import main

sys.exit(main(sys.argv[1:]))
'''


def test_segment_killed_while_turning_down_a_split_append_loads_the_files_next_time(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New events that dlt split into files are not appended: the package is turned down and the working folder
    wiped before a merge. A kill in the middle of that wipe (the second hostile review of round 9 killed dlt's
    abort between deleting the package and restoring the state; the third killed the wipe after the schemas and
    before the state) must not leave the local state marking the files as loaded, nor a folder the next run
    cannot open: the next run finishes the wipe and loads them."""
    events = tmp_path / "segment"
    write_events(events / "2026-01-01" / "a.jsonl", list(range(0, 5)))
    load_segment(events)
    write_events(events / "2026-01-02" / "b.jsonl", list(range(5, 55)))
    harness = tmp_path / "drop_kill_harness.py"
    harness.write_text(DROP_KILL_HARNESS)
    monkeypatch.setenv("SOURCES__SEGMENT__DATA_WRITER__FILE_MAX_ITEMS", "20")
    killed = subprocess.run(
        [sys.executable, str(harness), "load", "segment", "--path", str(events)],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(Path.cwd()), os.environ.get("PYTHONPATH")])),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert count(warehouse, "raw_segment.events") == 5

    summary = load_segment(events)
    assert summary.files_read == ["2026-01-02/b.jsonl"]
    assert query(warehouse, "select count(*), count(distinct message_id) from raw_segment.events") == [(55, 55)]
    assert load_segment(events).skipped


# -- a CSV drop: a changed file replaces its rows --------------------------------------------------
MAPPING = {"id": "contact_id", "email": "email", "name": "first_name"}


def write_csv(path: Path, ids: list[int], tag: str = "") -> None:
    path.write_text("id,email,name\n" + "".join(f"C{i},p{i}@example.com,Name{i}{tag}\n" for i in ids))


CSV_KILL_POINTS = {
    "rows_merge": insert_into("raw_csv_contacts.crm"),
    "rejects_merge": insert_into("raw_csv_contacts.rejected_rows"),
    "load_completion": insert_into("raw_csv_contacts._dlt_loads"),
}


@pytest.mark.parametrize("point", sorted(CSV_KILL_POINTS))
def test_csv_reload_killed_keeps_committed_rows_and_converges(
    point: str, tmp_path: Path, warehouse: Path, start_paused: Callable[..., Paused]
) -> None:
    drop = tmp_path / "crm"
    drop.mkdir()
    (drop / "mapping.json").write_text(json.dumps(MAPPING))
    write_csv(drop / "a.csv", list(range(0, 400)))
    write_csv(drop / "b.csv", list(range(400, 500)))
    load_csv_contacts(drop, drop / "mapping.json", "crm")
    committed = query(warehouse, "select contact_id, first_name from raw_csv_contacts.crm order by 1")
    assert len(committed) == 500

    write_csv(drop / "a.csv", [*range(0, 400), *range(1000, 1050)], tag="-v2")  # every row changed, 50 more
    paused = start_paused(
        CSV_KILL_POINTS[point],
        *("load", "csv_contacts", "--path", str(drop), "--mapping", str(drop / "mapping.json")),
        *("--source-name", "crm"),
    )
    paused.kill()

    after_kill = query(warehouse, "select contact_id, first_name from raw_csv_contacts.crm order by 1")
    assert len(after_kill) >= len(committed), f"killed at {point}: {len(committed)} -> {len(after_kill)} rows"
    if point == "rows_merge":
        assert after_kill == committed

    summary = load_csv_contacts(drop, drop / "mapping.json", "crm")
    assert summary.files_read == ["a.csv"]
    expected = sorted(
        [(f"C{i}", f"Name{i}-v2") for i in [*range(0, 400), *range(1000, 1050)]]
        + [(f"C{i}", f"Name{i}") for i in range(400, 500)]
    )
    assert query(warehouse, "select contact_id, first_name from raw_csv_contacts.crm order by 1") == expected
    assert load_csv_contacts(drop, drop / "mapping.json", "crm").skipped


CSV_APPEND_KILL_POINTS = {
    # no row of the new file is stored, so both tables are appended: killed before the first insert
    "rows_append": insert_into("raw_csv_contacts.crm"),
    # the rejects not inserted, the rows maybe: the rerun must merge what is stored and append the rest
    "rejects_append": insert_into("raw_csv_contacts.rejected_rows"),
    # both inserts committed, the load not yet marked complete (so the state has not advanced)
    "load_completion": insert_into("raw_csv_contacts._dlt_loads"),
}


@pytest.mark.parametrize("first_load", [True, False], ids=["first_load", "new_file"])
@pytest.mark.parametrize("point", sorted(CSV_APPEND_KILL_POINTS))
def test_csv_append_killed_keeps_committed_rows_and_converges(
    point: str, first_load: bool, tmp_path: Path, warehouse: Path, start_paused: Callable[..., Paused]
) -> None:
    """Files the warehouse holds no row of are appended (one insert per table): a kill between the inserts, or
    after them but before the load completes, leaves rows of files the state still calls new. The rerun asks
    the warehouse, not the state, so it replaces them instead of adding them twice."""
    drop = tmp_path / "crm"
    drop.mkdir()
    (drop / "mapping.json").write_text(json.dumps(MAPPING))
    before = 0
    if not first_load:
        write_csv(drop / "a.csv", list(range(0, 300)))
        load_csv_contacts(drop, drop / "mapping.json", "crm")
        before = 300
    write_csv(drop / "b.csv", list(range(300, 400)))
    with (drop / "b.csv").open("a") as handle:
        handle.write("C999,broken,row,here\n")
    paused = start_paused(
        CSV_APPEND_KILL_POINTS[point],
        *("load", "csv_contacts", "--path", str(drop), "--mapping", str(drop / "mapping.json")),
        *("--source-name", "crm"),
    )
    paused.kill()

    created = query(warehouse, "select count(*) from duckdb_tables() where schema_name = 'raw_csv_contacts'")
    after_kill = count(warehouse, "raw_csv_contacts.crm") if created[0][0] else 0  # a first load may not have it
    # dlt runs the two tables' jobs side by side: killed before the rejects' insert, the rows' may or may not be in
    expected = {"rows_append": {before}, "rejects_append": {before, before + 100}, "load_completion": {before + 100}}
    assert after_kill in expected[point], point

    summary = load_csv_contacts(drop, drop / "mapping.json", "crm")
    assert summary.files_read == ["b.csv"]
    assert query(warehouse, "select count(*), count(distinct contact_id) from raw_csv_contacts.crm") == [
        (before + 100, before + 100)
    ]
    assert query(warehouse, "select source_file, row_number from raw_csv_contacts.rejected_rows") == [("b.csv", 101)]
    assert load_csv_contacts(drop, drop / "mapping.json", "crm").skipped  # converged: nothing left to do


# -- an incremental API load ---------------------------------------------------------------------
TOKEN = "pat-na1-kill-0000"


def test_hubspot_incremental_merge_killed_keeps_committed_rows_and_converges(
    demo_data: Path, warehouse: Path, start_paused: Callable[..., Paused], monkeypatch: pytest.MonkeyPatch
) -> None:
    with HubSpotServer(demo_data, TOKEN) as server:
        monkeypatch.setenv("SOURCES__HUBSPOT__BASE_URL", server.url)
        monkeypatch.setenv("SOURCES__HUBSPOT__ACCESS_TOKEN", TOKEN)
        load_hubspot()
        committed = query(warehouse, "select id, properties__city from raw_hubspot.contacts order by id")
        changed = sorted(server.store.live, key=int)[:40]
        for contact_id in changed:
            server.store.update_contact(contact_id, {"city": "Moved"})

        paused = start_paused(insert_into("raw_hubspot.contacts"), "load", "hubspot")
        paused.kill()

        after_kill = query(warehouse, "select id, properties__city from raw_hubspot.contacts order by id")
        assert len(after_kill) == len(committed), f"{len(committed)} -> {len(after_kill)} contacts"
        assert after_kill == committed

        load_hubspot()
        final = dict(query(warehouse, "select id, properties__city from raw_hubspot.contacts"))
        assert len(final) == len(committed)
        assert query(warehouse, "select count(*) = count(distinct id) from raw_hubspot.contacts") == [(True,)]
        assert {final[c] for c in changed} == {"Moved"}
        assert {k: v for k, v in final.items() if k not in changed} == {k: v for k, v in committed if k not in changed}


SHOPIFY_TOKEN = "shpat_kill_0123456789abcdef"


def test_shopify_killed_after_a_staging_copy_committed_lands_each_row_once(
    demo_data: Path,
    warehouse: Path,
    tmp_path: Path,
    start_paused: Callable[..., Paused],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """dlt runs again, on the next run, a job a killed run had committed but not yet marked done: here the copy of
    the orders into dlt's staging table. Its rows then reach the merge twice, with the same ``_dlt_id``."""
    raw_tables = (
        "select distinct table_name from information_schema.columns "
        "where table_schema = 'raw_shopify' and column_name = '_dlt_id' "
        "and table_name not like '\\_dlt%' escape '\\' order by 1"
    )
    with ShopifyServer(demo_data, SHOPIFY_TOKEN, bucket_size=1000, leak_rate=100) as server:
        env = {"SOURCES__SHOPIFY__SHOP_URL": server.url, "SOURCES__SHOPIFY__ACCESS_TOKEN": SHOPIFY_TOKEN}
        paused = start_paused(
            insert_into("raw_shopify_staging.orders"), "load", "shopify", env={**env, "C360_PAUSE_AFTER": "1"}
        )
        paused.kill()
        assert count(warehouse, "raw_shopify.orders") == 0  # the merge never ran

        # the next run finishes the package (both copies land) and is killed before it removes the second copies
        paused = start_paused(r"^delete from .* where rowid in", "load", "shopify", env=env)
        paused.kill()
        assert count(warehouse, "raw_shopify.orders") == 2 * count(
            warehouse, "(select distinct id from raw_shopify.orders)"
        )

        load_shopify(server.url, SHOPIFY_TOKEN)  # removes them, then finds nothing new
        monkeypatch.setenv("CUSTOMER360_DUCKDB_PATH", str(tmp_path / "reference.duckdb"))
        monkeypatch.setenv("CUSTOMER360_PIPELINES_DIR", str(tmp_path / "reference_pipelines"))
        load_shopify(server.url, SHOPIFY_TOKEN)  # the same shop, loaded once without a kill
    tables = [t for (t,) in query(warehouse, raw_tables)]
    assert {"customers", "orders", "orders__line_items"} <= set(tables)
    assert tables == [t for (t,) in query(tmp_path / "reference.duckdb", raw_tables)]
    for table in tables:
        total, distinct = query(warehouse, f'select count(*), count(distinct _dlt_id) from raw_shopify."{table}"')[0]
        assert total == distinct, f"{table}: {total - distinct} rows twice"
        assert total == count(tmp_path / "reference.duckdb", f'raw_shopify."{table}"'), table
    order_ids = "select id from raw_shopify.orders order by id"
    assert query(warehouse, order_ids) == query(tmp_path / "reference.duckdb", order_ids)


# -- one run per pipeline at a time ------------------------------------------------------------------
def test_second_load_of_the_same_source_fails_with_one_line_and_spares_the_first(
    tmp_path: Path, warehouse: Path, start_paused: Callable[..., Paused]
) -> None:
    events = tmp_path / "segment"
    write_events(events / "2026-01-01" / "a.jsonl", list(range(0, 200)))
    # the first load stops mid-merge, its package and working folder on disk
    first = start_paused(insert_into("raw_segment.events"), "load", "segment", "--path", str(events))

    second = subprocess.run(
        [sys.executable, "-m", "ingestion.cli", "load", "segment", "--path", str(events)],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert second.returncode == 2, second.stderr
    assert "Traceback" not in second.stderr
    errors = [line for line in second.stderr.splitlines() if line.startswith("customer360: error:")]
    assert len(errors) == 1 and "already running" in errors[0], second.stderr
    finished = first.resume()
    assert finished.returncode == 0, finished.stderr
    assert count(warehouse, "raw_segment.events") == 200
    assert load_segment(events).skipped
