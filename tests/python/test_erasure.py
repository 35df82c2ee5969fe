"""Erasure end to end: a person planted in every source is erased and then found nowhere.

One module-scoped world (the session's 300-person demo data plus one planted person, loaded by every
loader and built once) serves both tests: the erasure proof scans every table and column of the
warehouse and every file under the pipelines folder for the person's email, phone, names and street;
the re-entry test delivers their records again and checks they are removed and quarantined as `erased`.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from ingestion.cli import main
from ingestion.dbt_runner import DbtOutcome, production_build_args, run_dbt
from ingestion.demo_kit.servers.run import running_servers
from ingestion.loading import load

SALT = "test-salt-not-a-real-secret-0123456789"
EMAIL = "zebulon.quillfeather@example.org"
PHONE = "+1 415 555 0199"
PHONE_DIGITS = "4155550199"
NEEDLES = ("zebulon", "quillfeather", "wisteria quay")  # first name, last name, street (all unique)
HUBSPOT_ID, SHOPIFY_ID, ORDER_ID = "990001", 7199999001, 5299999001
ANONYMOUS_ID = "9f1c2d3e-aaaa-4bbb-8ccc-quillfeather"


def _upsert(path: Path, record: dict[str, object]) -> None:
    """Write ``record`` into a JSONL file of the local servers, replacing the line with its id."""
    lines = [line for line in path.read_text().splitlines() if json.loads(line)["id"] != record["id"]]
    path.write_text("\n".join([*lines, json.dumps(record)]) + "\n")


def plant(data: Path, updated: str = "2026-10-20T10:00:00") -> None:
    """The planted person, written into each source's own files: HubSpot, Shopify (customer and order),
    Segment (identify + page) and the legacy CRM CSV drop."""
    hubspot = {
        "id": HUBSPOT_ID,
        "properties": {
            "hs_object_id": HUBSPOT_ID, "email": "Zebulon.Quillfeather@example.org", "firstname": "Zebulon",
            "lastname": "Quillfeather", "phone": PHONE, "company": "Quillfeather Forges", "jobtitle": "Smith",
            "lifecyclestage": "customer", "hs_email_optout": "false", "address": "77 Wisteria Quay",
            "city": "San Francisco", "zip": "94110", "state": "CA", "country": "United States",
            "date_of_birth": "1984-03-12", "createdate": "2025-01-10T10:00:00.000Z",
            "lastmodifieddate": f"{updated}.000Z", "hs_merged_object_ids": None,
        },
        "createdAt": "2025-01-10T10:00:00.000Z", "updatedAt": f"{updated}.000Z", "archived": False,
    }  # fmt: skip
    _upsert(data / "hubspot" / "contacts.jsonl", hubspot)
    address = {
        "first_name": "Zebulon", "last_name": "Quillfeather", "company": None, "address1": "77 Wisteria Quay",
        "address2": None, "city": "San Francisco", "province": "California", "province_code": "CA",
        "country": "United States", "country_code": "US", "zip": "94110", "phone": PHONE,
        "name": "Zebulon Quillfeather",
    }  # fmt: skip
    customer = json.loads((data / "shopify" / "customers.jsonl").read_text().splitlines()[0])  # a template
    customer.update(
        id=SHOPIFY_ID, email=EMAIL, first_name="Zebulon", last_name="Quillfeather", phone="+14155550199",
        note="Zebulon prefers the side door", created_at="2025-01-10T10:00:00-08:00",
        updated_at=f"{updated}-07:00", orders_count=1, total_spent="120.00",
    )  # fmt: skip
    customer["addresses"] = [{**address, "id": 8299999001, "customer_id": SHOPIFY_ID, "default": True}]
    customer["default_address"] = customer["addresses"][0]
    _upsert(data / "shopify" / "customers.jsonl", customer)
    order = json.loads((data / "shopify" / "orders.jsonl").read_text().splitlines()[0])
    order.update(
        id=ORDER_ID, name="#99001", order_number=99001, email=EMAIL, phone=PHONE,
        created_at="2026-10-18T10:00:00-07:00", updated_at=f"{updated}-07:00",
        processed_at="2026-10-18T10:00:00-07:00", shipping_address=address,
        billing_address=address, refunds=[], note="Leave with Zebulon's neighbour",
        customer={"id": SHOPIFY_ID, "email": EMAIL, "first_name": "Zebulon", "last_name": "Quillfeather"},
    )  # fmt: skip
    for index, item in enumerate(order["line_items"]):
        item["id"] = 13099999001 + index
    _upsert(data / "shopify" / "orders.jsonl", order)
    day = updated[:10]
    context = {
        "ip": "203.0.113.77", "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Quillfeather/1.0",
        "page": {"url": "https://shop.example.com/account?ref=zebulon", "path": "/account", "referrer": "",
                 "title": "Account", "search": "?ref=zebulon"},
        "device": {"type": "desktop"}, "library": {"name": "analytics.js", "version": "2.11.1"},
    }  # fmt: skip
    events = [
        {"messageId": f"quill-identify-{day}", "type": "identify", "anonymousId": ANONYMOUS_ID,
         "userId": str(SHOPIFY_ID), "traits": {"email": EMAIL, "first_name": "Zebulon", "last_name": "Quillfeather",
                                               "phone": PHONE},
         "context": context, "timestamp": f"{updated}.000Z", "sentAt": f"{updated}.100Z",
         "receivedAt": f"{updated}.200Z"},
        # traits with neither email nor phone: only the device id ties them to the person (the Segment
        # person-values lookup holds such a tuple without any id; erasure must still leave none behind)
        {"messageId": f"quill-identify-name-{day}", "type": "identify", "anonymousId": ANONYMOUS_ID,
         "traits": {"first_name": "Zebulon", "last_name": "Quillfeather",
                    "address": {"street": "77 Wisteria Quay", "city": "San Francisco", "postal_code": "94110"}},
         "context": context, "timestamp": f"{updated}.250Z", "sentAt": f"{updated}.260Z",
         "receivedAt": f"{updated}.270Z"},
        {"messageId": f"quill-page-{day}", "type": "page", "name": "Account", "anonymousId": ANONYMOUS_ID,
         "userId": None, "properties": context["page"], "context": context, "timestamp": f"{updated}.300Z",
         "sentAt": f"{updated}.400Z", "receivedAt": f"{updated}.500Z"},
    ]  # fmt: skip
    folder = data / "segment" / day
    folder.mkdir(exist_ok=True)
    with (folder / "events-quill.jsonl").open("a") as out:
        out.writelines(json.dumps(event) + "\n" for event in events)
    crm = data / "csv_contacts" / "legacy_crm"
    header = (crm / "crm_export_20261002.csv").read_text().splitlines()[0]
    (crm / f"crm_export_{day.replace('-', '')}.csv").write_text(
        header + "\nLC-990001,Zebulon,Quillfeather,ZEBULON.QUILLFEATHER@example.org,+14155550199,"
        "77 Wisteria Quay,,San Francisco,94110,CA,USA,03/12/1984,01/10/2025,10/15/2026 10:00,N,"
        "Met Zebulon at the fair\n"
    )


def _text_hits(text: str) -> bool:
    lowered = text.lower()
    digits = "".join(ch for ch in lowered if ch.isdigit())
    return EMAIL in lowered or PHONE_DIGITS in digits or any(needle in lowered for needle in NEEDLES)


def scan_warehouse(path: Path) -> list[str]:
    """Every table and view, every column (as text), searched for the planted person's values."""
    con = duckdb.connect(str(path))
    try:
        con.execute("set variable customer360_erasure_salt = ?", [SALT])  # the activation views need it
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema not in ('information_schema', 'pg_catalog') order by all"
        ).fetchall()
        by_table: dict[tuple[str, str], list[str]] = {}
        for schema, table, column in columns:
            by_table.setdefault((schema, table), []).append(column)
        hits = []
        for (schema, table), names in by_table.items():
            text = " || '\u0001' || ".join(f"""coalesce(cast("{n}" as varchar), '')""" for n in names)
            checks = " or ".join(
                [f"contains(lower(t), '{needle}')" for needle in (EMAIL, *NEEDLES)]
                + [f"contains(regexp_replace(t, '[^0-9]', '', 'g'), '{PHONE_DIGITS}')"]
            )
            found = con.execute(f'select count(*) from (select {text} as t from "{schema}"."{table}") where {checks}')
            if found.fetchone()[0]:
                hits.append(f"{schema}.{table}")
        return hits
    finally:
        con.close()


