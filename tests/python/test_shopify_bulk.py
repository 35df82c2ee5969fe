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
from ingestion.sources.shopify_bulk import bulk_query, read_file

TOKEN = "shpat_bulk_0123456789abcdef"
GRAPHQL = "/admin/api/2026-10/graphql.json"
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
    assert all(o.grouped for o in server.bulk.operations)  # the loader asks groupObjects: true

    # the file of a shop that does not group (groupObjects false, the default from API 2026-01): every child
    # line first, shuffled, then the records, shuffled; the same raw rows must land
    monkeypatch.setenv("CUSTOMER360_DUCKDB_PATH", str(tmp_path / "ungrouped.duckdb"))
    monkeypatch.setenv("CUSTOMER360_PIPELINES_DIR", str(tmp_path / "ungrouped_pipelines"))
    server.bulk_faults.arm("ungrouped", count=3)
    load_shopify(server.url, TOKEN)
    assert [o.grouped for o in server.bulk.operations[3:]] == [False] * 3
    ungrouped = raw_tables(tmp_path / "ungrouped.duckdb")
    assert ungrouped == rest
    assert cursors(tmp_path / "ungrouped.duckdb") == rest_cursors


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


def test_operations_at_the_limit_are_waited_for(server: ShopifyServer, warehouse: Path) -> None:
    server.bulk_faults.arm("limit", seconds=0.6)  # five other exports of the app fill the limit for 0.6 s
    started = time.monotonic()
    load_shopify(server.url, TOKEN)
    assert time.monotonic() - started >= 0.6
    runs = [r for r in server.requests_to(GRAPHQL) if b"bulkOperationRunQuery" in orjson.dumps(r.body)]
    assert len(runs) >= 4  # customers refused at the limit (once or more), then asked again; orders, products
    assert [o.resource for o in server.bulk.operations if o.resource] == ["customers", "orders", "products"]
    assert query(warehouse, "select count(*) from raw_shopify.customers")[0][0] == len(server.ids("customers"))


def test_the_exports_run_side_by_side(server: ShopifyServer, warehouse: Path) -> None:
    """Every first-load export is asked for before the first file is read: the shop builds the files at once."""
    server.bulk_faults.arm("slow", count=3, seconds=1.0)
    load_shopify(server.url, TOKEN)
    customers, orders, products = server.bulk.operations
    assert customers.completed_at is not None
    assert orders.created_at < customers.completed_at and products.created_at < customers.completed_at
    assert query(warehouse, "select count(*) from raw_shopify.orders")[0][0] == len(server.ids("orders"))


def test_a_failed_export_cancels_the_others(server: ShopifyServer, warehouse: Path) -> None:
    server.bulk_faults.arm("fail", error_code="INTERNAL_SERVER_ERROR", partial=False, resource="customers")
    for resource in ("orders", "products"):  # still running when customers' export fails
        server.bulk_faults.arm("slow", seconds=5.0, resource=resource)
    with pytest.raises(UserError, match="customers ended FAILED"):
        load_shopify(server.url, TOKEN)
    time.sleep(0.3)  # the server ends a cancelled export on its next check
    assert [(o.resource, o.status) for o in server.bulk.operations] == [
        ("customers", "FAILED"),
        ("orders", "CANCELED"),
        ("products", "CANCELED"),
    ]
    assert not query(
        warehouse,
        "select table_name from information_schema.tables where table_schema = 'raw_shopify' "
        "and table_name in ('customers', 'orders', 'products')",
    )


