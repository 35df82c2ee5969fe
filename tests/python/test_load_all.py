"""`load all` runs the sources side by side (CUSTOMER360_PARALLEL_LOADS), each all-or-nothing on its own.

The real loaders in separate processes, taking turns at the warehouse, must land exactly what they land one after
another; Shopify must hold the warehouse only for its checks and its commit, so the others load beside its extract;
a failed source must not stop the others, and what committed is still printed; a killed `load all` must take its
load processes with it; the erasure enforcement, which deletes from every raw table and empties the staging
datasets a running merge reads, must run once, after every load has ended."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion import loading, pipeline
from ingestion.errors import UserError
from ingestion.pipeline import WAREHOUSE_TURN_SUFFIX, LoadSummary
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


def threads(workers: int) -> ThreadPoolExecutor:
    """The fake loaders count in this process: threads stand in for the load processes."""
    return ThreadPoolExecutor(max_workers=workers)


def test_load_all_starts_every_source_once() -> None:
    assert sorted(loading.START_ORDER) == sorted(loading.LOADED_SOURCES)


def test_side_by_side_runs_as_many_at_once_as_asked() -> None:
    two = Recorder()
    loaded, failed = loading.side_by_side(loading.START_ORDER, two, threads(2), workers=2)
    assert two.most == 2 and not failed
    assert sorted(loaded) == sorted(loading.START_ORDER)
    assert two.started[:2] == ["shopify", "segment"]  # the longest first

    one = Recorder(seconds=0.05)
    loading.side_by_side(loading.START_ORDER, one, threads(1), workers=1)
    assert one.most == 1 and one.started == list(loading.START_ORDER)


def test_a_failed_source_does_not_stop_the_others() -> None:
    recorder = Recorder(failing={"shopify": UserError("shopify rejected the access token (401)")})
    loaded, failed = loading.side_by_side(loading.START_ORDER, recorder, threads(2), workers=2)
    assert set(failed) == {"shopify"}
    assert set(loaded) == {"segment", "hubspot", "csv_contacts"}


def test_an_interrupt_starts_no_further_load() -> None:
    recorder = Recorder(seconds=0.05, failing={"shopify": KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        loading.side_by_side(loading.START_ORDER, recorder, threads(1), workers=1)
    assert recorder.started == ["shopify"]


def test_an_interrupt_lets_the_running_loads_commit_and_names_them() -> None:
    """Ctrl-C while Shopify loads: its load finishes and commits, and the interrupt carries its summary (the CLI
    prints it); no other load starts."""

    def load_one(source: str) -> list[LoadSummary]:
        if source == "segment":
            raise KeyboardInterrupt  # at once, while Shopify's load is still at work
        time.sleep(0.5)
        return [LoadSummary(source, rows_by_table={source: 1})]

    with pytest.raises(loading.LoadAllInterrupted) as raised:
        loading.side_by_side(loading.START_ORDER, load_one, threads(2), workers=2)
    assert [summary.source_system for summary in raised.value.committed] == ["shopify"]

    # what committed is reported in the usual order (HubSpot first), not the order the loads started in
    recorder = Recorder(seconds=0.01, failing={"segment": UserError("no events"), "csv_contacts": KeyboardInterrupt()})
    with pytest.raises(loading.LoadAllInterrupted) as raised:
        loading.side_by_side(loading.START_ORDER, recorder, threads(1), workers=1)
    assert recorder.started == list(loading.START_ORDER)
    assert [summary.source_system for summary in raised.value.committed] == ["hubspot", "shopify"]


def test_an_interrupted_load_all_prints_what_committed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`customer360 load all` stopped by Ctrl-C: the summary lines of the sources that committed, then one line, exit
    130 (round 26 printed only the line)."""
    import ingestion.privacy.erasure as erasure
    from ingestion import cli

    recorder = Recorder(seconds=0.05, failing={"segment": KeyboardInterrupt()})
    monkeypatch.setattr(loading, "_load", recorder)
    monkeypatch.setattr(loading, "load_pool", threads)
    monkeypatch.setattr(erasure, "enforce_after_load", lambda *args, **kwargs: None)
    for name, value in {
        "CUSTOMER360_DUCKDB_PATH": tmp_path / "w.duckdb", "CUSTOMER360_PIPELINES_DIR": tmp_path / "dlt",
        "CUSTOMER360_DATA_DIR": tmp_path, "CUSTOMER360_PARALLEL_LOADS": 1,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, str(value))
    assert cli.main(["load", "all"]) == 130
    said = capsys.readouterr()
    assert recorder.started == ["shopify", "segment"]
    assert said.out.splitlines() == [LoadSummary("shopify", rows_by_table={"shopify": 1}).line()]
    assert said.err.strip().splitlines()[-1] == "customer360: interrupted"


