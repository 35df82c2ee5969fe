"""HubSpot slice: the local CRM v3 server's wire contract and the dlt loader against it.

Every load runs against ``HubSpotServer`` on 127.0.0.1 serving the generated demo folder, so the
expected rows are known: they are the lines of ``hubspot/contacts.jsonl`` and
``hubspot/contacts_archived.jsonl``.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from ingestion.demo_kit.servers.hubspot import HubSpotServer, format_timestamp, parse_timestamp_ms
from ingestion.errors import UserError
from ingestion.pipeline import make_pipeline
from ingestion.sources.hubspot import load_hubspot

TOKEN = "pat-na1-test-0000"
LIST = "/crm/v3/objects/contacts"
SEARCH = "/crm/v3/objects/contacts/search"
PROPERTIES = "/crm/v3/properties/contacts"


# -- fixtures and helpers -----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def hubspot_data(demo_data: Path) -> Path:
    """The generated demo folder (read-only: the server copies it into memory, tests mutate that)."""
    return demo_data


@pytest.fixture(scope="session")
def files(hubspot_data: Path) -> dict[str, dict[str, dict]]:
    """The generated contacts by id: what every full load must reproduce."""

    def read(name: str) -> dict[str, dict]:
        path = hubspot_data / "hubspot" / name
        if not path.is_file():
            return {}
        return {c["id"]: c for c in map(json.loads, path.read_text().splitlines()) if c}

    return {"live": read("contacts.jsonl"), "archived": read("contacts_archived.jsonl")}


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """dlt's retry knobs, small so fault tests take seconds (and nothing waits for minutes)."""
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.05")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_RETRY_DELAY", "3")
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "5")
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "WARNING")


@pytest.fixture
def server(hubspot_data: Path) -> Iterator[HubSpotServer]:
    with HubSpotServer(hubspot_data, TOKEN) as running:
        yield running