def test_a_failed_run_cancels_an_export_whose_answer_it_never_read(server: ShopifyServer, warehouse: Path) -> None:
    """A start whose answer was lost (the session retried it) leaves an export the run never heard of: found by
    its query among the app's running operations, it is cancelled with the others."""
    for resource in ("orders", "orders", "products"):
        server.bulk_faults.arm("slow", seconds=8.0, resource=resource)
    server.bulk_faults.arm("fail", error_code="INTERNAL_SERVER_ERROR", partial=False, resource="customers")
    mutation = "mutation($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id } userErrors { code } } }"
    lost = requests.post(
        f"{server.url}{GRAPHQL}", json={"query": mutation, "variables": {"q": bulk_query("orders")}},
        headers={"X-Shopify-Access-Token": TOKEN}, timeout=10,
    ).json()["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"]  # fmt: skip
    with pytest.raises(UserError, match="customers ended FAILED"):
        load_shopify(server.url, TOKEN)
    time.sleep(0.3)
    assert {o.gid: o.status for o in server.bulk.operations}[lost] == "CANCELED"
    assert not [o for o in server.bulk.operations if o.running]


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
def test_jsonl_has_child_lines_with_parent_ids_and_reads_back(
    server: ShopifyServer, demo_data: Path, tmp_path: Path
) -> None:
    headers = {"X-Shopify-Access-Token": TOKEN}
    mutation = (
        "mutation($q: String!, $g: Boolean!) { bulkOperationRunQuery(query: $q, groupObjects: $g) "
        "{ bulkOperation { id } userErrors { code } } }"
    )
    status_query = "query($id: ID!) { node(id: $id) { ... on BulkOperation { status url objectCount } } }"

    def export_lines(grouped: bool) -> list[dict[str, Any]]:
        variables = {"q": bulk_query("orders"), "g": grouped}
        answer = requests.post(
            f"{server.url}{GRAPHQL}", json={"query": mutation, "variables": variables}, headers=headers, timeout=10
        ).json()
        operation_id = answer["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"]
        for _ in range(100):
            node = requests.post(
                f"{server.url}{GRAPHQL}", json={"query": status_query, "variables": {"id": operation_id}},
                headers=headers, timeout=10,
            ).json()["data"]["node"]  # fmt: skip
            if node["status"] == "COMPLETED":
                break
            time.sleep(0.05)
        lines = [orjson.loads(line) for line in requests.get(node["url"], timeout=10).text.splitlines()]  # no token
        assert int(node["objectCount"]) == len(lines)
        return lines

    files = [orjson.loads(line) for line in (demo_data / "shopify" / "orders.jsonl").read_bytes().splitlines()]
    by_id = {o["id"]: o for o in files}
    for grouped in (True, False):
        lines = export_lines(grouped)
        roots = [line for line in lines if "__parentId" not in line]
        assert roots[0]["id"].startswith("gid://shopify/Order/") and "lineItems" not in roots[0]
        children = [line for line in lines if "__parentId" in line]
        assert {c["id"].split("/")[3] for c in children} >= {"LineItem", "RefundLineItem", "OrderTransaction"}
        owner_of_line = []  # the record each line belongs to, in file order
        for line in lines:
            parent = line.get("__parentId")
            owner_of_line.append(line["id"] if parent is None else parent)
        if grouped:  # every child follows its record (or that record's refund), before the next record
            assert "__parentId" not in lines[0]
        else:  # groupObjects false (the default): children first, shuffled
            assert "__parentId" in lines[0] and "__parentId" not in lines[-1]
            assert lines.index(roots[0]) == len(children)

        path = tmp_path / f"orders-{grouped}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
        records = list(read_file("orders", path, len(lines)))
        assert sorted(r["id"] for r in records) == sorted(by_id)
        for record in records:
            source = by_id[record["id"]]
            assert [li["id"] for li in record["line_items"]] == [li["id"] for li in source["line_items"]]
            assert [[x["id"] for x in r["refund_line_items"]] for r in record["refunds"]] == [
                [x["id"] for x in r["refund_line_items"]] for r in source["refunds"]
            ]

    # API 2026-10 names: the REST name of a renamed field is refused, the GraphQL one served
    rest_named = "{ customers { edges { node { id ordersCount } } } }"
    refused = requests.post(
        f"{server.url}{GRAPHQL}", json={"query": mutation, "variables": {"q": rest_named, "g": True}},
        headers=headers, timeout=10,
    ).json()["data"]["bulkOperationRunQuery"]  # fmt: skip
    assert refused == {"bulkOperation": None, "userErrors": [{"code": "INVALID"}]}
    assert "numberOfOrders" in bulk_query("customers") and "ordersCount" not in bulk_query("customers")

    run = {"query": mutation, "variables": {"q": bulk_query("products"), "g": True}}
    # five operations run at once (API 2026-01 and later); a sixth while they run is refused with LIMIT_REACHED;
    # a call without the token, 401
    server.bulk_faults.arm("slow", count=5, seconds=2)
    answers = [requests.post(f"{server.url}{GRAPHQL}", json=run, headers=headers, timeout=10).json() for _ in range(6)]
    assert [a["data"]["bulkOperationRunQuery"]["userErrors"] for a in answers[:5]] == [[]] * 5
    assert answers[5]["data"]["bulkOperationRunQuery"]["userErrors"] == [{"code": "LIMIT_REACHED"}]
    assert requests.post(f"{server.url}{GRAPHQL}", json=run, timeout=10).status_code == 401


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def test_line_order_does_not_matter_and_orphans_are_refused(tmp_path: Path) -> None:
    """R3-I4: from API 2026-01 ``groupObjects`` defaults to false and a child line may come before its parent,
    after another record, anywhere. Every order of the same lines gives the same records; a child whose parent
    no object of the file is, or an object listed twice, is refused with its line and reason (never dropped)."""
    order = "gid://shopify/Order/1"
    lines = [
        {"id": "gid://shopify/RefundLineItem/71", "quantity": 1, "__parentId": "gid://shopify/Refund/5"},  # a refund's
        {"id": "gid://shopify/LineItem/12", "sku": "B", "__parentId": order},
        {"id": "gid://shopify/Order/2", "name": "#2", "refunds": []},
        {"id": order, "name": "#1", "refunds": [{"id": "gid://shopify/Refund/5", "note": "n"}]},
        {"id": "gid://shopify/OrderTransaction/81", "amount": "1.00", "__parentId": "gid://shopify/Refund/5"},
        {"id": "gid://shopify/LineItem/11", "sku": "A", "__parentId": order},
        {"id": "gid://shopify/LineItem/21", "sku": "C", "__parentId": "gid://shopify/Order/2"},
    ]
    expected = {
        1: (["A", "B"], [([71], [81])]),  # siblings in id order, whatever the file order
        2: (["C"], []),
    }

    def read(lines: list[dict[str, Any]]) -> dict[int, Any]:
        path = _write(tmp_path / "orders.jsonl", lines)
        return {
            r["id"]: (
                [li["sku"] for li in r["line_items"]],
                [
                    ([x["id"] for x in f["refund_line_items"]], [t["id"] for t in f["transactions"]])
                    for f in r["refunds"]
                ],
            )
            for r in read_file("orders", path, len(lines))
        }

    assert read(lines) == expected
    assert read(list(reversed(lines))) == expected
    assert read(sorted(lines, key=lambda line: "__parentId" in line)) == expected  # grouped-ish: records first

    orphan = {"id": "gid://shopify/LineItem/99", "sku": "X", "__parentId": "gid://shopify/Order/9"}
    with pytest.raises(UserError, match=r"unreadable at line 3: a line names the parent gid://shopify/Order/9, which "
                       r"no object of the file is \(1 such lines\); nothing was committed"):  # fmt: skip
        read([*lines[:2], orphan, *lines[2:]])
    with pytest.raises(UserError, match=r"lists the object gid://shopify/Order/2 2 times; nothing was committed"):
        read([*lines, lines[2]])
    with pytest.raises(UserError, match=r"lists the object gid://shopify/LineItem/12 2 times; nothing was committed"):
        read([*lines, lines[1]])  # a child twice would be a child row twice
    duplicated_refund = {"id": "gid://shopify/Order/3", "name": "#3", "refunds": [{"id": "gid://shopify/Refund/5"}]}
    with pytest.raises(UserError, match=r"lists the object gid://shopify/Refund/5 2 times"):
        read([*lines, duplicated_refund])  # which order would its refund line items belong to?


