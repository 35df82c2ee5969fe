"""The Shopify slice: the local Admin REST server's wire contract and the dlt loader against it.

Truth comes from the generated files (``demo_data``): every count and value the tests expect is read
from ``shopify/*.jsonl``, never typed in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from ingestion.demo_kit.servers.shopify import LeakyBucket, ShopifyServer, parse_timestamp
from ingestion.errors import UserError
from ingestion.pipeline import make_pipeline
from ingestion.sources.shopify import latest_timestamp, load_shopify

TOKEN = "shpat_test_0123456789abcdef"
API = "/admin/api/2026-10"


# -- fixtures and helpers -------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small backoff so fault tests take seconds, still several attempts so recovery is real."""
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.05")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_RETRY_DELAY", "3")
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "10")
    for name in ("SOURCES__SHOPIFY__SHOP_URL", "SOURCES__SHOPIFY__ACCESS_TOKEN", "SOURCES__SHOPIFY__PAGE_SIZE"):
        monkeypatch.delenv(name, raising=False)
    # These tests prove the REST path, first loads included; bulk first loads: test_shopify_bulk.py.
    monkeypatch.setenv("SOURCES__SHOPIFY__BULK_FIRST_LOAD", "false")


@pytest.fixture
def server(demo_data: Path) -> Iterator[ShopifyServer]:
    # A roomy bucket: the throttle has its own tests, the rest must not trip over it.
    with ShopifyServer(demo_data, TOKEN, bucket_size=1000, leak_rate=100) as running:
        yield running


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def shop_files(data: Path) -> dict[str, list[dict[str, Any]]]:
    return {name: read_jsonl(data / "shopify" / f"{name}.jsonl") for name in ("customers", "orders", "products")}


CONTRACT_TABLES = (
    "customers", "customers__addresses", "orders", "orders__line_items", "orders__refunds",
    "orders__refunds__refund_line_items", "orders__refunds__transactions", "products", "products__variants",
)  # fmt: skip


def _count_nested(table: str, value: Any, counts: dict[str, int]) -> None:
    """dlt's rules: a list is a child table with one row per element; an object flattens into its parent."""
    if isinstance(value, list):
        counts[table] = counts.get(table, 0) + len(value)
        for element in value:
            if isinstance(element, dict):
                for key, child in element.items():
                    _count_nested(f"{table}__{key}", child, counts)
    elif isinstance(value, dict):
        for key, child in value.items():
            _count_nested(f"{table}__{key}", child, counts)


