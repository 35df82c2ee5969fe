"""Hostile round 3, ingestion: the Shopify GraphQL bulk first load and the settings / project lookup.

Each R3-I test reproduces one break found (docs/hostile_findings_round3.md, "Ingestion"): a download that
stops cleanly at a line boundary, a signed download URL in an error line, bad bulk settings, Shopify's
ungrouped JSONL (``groupObjects`` defaults to false from API 2026-01), a warehouse folder that does
not exist yet, a run killed mid-download leaving the export on disk, a COMPLETED operation without a file,
a bad DuckDB memory limit. The others guard claims that held (token and signed URL off the download and
the disk, the cursor hand-over at an identical ``updated_at``, orphan children, unicode, the project
lookup). Lean: the shared demo population, one local Shopify server per test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
import requests

import ingestion.demo_kit.servers.shopify_bulk as bulk_server
from ingestion.cli import main
from ingestion.demo_kit.servers.shopify import ShopifyServer
from ingestion.errors import UserError
from ingestion.sources.http import PacedSession, runtime_config
from ingestion.sources.shopify import http_failure, load_shopify
from ingestion.sources.shopify_bulk import BulkExport, BulkSettings, export, read_file, start_export

TOKEN = "shpat_hostile_r3_0123456789abcdef"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fast_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.05")
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "10")
    for name in ("SOURCES__SHOPIFY__BULK_FIRST_LOAD", "SOURCES__SHOPIFY__BULK_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server(demo_data: Path) -> Iterator[ShopifyServer]:
    with ShopifyServer(demo_data, TOKEN, bucket_size=1000, leak_rate=100) as running:
        yield running


def query(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def raw_shopify_rows(warehouse: Path) -> int:
    """Rows in every raw_shopify table (0 when there is no warehouse or no such table yet)."""
    if not warehouse.exists():
        return 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw_shopify' "
            "and table_name not like '\\_dlt%' escape '\\'"
        ).fetchall()
        return sum(con.execute(f'select count(*) from raw_shopify."{t}"').fetchone()[0] for (t,) in tables)


# -- R3-I1: a download that ends cleanly at a line boundary loaded part of a table ----------------------
def test_a_download_stopping_at_a_line_boundary_loads_nothing(
    server: ShopifyServer, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file server closes the stream cleanly after half the lines (no chunked-encoding error, no
    Content-Length to miss): the file reads back without a parse error. Before the fix, half the customers
    landed and the cursor moved past the rest (never loaded by a later REST run)."""

    def half_of_the_lines(path: Path) -> Iterator[bytes]:
        lines = path.read_bytes().splitlines(keepends=True)
        yield b"".join(lines[: len(lines) // 2])

    with monkeypatch.context() as patched:
        patched.setattr(bulk_server, "_chunks", half_of_the_lines)
        with pytest.raises(UserError, match=r"customers has [\d,]+ objects where the operation reported") as failure:
            load_shopify(server.url, TOKEN)
    assert "nothing was committed" in str(failure.value) and "\n" not in str(failure.value)
    assert raw_shopify_rows(warehouse) == 0

    load_shopify(server.url, TOKEN)
    loaded = query(warehouse, "select count(distinct id) from raw_shopify.customers")[0][0]
    assert loaded == len(server.ids("customers"))


# -- R3-I2: a download timeout put the signed URL (a credential for the whole export) in the error ------
SIGNED = "https://storage.googleapis.com/bucket/bulk/1.jsonl?GoogleAccessId=x&Expires=1&Signature=SIGNATUREabc123"


class _TimingOut(requests.Session):
    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        request = requests.Request("GET", str(url)).prepare()
        raise requests.ReadTimeout("read timed out", request=request)


def test_a_download_timeout_names_no_signed_url(tmp_path: Path) -> None:
    export = BulkExport("http://shop/graphql.json", requests.Session(), TOKEN, BulkSettings(), 1.0, _TimingOut())
    with pytest.raises(UserError) as failure:
        export.download("customers", {"id": "gid://shopify/BulkOperation/1", "url": SIGNED}, tmp_path)
    assert "SIGNATUREabc123" not in str(failure.value) and "nothing was committed" in str(failure.value)


def test_http_failures_redact_a_signed_url() -> None:
    request = requests.Request("GET", SIGNED + "&X-Goog-Signature=GOOGSIG999").prepare()
    message = str(http_failure(requests.ReadTimeout("timed out", request=request), "https://shop", runtime_config()))
    assert "storage.googleapis.com" in message
    assert "SIGNATUREabc123" not in message and "GOOGSIG999" not in message


# -- R3-I3: bad bulk settings were a dlt traceback ---------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SOURCES__SHOPIFY__BULK_TIMEOUT_SECONDS", "ten"),
        ("SOURCES__SHOPIFY__BULK_TIMEOUT_SECONDS", "-5"),
        ("SOURCES__SHOPIFY__BULK_FIRST_LOAD", "maybe"),
    ],
)
def test_bad_bulk_settings_are_one_line(
    name: str, value: str, warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value)
    monkeypatch.setenv("SOURCES__SHOPIFY__SHOP_URL", "http://127.0.0.1:9")  # never reached
    monkeypatch.setenv("SOURCES__SHOPIFY__ACCESS_TOKEN", TOKEN)
    assert main(["load", "shopify"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("customer360: error:") and name in err and repr(value) in err


# -- R3-I4: Shopify's ungrouped JSONL (groupObjects false: the default from API 2026-01) ------------------
def test_ungrouped_children_are_reassembled(tmp_path: Path) -> None:
    """Shopify's changelog "Bulk operations group objects default changed to false" (2026-01): children no
    longer follow their parent. The loader pinned 2024-07, which Shopify stops serving ~12 months after release
    (requests then fall forward to the oldest supported version, where the file is ungrouped). Fixed: the
    reassembly joins children to parents by ``__parentId`` whatever the line order."""
    lines = [
        {"id": "gid://shopify/Product/1", "title": "A", "updatedAt": "2025-01-01T00:00:00Z"},
        {"id": "gid://shopify/Product/2", "title": "B", "updatedAt": "2025-01-01T00:00:00Z"},
        {"id": "gid://shopify/ProductVariant/11", "sku": "A-1", "__parentId": "gid://shopify/Product/1"},
        {"id": "gid://shopify/ProductVariant/21", "sku": "B-1", "__parentId": "gid://shopify/Product/2"},
    ]
    path = tmp_path / "products.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    records = {r["id"]: [v["sku"] for v in r["variants"]] for r in read_file("products", path, len(lines))}
    assert records == {1: ["A-1"], 2: ["B-1"]}


def test_an_orphan_child_line_is_an_error_not_a_drop(tmp_path: Path) -> None:
    lines = [
        {"id": "gid://shopify/Product/1", "title": "A"},
        {"id": "gid://shopify/ProductVariant/91", "sku": "X", "__parentId": "gid://shopify/Product/9"},
    ]
    path = tmp_path / "products.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    with pytest.raises(UserError, match="unreadable at line 2"):
        list(read_file("products", path, len(lines)))


# -- the token and the signed URL stay off the download request, the logs and the disk --------------------
def test_token_and_signed_url_never_leave_the_graphql_calls(
    server: ShopifyServer, warehouse: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    downloads: list[dict[str, str]] = []
    send = PacedSession.send

    def recording(self: PacedSession, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if "/_bulk/" in str(request.url):
            downloads.append(dict(request.headers))
        return send(self, request, **kwargs)

    monkeypatch.setattr(PacedSession, "send", recording)
    load_shopify(server.url, TOKEN)
    assert len(downloads) == 3
    assert all(TOKEN not in str(headers) for headers in downloads)
    out = capfd.readouterr()
    assert TOKEN not in out.out + out.err and "Signature=" not in out.out + out.err
    pipelines = Path(os.environ["CUSTOMER360_PIPELINES_DIR"])
    for path in pipelines.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert TOKEN.encode() not in data and b"Signature=" not in data, path


# -- the cursor hand-over to REST at an identical updated_at ---------------------------------------------
def test_a_record_at_the_cursor_timestamp_is_loaded_by_the_next_rest_run(
    server: ShopifyServer, warehouse: Path
) -> None:
    """A new order written with exactly the cursor's ``updated_at`` (the same second as the latest order of
    the bulk file) must land at the next REST run; the boundary order must not land twice."""
    load_shopify(server.url, TOKEN)
    latest = max(server.ids("orders"), key=lambda i: server.get("orders", i)["updated_at"])
    boundary = server.get("orders", latest)
    new_id = max(server.ids("orders")) + 1
    record = {**boundary, "id": new_id, "name": f"#S{new_id}", "line_items": [], "refunds": []}
    server._collection("orders").put(record)  # as Shopify stores it: the very same updated_at
    load_shopify(server.url, TOKEN)
    rows = query(warehouse, f"select id, count(*) from raw_shopify.orders where id in ({latest}, {new_id}) group by 1")
    assert sorted(rows) == [(latest, 1), (new_id, 1)]


# -- R3-I5: a warehouse folder that does not exist yet: build was a traceback -----------------------------
def test_build_with_a_warehouse_in_a_missing_folder_is_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh clone has no warehouse/ folder; `customer360 build` as the first command (or any
    CUSTOMER360_DUCKDB_PATH in a folder still to be made) died in the erasure step with DuckDB's IOException."""
    from ingestion.privacy.erasure import apply_pending
    from ingestion.settings import Settings

    monkeypatch.chdir(tmp_path)
    settings = Settings.from_environment(
        environ={"CUSTOMER360_DUCKDB_PATH": "new/folder/w.duckdb"}, project_dir=REPO, cwd=tmp_path
    )
    apply_pending(settings=settings)
    assert (tmp_path / "new" / "folder" / "w.duckdb").is_file()


# -- settings: the CLI from another directory, a relative --project-dir, a folder that is no project ---------
def test_cli_from_elsewhere_with_a_relative_project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingestion.settings import Settings

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    relative = Path(os.path.relpath(REPO, elsewhere))
    monkeypatch.chdir(elsewhere)  # the relative --project-dir is taken from the current directory
    settings = Settings.from_environment(environ={}, project_dir=relative)
    assert settings.project_dir == REPO and settings.duckdb_path == REPO / "warehouse" / "customer360.duckdb"


def test_a_project_dir_without_dbt_project_yml_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dbt_project.yml").mkdir()  # a folder by that name is not the file
    monkeypatch.chdir(tmp_path)
    assert main(["--project-dir", ".", "build"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"customer360: error: {tmp_path} is not a customer360 project folder (it has no dbt_project.yml)"


# -- R3-I6: a run killed mid-download left the export file (every customer's PII) in /tmp for good ---------
def test_a_run_killed_mid_download_leaves_no_copy_of_the_export_behind(
    server: ShopifyServer, warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is served slowly (the first chunk, then a pause); the loader is killed once part of it is
    on disk. After the next (complete) run no bulk file may remain on disk: not in the temporary folder the
    killed run used, not under the pipelines folder (erasure never scans either)."""
    release = threading.Event()

    def first_chunk_then_wait(path: Path) -> Iterator[bytes]:
        data = path.read_bytes()
        yield data[: bulk_server.CHUNK_BYTES]
        release.wait(20)
        yield data[bulk_server.CHUNK_BYTES :]

    child_tmp = tmp_path / "child_tmp"
    child_tmp.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TMPDIR": str(child_tmp),
        "SOURCES__SHOPIFY__SHOP_URL": server.url,
        "SOURCES__SHOPIFY__ACCESS_TOKEN": TOKEN,
    }
    pipelines = Path(os.environ["CUSTOMER360_PIPELINES_DIR"])
    with monkeypatch.context() as patched:
        patched.setattr(bulk_server, "_chunks", first_chunk_then_wait)
        child = subprocess.Popen(
            [sys.executable, "-m", "ingestion.cli", "load", "shopify"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def partial_files() -> list[Path]:
            return [p for root in (child_tmp, pipelines) for p in root.rglob("*.jsonl") if p.stat().st_size]

        deadline = time.monotonic() + 60
        while not partial_files() and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        assert partial_files(), "the download never reached the disk"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        release.set()
    assert raw_shopify_rows(warehouse) == 0

    load_shopify(server.url, TOKEN)
    assert query(warehouse, "select count(*) from raw_shopify.customers")[0][0] == len(server.ids("customers"))
    left = [p for root in (child_tmp, pipelines) for p in root.rglob("*") if p.is_file() and p.suffix == ".jsonl"]
    assert left == []


# -- R3-I7: COMPLETED with objects but no url loaded an empty table and set no error ------------------------
class _Completed(BulkExport):
    """An export whose operation ends COMPLETED at once with ``operation`` (no HTTP)."""

    def __init__(self, operation: dict[str, Any]) -> None:
        super().__init__("http://shop/graphql.json", requests.Session(), TOKEN, BulkSettings(), 1.0)
        self.operation = operation

    def start(self, resource: str, deadline: float) -> dict[str, Any]:
        return dict(self.operation)

    def wait(self, resource: str, operation: dict[str, Any], deadline: float, cancel: bool = True) -> dict[str, Any]:
        return operation


def test_completed_with_objects_but_no_file_is_an_error() -> None:
    operation = {"id": "gid://shopify/BulkOperation/7", "status": "COMPLETED", "createdAt": "2026-01-01T00:00:00Z",
                 "objectCount": "1200", "rootObjectCount": "1200", "url": None}  # fmt: skip
    changed = {5: {"id": 5, "updated_at": "2026-01-01T00:00:03Z"}}  # one change caught up from REST
    with pytest.raises(UserError, match="reported 1,200 objects but no file"):
        bulk = _Completed(operation)
        list(export(start_export("customers", bulk), bulk, lambda since: changed))


def test_unicode_and_escapes_survive_the_read_back(tmp_path: Path) -> None:
    """U+2028/U+2029 (line separators to some readers), an escaped NUL, a bidi override, emoji and a
    4-byte CJK name: one line each, read back unchanged."""
    name = "Zoë\u2028\u2029\u0000\u202e😀𠜎"
    lines = [{"id": "gid://shopify/Customer/1", "firstName": name, "email": "zoë@exämple.com", "addresses": []}]
    path = tmp_path / "customers.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\r\n" for line in lines))  # CRLF too
    (record,) = read_file("customers", path, 1)
    assert (record["id"], record["first_name"], record["email"]) == (1, name, "zoë@exämple.com")


# -- R3-I8: a bad DuckDB memory limit surfaced late, as DuckDB's parser message without the variable --------
def test_a_bad_memory_limit_is_one_line_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CUSTOMER360_DUCKDB_MEMORY_LIMIT", "lots")
    monkeypatch.setenv("CUSTOMER360_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("CUSTOMER360_PIPELINES_DIR", str(tmp_path / "pipelines"))
    (tmp_path / "events").mkdir()
    assert main(["load", "segment", "--path", str(tmp_path / "events")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "customer360: error: CUSTOMER360_DUCKDB_MEMORY_LIMIT must be a size such as 4GB or 80%, got 'lots'"


def test_a_status_shopify_does_not_document_is_not_taken_for_completed() -> None:
    operation = {"id": "gid://shopify/BulkOperation/8", "status": "PAUSED", "createdAt": "2026-01-01T00:00:00Z",
                 "objectCount": "3", "url": "https://storage.example/x.jsonl?Signature=abc"}  # fmt: skip
    with pytest.raises(UserError, match="ended PAUSED with error none"):
        bulk = _Completed(operation)
        list(export(start_export("customers", bulk), bulk, lambda since: {}))