@pytest.fixture
def loader_env(server: HubSpotServer, warehouse: Path, fast_retries: None, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The dlt config a deployment would set, pointing at the local server; returns the warehouse path."""
    monkeypatch.setenv("SOURCES__HUBSPOT__BASE_URL", server.url)
    monkeypatch.setenv("SOURCES__HUBSPOT__ACCESS_TOKEN", TOKEN)
    # Exact row counts per run: no look-back window here (its own tests set it).
    monkeypatch.setenv("SOURCES__HUBSPOT__LOOKBACK_SECONDS", "0")
    return warehouse


def query(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def scalar(warehouse: Path, sql: str) -> Any:
    return query(warehouse, sql)[0][0]


def cursor() -> Any:
    """The incremental cursor dlt committed for contacts (None before the first successful load)."""
    state = make_pipeline("hubspot").state
    contacts = state.get("sources", {}).get("hubspot", {}).get("resources", {}).get("contacts", {})
    return contacts.get("incremental", {}).get("updated_at", {}).get("last_value")


def get(server: HubSpotServer, path: str, token: str | None = TOKEN, **params: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(server.url + path, params=params, headers=headers, timeout=10)


def search(server: HubSpotServer, body: dict) -> requests.Response:
    return requests.post(server.url + SEARCH, json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


def ts_filter(operator: str, value: str) -> dict:
    return {"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": operator, "value": value}]}]}


def contacts_in_warehouse(warehouse: Path) -> dict[str, tuple]:
    rows = query(
        warehouse,
        "select id, archived, properties__email, properties__lastmodifieddate, properties__city "
        "from raw_hubspot.contacts",
    )
    return {row[0]: row[1:] for row in rows}


def requests_of(server: HubSpotServer, path: str) -> list:
    return [r for r in server.request_log if r.path == path]


# -- the server's wire contract -------------------------------------------------------------------------
def test_auth_errors_use_hubspot_error_body(server: HubSpotServer) -> None:
    for token in (None, "wrong-token"):
        response = get(server, LIST, token=token)
        assert response.status_code == 401
        body = response.json()
        assert body["status"] == "error"
        assert body["category"] == "INVALID_AUTHENTICATION"
        assert body["message"] and body["correlationId"]


def test_list_paging_properties_and_limits(server: HubSpotServer, files: dict) -> None:
    live_ids = sorted(files["live"], key=int)
    first = get(server, LIST).json()
    assert [c["id"] for c in first["results"]] == live_ids[:10]  # default limit 10, id order
    assert set(first["results"][0]["properties"]) == {
        "createdate",
        "email",
        "firstname",
        "lastname",
        "hs_object_id",
        "lastmodifieddate",
    }
    following = requests.get(first["paging"]["next"]["link"], headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert [c["id"] for c in following.json()["results"]] == live_ids[10:20]

    seen, after = [], None
    while True:
        page = get(server, LIST, limit=100, properties="city,phone", **({"after": after} if after else {})).json()
        seen += page["results"]
        if "paging" not in page:
            break
        after = page["paging"]["next"]["after"]
    assert [c["id"] for c in seen] == live_ids
    sample = seen[0]
    assert sample["properties"]["city"] == files["live"][sample["id"]]["properties"]["city"]
    assert "phone" in sample["properties"] and "jobtitle" not in sample["properties"]

    too_many = get(server, LIST, limit=101)
    assert too_many.status_code == 400
    assert too_many.json()["category"] == "VALIDATION_ERROR"

    archived = get(server, LIST, limit=100, archived="true").json()["results"]
    assert {c["id"] for c in archived} == set(files["archived"])
    assert all(c["archived"] is True and c["archivedAt"] for c in archived)

    names = [p["name"] for p in get(server, PROPERTIES).json()["results"]]
    assert {"email", "lastmodifieddate", "hs_merged_object_ids"} <= set(names)


def test_search_filters_sorts_and_cap(server: HubSpotServer, files: dict) -> None:
    stamps = sorted(parse_timestamp_ms(c["properties"]["lastmodifieddate"]) for c in files["live"].values())
    pivot = stamps[len(stamps) // 2]
    expected = {
        "GT": sum(s > pivot for s in stamps),
        "GTE": sum(s >= pivot for s in stamps),
        "LT": sum(s < pivot for s in stamps),
        "LTE": sum(s <= pivot for s in stamps),
        "EQ": sum(s == pivot for s in stamps),
    }
    for operator, count in expected.items():
        for value in (str(pivot), format_timestamp(pivot)):  # epoch milliseconds or ISO, as HubSpot accepts
            reply = search(server, {**ts_filter(operator, value), "limit": 1}).json()
            assert reply["total"] == count, (operator, value)

    body = {
        **ts_filter("GTE", str(pivot)),
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}],
        "properties": ["city"],
        "limit": 200,
    }
    reply = search(server, body).json()
    got = [parse_timestamp_ms(c["properties"]["lastmodifieddate"]) for c in reply["results"]]
    assert got == sorted((s for s in stamps if s >= pivot), reverse=True)
    assert "city" in reply["results"][0]["properties"]

    assert search(server, {"limit": 201}).status_code == 400
    capped = search(server, {"after": "10000", "limit": 10})
    assert capped.status_code == 400 and capped.json()["category"] == "VALIDATION_ERROR"
    bad = search(server, ts_filter("GT", "not a date"))
    assert bad.status_code == 400


def test_rolling_rate_limit_answers_like_hubspot(hubspot_data: Path) -> None:
    with HubSpotServer(hubspot_data, TOKEN, rate_limit_budget=3, rate_limit_window=30) as limited:
        statuses = [get(limited, PROPERTIES) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert statuses[0].headers["X-HubSpot-RateLimit-Max"] == "3"
    body = statuses[3].json()
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
    assert int(statuses[3].headers["Retry-After"]) >= 1


# -- loading ----------------------------------------------------------------------------------------
def test_full_load_reproduces_the_files(
    server: HubSpotServer, loader_env: Path, files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A property nobody has filled in yet must still become a column (dlt drops all-null columns otherwise);
    # with `properties = all` every property is loaded, the ones beyond the models' through batch read.
    server.store.add_property("favorite_color")
    monkeypatch.setenv("SOURCES__HUBSPOT__PROPERTIES", "all")
    summary = load_hubspot()

    expected = {**files["live"], **files["archived"]}
    assert summary.rows_by_table == {"contacts": len(expected)}
    loaded = contacts_in_warehouse(loader_env)
    assert set(loaded) == set(expected)
    for contact_id, contact in expected.items():
        props = contact["properties"]
        assert loaded[contact_id] == (
            contact["id"] in files["archived"],
            props.get("email"),  # raw, untrimmed: cleaning is staging's job
            props.get("lastmodifieddate"),
            props.get("city"),
        ), contact_id
    columns = {row[0] for row in query(loader_env, "describe raw_hubspot.contacts")}
    property_names = {p["name"] for p in server.store.properties}
    assert {f"properties__{name}" for name in property_names} <= columns
    assert {"id", "created_at", "updated_at", "archived", "archived_at", "_dlt_load_id"} <= columns
    assert scalar(
        loader_env, "select count(*) from raw_hubspot.contacts where properties__favorite_color is null"
    ) == len(expected)
    # The first run lists everything (live, then archived) with the maximum page size.
    pages = requests_of(server, LIST)
    assert {r.query["archived"][0] for r in pages} == {"false", "true"}
    assert all(r.query["limit"] == ["100"] for r in pages)
    assert not requests_of(server, SEARCH)
    newest = max(parse_timestamp_ms(c["updatedAt"]) for c in expected.values())
    assert round(cursor().timestamp() * 1000) == newest


def test_rerun_fetches_only_changes_and_incremental_lands_updates(
    server: HubSpotServer, loader_env: Path, files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_hubspot()
    total = len(files["live"]) + len(files["archived"])
    first_cursor = cursor()

    server.clear_log()
    rerun = load_hubspot()
    assert rerun.rows == 0 and rerun.skipped
    assert scalar(loader_env, "select count(*), count(distinct id) from raw_hubspot.contacts") == total
    assert query(loader_env, "select count(*) = count(distinct id) from raw_hubspot.contacts") == [(True,)]
    # No full listing of live contacts: one search from the stored cursor (plus the small archived list).
    assert not [r for r in requests_of(server, LIST) if r.query["archived"] != ["true"]]
    searches = requests_of(server, SEARCH)
    assert len(searches) == 1
    (flt,) = searches[0].body["filterGroups"][0]["filters"]
    assert flt["propertyName"] == "lastmodifieddate"
    assert int(flt["value"]) == round(first_cursor.timestamp() * 1000)
    assert searches[0].body["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    assert cursor() == first_cursor

    changed = sorted(files["live"], key=int)[:3]
    for n, contact_id in enumerate(changed):
        server.store.update_contact(contact_id, {"city": f"Changed {n}", "email": f"new{n}@example.org"})
    server.clear_log()
    incremental = load_hubspot()
    assert incremental.rows_by_table == {"contacts": 3}
    loaded = contacts_in_warehouse(loader_env)
    assert len(loaded) == total
    for n, contact_id in enumerate(changed):
        assert loaded[contact_id][1] == f"new{n}@example.org"
        assert loaded[contact_id][3] == f"Changed {n}"
    assert sum(1 for row in loaded.values() if (row[3] or "").startswith("Changed ")) == 3
    (flt,) = requests_of(server, SEARCH)[0].body["filterGroups"][0]["filters"]
    assert int(flt["value"]) == round(first_cursor.timestamp() * 1000)
    assert cursor() > first_cursor

    # Another contact changed within the very millisecond the cursor stopped at must not be lost.
    same_ms = round(cursor().timestamp() * 1000)
    late = sorted(files["live"], key=int)[3]
    server.store.update_contact(late, {"city": "Same millisecond"}, at_ms=same_ms)
    assert load_hubspot().rows_by_table == {"contacts": 1}
    assert contacts_in_warehouse(loader_env)[late][3] == "Same millisecond"


def test_merges_and_new_contacts_arrive_incrementally(server: HubSpotServer, loader_env: Path, files: dict) -> None:
    load_hubspot()
    survivor, loser = sorted(files["live"], key=int)[:2]
    server.store.merge_contacts(survivor, loser)
    new = server.store.add_contact({"email": "brand.new@example.com", "firstname": "Brand", "city": "Nowhere"})

    summary = load_hubspot()
    assert summary.rows_by_table == {"contacts": 3}  # survivor, archived loser, new contact
    rows = dict(
        (r[0], r[1:])
        for r in query(
            loader_env,
            "select id, archived, archived_at is not null, properties__hs_merged_object_ids, properties__email "
            "from raw_hubspot.contacts",
        )
    )
    assert rows[loser][:2] == (True, True)
    assert loser in rows[survivor][2].split(";")
    assert rows[new["id"]] == (False, False, None, "brand.new@example.com")
    assert len(rows) == len(files["live"]) + len(files["archived"]) + 1


def test_new_property_arrives_as_new_column(
    server: HubSpotServer, loader_env: Path, files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__HUBSPOT__PROPERTIES", "all")
    load_hubspot()
    server.store.add_property("loyalty_tier", label="Loyalty tier")
    target = sorted(files["live"], key=int)[5]
    server.store.update_contact(target, {"loyalty_tier": "gold"})

    summary = load_hubspot()
    assert summary.rows_by_table == {"contacts": 1}
    assert query(
        loader_env,
        "select id, properties__loyalty_tier from raw_hubspot.contacts where properties__loyalty_tier is not null",
    ) == [(target, "gold")]
    # Beyond the models' properties, values come through batch read (a body, no URL or search limit).
    assert "loyalty_tier" not in requests_of(server, SEARCH)[-1].body["properties"]
    assert "loyalty_tier" in requests_of(server, "/crm/v3/objects/contacts/batch/read")[-1].body["properties"]


def test_search_windows_past_the_result_cap(
    hubspot_data: Path, warehouse: Path, fast_retries: None, files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HubSpot refuses to page a search past 10,000 results; a cap of 25 exercises the same windowing.
    monkeypatch.setenv("SOURCES__HUBSPOT__SEARCH_RESULT_CAP", "25")
    with HubSpotServer(hubspot_data, TOKEN, search_result_cap=25) as capped:
        load_hubspot(capped.url, TOKEN)
        ids = sorted(files["live"], key=int)
        assert len(ids) >= 100, "the demo population is too small for this test"
        for contact_id in ids[:60]:  # 60 distinct modification times
            capped.store.update_contact(contact_id, {"city": "Window"})
        same_instant = capped.store.next_timestamp_ms()
        for contact_id in ids[60:100]:  # 40 changed in one millisecond: more than a whole window
            capped.store.update_contact(contact_id, {"city": "Tie"}, at_ms=same_instant)
        capped.clear_log()

        summary = load_hubspot(capped.url, TOKEN)

        searches = requests_of(capped, SEARCH)
    assert summary.rows_by_table == {"contacts": 100}  # each changed contact exactly once
    assert query(
        warehouse,
        "select properties__city, count(*) from raw_hubspot.contacts "
        "where properties__city in ('Window', 'Tie') group by 1 order by 1",
    ) == [
        ("Tie", 40),
        ("Window", 60),
    ]
    assert all(r.status == 200 and int(r.body.get("after") or 0) < 25 for r in searches)
    windows = {json.dumps(r.body["filterGroups"]) for r in searches}
    assert len(windows) >= 4
    assert any(f["propertyName"] == "hs_object_id" for r in searches for f in r.body["filterGroups"][0]["filters"])


# -- faults -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("rate_limit", {"retry_after": 1}),
        ("server_error", {"status": 503}),
        ("slow", {"delay": 4}),
        ("truncate", {}),
    ],
)
def test_transient_faults_are_retried(
    kind: str, options: dict, server: HubSpotServer, loader_env: Path, files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "1")  # so the slow response is abandoned and retried
    server.faults.arm(kind, 1, path_contains=LIST, **options)
    summary = load_hubspot()

    assert summary.rows_by_table == {"contacts": len(files["live"]) + len(files["archived"])}
    assert scalar(loader_env, "select count(distinct id) from raw_hubspot.contacts") == summary.rows
    if kind == "slow":
        deadline = time.monotonic() + options["delay"] + 2  # the abandoned response is logged once it ends
        while not [r for r in requests_of(server, LIST) if r.fault == kind] and time.monotonic() < deadline:
            time.sleep(0.1)
    first_page = [r for r in requests_of(server, LIST) if "after" not in r.query and r.query["archived"] == ["false"]]
    assert len(first_page) == 2
    faulted = [r for r in first_page if r.fault == kind]
    assert len(faulted) == 1
    recovered = next(r for r in first_page if r.fault is None)
    assert recovered.status == 200
    if kind == "slow":
        # the slow response is logged when it ends: the retry was answered before that, so the loader gave up on
        # it and retried rather than waiting it out (timed by the server's clock, not the whole load's wall time)
        assert recovered.at < faulted[0].at, "the loader should give up on the slow response and retry"
    if kind == "rate_limit":
        assert faulted[0].status == 429
        assert recovered.at - faulted[0].at >= 0.95  # Retry-After honoured
    if kind == "server_error":
        assert faulted[0].status == 503


def test_rate_limit_headers_pace_the_load_before_the_429(
    hubspot_data: Path, warehouse: Path, fast_retries: None, files: dict
) -> None:
    """Issue 11 point 8: X-HubSpot-RateLimit-Remaining/-Interval-Milliseconds pace the requests, so a budget
    of 2 per second is never exceeded (the blind-backoff loader met a 429 on every third request)."""
    with HubSpotServer(hubspot_data, TOKEN, rate_limit_budget=2, rate_limit_window=1.0) as limited:
        summary = load_hubspot(limited.url, TOKEN)
        log = list(limited.request_log)
    assert summary.rows_by_table == {"contacts": len(files["live"]) + len(files["archived"])}
    assert len(log) > 2, "the load must need more requests than one window allows"
    assert [r.status for r in log if r.status == 429] == []
    # and the pacing was real: no one-second window holds more than the budget
    stamps = sorted(r.at for r in log)
    assert all(later - earlier >= 0.95 for earlier, later in zip(stamps, stamps[2:], strict=False))


def test_persistent_server_error_fails_cleanly(server: HubSpotServer, loader_env: Path, files: dict) -> None:
    load_hubspot()
    before_rows = contacts_in_warehouse(loader_env)
    before_cursor = cursor()
    for contact_id in sorted(files["live"], key=int)[:3]:
        server.store.update_contact(contact_id, {"city": "Never loaded"})
    server.faults.arm("server_error", 100, path_contains=SEARCH, status=503)

    with pytest.raises(UserError) as failure:
        load_hubspot()
    message = str(failure.value)
    assert "hubspot" in message and "503" in message and SEARCH in message
    assert "\n" not in message
    assert contacts_in_warehouse(loader_env) == before_rows
    assert cursor() == before_cursor

    server.faults.clear()  # once HubSpot recovers, the next load picks up exactly what was missed
    assert load_hubspot().rows_by_table == {"contacts": 3}


def test_wrong_token_is_a_user_error_and_loads_nothing(
    server: HubSpotServer, loader_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__HUBSPOT__ACCESS_TOKEN", "pat-na1-revoked")
    with pytest.raises(UserError, match=r"hubspot rejected the access token \(401\)"):
        load_hubspot()
    if loader_env.exists():
        schemas = query(loader_env, "select schema_name from information_schema.schemata")
        assert ("raw_hubspot",) not in schemas
    assert all(r.status == 401 for r in server.request_log)


def test_missing_token_names_the_variable(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCES__HUBSPOT__ACCESS_TOKEN", raising=False)
    with pytest.raises(UserError, match="SOURCES__HUBSPOT__ACCESS_TOKEN"):
        load_hubspot(base_url="http://127.0.0.1:9")


def test_unreachable_server_is_a_user_error(warehouse: Path, fast_retries: None) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UserError, match=rf"cannot reach hubspot at http://127.0.0.1:{port}.*refused"):
        load_hubspot(f"http://127.0.0.1:{port}", TOKEN)


def test_unreadable_timestamp_names_the_contact(server: HubSpotServer, loader_env: Path, files: dict) -> None:
    broken = sorted(files["live"], key=int)[7]
    server.store.live[broken] = {**server.store.live[broken], "updatedAt": "last Tuesday"}
    with pytest.raises(UserError, match=rf"hubspot contact {broken} has an unreadable updatedAt: 'last Tuesday'"):
        load_hubspot()
    assert cursor() is None
    if loader_env.exists():
        assert ("raw_hubspot",) not in query(loader_env, "select schema_name from information_schema.schemata")


def test_locked_warehouse_is_a_user_error(
    server: HubSpotServer, loader_env: Path, write_lock_held: Callable[[Path], AbstractContextManager[None]]
) -> None:
    with write_lock_held(loader_env), pytest.raises(UserError, match="locked by another process"):
        load_hubspot()