def expected_counts(files: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Rows per raw table implied by the files: one per record, one per nested list element."""
    counts: dict[str, int] = {}
    for name, records in files.items():
        _count_nested(name, records, counts)
    counts = {table: n for table, n in counts.items() if n}  # dlt creates no table for empty lists
    assert set(CONTRACT_TABLES) <= set(counts), "the demo data must exercise every contract table"
    return counts


def query(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def table_counts(warehouse: Path) -> dict[str, int]:
    tables = [
        name
        for (name,) in query(
            warehouse,
            "select table_name from information_schema.tables where table_schema = 'raw_shopify' "
            "and table_name not like '\\_dlt%' escape '\\' and table_name <> 'deleted_records'",
        )
    ]
    return {t: query(warehouse, f'select count(*) from raw_shopify."{t}"')[0][0] for t in tables}


def latest_updated_at(records: list[dict[str, Any]]) -> datetime:
    return max(parse_timestamp(r["updated_at"]) for r in records)


def cursor(resource: str) -> Any:
    """The incremental cursor of ``resource`` in the pipeline's local dlt state."""
    state = make_pipeline("shopify").state
    return state["sources"]["shopify"]["resources"][resource]["incremental"]["updated_at"]["last_value"]


def get(server: ShopifyServer, path: str, token: str | None = TOKEN, **params: Any) -> requests.Response:
    headers = {"X-Shopify-Access-Token": token} if token else {}
    url = path if path.startswith("http") else f"{server.url}{API}/{path}"
    return requests.get(url, params=params, headers=headers, timeout=10)


# -- the server's contract ------------------------------------------------------------------------
def test_missing_or_wrong_token_gets_shopifys_401(server: ShopifyServer) -> None:
    for token in (None, "shpat_wrong"):
        response = get(server, "customers.json", token=token)
        assert response.status_code == 401
        assert response.json() == {
            "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
        }
    assert get(server, "customers.json").status_code == 200


def test_limit_defaults_to_50_and_is_capped_at_250(server: ShopifyServer, demo_data: Path) -> None:
    customers = shop_files(demo_data)["customers"]
    assert len(customers) > 50, "the demo population must span more than one default page"
    first = get(server, "customers.json")
    assert [c["id"] for c in first.json()["customers"]] == sorted(c["id"] for c in customers)[:50]
    assert 'rel="next"' in first.headers["Link"]
    too_many = get(server, "customers.json", limit=251)
    assert too_many.status_code == 400
    assert "limit" in too_many.json()["errors"]
    assert get(server, "customers.json", limit=250).status_code == 200


def test_link_header_pages_through_a_filtered_list(server: ShopifyServer, demo_data: Path) -> None:
    customers = shop_files(demo_data)["customers"]
    stamps = sorted(parse_timestamp(c["updated_at"]) for c in customers)
    since = stamps[len(stamps) // 3]
    expected = sorted(c["id"] for c in customers if parse_timestamp(c["updated_at"]) >= since)

    seen: list[int] = []
    pages: list[requests.Response] = []
    response = get(server, "customers.json", limit=7, updated_at_min=since.isoformat())
    while True:
        assert response.status_code == 200, response.text
        pages.append(response)
        seen += [c["id"] for c in response.json()["customers"]]
        if "next" not in response.links:
            break
        response = get(server, response.links["next"]["url"])
    assert seen == expected  # every match once, ordered by id, filter kept across pages
    assert len(pages) == -(-len(expected) // 7)
    assert "previous" not in pages[0].links
    back = get(server, pages[1].links["previous"]["url"])
    assert back.json() == pages[0].json()

    # Like Shopify: with page_info only limit and fields may be added; a bad page_info is refused.
    refused = get(server, pages[0].links["next"]["url"] + "&updated_at_min=2020-01-01T00:00:00Z")
    assert refused.status_code == 400
    assert "updated_at_min cannot be passed when page_info is present" in json.dumps(refused.json()["errors"])
    assert get(server, "customers.json", page_info="not-a-cursor").status_code == 400
    assert get(server, "customers.json", updated_at_min="yesterday").status_code == 400


def test_orders_default_to_open_like_shopify(server: ShopifyServer, demo_data: Path) -> None:
    orders = shop_files(demo_data)["orders"]
    cancelled = sorted(o["id"] for o in orders if o.get("cancelled_at"))
    assert cancelled, "the demo data must contain cancelled orders"

    def ids(**params: Any) -> list[int]:
        return [o["id"] for o in get(server, "orders.json", limit=250, fields="id", **params).json()["orders"]]

    open_ids = ids()
    assert set(open_ids).isdisjoint(cancelled)
    assert len(open_ids) == min(250, len(orders) - len(cancelled))
    assert ids(status="cancelled") == cancelled[:250]
    assert ids(status="any") == sorted(o["id"] for o in orders)[:250]
    assert get(server, "orders.json", status="sideways").status_code == 400


def test_leaky_bucket_drains_at_its_rate() -> None:
    now = [0.0]
    bucket = LeakyBucket(size=3, leak_rate=2.0, clock=lambda: now[0])
    assert [bucket.try_add() for _ in range(4)] == [True, True, True, False]
    assert bucket.used() == 3
    now[0] = 0.5  # one marble leaked
    assert bucket.used() == 2
    assert bucket.try_add() and not bucket.try_add()
    now[0] = 10.0
    assert bucket.used() == 0


def test_throttled_call_gets_429_with_retry_after(demo_data: Path) -> None:
    with ShopifyServer(demo_data, TOKEN, bucket_size=3, leak_rate=0.5) as server:
        responses = [get(server, "products.json", limit=1) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["X-Shopify-Shop-Api-Call-Limit"] for r in responses] == ["1/3", "2/3", "3/3", "3/3"]
    assert responses[3].headers["Retry-After"] == "2.0"
    assert responses[3].json() == {
        "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
    }


# -- the loader -----------------------------------------------------------------------------------
def test_full_load_lands_every_record_and_nested_row(
    server: ShopifyServer, demo_data: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__SHOPIFY__PAGE_SIZE", "50")  # several pages per resource
    files = shop_files(demo_data)
    summary = load_shopify(server.url, TOKEN)

    expected = expected_counts(files)
    assert table_counts(warehouse) == expected
    assert summary.rows_by_table == expected

    # Every request after the first of a resource followed the Link header (page_info + limit only);
    # orders were asked for with status=any, or the cancelled ones would be missing.
    for name in ("customers", "orders", "products"):
        calls = server.requests_to(f"{name}.json")
        assert len(calls) == -(-len(files[name]) // 50)
        assert "updated_at_min" not in calls[0].query
        assert all(set(c.query) == {"limit", "page_info"} for c in calls[1:])
    assert server.requests_to("orders.json")[0].query["status"] == ["any"]

    # Money arrives as the exact text Shopify sent; guest orders have a null customer__id.
    by_id = {o["id"]: o for o in files["orders"]}
    loaded = query(warehouse, "select id, total_price, subtotal_price, customer__id from raw_shopify.orders")
    assert {row[0]: (row[1], row[2]) for row in loaded} == {
        i: (o["total_price"], o["subtotal_price"]) for i, o in by_id.items()
    }
    assert {row[0] for row in loaded if row[3] is None} == {i for i, o in by_id.items() if not o.get("customer")}
    line_prices = query(warehouse, "select price from raw_shopify.orders__line_items")
    assert sorted(p for (p,) in line_prices) == sorted(
        li["price"] for o in files["orders"] for li in o.get("line_items") or []
    )
    types = dict(
        query(
            warehouse,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'raw_shopify' and table_name = 'orders'",
        )
    )
    assert types["total_price"] == "VARCHAR"
    assert types["updated_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["customer__id"] == "BIGINT"
    assert "shipping_address__city" in types


def test_rerun_fetches_only_the_boundary_and_duplicates_nothing(
    server: ShopifyServer, demo_data: Path, warehouse: Path
) -> None:
    files = shop_files(demo_data)
    load_shopify(server.url, TOKEN)
    before = table_counts(warehouse)
    server.clear_log()

    summary = load_shopify(server.url, TOKEN)

    assert summary.rows == 0 and summary.skipped
    assert table_counts(warehouse) == before
    for name in ("customers", "orders", "products"):
        latest = latest_updated_at(files[name])
        (call,) = server.requests_to(f"{name}.json")
        assert parse_timestamp(call.query["updated_at_min"][0]) == latest
        # Only the records at the cursor itself came back (updated_at_min is inclusive).
        at_cursor = {r["id"] for r in files[name] if parse_timestamp(r["updated_at"]) == latest}
        assert set(server.served_ids(name)) == at_cursor
        distinct, total = query(warehouse, f"select count(distinct id), count(*) from raw_shopify.{name}")[0]
        assert distinct == total == len(files[name])


def test_incremental_load_takes_exactly_the_changed_records(
    server: ShopifyServer, demo_data: Path, warehouse: Path
) -> None:
    files = shop_files(demo_data)
    load_shopify(server.url, TOKEN)
    before = table_counts(warehouse)
    old_cursor = cursor("customers")
    changed = [c["id"] for c in files["customers"][:3]]
    for number, customer_id in enumerate(changed):
        server.update("customers", customer_id, {"email": f"changed.{number}@example.com", "note": "edited"})
    server.clear_log()

    summary = load_shopify(server.url, TOKEN)

    (call,) = server.requests_to("customers.json")
    assert call.query["updated_at_min"] == [old_cursor]
    latest = latest_updated_at(files["customers"])
    boundary = {c["id"] for c in files["customers"] if parse_timestamp(c["updated_at"]) == latest}
    assert set(server.served_ids("customers")) == set(changed) | boundary
    assert summary.rows_by_table["customers"] == 3
    assert table_counts(warehouse) == before
    emails = dict(query(warehouse, f"select id, email from raw_shopify.customers where id in {tuple(changed)}"))
    assert emails == {customer_id: f"changed.{n}@example.com" for n, customer_id in enumerate(changed)}
    assert parse_timestamp(cursor("customers")) == parse_timestamp(server.get("customers", changed[-1])["updated_at"])

    # A new customer (and nothing else) is one more row on the next run.
    template = server.get("customers", changed[0])
    new_id = max(server.ids("customers")) + 1
    server.add("customers", {**template, "id": new_id, "email": "brand.new@example.com", "addresses": []})
    summary = load_shopify(server.url, TOKEN)
    assert summary.rows_by_table == {"customers": 1}
    assert query(warehouse, f"select email from raw_shopify.customers where id = {new_id}") == [
        ("brand.new@example.com",)
    ]
    assert table_counts(warehouse)["customers"] == before["customers"] + 1


def test_changed_order_replaces_its_child_rows(server: ShopifyServer, demo_data: Path, warehouse: Path) -> None:
    orders = shop_files(demo_data)["orders"]
    refunded = next(o for o in orders if o.get("refunds"))
    plain = next(o for o in orders if not o.get("refunds") and len(o.get("line_items") or []) >= 1)
    load_shopify(server.url, TOKEN)
    before = table_counts(warehouse)

    line_item = plain["line_items"][0]
    new_refunds = [
        {
            "id": 990_000_001 + n,
            "created_at": "2026-11-02T10:00:00-05:00",
            "note": f"replacement {n}",
            "refund_line_items": [{"id": 991_000_001 + n, "line_item_id": line_item["id"], "quantity": 1,
                                   "subtotal": line_item["price"]}],
            "transactions": [{"id": 992_000_001 + n, "amount": line_item["price"], "kind": "refund",
                              "status": "success"}],
        }
        for n in range(2)
    ]  # fmt: skip

    def refund_twice(order: dict[str, Any]) -> None:
        order["refunds"] = new_refunds
        order["financial_status"] = "partially_refunded"

    server.update("orders", plain["id"], mutate=refund_twice)
    server.update("orders", refunded["id"], {"refunds": []})  # a refund voided: the order now has none
    load_shopify(server.url, TOKEN)

    def child_ids(table: str, order_id: int) -> list[int]:
        rows = query(
            warehouse,
            f"select c.id from raw_shopify.{table} c join raw_shopify.orders o on c._dlt_root_id = o._dlt_id "
            f"where o.id = {order_id} order by c.id",
        )
        return [i for (i,) in rows]

    assert child_ids("orders__refunds", plain["id"]) == [990_000_001, 990_000_002]
    assert child_ids("orders__refunds__refund_line_items", plain["id"]) == [991_000_001, 991_000_002]
    assert child_ids("orders__refunds__transactions", plain["id"]) == [992_000_001, 992_000_002]
    assert child_ids("orders__refunds", refunded["id"]) == []
    assert child_ids("orders__refunds__transactions", refunded["id"]) == []
    for order in (plain, refunded):  # line items were replaced by the same rows, not accumulated
        assert child_ids("orders__line_items", order["id"]) == sorted(li["id"] for li in order["line_items"])
    old_refund = refunded["refunds"]
    after = table_counts(warehouse)
    assert after["orders"] == before["orders"]
    assert after["orders__line_items"] == before["orders__line_items"]
    assert after["orders__refunds"] == before["orders__refunds"] - len(old_refund) + 2
    assert after["orders__refunds__transactions"] == (
        before["orders__refunds__transactions"] - sum(len(r["transactions"]) for r in old_refund) + 2
    )
    assert query(warehouse, f"select financial_status from raw_shopify.orders where id = {plain['id']}") == [
        ("partially_refunded",)
    ]


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("rate_limit", {"retry_after": 0.5}),
        ("server_error", {"status": 503}),
        ("slow", {"delay": 2.5}),
        ("truncate", {}),
    ],
)
def test_load_recovers_from_transient_faults(
    kind: str,
    options: dict[str, Any],
    server: ShopifyServer,
    demo_data: Path,
    warehouse: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if kind == "slow":
        monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "1")  # the delayed answer times out and is retried
    server.faults.arm(kind, count=2, path_contains="orders.json", **options)
    started = time.monotonic()

    load_shopify(server.url, TOKEN)

    elapsed = time.monotonic() - started
    assert elapsed < 30
    assert table_counts(warehouse) == expected_counts(shop_files(demo_data))
    deadline = time.monotonic() + 10  # a slow answer is logged once its delay is over, after the retry's
    while [c.fault for c in server.requests_to("orders.json")].count(kind) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    calls = server.requests_to("orders.json")
    assert [c.fault for c in calls].count(kind) == 2
    assert all(c.status == 200 for c in calls if c.fault in (None, "slow", "truncate"))
    if kind == "rate_limit":  # the client waited as told (a decimal Retry-After), not its own backoff
        assert [c.fault for c in calls[:3]] == [kind, kind, None]
        assert calls[1].at - calls[0].at >= 0.45
        assert calls[2].at - calls[1].at >= 0.45
    if kind == "slow":  # two 1 s timeouts passed before the retry that succeeded
        assert elapsed >= 2


def test_load_paces_by_the_call_limit_header_before_the_429(
    demo_data: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 point 8: X-Shopify-Shop-Api-Call-Limit paces the load, so a small bucket never overflows."""
    monkeypatch.setenv("SOURCES__SHOPIFY__PAGE_SIZE", "25")
    monkeypatch.setenv("SOURCES__SHOPIFY__LEAK_RATE", "10")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "10")
    with ShopifyServer(demo_data, TOKEN, bucket_size=5, leak_rate=10, retry_after=0.2) as server:
        load_shopify(server.url, TOKEN)
        calls = [r.status for r in server.request_log]
    assert len(calls) > 20, "the paged load must make many more calls than the bucket holds"
    assert 429 not in calls
    assert table_counts(warehouse) == expected_counts(shop_files(demo_data))


def test_persistent_server_error_fails_cleanly_and_commits_nothing(
    server: ShopifyServer, demo_data: Path, warehouse: Path
) -> None:
    files = shop_files(demo_data)
    load_shopify(server.url, TOKEN)
    before = table_counts(warehouse)
    cursors = {name: cursor(name) for name in ("customers", "orders", "products")}
    changed = [c["id"] for c in files["customers"][:3]]
    for customer_id in changed:
        server.update("customers", customer_id, {"email": f"new.{customer_id}@example.com"})
    server.faults.arm("server_error", count=1000, path_contains="orders.json", status=500)
    server.clear_log()

    with pytest.raises(UserError) as failure:
        load_shopify(server.url, TOKEN)

    message = str(failure.value)
    assert "shopify" in message and "HTTP 500" in message and "/orders.json" in message
    assert "\n" not in message
    assert len(server.requests_to("orders.json")) == 4  # RUNTIME__REQUEST_MAX_ATTEMPTS
    assert table_counts(warehouse) == before
    assert query(warehouse, "select count(*) from raw_shopify.customers where email like 'new.%'") == [(0,)]
    assert {name: cursor(name) for name in cursors} == cursors

    server.faults.clear()  # the next run picks the changes up: nothing was lost by the failure
    load_shopify(server.url, TOKEN)
    assert query(warehouse, "select count(*) from raw_shopify.customers where email like 'new.%'") == [(3,)]


def test_wrong_token_is_a_user_error_and_loads_nothing(server: ShopifyServer, warehouse: Path) -> None:
    with pytest.raises(UserError, match=r"shopify rejected the access token \(401\)"):
        load_shopify(server.url, "shpat_wrong")
    assert len(server.request_log) == 1  # a 401 is not retried
    if warehouse.exists():
        assert table_counts(warehouse) == {}


def test_unreachable_shop_is_a_user_error(warehouse: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UserError, match=rf"cannot reach shopify at http://127.0.0.1:{port}"):
        load_shopify(f"http://127.0.0.1:{port}", TOKEN)


def test_missing_settings_name_the_variable(warehouse: Path) -> None:
    with pytest.raises(UserError, match="SOURCES__SHOPIFY__SHOP_URL"):
        load_shopify()
    with pytest.raises(UserError, match="SOURCES__SHOPIFY__ACCESS_TOKEN"):
        load_shopify("http://127.0.0.1:9")
    with pytest.raises(UserError, match="must be an http"):
        load_shopify("shop.myshopify.com", TOKEN)


def test_settings_come_from_dlt_environment(
    server: ShopifyServer, demo_data: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__SHOPIFY__SHOP_URL", server.url)
    monkeypatch.setenv("SOURCES__SHOPIFY__ACCESS_TOKEN", TOKEN)
    summary = load_shopify()
    assert summary.rows_by_table["products"] == len(shop_files(demo_data)["products"])


def test_new_field_lands_as_a_new_column(server: ShopifyServer, demo_data: Path, warehouse: Path) -> None:
    files = shop_files(demo_data)
    load_shopify(server.url, TOKEN)
    tiers = {c["id"]: tier for c, tier in zip(files["customers"][:2], ("gold", "silver"), strict=True)}
    for customer_id, tier in tiers.items():
        server.update("customers", customer_id, {"loyalty_tier": tier, "tax_exemptions": {"ca_status": "none"}})

    load_shopify(server.url, TOKEN)

    rows = query(warehouse, "select id, loyalty_tier, tax_exemptions__ca_status from raw_shopify.customers")
    assert {i: t for i, t, _ in rows if t is not None} == tiers
    assert {i for i, _, ca in rows if ca == "none"} == set(tiers)
    assert len(rows) == len(files["customers"])


def test_locked_warehouse_is_a_user_error_and_loses_nothing(
    server: ShopifyServer,
    demo_data: Path,
    warehouse: Path,
    write_lock_held: Callable[[Path], AbstractContextManager[None]],
) -> None:
    files = shop_files(demo_data)
    load_shopify(server.url, TOKEN)
    changed = [c["id"] for c in files["customers"][:3]]
    for customer_id in changed:
        server.update("customers", customer_id, {"email": f"locked.{customer_id}@example.com"})
    with write_lock_held(warehouse), pytest.raises(UserError, match="is locked by another process") as failure:
        load_shopify(server.url, TOKEN)
    assert str(warehouse) in str(failure.value)

    # Once the lock is gone the changes arrive: the failed run neither lost them nor duplicated rows.
    load_shopify(server.url, TOKEN)
    assert query(warehouse, "select count(*) from raw_shopify.customers where email like 'locked.%'") == [(3,)]
    assert table_counts(warehouse) == expected_counts(files)


def test_guest_only_load_still_has_customer_columns(tmp_path: Path, warehouse: Path) -> None:
    """Declared hints keep contract columns whose values are all null in a load (dlt drops those otherwise)."""
    shop = tmp_path / "shop" / "shopify"
    shop.mkdir(parents=True)
    guest = {
        "id": 5001, "name": "#5001", "email": "guest@example.com", "created_at": "2026-03-08T01:30:00-05:00",
        "updated_at": "2026-03-08T01:30:00-05:00", "cancelled_at": None, "currency": "USD",
        "financial_status": "paid", "total_price": "12.50", "customer": None, "billing_address": None,
        "line_items": [{"id": 1, "product_id": 7, "variant_id": 8, "title": "Sock", "sku": "S-1",
                        "quantity": 1, "price": "12.50", "total_discount": "0.00", "vendor": "Acme"}],
        "refunds": [],
    }  # fmt: skip
    later = {**guest, "id": 5002, "name": "#5002", "updated_at": "2026-03-08T02:10:00-04:00", "line_items": []}
    (shop / "orders.jsonl").write_text(json.dumps(guest) + "\n" + json.dumps(later) + "\n")
    (shop / "customers.jsonl").write_text("")
    (shop / "products.jsonl").write_text("")

    with ShopifyServer(tmp_path / "shop", TOKEN) as server:
        load_shopify(server.url, TOKEN)

    columns = {
        name
        for (name,) in query(
            warehouse,
            "select column_name from information_schema.columns "
            "where table_schema = 'raw_shopify' and table_name = 'orders'",
        )
    }
    assert {"customer__id", "customer__email", "billing_address__city", "processed_at"} <= columns
    assert query(warehouse, "select count(*), count(customer__id) from raw_shopify.orders") == [(2, 0)]
    # 01:30-05:00 is 06:30Z, later than 02:10-04:00 (06:10Z): the cursor compares instants, not text.
    assert cursor("orders") == "2026-03-08T01:30:00-05:00"


def test_cursor_function_orders_by_instant() -> None:
    assert latest_timestamp(["2026-03-08T02:10:00-04:00", "2026-03-08T01:30:00-05:00"]) == "2026-03-08T01:30:00-05:00"
    assert latest_timestamp(["garbage", "2020-01-01T00:00:00Z"]) == "2020-01-01T00:00:00Z"


def test_the_extract_is_cut_by_size_for_the_normalize_workers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """dlt gives each normalize worker an equal count of extracted files: cut by rows, an orders file held twice a
    customers file's work and one worker idled for half the normalize (round 27). The files are cut by size, two
    workers at most, forked; a deployment's own settings win."""
    import os

    from ingestion.settings import Settings
    from ingestion.sources import shopify

    pipeline = make_pipeline("shopify", Settings(None, tmp_path / "w.duckdb", tmp_path, tmp_path / "dlt"))
    prefix = pipeline.pipeline_name.upper() + "__"
    for key in ("NORMALIZE__WORKERS", "NORMALIZE__START_METHOD", "DATA_WRITER__FILE_MAX_BYTES"):
        monkeypatch.delenv(prefix + key, raising=False)
    monkeypatch.setenv(prefix + "DATA_WRITER__FILE_MAX_ITEMS", "10")  # a deployment's own setting, kept beside it
    shopify.normalize_in_parallel(pipeline)
    assert os.environ[prefix + "DATA_WRITER__FILE_MAX_BYTES"] == str(16 * 1024 * 1024)
    assert os.environ[prefix + "DATA_WRITER__FILE_MAX_ITEMS"] == "10"
    assert os.environ[prefix + "NORMALIZE__WORKERS"] == str(min(2, os.cpu_count() or 1))
    assert os.environ[prefix + "NORMALIZE__START_METHOD"] == "fork"
    monkeypatch.setenv(prefix + "DATA_WRITER__FILE_MAX_BYTES", "1000")
    shopify.normalize_in_parallel(pipeline)
    assert os.environ[prefix + "DATA_WRITER__FILE_MAX_BYTES"] == "1000"
