"""Shared pytest fixtures.

pytest lives in tests/python/; dbt's own tests live in tests/generic/ and tests/singular/. dbt only
reads .sql/.yml there and pytest only collects tests/python (pyproject's testpaths), so they never mix.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

from ingestion.dbt_runner import DbtOutcome

# No telemetry from dbt or dlt during tests, whoever runs them (CI, the README command, a developer).
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
# With the airflow extra installed, dlt would also look up every setting in Airflow Variables (a metadata
# database query per lookup, failing where none is set up): settings and secrets come from env and secrets.toml.
os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")
DEMO_AS_OF = date(2026, 11, 1)
DEMO_SEED = 7
DEMO_CUSTOMERS = 300
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the checkout: dbt project, seeds, target/
# tests/check.sh runs pytest in two xdist workers. dbt writes its manifest, run_results and partial-parse cache to
# the target folder and appends to its log: each worker gets its own, so two concurrent dbt runs never share one.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _XDIST_WORKER:
    os.environ["DBT_TARGET_PATH"] = str(PROJECT_ROOT / "target" / f"pytest-{_XDIST_WORKER}")
    os.environ["DBT_LOG_PATH"] = str(PROJECT_ROOT / "logs" / f"pytest-{_XDIST_WORKER}")
DBT_TARGET_DIR = Path(os.environ.get("DBT_TARGET_PATH") or PROJECT_ROOT / "target")  # where dbt writes manifests

# tests/check.sh runs pytest with `--dist loadfile --no-loadscope-reorder`: xdist hands out whole files in collection
# order, the next one to whichever worker runs dry. Longest files first keeps both workers busy to the end instead of
# one long file running alone at the tail (xdist's own default orders files by test count, which put the one-test,
# ~3.5 min test_demo.py last). Slowest first, by measured time per file (2026-12-07, round 24, `--durations=0`: the
# setup, call and teardown of its tests; files of 12 s or more); files not listed follow in pytest's order. A stale
# list costs minutes, never a test.
SLOWEST_FILES_FIRST = (
    "test_api_limits.py",
    "test_consent_safety.py",
    "test_run.py",
    "test_any_sources.py",
    "test_erasure.py",
    "test_incremental_identity.py",
    "test_airflow_dag.py",
    "test_demo.py",
    "test_build_changed.py",
    "test_load_all.py",
    "test_marts.py",
    "test_identity.py",
    "test_atomic_loads.py",
    "test_shopify.py",
    "test_shopify_bulk.py",
    "test_cli_build.py",
    "test_quarantine_routing.py",
    "test_activation_sync.py",
    "test_pii_tags.py",
    "test_hubspot.py",
    "test_incremental_staging.py",
    "test_docs_site.py",
    "test_dbt_memory_retry.py",
    "test_csv_contacts.py",
    "test_monitoring.py",
    "test_hostile_round3_dbt.py",
    "test_generate.py",
    "test_segment.py",
    "test_build_scope.py",
    "test_settings.py",
    "test_hostile_round3_ingest.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slowest files first (see SLOWEST_FILES_FIRST); a file's own tests keep their order."""
    rank = {name: position for position, name in enumerate(SLOWEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated demo population, shared read-only by all tests (copy it before mutating)."""
    from ingestion.demo_kit.generate import generate

    out = tmp_path_factory.mktemp("demo_data")
    generate(out, customers=DEMO_CUSTOMERS, seed=DEMO_SEED, as_of=DEMO_AS_OF, progress=False)
    return out


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh DuckDB file and dlt working folder for one test, wired through the environment."""
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("CUSTOMER360_DUCKDB_PATH", str(path))
    monkeypatch.setenv("CUSTOMER360_PIPELINES_DIR", str(tmp_path / "dlt_pipelines"))
    # dlt must not pick up a developer's global config or telemetry during tests.
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_data"))
    yield path
    os.environ.pop("CUSTOMER360_DUCKDB_PATH", None)


@dataclass
class BuiltWarehouse:
    """The demo data loaded by every loader and built by one `dbt build` (read it, never write it)."""

    path: Path
    data: Path
    outcome: DbtOutcome

    def clone(self, root: Path, env: pytest.MonkeyPatch) -> Path:
        """A private, writable copy under ``root`` — warehouse file, dlt's pipeline state and the data folder —
        wired into ``env`` like the `warehouse` fixture; returns the copied data folder.

        For tests that change data after a first clean build: they start from this session's build instead of
        loading and building the same demo again (~1 min each).
        """
        assert self.outcome.success, f"the session's demo build failed: {self.outcome.failures[:5]}"
        import duckdb

        con = duckdb.connect(str(self.path))
        try:
            con.execute("checkpoint")  # everything in the file itself, nothing left in the write-ahead log
        finally:
            con.close()
        shutil.copy2(self.path, root / "warehouse.duckdb")
        for folder in ("dlt_pipelines", "dlt_data"):
            if (self.path.parent / folder).is_dir():
                shutil.copytree(self.path.parent / folder, root / folder)
        data = root / "data"
        shutil.copytree(self.data, data)
        env.setenv("CUSTOMER360_DUCKDB_PATH", str(root / "warehouse.duckdb"))
        env.setenv("CUSTOMER360_PIPELINES_DIR", str(root / "dlt_pipelines"))
        env.setenv("DLT_DATA_DIR", str(root / "dlt_data"))
        env.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        return data


def _build_demo_warehouse(demo_data: Path, root: Path) -> DbtOutcome:
    """``demo_data`` copied to ``root/data``, served, loaded with dlt (all sources) into ``root/warehouse.duckdb``
    and built with one `dbt build`; the file checkpointed (nothing left in its write-ahead log)."""
    from ingestion.dbt_runner import run_dbt
    from ingestion.demo_kit.servers.run import running_servers
    from ingestion.loading import load

    data = root / "data"
    shutil.copytree(demo_data, data)
    path = root / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CUSTOMER360_DUCKDB_PATH", str(path))
        env.setenv("CUSTOMER360_PIPELINES_DIR", str(root / "dlt_pipelines"))
        env.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        env.setenv("DLT_DATA_DIR", str(root / "dlt_data"))
        with running_servers(data) as servers:
            for name, value in servers.loader_environment().items():
                env.setenv(name, value)
            load("all", data_dir=data)
        outcome = run_dbt(["build"])
    (root / "target").mkdir()
    for artifact in DBT_TARGET_DIR.glob("*.json"):  # manifest.json, run_results.json ... of the build
        shutil.copy2(artifact, root / "target" / artifact.name)
    con = duckdb.connect(str(path))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    return outcome


@contextmanager
def _session_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` shared by this session's xdist workers (a no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: no cross-process lock here; each worker then builds its own
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def built_warehouse(demo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    """`demo_data` served, loaded with dlt (all sources) and built with ONE `dbt build` for the whole session.

    Shared by the tests that only read the result (staging, quality, identity ...): the build (~1 min) is the
    same for all of them. Tests that change data build their own, or start from a `clone`.
    Under xdist the first worker to ask builds it (the others wait on a lock in the session's shared temporary
    folder) and every worker gets a private copy of the built files: DuckDB lets one process open a file for
    writing, and no worker's connections or dbt runs reach another's copy. Without xdist it is built in place.
    Open it with `duckdb.connect(str(built_warehouse.path))` and close it after each query: dbt-duckdb
    keeps the file open in this process, and DuckDB refuses a read_only connection beside it.
    """
    import pickle

    if not _XDIST_WORKER or sys.platform == "win32":
        root = tmp_path_factory.mktemp("built_warehouse")
        outcome = _build_demo_warehouse(demo_data, root)
        return BuiltWarehouse(path=root / "warehouse.duckdb", data=root / "data", outcome=outcome)
    shared_root = tmp_path_factory.getbasetemp().parent  # the session's folder, above each worker's own
    shared = shared_root / "built_warehouse_shared"
    done = shared / "outcome.pickle"  # written last: the build is complete (a failed build writes none)
    with _session_lock(shared_root / "built_warehouse_shared.lock"):
        if not done.is_file():
            shutil.rmtree(shared, ignore_errors=True)  # a worker that failed half-way left it
            shared.mkdir()
            outcome = _build_demo_warehouse(demo_data, shared)
            done.write_bytes(pickle.dumps(outcome))
    outcome = pickle.loads(done.read_bytes())
    # this worker's dbt target folder as if it had built: tests read the build's manifest.json from it
    DBT_TARGET_DIR.mkdir(parents=True, exist_ok=True)
    for artifact in (shared / "target").glob("*.json"):
        shutil.copy2(artifact, DBT_TARGET_DIR / artifact.name)
    root = tmp_path_factory.mktemp("built_warehouse")
    shutil.copy2(shared / "warehouse.duckdb", root / "warehouse.duckdb")
    for folder in ("dlt_pipelines", "dlt_data"):
        if (shared / folder).is_dir():
            shutil.copytree(shared / folder, root / folder)
    return BuiltWarehouse(path=root / "warehouse.duckdb", data=shared / "data", outcome=outcome)


@contextmanager
def _hold_write_lock(path: Path) -> Iterator[None]:
    """Another process holds DuckDB's single write lock on ``path`` until the block ends."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('locked', flush=True); sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.communicate(input="", timeout=30)  # closing stdin ends the holder and frees the lock


@pytest.fixture
def write_lock_held() -> Callable[[Path], AbstractContextManager[None]]:
    """``with write_lock_held(path):`` — another process holds the DuckDB write lock meanwhile."""
    return _hold_write_lock


@dataclass
class WebhookReceiver:
    """A local HTTP server that keeps every JSON body POSTed to it (alert webhooks)."""

    url: str
    received: list[dict[str, object]]


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield WebhookReceiver(f"http://127.0.0.1:{server.server_address[1]}/alerts", received)
    finally:
        server.shutdown()
        server.server_close()


def execute_sql(path: Path, *statements: str) -> None:
    """Run ``statements`` on the DuckDB warehouse at ``path``, one after the other, and close it."""
    con = duckdb.connect(str(path))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()