@pytest.fixture
def fake_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Recorder, list[int]]:
    """`load all` over fake loaders; the erasure enforcement records how many loads ran when it was called."""
    import ingestion.privacy.erasure as erasure

    recorder = Recorder()
    running_at_enforcement: list[int] = []

    def enforce(*args: Any, **kwargs: Any) -> None:
        running_at_enforcement.append(recorder.running)

    monkeypatch.setattr(loading, "_load", recorder)
    monkeypatch.setattr(loading, "load_pool", threads)
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
    assert [s.source_system for s in summaries] == list(loading.LOADED_SOURCES)  # reported in the usual order


def test_load_all_loads_in_this_process_when_this_process_has_the_warehouse_open(
    fake_loads: tuple[Recorder, list[int]], tmp_path: Path
) -> None:
    """No other process could open a warehouse this one holds (a caller that built with dbt in-process, a
    notebook's connection): the loads then run here, one after another, sharing its open DuckDB."""
    recorder, _ = fake_loads
    settings = _settings(tmp_path, 2)
    with duckdb.connect(str(settings.duckdb_path)):
        loading.load("all", settings=settings)
    assert recorder.most == 1 and recorder.started == list(loading.START_ORDER)
    recorder.most, recorder.started = 0, []
    loading.load("all", settings=settings)  # closed again: side by side
    assert recorder.most == 2


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


