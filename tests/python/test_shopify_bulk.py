"""Issue 16: Shopify first loads through GraphQL bulk operations, against the local server's bulk endpoint.

The REST path is the reference: a bulk first load must land the same raw tables, columns and values, and
the incremental REST runs after it must see each change exactly once. Every documented failure of a bulk
operation must end the load with one clear line and leave the raw tables as they were.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
import requests

from ingestion.demo_kit.servers.shopify import ShopifyServer
from ingestion.errors import UserError
from ingestion.sources.shopify import load_shopify
from ingestion.sources.shopify_bulk import Reassembler, bulk_query

TOKEN = "shpat_bulk_0123456789abcdef"
GRAPHQL = "/admin/api/2024-07/graphql.json"
DLT_KEYS = ("_dlt_id", "_dlt_load_id", "_dlt_parent_id", "_dlt_root_id")


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "3")
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


def raw_tables(warehouse: Path) -> dict[str, Any]:
    """Every raw_shopify table as (column name -> type, sorted rows without dlt's own keys); a child row
    carries its parent's ``id`` instead of the parent's dlt key, so rows compare across loads."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw_shopify' "
                "and table_name not like '\\_dlt%' escape '\\' order by 1"
            ).fetchall()
        ]
        result: dict[str, Any] = {}
        for table in tables:
            columns = dict(
                con.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = 'raw_shopify' and table_name = ? order by 1",
                    [table],
                ).fetchall()
            )
            kept = [c for c in sorted(columns) if c not in DLT_KEYS]
            select = ", ".join(f't."{c}"' for c in kept)
            parent = table.rsplit("__", 1)[0] if "__" in table else None
            if parent is not None:
                sql = f'select {select}, p.id from raw_shopify."{table}" t join raw_shopify."{parent}" p on p._dlt_id = t._dlt_parent_id'  # noqa: E501
            else:
                sql = f'select {select} from raw_shopify."{table}" t'
            rows = sorted(con.execute(sql).fetchall(), key=repr)
            result[table] = ({c: columns[c] for c in kept}, rows)
    return result


def cursors(warehouse: Path) -> dict[str, Any]:
    from ingestion.pipeline import make_pipeline

    state = make_pipeline("shopify").state["sources"]["shopify"]["resources"]
    return {
        name: state[name]["incremental"]["updated_at"]["last_value"] for name in ("customers", "orders", "products")
    }