def test_regrouping_out_of_memory_is_one_clear_line(tmp_path: Path) -> None:
    """The regrouping runs in DuckDB under the loaders' memory limit; a limit too small for the file is one line
    naming the setting (never DuckDB's traceback), and the spill folder beside the file is removed."""
    lines: list[dict[str, Any]] = []
    for n in range(1, 1001):
        lines.append({"id": f"gid://shopify/Product/{n}", "title": "t" * 2000})
        lines.append(
            {"id": f"gid://shopify/ProductVariant/{n}", "sku": "s" * 2000, "__parentId": f"gid://shopify/Product/{n}"}
        )
    path = _write(tmp_path / "products.jsonl", lines)
    expected = (
        # DuckDB says it as "Out of Memory Error: ..." or, when a commit to the regroup database needs the block,
        # "TransactionContext Error: Failed to commit: failed to pin block ..."
        r"regrouped by parent in DuckDB \((Out of Memory Error|.*failed to pin block).*\); nothing was committed. "
        r"Raise CUSTOMER360_DUCKDB_MEM"
    )
    with pytest.raises(UserError, match=expected) as failure:
        list(read_file("products", path, len(lines), {"memory_limit": "1MB", "threads": "1"}))
    assert "\n" not in str(failure.value)
    assert [p.name for p in tmp_path.iterdir()] == ["products.jsonl"]
    assert sum(1 for _ in read_file("products", path, len(lines), {"memory_limit": "256MB", "threads": "1"})) == 1000