def scan_files(root: Path) -> list[str]:
    """Every file under the pipelines folder; parquet read through DuckDB, gzip unpacked."""
    hits = []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        if file.suffix == ".parquet":
            con = duckdb.connect()
            rows = con.execute(f"select * from read_parquet('{file}')").fetchall()
            con.close()
            text = "\n".join(" ".join("" if v is None else str(v) for v in row) for row in rows)
        else:
            raw = file.read_bytes()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            text = raw.decode("utf-8", errors="replace")
        if _text_hits(text):
            hits.append(str(file.relative_to(root)))
    return hits


@dataclass
class World:
    data: Path
    warehouse: Path
    pipelines: Path
    tables_before: list[str]
    files_before: list[str]
    erase_exit: int
    build: DbtOutcome | None = None


@pytest.fixture(scope="module")
def erased_world(demo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("erasure")
    data = root / "data"
    shutil.copytree(demo_data, data)
    plant(data)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CUSTOMER360_DUCKDB_PATH", str(root / "warehouse.duckdb"))
        env.setenv("CUSTOMER360_PIPELINES_DIR", str(root / "pipelines"))
        env.setenv("DLT_DATA_DIR", str(root / "dlt_data"))
        env.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        env.setenv("PRIVACY__ERASURE_SALT", SALT)
        # the loaders as before this change: dlt keeps its package files and staging copies
        env.setenv("LOAD__DELETE_COMPLETED_JOBS", "false")
        env.setenv("LOAD__TRUNCATE_STAGING_DATASET", "false")
        with running_servers(data) as servers:
            for name, value in servers.loader_environment().items():
                env.setenv(name, value)
            load("all", data_dir=data)
        assert run_dbt(production_build_args(["build"])).success
        env.delenv("LOAD__DELETE_COMPLETED_JOBS")
        env.delenv("LOAD__TRUNCATE_STAGING_DATASET")
        tables_before = scan_warehouse(root / "warehouse.duckdb")
        files_before = scan_files(root / "pipelines")
        assert main(["erase", "--email", EMAIL.upper(), "--reason", "GDPR art. 17 request #42"]) == 0
        exit_code = main(["erase", "--apply"])
        yield World(data, root / "warehouse.duckdb", root / "pipelines", tables_before, files_before, exit_code)


def test_an_erased_person_is_nowhere_in_the_warehouse_or_the_pipelines_folder(erased_world: World) -> None:
    world = erased_world
    print(f"before: {len(world.tables_before)} tables, {len(world.files_before)} files hold the person")
    # the planted person really was everywhere: every source's raw table, staging copies, marts, snapshots
    for table in ("raw_hubspot.contacts", "raw_hubspot_staging.contacts", "raw_shopify.customers",
                  "raw_shopify.orders", "raw_segment.events", "raw_csv_contacts.legacy_crm", "marts.customers",
                  "snapshots.customers_snapshot", "snapshots.email_consent_snapshot"):  # fmt: skip
        assert table in world.tables_before
    assert world.files_before
    assert world.erase_exit == 0
    assert scan_warehouse(world.warehouse) == []
    assert scan_files(world.pipelines) == []
    con = duckdb.connect(str(world.warehouse))
    try:
        con.execute("set variable customer360_erasure_salt = ?", [SALT])
        requests = con.execute("select * from privacy.erasure_requests").fetchall()
        identifiers = con.execute("select identifier_kind, origin, identifier_hash from privacy.erased_identifiers")
        kinds = identifiers.fetchall()
        audience = con.execute("select count(*) from marts.email_audience").fetchone()[0]
    finally:
        con.close()
    assert len(requests) == 1 and requests[0][2] == "GDPR art. 17 request #42" and requests[0][5] == "applied"
    # the whole cluster was found (HubSpot, Shopify customer and order, Segment device and user, CSV row)
    assert requests[0][8] >= 5
    assert {("email", "requested")} <= {(k, o) for k, o, _ in kinds}
    assert {"record", "customer"} <= {k for k, _, _ in kinds}
    assert all(len(h) == 64 and int(h, 16) >= 0 for _, _, h in kinds)  # hashes only
    assert audience > 0  # everyone else is still there


def test_a_returning_record_of_an_erased_person_is_blocked(erased_world: World) -> None:
    world = erased_world
    plant(world.data, updated="2026-11-01T09:00:00")  # every source sends them again, changed
    with running_servers(world.data) as servers, pytest.MonkeyPatch.context() as env:
        env.setenv("CUSTOMER360_DUCKDB_PATH", str(world.warehouse))
        env.setenv("CUSTOMER360_PIPELINES_DIR", str(world.pipelines))
        env.setenv("PRIVACY__ERASURE_SALT", SALT)
        for name, value in servers.loader_environment().items():
            env.setenv(name, value)
        load("all", data_dir=world.data)
        assert scan_warehouse(world.warehouse) == []
        assert scan_files(world.pipelines) == []
        # the quarantine is rebuilt; the audience is a view over the built marts and the live guards
        assert run_dbt(["build", "--select", "stg_privacy__returning_erased_records+"]).success
    con = duckdb.connect(str(world.warehouse))
    try:
        con.execute("set variable customer360_erasure_salt = ?", [SALT])
        blocked = con.execute(
            "select source_system, source_table, reason from intermediate.int_quality__quarantine "
            "where rule_name = 'erased'"
        ).fetchall()
        audience = con.execute("select count(*) from marts.email_audience where email like '%quillfeather%'")
        in_audience = audience.fetchone()[0]
    finally:
        con.close()
    assert {(s, t) for s, t, _ in blocked} >= {
        ("hubspot", "contacts"), ("shopify", "customers"), ("shopify", "orders"), ("segment", "events"),
        ("csv_contacts", "legacy_crm"),
    }  # fmt: skip
    assert all("erased on request" in reason for _, _, reason in blocked)
    assert in_audience == 0
    assert scan_warehouse(world.warehouse) == []


def test_the_erasure_guard_alone_keeps_an_erased_address_out_of_the_audience(erased_world: World) -> None:
    """A request recorded but not yet applied (every row of the person still in place): the activation
    views already leave them out, through the guard's own read-time hash check; a reader without the salt
    gets an error instead of the audience."""
    con = duckdb.connect(str(erased_world.warehouse))
    try:
        con.execute("set variable customer360_erasure_salt = ?", [SALT])
        email, customer_id = con.execute(
            "select email, customer_id from marts.email_audience order by customer_id limit 1"
        ).fetchone()
    finally:
        con.close()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CUSTOMER360_DUCKDB_PATH", str(erased_world.warehouse))
        env.setenv("PRIVACY__ERASURE_SALT", SALT)
        assert main(["erase", "--email", email, "--reason", "guard test"]) == 0
    con = duckdb.connect(str(erased_world.warehouse))
    try:
        with pytest.raises(duckdb.InvalidInputException, match="PRIVACY__ERASURE_SALT"):
            con.execute("select count(*) from marts.email_audience").fetchone()
        con.execute("set variable customer360_erasure_salt = ?", [SALT])
        still_in_customers = con.execute("select count(*) from marts.customers where customer_id = ?", [customer_id])
        assert still_in_customers.fetchone()[0] == 1  # not applied yet: the person is still everywhere
        in_audience = con.execute("select count(*) from marts.email_audience where customer_id = ?", [customer_id])
        assert in_audience.fetchone()[0] == 0
    finally:
        con.close()