# -- the reference: REST and bulk land the same raw tables ---------------------------------------------
def test_bulk_first_load_lands_what_rest_lands(
    server: ShopifyServer, warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__SHOPIFY__BULK_FIRST_LOAD", "false")
    load_shopify(server.url, TOKEN)
    rest, rest_cursors = raw_tables(warehouse), cursors(warehouse)
    assert not server.bulk.operations

    monkeypatch.setenv("CUSTOMER360_DUCKDB_PATH", str(tmp_path / "bulk.duckdb"))
    monkeypatch.setenv("CUSTOMER360_PIPELINES_DIR", str(tmp_path / "bulk_pipelines"))
    monkeypatch.delenv("SOURCES__SHOPIFY__BULK_FIRST_LOAD")
    server.clear_log()
    summary = load_shopify(server.url, TOKEN)

    assert [o.resource for o in server.bulk.operations] == ["customers", "orders", "products"]
    assert all(o.status == "COMPLETED" for o in server.bulk.operations)
    # no REST paging of the lists: only the (empty) catch-up of records changed during each export
    for name in ("customers", "orders", "products"):
        calls = server.requests_to(f"/{name}.json")
        assert len(calls) == 1 and "updated_at_min" in calls[0].query
    bulk = raw_tables(tmp_path / "bulk.duckdb")
    assert set(bulk) == set(rest)
    for table in rest:
        assert bulk[table][0] == rest[table][0], f"columns of {table}"
        assert bulk[table][1] == rest[table][1], f"rows of {table}"
    assert cursors(tmp_path / "bulk.duckdb") == rest_cursors
    assert summary.rows_by_table["orders__line_items"] == len(rest["orders__line_items"][1])


def test_incremental_after_bulk_sees_each_new_order_once(server: ShopifyServer, warehouse: Path) -> None:
    load_shopify(server.url, TOKEN)
    assert len(server.bulk.operations) == 3
    orders_before = query(warehouse, "select count(*) from raw_shopify.orders")[0][0]
    template = server.get("orders", server.ids("orders")[0])
    new_ids = [max(server.ids("orders")) + n for n in (1, 2)]
    for new_id in new_ids:
        server.add("orders", {**template, "id": new_id, "name": f"#N{new_id}", "line_items": [], "refunds": []})
    server.update("customers", server.ids("customers")[0], {"note": "changed after the bulk load"})
    server.clear_log()

    load_shopify(server.url, TOKEN)
    load_shopify(server.url, TOKEN)  # and a run with nothing new changes nothing

    assert len(server.bulk.operations) == 3  # incremental runs page REST
    assert sorted(server.served_ids("orders")).count(new_ids[0]) == 1
    rows = query(warehouse, f"select id, count(*) from raw_shopify.orders where id in {tuple(new_ids)} group by id")
    assert sorted(rows) == [(new_ids[0], 1), (new_ids[1], 1)]
    assert query(warehouse, "select count(*) from raw_shopify.orders")[0][0] == orders_before + 2
    assert query(
        warehouse, "select count(*) from raw_shopify.customers where note = 'changed after the bulk load'"
    ) == [(1,)]


def test_record_changed_while_the_export_runs_lands_in_its_new_version(server: ShopifyServer, warehouse: Path) -> None:
    server.bulk_faults.arm("slow", seconds=1.5)  # customers' export takes 1.5 s
    target = server.ids("customers")[5]

    def change_during_export() -> None:
        while not server.bulk.operations:
            time.sleep(0.02)
        time.sleep(0.5)  # the file is written (snapshot taken); the operation still runs
        server.update("customers", target, {"note": "changed during the export"})

    changer = threading.Thread(target=change_during_export)
    changer.start()
    load_shopify(server.url, TOKEN)
    changer.join()
    assert query(warehouse, f"select note from raw_shopify.customers where id = {target}") == [
        ("changed during the export",)
    ]
    assert query(warehouse, "select count(*) = count(distinct id) from raw_shopify.customers") == [(True,)]


# -- failures: one clear line, raw tables untouched ----------------------------------------------------
FAILURES = [  # (fault armed on the orders export, the error it must give)
    ({"kind": "fail", "error_code": "INTERNAL_SERVER_ERROR"}, r"FAILED with error INTERNAL_SERVER_ERROR \(a partial"),
    ({"kind": "fail", "error_code": "TIMEOUT", "partial": False}, r"ended FAILED with error TIMEOUT \(operation"),
    ({"kind": "fail", "error_code": "ACCESS_DENIED", "status": "CANCELED"}, r"ended CANCELED with error ACCESS_DENIED"),
    ({"kind": "fail", "status": "EXPIRED"}, r"ended EXPIRED with error INTERNAL_SERVER_ERROR"),
    ({"kind": "slow", "seconds": 30}, r"still RUNNING after 2s \(operation .*, cancelled\); nothing was committed"),
    ({"kind": "expired_url", "count": 100}, r"could not be downloaded \(HTTP 403, a fresh URL was refused too\)"),
    ({"kind": "truncate", "count": 100}, r"kept being cut short \(ChunkedEncodingError, 3 attempts\)"),
]  # fmt: skip


def test_every_failed_export_commits_nothing(
    server: ShopifyServer, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Customers and products are loaded while the token lacks read_orders; once it is granted, the next
    load is the first of orders (a bulk export) and an incremental one of the others. When the export
    fails, nothing of that load may land: not the orders, not the customer changed meanwhile."""
    monkeypatch.setenv("SOURCES__SHOPIFY__BULK_TIMEOUT_SECONDS", "2")
    server.scopes.discard("read_orders")
    load_shopify(server.url, TOKEN)
    server.scopes.add("read_orders")
    server.update("customers", server.ids("customers")[0], {"note": "must not land"})
    before = raw_tables(warehouse)
    assert "orders" not in before or not before["orders"][1]

    for fault, expected in FAILURES:
        server.bulk_faults.clear()
        if fault["kind"] == "truncate":  # the download connection is cut (a REST-style fault on the file)
            server.faults.arm("truncate", count=fault["count"], path_contains="/_bulk/")
        else:
            server.bulk_faults.arm(**fault)
        operations = len(server.bulk.operations)
        with pytest.raises(UserError, match=expected) as failure:
            load_shopify(server.url, TOKEN)
        message = str(failure.value)
        assert "\n" not in message and "shopify's bulk export" in message and "orders" in message, fault
        assert "nothing was committed" in message, fault
        assert [o.resource for o in server.bulk.operations[operations:]] == ["orders"], fault
        assert raw_tables(warehouse) == before, fault
    time.sleep(0.3)
    assert server.bulk.operations[-3].status == "CANCELED"  # the export that ran past the timeout

    server.bulk_faults.clear()
    server.faults.clear()  # the next run loads them: nothing was lost by the failures
    load_shopify(server.url, TOKEN)
    assert query(warehouse, "select count(*) from raw_shopify.orders")[0][0] == len(server.ids("orders"))
    assert query(warehouse, "select count(*) from raw_shopify.customers where note = 'must not land'") == [(1,)]


def test_expired_url_and_cut_download_are_recovered(server: ShopifyServer, warehouse: Path) -> None:
    server.bulk_faults.arm("expired_url", count=1)
    server.faults.arm("truncate", count=2, path_contains="/_bulk/")
    load_shopify(server.url, TOKEN)
    downloads = server.requests_to("/_bulk/")
    assert len([r for r in downloads if r.status == 403]) == 1
    assert len([r for r in downloads if r.fault == "truncate"]) == 2
    assert query(warehouse, "select count(*) from raw_shopify.customers")[0][0] == len(server.ids("customers"))


def test_operation_already_running_is_waited_for(server: ShopifyServer, warehouse: Path) -> None:
    server.bulk_faults.arm("in_progress", seconds=0.6)
    started = time.monotonic()
    load_shopify(server.url, TOKEN)
    assert time.monotonic() - started >= 0.6
    runs = [r for r in server.requests_to(GRAPHQL) if b"bulkOperationRunQuery" in orjson.dumps(r.body)]
    assert len(runs) == 4  # customers asked twice (refused while the other ran), orders, products
    assert query(warehouse, "select count(*) from raw_shopify.customers")[0][0] == len(server.ids("customers"))


def test_no_data_gives_a_null_url_and_an_empty_load(tmp_path: Path, warehouse: Path) -> None:
    shop = tmp_path / "shop" / "shopify"
    shop.mkdir(parents=True)
    for name in ("customers", "orders", "products"):
        (shop / f"{name}.jsonl").write_text("")
    with ShopifyServer(tmp_path / "shop", TOKEN) as empty:
        summary = load_shopify(empty.url, TOKEN)
        assert [o.status for o in empty.bulk.operations] == ["COMPLETED"] * 3
        assert all(o.path is None for o in empty.bulk.operations)  # url null: no data
    assert summary.skipped == "no records changed since the last load"


# -- the wire contract --------------------------------------------------------------------------------
def test_jsonl_has_child_lines_with_parent_ids_and_reads_back(server: ShopifyServer, demo_data: Path) -> None:
    headers = {"X-Shopify-Access-Token": TOKEN}
    mutation = "mutation($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id } userErrors { code } } }"
    answer = requests.post(
        f"{server.url}{GRAPHQL}", json={"query": mutation, "variables": {"q": bulk_query("orders")}}, headers=headers,
        timeout=10,
    ).json()  # fmt: skip
    operation_id = answer["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"]
    status_query = "query($id: ID!) { node(id: $id) { ... on BulkOperation { status url objectCount } } }"
    for _ in range(100):
        node = requests.post(
            f"{server.url}{GRAPHQL}", json={"query": status_query, "variables": {"id": operation_id}}, headers=headers,
            timeout=10,
        ).json()["data"]["node"]  # fmt: skip
        if node["status"] == "COMPLETED":
            break
        time.sleep(0.05)
    lines = [orjson.loads(line) for line in requests.get(node["url"], timeout=10).text.splitlines()]  # no token
    assert int(node["objectCount"]) == len(lines)
    roots = [line for line in lines if "__parentId" not in line]
    assert roots[0]["id"].startswith("gid://shopify/Order/") and "lineItems" not in roots[0]
    children = [line for line in lines if "__parentId" in line]
    assert {c["id"].split("/")[3] for c in children} >= {"LineItem", "RefundLineItem", "OrderTransaction"}

    reassembler = Reassembler("orders")
    records = [r for line in lines if (r := reassembler.add(dict(line))) is not None]
    records.append(reassembler.finish())
    files = [orjson.loads(line) for line in (demo_data / "shopify" / "orders.jsonl").read_bytes().splitlines()]
    assert [r["id"] for r in records] == sorted(o["id"] for o in files)
    by_id = {o["id"]: o for o in files}
    for record in records:
        source = by_id[record["id"]]
        assert [li["id"] for li in record["line_items"]] == [li["id"] for li in source["line_items"]]
        assert [[x["id"] for x in r["refund_line_items"]] for r in record["refunds"]] == [
            [x["id"] for x in r["refund_line_items"]] for r in source["refunds"]
        ]

    # a second operation while one runs is refused with OPERATION_IN_PROGRESS; a call without the token, 401
    server.bulk_faults.arm("slow", seconds=2)
    run = {"query": mutation, "variables": {"q": bulk_query("products")}}
    first = requests.post(f"{server.url}{GRAPHQL}", json=run, headers=headers, timeout=10).json()
    second = requests.post(f"{server.url}{GRAPHQL}", json=run, headers=headers, timeout=10).json()
    assert first["data"]["bulkOperationRunQuery"]["userErrors"] == []
    assert second["data"]["bulkOperationRunQuery"]["userErrors"] == [{"code": "OPERATION_IN_PROGRESS"}]
    assert requests.post(f"{server.url}{GRAPHQL}", json=run, timeout=10).status_code == 401


def test_a_child_line_away_from_its_parent_is_a_clear_error(tmp_path: Path) -> None:
    """The file lists a node's children right after it; a line naming any other parent cannot be placed."""
    from ingestion.sources.shopify_bulk import read_file

    lines = [
        {"id": "gid://shopify/Product/1", "title": "a"},
        {"id": "gid://shopify/Product/2", "title": "b"},
        {"id": "gid://shopify/ProductVariant/9", "sku": "x", "__parentId": "gid://shopify/Product/1"},
    ]
    path = tmp_path / "products.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    with pytest.raises(UserError, match=r"unreadable at line 3: a line names the parent gid://shopify/Product/1"):
        list(read_file("products", path))
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in (lines[0], lines[2], lines[1])))
    first, second = read_file("products", path)
    assert (first["id"], [v["sku"] for v in first["variants"]]) == (1, ["x"])
    assert (second["id"], second["variants"]) == (2, [])