def _cli_env(root: Path, demo_data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    return {
        **env,
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "DLT_DATA_DIR": str(root / "dlt_data"),
        "CUSTOMER360_DUCKDB_PATH": str(root / "warehouse.duckdb"),
        "CUSTOMER360_PIPELINES_DIR": str(root / "dlt_pipelines"),
        "CUSTOMER360_DATA_DIR": str(demo_data),
        **extra,
    }


class Lines:
    """A child's stderr read line by line as it comes, to wait for one."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stderr is not None
        stream = process.stderr
        self.reader = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self.reader.start()

    def wait_for(self, fragment: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(fragment in line for line in self.lines):
            assert time.monotonic() < deadline, f"no line with {fragment!r} in: {''.join(self.lines)}"
            time.sleep(0.05)


def test_shopify_holds_the_warehouse_only_to_check_and_to_commit(demo_data: Path, tmp_path: Path) -> None:
    """`load all` runs the other loads beside Shopify's extract and normalize: the load must not hold the
    warehouse (its turn, and DuckDB's file) from its checks to its commit. Held from here, it waits twice."""
    from ingestion.demo_kit.servers.run import running_servers

    turn = tmp_path / f"warehouse.duckdb{WAREHOUSE_TURN_SUFFIX}"
    normalized = tmp_path / "dlt_pipelines" / "customer360_shopify" / "load" / "normalized"  # dlt's packages
    with running_servers(demo_data) as servers:
        access = servers.access()["shopify"]
        env = _cli_env(
            tmp_path, demo_data, SOURCES__SHOPIFY__SHOP_URL=access.url, SOURCES__SHOPIFY__ACCESS_TOKEN=access.token
        )
        held = _hold(turn, "the test")
        process = subprocess.Popen(
            [sys.executable, "-m", "ingestion.cli", "load", "shopify"], stderr=subprocess.PIPE, text=True, env=env
        )
        try:
            lines = Lines(process)
            lines.wait_for("shopify: checks: waiting for the warehouse (the test (pid")
            os.close(held)
            deadline = time.monotonic() + 60
            while "shopify: state" not in turn.read_text():  # its last turn before extracting: the state sync
                assert time.monotonic() < deadline
                time.sleep(0.01)
            held = _hold(turn, "the test", wait=True)  # as soon as it lets go
            lines.wait_for("shopify: load: waiting for the warehouse (the test (pid")
            # extracted and normalized meanwhile, with the warehouse closed: this process can open it to write
            assert any(normalized.rglob("*.parquet")), "no normalized package while the warehouse was held"
            with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
                assert con.execute(
                    "select count(*) from information_schema.tables where table_schema = 'raw_shopify' "
                    "and table_name = 'orders'"
                ).fetchone() == (0,)  # nothing committed before its turn
            os.close(held)
            held = -1
            assert process.wait(timeout=120) == 0, "".join(lines.lines)
        finally:
            if held >= 0:
                os.close(held)
            process.kill()
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        orders = con.execute("select count(*) from raw_shopify.orders").fetchone()
    assert orders is not None and orders[0] == _demo_order_count(demo_data)


def _hold(path: Path, who: str, wait: bool = False) -> int:
    """Take the warehouse's turn as a load does (an OS file lock); returns the descriptor to close."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(descriptor, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{who} (pid {os.getpid()})".encode(), 0)
    return descriptor


def _demo_order_count(demo_data: Path) -> int:
    """The orders the demo shop serves: one per line of its orders file."""
    with (demo_data / "shopify" / "orders.jsonl").open() as lines:
        return sum(1 for line in lines if line.strip())


def _load_all_started(env: dict[str, str], own_terminal: bool = False) -> tuple[subprocess.Popen[str], Lines]:
    """`load all` in the background, returned once a load process is at work (Shopify's first line). With
    ``own_terminal``, in its own process group with Ctrl-C's default action, as a terminal's foreground job, and
    its stdout kept."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ingestion.cli", "load", "all"],
        stdout=subprocess.PIPE if own_terminal else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=own_terminal,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if own_terminal else None,
    )
    lines = Lines(process)
    lines.wait_for("shopify: ")
    return process, lines


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; death with the parent is Linux's")
def test_load_all_killed_leaves_no_load_running_and_the_rerun_lands_everything(demo_data: Path, tmp_path: Path) -> None:
    """`kill -9` of `load all` takes its load processes with it (none goes on writing unseen), and the next run
    lands exactly what an uninterrupted one does."""
    from ingestion.demo_kit.servers.run import running_servers

    with running_servers(demo_data) as servers:
        api = servers.loader_environment()
        killed_root, clean_root = tmp_path / "killed", tmp_path / "clean"
        env = _cli_env(killed_root, demo_data, CUSTOMER360_PARALLEL_LOADS="2", **api)
        process, lines = _load_all_started(env)
        loads = _children(process.pid)
        deadline = time.monotonic() + 60
        while len([pid for pid in loads if pipeline.alive(pid)]) < 2:  # both load processes started
            assert time.monotonic() < deadline, "".join(lines.lines)
            time.sleep(0.05)
            loads = _children(process.pid)
        process.kill()
        process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(pipeline.alive(pid) for pid in loads):
            assert time.monotonic() < deadline, f"load processes outlived `load all`: {loads}"
            time.sleep(0.05)

        rerun = subprocess.run(
            [sys.executable, "-m", "ingestion.cli", "load", "all"], capture_output=True, text=True, env=env
        )
        assert rerun.returncode == 0, rerun.stderr
        clean = subprocess.run(
            [sys.executable, "-m", "ingestion.cli", "load", "all"],
            capture_output=True,
            text=True,
            env=_cli_env(clean_root, demo_data, CUSTOMER360_PARALLEL_LOADS="2", **api),
        )
        assert clean.returncode == 0, clean.stderr
    killed, uninterrupted = _raw_tables(killed_root / "warehouse.duckdb"), _raw_tables(clean_root / "warehouse.duckdb")
    assert killed.keys() == uninterrupted.keys()
    for table, rows in uninterrupted.items():
        assert killed[table] == rows, table


def test_a_failed_load_all_prints_what_committed_then_the_one_line(demo_data: Path, tmp_path: Path) -> None:
    """No API settings: HubSpot and Shopify fail, Segment and the CSV drops commit; their summary lines come first."""
    result = subprocess.run(
        [sys.executable, "-m", "ingestion.cli", "load", "all"],
        capture_output=True,
        text=True,
        env=_cli_env(tmp_path, demo_data, CUSTOMER360_PARALLEL_LOADS="2"),
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    printed = [line.split(":", 1)[0] for line in result.stdout.splitlines()]
    drops = [drop.name for drop in loading.csv_drops(demo_data)]
    assert printed == ["segment", *drops] and drops, result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("customer360: error:")]
    assert len(errors) == 1 and errors[0].startswith("customer360: error: load all: hubspot: no HubSpot access token")
    assert errors[0].endswith("(committed: segment, csv_contacts)")


def _processes_of(warehouse: Path) -> set[int]:
    """Live processes started with this warehouse in their environment (a load and the workers it forked)."""
    marker = f"CUSTOMER360_DUCKDB_PATH={warehouse}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0") and pipeline.alive(int(entry.name)):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_shopify_normalize_killed_mid_way_leaves_workers_the_next_run_stops(demo_data: Path, tmp_path: Path) -> None:
    """Shopify's normalize runs in forked worker processes (shopify.normalize_in_parallel). Killed mid-normalize,
    the load leaves them blocked for good, holding its run lock: the next run stops them, then lands exactly what an
    uninterrupted load lands."""
    from ingestion.demo_kit.servers.run import running_servers

    killed_root, clean_root = tmp_path / "killed", tmp_path / "clean"
    small_files = {"CUSTOMER360_SHOPIFY__DATA_WRITER__FILE_MAX_ITEMS": "10"}  # many files: a normalize to stop
    in_airflow = {"AIRFLOW_CTX_TASK_ID": "load_shopify"}  # where dlt would spawn its workers, which hold no lock
    new_packages = killed_root / "dlt_pipelines" / "customer360_shopify" / "load" / "new"
    with running_servers(demo_data) as servers:
        api = servers.loader_environment()
        env = _cli_env(killed_root, demo_data, **small_files, **in_airflow, **api)
        load = [sys.executable, "-m", "ingestion.cli", "load", "shopify"]
        process = subprocess.Popen(load, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 120
        while not (new_packages.is_dir() and any(new_packages.rglob("*.parquet"))):  # normalize under way
            assert process.poll() is None and time.monotonic() < deadline, "the load ended before its normalize"
            time.sleep(0.005)
        process.kill()
        process.wait(timeout=30)
        workers = _processes_of(killed_root / "warehouse.duckdb")
        assert workers, "no normalize worker outlived the load: nothing was tried"
        warehouse = killed_root / "warehouse.duckdb"
        leftovers = _processes_of(warehouse)
        assert leftovers, "no normalize worker outlived the load: nothing was tried"
        time.sleep(1)
        assert _processes_of(warehouse) == leftovers  # blocked for good, holding the run lock
        rerun = subprocess.run(load, capture_output=True, text=True, env=env)
        assert rerun.returncode == 0, rerun.stderr
        assert f"shopify: stopped {len(leftovers)} worker processes a killed load left behind" in rerun.stderr
        assert not _processes_of(warehouse)
        clean = subprocess.run(load, capture_output=True, text=True, env=_cli_env(clean_root, demo_data, **api))
        assert clean.returncode == 0, clean.stderr
    killed, uninterrupted = _raw_tables(killed_root / "warehouse.duckdb"), _raw_tables(clean_root / "warehouse.duckdb")
    assert killed.keys() == uninterrupted.keys() and "raw_shopify.orders__line_items" in killed
    for table, rows in uninterrupted.items():
        assert killed[table] == rows, table


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_load_process_killed_fails_load_all_in_one_line(demo_data: Path, tmp_path: Path) -> None:
    """A load process that dies (here `kill -9`, as the kernel's OOM killer would) breaks the pool: `load all` says
    so in one line, without a traceback, and the next `load all` loads."""
    from ingestion.demo_kit.servers.run import running_servers

    with running_servers(demo_data) as servers:
        env = _cli_env(tmp_path, demo_data, CUSTOMER360_PARALLEL_LOADS="2", **servers.loader_environment())
        process, lines = _load_all_started(env)
        spawned = "from multiprocessing.spawn import spawn_main"
        loads = {pid for pid in _children(process.pid) if spawned in Path(f"/proc/{pid}/cmdline").read_text()}
        assert loads, "".join(lines.lines)
        os.kill(min(loads), signal.SIGKILL)
        returncode = process.wait(timeout=120)
        lines.reader.join(timeout=10)
        assert returncode == 2, "".join(lines.lines)
        lines.reader.join(timeout=10)
        errors = [line for line in lines.lines if line.startswith("customer360: error:")]
        assert len(errors) == 1 and "a load process ended abruptly (killed, or out of memory)" in errors[0]
        assert not any("Traceback" in line for line in lines.lines), "".join(lines.lines)
        rerun = subprocess.run(
            [sys.executable, "-m", "ingestion.cli", "load", "all"], capture_output=True, text=True, env=env
        )
        assert rerun.returncode == 0, rerun.stderr


def test_memory_and_threads_are_split_in_plain_sizes() -> None:
    """Each of n load processes gets 1/n of DuckDB's memory limit and threads, written as DuckDB reads sizes."""
    base = Settings(project_dir=None, duckdb_path=Path("w.duckdb"), data_dir=Path("."), pipelines_dir=Path("."))
    shares = {
        limit: base.replace(duckdb_memory_limit=limit).shared_by(2).duckdb_memory_limit
        for limit in ("4GB", "4000000000B", "3000000KB", ".5GB", "500 MiB", "80%", "-1")
    }
    assert shares == {
        "4GB": "2GB", "4000000000B": "2000000000B", "3000000KB": "1500000KB", ".5GB": "0.25GB",
        "500 MiB": "250MiB", "80%": "40%", "-1": "-1",
    }  # fmt: skip
    assert base.replace(duckdb_threads=2).shared_by(2).duckdb_threads == 1
    assert base.replace(duckdb_threads=1).shared_by(2).duckdb_threads == 1  # never none
    assert base.shared_by(1) == base


def _interrupted(demo_data: Path, tmp_path: Path, parallel: str, times: int) -> tuple[int, str, str]:
    """`load all` sent Ctrl-C as a terminal sends it (SIGINT to its process group) ``times`` times, the first once
    Shopify's load is at work; returns its exit code, stdout and stderr."""
    from ingestion.demo_kit.servers.run import running_servers

    with running_servers(demo_data) as servers:
        env = _cli_env(tmp_path, demo_data, CUSTOMER360_PARALLEL_LOADS=parallel, **servers.loader_environment())
        process, lines = _load_all_started(env, own_terminal=True)
        for _ in range(times):
            os.killpg(process.pid, signal.SIGINT)
            time.sleep(0.3)
        assert process.stdout is not None
        stdout = process.stdout.read()
        returncode = process.wait(timeout=120)
        lines.reader.join(timeout=10)
    return returncode, stdout, "".join(lines.lines)


def test_ctrl_c_twice_stops_the_running_loads_at_once(demo_data: Path, tmp_path: Path) -> None:
    """The first Ctrl-C lets the running loads finish; a second stops them, and `load all` ends (it once hung)."""
    returncode, _, stderr = _interrupted(demo_data, tmp_path, "2", times=2)
    assert returncode == 130, stderr
    assert "load all: the running loads were stopped" in stderr and "Traceback" not in stderr, stderr
    assert not _processes_of(tmp_path / "warehouse.duckdb")


def test_ctrl_c_with_one_load_at_a_time_loads_nothing_further(demo_data: Path, tmp_path: Path) -> None:
    """Loads run in this process's main thread, where dlt catches the Ctrl-C itself and fails its step: still an
    interrupt, so no further source loads (they did, committing, before)."""
    returncode, stdout, stderr = _interrupted(demo_data, tmp_path, "1", times=1)
    assert returncode == 130, stderr
    assert stdout == "" and "customer360: interrupted" in stderr
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        schemas = {s for (s,) in con.execute("select distinct table_schema from information_schema.tables").fetchall()}
    assert not {"raw_hubspot", "raw_segment"} & schemas  # Shopify starts; the others never did


def _holder(lock: Path, write_after: float | None) -> subprocess.Popen[str]:
    """Another process that takes the lock and, after ``write_after`` seconds (never: None), records its pid."""
    code = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "if sys.argv[2] != 'never':\n"
        "    time.sleep(float(sys.argv[2])); os.ftruncate(fd, 0); os.pwrite(fd, str(os.getpid()).encode(), 0)\n"
        "time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(lock), "never" if write_after is None else str(write_after)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_live_holder_is_never_taken_for_a_leftover(tmp_path: Path) -> None:
    """A holder that has locked but not yet recorded its pid (a busy machine can hold it there) must not be stopped:
    not when the record still names a live process (this one: it had the previous turn), nor when it names a dead
    one while the holder records itself within the grace period. (The first version stopped such a holder, and a
    suite run lost Segment's load to Shopify's next turn.)"""
    lock = tmp_path / "turn.lock"
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.pwrite(descriptor, f"shopify: checks (pid {os.getpid()})".encode(), 0)
        holder = _holder(lock, write_after=None)
        assert not pipeline.stop_leftover_workers(lock, descriptor, "test")
        assert holder.poll() is None
        holder.kill()
        holder.wait()

        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"segment: load (pid {dead.stdout.strip()})".encode(), 0)
        holder = _holder(lock, write_after=1.0)
        assert not pipeline.stop_leftover_workers(lock, descriptor, "test")
        assert holder.poll() is None
        holder.kill()
        holder.wait()
    finally:
        os.close(descriptor)
