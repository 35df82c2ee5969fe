"""The demo-data generator: determinism, truth that matches the data, planted defects and only those.

The checks below re-implement the shared normalization conventions (docs/data_contracts.md) on their
own, from the seeds staging reads, without importing the generator's helpers, and scan every generated
file: a defect the generator forgot to list, or noise that accidentally breaks a rule, makes the
detected set differ from ``truth/planted_defects.csv``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT_ROOT

from ingestion.demo_kit.generate import generate
from ingestion.errors import UserError

AS_OF = date(2026, 11, 1)
AS_OF_START = datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC)  # every timestamp is before this

# -- the shared conventions, read from the seeds staging normalizes with (never from the generator) --------


def _seed(name: str) -> list[dict[str, str]]:
    with (PROJECT_ROOT / "seeds" / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


COUNTRY_ALIASES = {row["alias"]: row["iso2"] for row in _seed("country_aliases")}
# the countries whose phone lengths the project pins (the generator's countries)
_PLANS = [row for row in _seed("phone_numbering_plans") if row["length_source"] == "project_convention"]
CALLING_CODE_OF = {row["iso2"]: row["calling_code"] for row in _PLANS}
CALLING_CODES = {
    code: tuple(iso2 for iso2, c in CALLING_CODE_OF.items() if c == code) for code in CALLING_CODE_OF.values()
}
NSN_LENGTHS = {row["iso2"]: set(range(int(row["nsn_min_length"]), int(row["nsn_max_length"]) + 1)) for row in _PLANS}
DOMAIN_FIXES = {row["typo_domain"]: row["corrected_domain"] for row in _seed("email_domain_corrections")}
ROLE_LOCAL_PARTS = {row["local_part"] for row in _seed("role_email_local_parts")}
LIFECYCLE_STAGES = {row["source_value"] for row in _seed("enum_lifecycle_stages")}
FINANCIAL_STATUSES = {row["source_value"] for row in _seed("enum_order_financial_statuses")}
# Shopify sends null, not "unfulfilled", for an order nothing of which has shipped
FULFILLMENT_STATUSES = {None} | {row["source_value"] for row in _seed("enum_order_fulfillment_statuses")}
CONSENT_STATES = {
    row["source_value"] for row in _seed("enum_email_consent_states") if row["source_system"] == "shopify"
}
NICKNAME_OF = {(row["nickname"], row["canonical_given_name"]) for row in _seed("given_name_nicknames")}


def country_iso2(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    iso2 = COUNTRY_ALIASES.get(text.strip().lower())
    assert iso2 is not None, f"country spelling outside the alias seed: {text!r}"
    return iso2


def normalize_email(text: str) -> str:
    value = text.strip().lower()
    value = value.removeprefix("mailto:")
    local, _, domain = value.partition("@")
    return f"{local}@{DOMAIN_FIXES.get(domain, domain)}"


def email_is_valid(text: str) -> bool:
    value = text.strip().lower().removeprefix("mailto:")
    if value.count("@") != 1 or any(ch.isspace() for ch in value):
        return False
    local, domain = value.split("@")
    return bool(local) and "." in domain and re.fullmatch(r"[a-z]{2,}", domain.rsplit(".", 1)[1]) is not None


def phone_e164(text: str, record_country: str | None) -> str | None:
    """E.164 per the conventions, or None when the value is invalid."""
    value = text.strip()
    if re.search(r"[A-Za-z]", value):
        return None
    if value.startswith(("+", "00")):
        digits = re.sub(r"\D", "", value.replace("(0)", ""))
        if value.startswith("00"):
            digits = digits[2:]
        for code, countries in CALLING_CODES.items():
            if digits.startswith(code):
                nsn = digits[len(code) :]
                return f"+{code}{nsn}" if any(len(nsn) in NSN_LENGTHS[c] for c in countries) else None
        return None
    digits = re.sub(r"\D", "", value)
    if len(digits) < 7:
        return None
    country = record_country or "US"
    if country in ("US", "CA"):
        if len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]
    elif digits.startswith("0"):
        digits = digits[1:]
    return f"+{CALLING_CODE_OF[country]}{digits}" if len(digits) in NSN_LENGTHS[country] else None


def date_rule(text: str, us_format: bool) -> str | None:
    """The quarantine rule a date of birth breaks, if any."""
    try:
        value = datetime.strptime(text, "%m/%d/%Y").date() if us_format else date.fromisoformat(text)
    except ValueError:
        return "invalid_date"
    if value >= date(AS_OF.year + 2, AS_OF.month, AS_OF.day):
        return "future_date"
    if value < date(1900, 1, 1):
        return "date_before_1900"
    return None


def timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def cents(text: str) -> int:
    return int(Decimal(text) * 100)


# -- reading a generated folder ---------------------------------------------------------------------------
@dataclass
class Data:
    root: Path
    contacts: list[dict[str, Any]] = field(default_factory=list)
    archived: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    messages: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)  # (relative path, line, message)
    broken_lines: list[tuple[str, int, str]] = field(default_factory=list)
    csv_rows: list[tuple[str, str, int, dict[str, str]]] = field(default_factory=list)  # (drop, file, row, canonical)
    csv_broken: list[tuple[str, str, int, str]] = field(default_factory=list)
    truth: list[dict[str, str]] = field(default_factory=list)
    planted: list[dict[str, str]] = field(default_factory=list)
    people: dict[str, dict[str, str]] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _csv_dicts(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def read(root: Path) -> Data:
    data = Data(root)
    data.contacts = _jsonl(root / "hubspot/contacts.jsonl")
    data.archived = _jsonl(root / "hubspot/contacts_archived.jsonl")
    data.customers = _jsonl(root / "shopify/customers.jsonl")
    data.orders = _jsonl(root / "shopify/orders.jsonl")
    data.products = _jsonl(root / "shopify/products.jsonl")
    for path in sorted((root / "segment").glob("*/*.jsonl")):
        relative = path.relative_to(root / "segment").as_posix()
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                text = line.rstrip("\n")
                try:
                    data.messages.append((relative, number, json.loads(text)))
                except json.JSONDecodeError:
                    data.broken_lines.append((relative, number, text))
    for drop_folder in sorted((root / "csv_contacts").iterdir()):
        mapping = json.loads((drop_folder / "mapping.json").read_text(encoding="utf-8"))
        for path in sorted(drop_folder.glob("*.csv")):
            # utf-8-sig: a spreadsheet export may start with a byte order mark.
            lines = path.read_text(encoding="utf-8-sig").split("\n")
            assert lines[-1] == "", f"{path.name} does not end with a newline"
            header = next(csv.reader([lines[0]]))
            for number, line in enumerate(lines[1:-1], start=1):
                fields = next(csv.reader([line]))
                if len(fields) != len(header):
                    data.csv_broken.append((drop_folder.name, path.name, number, line))
                    continue
                row = dict(zip(header, fields, strict=True))
                # by header, and by each canonical field a header feeds (one, or a list of them)
                canonical = dict(row)
                for column, value in row.items():
                    targets = mapping.get(column, [])
                    canonical.update(dict.fromkeys([targets] if isinstance(targets, str) else targets, value))
                data.csv_rows.append((drop_folder.name, path.name, number, canonical))
    data.truth = _csv_dicts(root / "truth/source_records.csv")
    data.planted = _csv_dicts(root / "truth/planted_defects.csv")
    data.people = {row["entity_id"]: row for row in _csv_dicts(root / "truth/people.csv")}
    data.manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    return data


def detect_defects(data: Data) -> dict[tuple[str, str, str, str], str]:
    """Every rule violation in the data: (source_system, table, record_key, rule) -> offending raw value."""
    found: dict[tuple[str, str, str, str], str] = {}
    two_years = datetime(AS_OF.year + 2, AS_OF.month, AS_OF.day, tzinfo=UTC)

    for contact in data.contacts + data.archived:
        props, key = contact["properties"], contact["id"]
        country = country_iso2(props["country"])
        if props["email"] is not None and not email_is_valid(props["email"]):
            found[("hubspot", "contacts", key, "invalid_email")] = props["email"]
        if props["phone"] is not None and phone_e164(props["phone"], country) is None:
            found[("hubspot", "contacts", key, "invalid_phone")] = props["phone"]
        if props["date_of_birth"] is not None and (rule := date_rule(props["date_of_birth"], us_format=False)):
            found[("hubspot", "contacts", key, rule)] = props["date_of_birth"]
        if timestamp(props["createdate"]) >= two_years:
            found[("hubspot", "contacts", key, "future_date")] = props["createdate"]
        if props["lifecyclestage"] not in LIFECYCLE_STAGES:
            found[("hubspot", "contacts", key, "unknown_enum")] = props["lifecyclestage"]

    for customer in data.customers:
        key = str(customer["id"])
        if customer["email"] is not None and not email_is_valid(customer["email"]):
            found[("shopify", "customers", key, "invalid_email")] = customer["email"]
        if timestamp(customer["created_at"]) >= two_years:
            found[("shopify", "customers", key, "future_date")] = customer["created_at"]
    for order in data.orders:
        key = str(order["id"])
        gross = 0
        for item in order["line_items"]:
            if cents(item["price"]) < 0:
                found[("shopify", "orders__line_items", str(item["id"]), "negative_amount")] = item["price"]
            gross += cents(item["price"]) * item["quantity"]
        if cents(order["total_price"]) < 0:
            found[("shopify", "orders", key, "negative_amount")] = order["total_price"]
        shipping = cents(order["total_shipping_price_set"]["shop_money"]["amount"])
        subtotal_ok = cents(order["subtotal_price"]) == gross - cents(order["total_discounts"])
        total = cents(order["subtotal_price"]) + cents(order["total_tax"]) + shipping
        if not subtotal_ok or abs(cents(order["total_price"]) - total) > 1:
            found[("shopify", "orders", key, "order_total_mismatch")] = order["total_price"]
        if order["financial_status"] not in FINANCIAL_STATUSES:
            found[("shopify", "orders", key, "unknown_enum")] = order["financial_status"]

    for relative, number, line in data.broken_lines:
        found[("segment", "rejected_events", f"{relative}:{number}", "broken_json")] = line
    for _, _, message in data.messages:
        if message["type"] == "track" and not message.get("event"):
            found[("segment", "events", message["messageId"], "missing_required_key")] = ""
        if message.get("anonymousId") is None and message.get("userId") is None:
            found[("segment", "events", message["messageId"], "missing_identity")] = ""

    for drop, file_name, number, line in data.csv_broken:
        found[(drop, "rejected_rows", f"{file_name}:{number}", "broken_csv_row")] = line
    for drop, file_name, number, row in data.csv_rows:
        key = row["contact_id"] or f"{file_name}:{number}"
        if not row["contact_id"]:
            found[(drop, drop, key, "missing_required_key")] = ""
        if row["email"] and not email_is_valid(row["email"]):
            found[(drop, drop, key, "invalid_email")] = row["email"]
        if row["phone"] and phone_e164(row["phone"], country_iso2(row["country"])) is None:
            found[(drop, drop, key, "invalid_phone")] = row["phone"]
        if row["date_of_birth"] and (rule := date_rule(row["date_of_birth"], us_format=drop == "legacy_crm")):
            found[(drop, drop, key, rule)] = row["date_of_birth"]
    return found


PERSON_TRAITS = ("email", "phone", "first_name", "firstName", "last_name", "lastName", "birthday", "address")


def source_records_in_data(data: Data) -> set[tuple[str, str]]:
    """The source records the contract defines, derived from the files alone."""
    records = {("hubspot", c["id"]) for c in data.contacts + data.archived}
    records |= {("shopify", f"customer:{c['id']}") for c in data.customers}
    records |= {("shopify", f"order:{o['id']}") for o in data.orders if o["customer"] is None}
    with_anonymous: set[str] = set()
    users: set[str] = set()
    for _, _, message in data.messages:
        # A device is a source record only once one of its messages carries an identity signal
        # (docs/data_contracts.md, Truth): a userId, an identify with a person trait, an Order Completed
        # with its order id, or an email event with an address. Written out here, not imported, so the
        # test checks the generator against the contract rather than against itself.
        if message["anonymousId"] is not None and (
            message["userId"] is not None
            or (message["type"] == "identify" and any(message["traits"].get(k) for k in PERSON_TRAITS))
            or (message.get("event") == "Order Completed" and message["properties"].get("order_id"))
            or (
                message.get("event") in ("Email Unsubscribed", "Email Bounced")
                and message["properties"].get("email_address")
            )
        ):
            records.add(("segment", f"anonymous:{message['anonymousId']}"))
        if message["anonymousId"] is not None and message["userId"] is not None:
            with_anonymous.add(message["userId"])
        if message["userId"] is not None:
            users.add(message["userId"])
    records |= {("segment", f"user:{user}") for user in users - with_anonymous}
    records |= {(drop, row["contact_id"]) for drop, _, _, row in data.csv_rows if row["contact_id"]}
    return records


@pytest.fixture(scope="module")
def demo(demo_data: Path) -> Data:
    return read(demo_data)


@pytest.fixture(scope="module")
def larger(tmp_path_factory: pytest.TempPathFactory) -> Data:
    """2,000 people: enough for every kind of noise to show up and for coverage shares to settle."""
    out = tmp_path_factory.mktemp("generated_2000")
    generate(out, customers=2000, seed=11, as_of=AS_OF, progress=False)
    return read(out)


def truth_map(data: Data) -> dict[tuple[str, str], str]:
    return {(row["source_system"], row["source_record_id"]): row["entity_id"] for row in data.truth}


# -- determinism ---------------------------------------------------------------------------------------------
def _file_bytes(root: Path) -> dict[str, bytes]:
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    manifest = json.loads(files.pop("manifest.json"))
    manifest.pop("out")
    files["manifest.json"] = json.dumps(manifest, sort_keys=True).encode()
    return files


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first = _file_bytes(_generate(tmp_path / "a", seed=7))
    # The second run is another process with another hash seed: set or dict-of-hash ordering would show.
    script = (
        "import sys; from datetime import date; from pathlib import Path; "
        "from ingestion.demo_kit.generate import generate; "
        "generate(Path(sys.argv[1]), customers=300, seed=7, as_of=date(2026, 11, 1), progress=False)"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "b")],
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    second = _file_bytes(tmp_path / "b")
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    other = _file_bytes(_generate(tmp_path / "c", seed=8))
    assert other["hubspot/contacts.jsonl"] != first["hubspot/contacts.jsonl"]
    assert other["truth/source_records.csv"] != first["truth/source_records.csv"]
    assert other.keys() - {name for name in other if name.startswith("segment/")} == first.keys() - {
        name for name in first if name.startswith("segment/")
    }


def _generate(out: Path, seed: int = 7, customers: int = 300, **options: Any) -> Path:
    generate(out, customers=customers, seed=seed, as_of=AS_OF, progress=False, **options)
    return out


def test_chunk_size_does_not_change_the_data(tmp_path: Path) -> None:
    whole = _generate(tmp_path / "whole")
    chunked = _generate(tmp_path / "chunked", chunk_size=40)  # 8 chunks
    whole_files, chunked_files = _file_bytes(whole), _file_bytes(chunked)
    for name, content in whole_files.items():
        if name.startswith("segment/") or name in ("manifest.json", "truth/planted_defects.csv"):
            continue
        assert chunked_files.get(name) == content, name
    # Segment files are per chunk: concatenated in chunk order they are the single-chunk file.
    days = sorted(p.name for p in (whole / "segment").iterdir())
    assert days == sorted(p.name for p in (chunked / "segment").iterdir())
    for day in days:
        joined = b"".join(p.read_bytes() for p in sorted((chunked / "segment" / day).glob("events-*.jsonl")))
        assert joined == (whole / "segment" / day / "events-0000.jsonl").read_bytes(), day
    # Planted defects only differ in the Segment file name of broken lines.
    strip = re.compile(r"events-\d{4}\.jsonl:\d+")
    assert Counter(
        strip.sub("", line) for line in whole_files["truth/planted_defects.csv"].decode().splitlines()
    ) == Counter(strip.sub("", line) for line in chunked_files["truth/planted_defects.csv"].decode().splitlines())


# -- truth ---------------------------------------------------------------------------------------------------
def test_every_source_record_in_truth_is_in_the_data_and_vice_versa(demo: Data) -> None:
    truth_keys = [(row["source_system"], row["source_record_id"]) for row in demo.truth]
    assert len(truth_keys) == len(set(truth_keys)), "a source record is listed twice in truth"
    assert set(truth_keys) == source_records_in_data(demo)
    # Devices that only browsed are in the data but describe no person: not in the truth.
    devices = {f"anonymous:{m['anonymousId']}" for _, _, m in demo.messages if m["anonymousId"] is not None}
    browse_only = devices - {record for system, record in truth_keys if system == "segment"}
    assert len(browse_only) > 0.05 * len(devices)
    systems = Counter(system for system, _ in truth_keys)
    assert set(systems) == {"hubspot", "shopify", "segment", "legacy_crm", "signup_forms"}
    assert {row["entity_id"] for row in demo.truth} <= set(demo.people)


def test_truth_agrees_with_the_links_inside_the_data(larger: Data) -> None:
    truth = truth_map(larger)
    orders = {str(o["id"]): o for o in larger.orders}
    linked_devices = completed = 0
    for _, _, message in larger.messages:
        anonymous, user = message["anonymousId"], message["userId"]
        if anonymous is not None and user is not None:
            # identify/logged-in messages link a device to a Shopify customer: the same person.
            assert truth[("segment", f"anonymous:{anonymous}")] == truth[("shopify", f"customer:{user}")]
            linked_devices += 1
        if message.get("event") == "Order Completed":
            order = orders[message["properties"]["order_id"]]
            order_record = f"customer:{order['customer']['id']}" if order["customer"] else f"order:{order['id']}"
            identity = f"anonymous:{anonymous}" if anonymous else f"user:{user}"
            entity = truth.get(("segment", identity)) or truth[("shopify", f"customer:{user}")]
            assert entity == truth[("shopify", order_record)]
            completed += 1
    assert linked_devices > 100 and completed > 20
    merged = 0
    for contact in larger.contacts:
        merged_ids = contact["properties"]["hs_merged_object_ids"]
        for merged_id in merged_ids.split(";") if merged_ids else []:
            assert truth[("hubspot", merged_id)] == truth[("hubspot", contact["id"])]
            merged += 1
    assert {c["id"] for c in larger.archived} == {
        i for c in larger.contacts for i in (c["properties"]["hs_merged_object_ids"] or "").split(";") if i
    }
    assert all(c["archived"] is True and c["archivedAt"] for c in larger.archived)
    assert merged >= 10


def test_people_truth_is_clean_and_unique(larger: Data) -> None:
    people = [p for p in larger.people.values() if p["is_anonymous_visitor"] == "false"]
    visitors = [p for p in larger.people.values() if p["is_anonymous_visitor"] == "true"]
    assert len(people) == 2000 and len(visitors) == 400
    assert all(email_is_valid(p["email"]) and p["email"] == p["email"].strip().lower() for p in people)
    assert len({p["email"] for p in people}) == len(people)
    assert all(phone_e164(p["phone"], None) == p["phone"] for p in people)
    assert len({p["phone"] for p in people}) == len(people)
    assert all(date(1940, 1, 1) <= date.fromisoformat(p["date_of_birth"]) <= date(2006, 12, 31) for p in people)
    shares = Counter(p["country"] for p in people)
    assert 0.48 < shares["US"] / len(people) < 0.62 and 0.08 < shares["GB"] / len(people) < 0.16
    assert set(shares) == {"US", "GB", "CA", "DE", "FR", "AU", "NL"}
    # Visitors only browse: no device of theirs carries an identity signal, so they have no source record.
    truth_systems = defaultdict(set)
    for row in larger.truth:
        truth_systems[row["entity_id"]].add(row["source_system"])
    assert all(not truth_systems[v["entity_id"]] for v in visitors)


def test_coverage_per_source_is_near_the_configured_shares(larger: Data) -> None:
    people = 2000
    covered: dict[str, set[str]] = defaultdict(set)
    for row in larger.truth:
        if row["entity_id"].startswith("P"):
            system = row["source_system"]
            if system == "shopify":
                system = "shopify_account" if row["source_record_id"].startswith("customer:") else "shopify_guest"
            covered[system].add(row["entity_id"])
    guest_only = covered["shopify_guest"] - covered["shopify_account"]
    assert 0.50 < len(covered["hubspot"]) / people < 0.62
    assert 0.40 < len(covered["shopify_account"]) / people < 0.52
    assert 0.07 < len(guest_only) / people < 0.14
    # P_SEGMENT (65%) of people browse; a person has a Segment source record only once a device of theirs
    # carries an identity signal (login, identify, order or email event): about 80% of those.
    assert 0.46 < len(covered["segment"]) / people < 0.60
    assert 0.25 < len(covered["legacy_crm"]) / people < 0.36
    assert 0.16 < len(covered["signup_forms"]) / people < 0.25


# -- planted defects -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["demo", "larger"])
def test_planted_defects_are_exactly_the_rule_violations_in_the_data(
    which: str, request: pytest.FixtureRequest
) -> None:
    data: Data = request.getfixturevalue(which)
    found = detect_defects(data)
    planted = {(r["source_system"], r["table"], r["record_key"], r["rule"]): r["offending_value"] for r in data.planted}
    assert len(planted) == len(data.planted), "a planted defect is listed twice"
    assert sorted(set(found) - set(planted)) == [], "noise produced an unplanted defect"
    assert sorted(set(planted) - set(found)) == [], "a planted defect is not in the data"
    assert {key: value for key, value in found.items()} == planted, "offending values differ from the data"


def test_every_rule_is_planted_even_at_300_people_at_a_low_rate(demo: Data, larger: Data) -> None:
    rules = {
        "invalid_email",
        "invalid_phone",
        "invalid_date",
        "future_date",
        "date_before_1900",
        "negative_amount",
        "order_total_mismatch",
        "missing_required_key",
        "unknown_enum",
        "missing_identity",
        "broken_json",
        "broken_csv_row",
    }
    assert {row["rule"] for row in demo.planted} == rules
    per_source = Counter((row["source_system"], row["rule"]) for row in demo.planted)
    assert per_source[("legacy_crm", "broken_csv_row")] >= 1 and per_source[("signup_forms", "broken_csv_row")] >= 1
    records = len(larger.truth) + len(larger.orders) + sum(len(o["line_items"]) for o in larger.orders)
    assert 0.005 < len(larger.planted) / records < 0.03
    assert 3 <= len(larger.planted) / 27 / 2 <= 6, "each kind a handful of times per 1,000 people"


def test_records_with_planted_defects_are_still_source_records(demo: Data) -> None:
    truth = truth_map(demo)
    for row in demo.planted:
        system, table, key = row["source_system"], row["table"], row["record_key"]
        if table == "contacts":
            assert (system, key) in truth
        elif table == "customers":
            assert (system, f"customer:{key}") in truth
        elif system in ("legacy_crm", "signup_forms") and table == system and ":" not in key:
            assert (system, key) in truth


def test_order_totals_are_consistent_except_planted_mismatches(larger: Data) -> None:
    mismatched = {r["record_key"] for r in larger.planted if r["rule"] == "order_total_mismatch"}
    checked = refunds = discounted = 0
    for order in larger.orders:
        gross = sum(cents(i["price"]) * i["quantity"] for i in order["line_items"])
        assert cents(order["total_line_items_price"]) == gross
        subtotal = gross - cents(order["total_discounts"])
        total = subtotal + cents(order["total_tax"]) + cents(order["total_shipping_price_set"]["shop_money"]["amount"])
        if str(order["id"]) in mismatched:
            assert abs(cents(order["total_price"]) - total) > 1
            continue
        assert cents(order["subtotal_price"]) == subtotal and cents(order["total_price"]) == total
        assert all(cents(order[f]) >= 0 for f in ("subtotal_price", "total_tax", "total_discounts", "total_price"))
        assert order["fulfillment_status"] in FULFILLMENT_STATUSES
        line_ids = {i["id"]: i for i in order["line_items"]}
        refunded_total = 0
        for refund in order["refunds"]:
            refunds += 1
            amount = 0
            for item in refund["refund_line_items"]:
                line = line_ids[item["line_item_id"]]
                assert 1 <= item["quantity"] <= line["quantity"]
                undiscounted = cents(line["price"]) * item["quantity"]
                # A refund returns what was paid: the line's price less its share of the order discount.
                share = -(-undiscounted * cents(order["total_discounts"]) // gross)  # rounded up
                assert cents(item["subtotal"]) == undiscounted - share
                amount += cents(item["subtotal"])
            assert [cents(t["amount"]) for t in refund["transactions"]] == [amount]
            assert order["financial_status"] in ("refunded", "partially_refunded")
            refunded_total += amount
        assert refunded_total <= subtotal, f"order {order['id']} refunds more than was paid"
        discounted += order["total_discounts"] != "0.00"
        checked += 1
    assert checked > 1000 and 0.02 < refunds / checked < 0.09 and discounted > 100


# -- realistic noise that stays recoverable -------------------------------------------------------------------
def _all_emails(data: Data) -> list[tuple[str, str]]:
    """(entity_id, raw email) of every email in every source."""
    truth = truth_map(data)
    out = []
    for contact in data.contacts + data.archived:
        if contact["properties"]["email"]:
            out.append((truth[("hubspot", contact["id"])], contact["properties"]["email"]))
    for customer in data.customers:
        out.append((truth[("shopify", f"customer:{customer['id']}")], customer["email"]))
    for order in data.orders:
        record = f"customer:{order['customer']['id']}" if order["customer"] else f"order:{order['id']}"
        out.append((truth[("shopify", record)], order["email"]))
    for _, _, message in data.messages:
        if message["type"] == "identify" and message["anonymousId"]:
            out.append((truth[("segment", f"anonymous:{message['anonymousId']}")], message["traits"]["email"]))
    for drop, _, _, row in data.csv_rows:
        if row["contact_id"] and row["email"]:
            out.append((truth[(drop, row["contact_id"])], row["email"]))
    return out


def test_an_email_is_only_shared_by_different_people_when_it_is_a_role_address(larger: Data) -> None:
    planted = {r["offending_value"] for r in larger.planted if r["rule"] == "invalid_email"}
    owners: dict[str, set[str]] = defaultdict(set)
    for entity, raw in _all_emails(larger):
        if raw not in planted:
            owners[normalize_email(raw)].add(entity)
    shared = {email: who for email, who in owners.items() if len(who) > 1}
    assert shared, "role addresses shared by colleagues are missing"
    assert all(email.split("@")[0] in ROLE_LOCAL_PARTS for email in shared), sorted(shared)[:5]
    # The role addresses live in HubSpot, where several people at one company share them.
    role_contacts = [
        c
        for c in larger.contacts
        if (c["properties"]["email"] or "@").split("@")[0].strip().lower() in ROLE_LOCAL_PARTS
    ]
    assert len(role_contacts) >= 10


def test_email_noise_is_present_and_normalizes_back_to_a_known_address(larger: Data) -> None:
    planted = {r["offending_value"] for r in larger.planted if r["rule"] == "invalid_email"}
    raws = [raw for _, raw in _all_emails(larger) if raw not in planted]
    assert all(email_is_valid(raw) for raw in raws)
    assert sum(raw.strip().lower().startswith("mailto:") for raw in raws) >= 5
    assert sum(raw != raw.strip() for raw in raws) >= 10
    assert sum(raw.strip() != raw.strip().lower() and not raw.strip().startswith("mailto") for raw in raws) >= 20
    typo_domains = Counter(
        raw.strip().lower().rsplit("@", 1)[1] for raw in raws if raw.strip().lower().rsplit("@", 1)[1] in DOMAIN_FIXES
    )
    assert len(typo_domains) >= 8
    assert sum("+" in raw.split("@")[0] for raw in raws) >= 20
    changed = 0
    truth_emails = {p["entity_id"]: p["email"] for p in larger.people.values()}
    for entity, raw in _all_emails(larger):
        email = normalize_email(raw).split("+")[0] + "@" + normalize_email(raw).split("@")[1]
        if raw not in planted and email.split("@")[0] not in ROLE_LOCAL_PARTS and email != truth_emails[entity]:
            changed += 1  # an old address, a second account's or a guest's new one: same person, other email
    assert changed >= 100


def test_guest_checkouts_use_known_and_new_emails_and_second_accounts_exist(larger: Data) -> None:
    truth = truth_map(larger)
    truth_emails = {p["entity_id"]: p["email"] for p in larger.people.values()}
    guests = [o for o in larger.orders if o["customer"] is None]
    assert 0.04 < len(guests) / len(larger.orders) < 0.25
    known = new = 0
    for order in guests:
        email = normalize_email(order["email"])
        local, domain = email.split("@")
        email = f"{local.split('+')[0]}@{domain}"
        entity = truth[("shopify", f"order:{order['id']}")]
        if email == truth_emails[entity]:
            known += 1
        else:
            new += 1
    assert known >= 20 and new >= 20
    accounts = Counter(truth[("shopify", f"customer:{c['id']}")] for c in larger.customers)
    assert 10 <= sum(1 for n in accounts.values() if n > 1) <= 60  # ~3% of account holders


def test_duplicates_inside_one_system(larger: Data) -> None:
    truth = truth_map(larger)
    hubspot = Counter(truth[("hubspot", c["id"])] for c in larger.contacts)
    hubspot_people = len(hubspot)
    assert 0.02 < sum(1 for n in hubspot.values() if n > 1) / hubspot_people < 0.07
    legacy_files = defaultdict(set)
    changed_between_exports = 0
    last_seen: dict[str, dict[str, str]] = {}
    for drop, file_name, _, row in larger.csv_rows:
        if drop == "legacy_crm" and row["contact_id"]:
            legacy_files[row["contact_id"]].add(file_name)
            previous = last_seen.get(row["contact_id"])
            if previous and previous["address_line1"] != row["address_line1"]:
                changed_between_exports += 1
            last_seen[row["contact_id"]] = row
    assert sum(1 for files in legacy_files.values() if len(files) > 1) > 100
    assert changed_between_exports >= 3, "moves between exports should show in later exports"
    signup = Counter(
        truth[(drop, row["contact_id"])]
        for drop, _, _, row in larger.csv_rows
        if drop == "signup_forms" and row["contact_id"]
    )
    assert sum(1 for n in signup.values() if n > 1) >= 20


def test_name_noise_is_recoverable(larger: Data) -> None:
    truth = truth_map(larger)
    first_names = []
    for contact in larger.contacts:
        if contact["properties"]["firstname"]:
            first_names.append((truth[("hubspot", contact["id"])], contact["properties"]["firstname"]))
    for drop, _, _, row in larger.csv_rows:
        if row["contact_id"] and row["first_name"]:
            first_names.append((truth[(drop, row["contact_id"])], row["first_name"]))
    nicknamed = cased = spaced = folded = 0
    for entity, written in first_names:
        true_name = larger.people[entity]["first_name"]
        clean = " ".join(written.split())
        if (clean.lower(), true_name.lower()) in NICKNAME_OF:
            nicknamed += 1
        elif clean.lower() != true_name.lower():
            folded += 1
            assert not clean.isascii() or not true_name.isascii(), (written, true_name)
        if clean not in (true_name, clean.title()) or clean.isupper() or clean.islower():
            cased += 1
        spaced += written != clean
    assert nicknamed >= 30 and cased >= 20 and spaced >= 10 and folded >= 10


def test_phones_use_many_formats_and_shared_numbers_belong_to_one_household(larger: Data) -> None:
    truth = truth_map(larger)
    planted = {r["offending_value"] for r in larger.planted if r["rule"] == "invalid_phone"}
    owners: dict[str, set[str]] = defaultdict(set)
    shapes: set[str] = set()
    for contact in larger.contacts + larger.archived:
        raw = contact["properties"]["phone"]
        if raw and raw not in planted:
            e164 = phone_e164(raw, country_iso2(contact["properties"]["country"]))
            assert e164 is not None, raw
            owners[e164].add(truth[("hubspot", contact["id"])])
            shapes.add(re.sub(r"\d", "9", raw))
    for drop, _, _, row in larger.csv_rows:
        if row["contact_id"] and row["phone"] and row["phone"] not in planted:
            e164 = phone_e164(row["phone"], country_iso2(row["country"]))
            assert e164 is not None, row["phone"]
            owners[e164].add(truth[(drop, row["contact_id"])])
            shapes.add(re.sub(r"\d", "9", row["phone"]))
    assert len(shapes) >= 25
    # Digits masked as 9: US national, GB mobile international, DE landline national, FR international, 00-prefix.
    assert {
        "(999) 999-9999",
        "999.999.9999",
        "+99 9999 999999",
        "999 99999999",
        "+99 9 99 99 99 99",
        "+99 (9)9999 999999",
        "9999 9999 999999",
    } <= shapes
    shared = {phone: who for phone, who in owners.items() if len(who) > 1}
    assert len(shared) >= 10, "households sharing a home phone are missing"
    for phone, who in shared.items():
        households = {larger.people[entity]["household_id"] for entity in who}
        assert len(households) == 1, (phone, who)
        assert all(larger.people[entity]["phone"] != phone for entity in who), "a shared phone must be the landline"
    # Households share an address too, while staying different entities.
    by_household = Counter(p["household_id"] for p in larger.people.values() if p["household_id"])
    assert sum(1 for n in by_household.values() if n > 1) > 150


def test_countries_use_only_the_alias_seed_spellings_and_vary(larger: Data) -> None:
    spellings = Counter()
    for contact in larger.contacts:
        if contact["properties"]["country"]:
            spellings[contact["properties"]["country"]] += 1
    for _, _, _, row in larger.csv_rows:
        if row["country"]:
            spellings[row["country"]] += 1
    assert all(country_iso2(s) for s in spellings)
    assert len(spellings) >= 40  # case, whitespace and alias variants


def test_unsubscribes_show_in_every_source(larger: Data) -> None:
    assert sum(c["properties"]["hs_email_optout"] == "true" for c in larger.contacts) >= 20
    states = Counter(c["email_marketing_consent"]["state"] for c in larger.customers)
    assert set(states) <= CONSENT_STATES and states["unsubscribed"] >= 10
    events = Counter(m.get("event") for _, _, m in larger.messages)
    assert events["Email Unsubscribed"] >= 3 and events["Email Bounced"] >= 1
    assert all(
        "email_address" in m["properties"]
        for _, _, m in larger.messages
        if m.get("event") in ("Email Unsubscribed", "Email Bounced")
    )
    assert sum(row.get("Opt Out") == "Y" for drop, _, _, row in larger.csv_rows if drop == "legacy_crm") >= 10
    opt_ins = {row["marketing_opt_in"] for drop, _, _, row in larger.csv_rows if drop == "signup_forms"}
    assert opt_ins == {"yes", "no", "true", "false", "1", "0"}


# -- Segment -------------------------------------------------------------------------------------------------
def test_segment_files_cover_the_window_and_arrive_late_or_twice(larger: Data) -> None:
    window_start = AS_OF_START - timedelta(days=60)
    end = AS_OF_START
    late = 0
    seen: dict[str, dict[str, Any]] = {}
    redelivered = 0
    for relative, _, message in larger.messages:
        folder = relative.split("/")[0]
        received, sent, happened = (timestamp(message[k]) for k in ("receivedAt", "sentAt", "timestamp"))
        assert f"{received:%Y-%m-%d}" == folder
        assert window_start <= happened <= sent <= received < end
        late += f"{happened:%Y-%m-%d}" < folder
        if message["messageId"] in seen:
            redelivered += 1
            first = dict(seen[message["messageId"]])
            again = dict(message)
            assert first.pop("receivedAt") <= again.pop("receivedAt") and first == again
        seen[message["messageId"]] = message
    assert late >= 50 and redelivered >= 20
    assert len({relative.split("/")[0] for relative, _, _ in larger.messages}) == 60
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}/events-0000\.jsonl", relative) for relative, _, _ in larger.messages)


def test_segment_event_shapes_and_volume(larger: Data) -> None:
    truth = truth_map(larger)
    events = Counter(m.get("event") or m["type"] for _, _, m in larger.messages)
    for name in ("page", "identify", "Product Viewed", "Product Added", "Checkout Started", "Order Completed"):
        assert events[name] > 50, name
    per_entity = Counter()
    for _, _, message in larger.messages:
        identity = (
            f"anonymous:{message['anonymousId']}"
            if message["anonymousId"]
            else f"user:{message['userId']}"
            if message["userId"]
            else None
        )
        if identity and ("segment", identity) in truth:
            per_entity[truth[("segment", identity)]] += 1
    people_counts = [n for entity, n in per_entity.items() if entity.startswith("P")]
    assert 10 <= sum(people_counts) / len(people_counts) <= 30
    device_types = {m["context"]["device"]["type"] for _, _, m in larger.messages if "device" in m["context"]}
    assert {t.lower() for t in device_types} == {"desktop", "mobile", "tablet"} and len(device_types) > 3
    for _, _, message in larger.messages:
        if message.get("event") in ("Product Viewed", "Product Added", "Checkout Started"):
            assert {"product_id", "sku", "category", "price"} <= set(message["properties"])
        if message.get("event") in ("Product Added", "Checkout Started"):
            assert message["properties"]["cart_id"].startswith("cart_")
    carts_completed = {
        m["properties"]["checkout_id"] for _, _, m in larger.messages if m.get("event") == "Order Completed"
    }
    abandoned = {
        m["properties"]["cart_id"] for _, _, m in larger.messages if m.get("event") == "Checkout Started"
    } - carts_completed
    assert len(abandoned) > 50
    campaigns = [m for _, _, m in larger.messages if "campaign" in m["context"]]
    assert campaigns and all(
        "utm_source=" in m["context"]["page"]["search"]
        for m in campaigns
        if m["type"] == "page" and m["properties"]["path"] == "/"
    )
    # Identify with email only (no userId), and users only ever seen server side.
    assert any(m["type"] == "identify" and m["userId"] is None for _, _, m in larger.messages)
    assert any(row["source_record_id"].startswith("user:") for row in larger.truth)


def test_orders_in_the_window_have_an_order_completed_event(larger: Data) -> None:
    truth = truth_map(larger)
    window_start = AS_OF_START - timedelta(days=60)
    segment_entities = {row["entity_id"] for row in larger.truth if row["source_system"] == "segment"}
    completed = {m["properties"]["order_id"] for _, _, m in larger.messages if m.get("event") == "Order Completed"}
    expected = set()
    for order in larger.orders:
        record = f"customer:{order['customer']['id']}" if order["customer"] else f"order:{order['id']}"
        if (
            timestamp(order["created_at"]) >= window_start + timedelta(hours=1)
            and truth[("shopify", record)] in segment_entities
        ):
            expected.add(str(order["id"]))
    assert expected and expected <= completed


# -- shapes of the other sources -----------------------------------------------------------------------------
def test_hubspot_properties_document_covers_every_property(demo: Data) -> None:
    document = json.loads((demo.root / "hubspot/properties.json").read_text(encoding="utf-8"))
    names = {p["name"] for p in document["results"]}
    assert all(
        {"name", "label", "type", "fieldType", "groupName", "description"} <= set(p) for p in document["results"]
    )
    written = {name for c in demo.contacts + demo.archived for name in c["properties"]}
    assert written == names
    for contact in demo.contacts:
        assert all(v is None or isinstance(v, str) for v in contact["properties"].values())
        assert contact["archived"] is False and contact["properties"]["hs_object_id"] == contact["id"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", contact["updatedAt"])


def test_timestamps_fall_in_the_three_years_before_as_of(larger: Data) -> None:
    end = AS_OF_START
    start = end - timedelta(days=3 * 365)
    future = {r["offending_value"] for r in larger.planted if r["rule"] == "future_date"}
    stamps = []
    for contact in larger.contacts + larger.archived:
        stamps += [contact["properties"]["createdate"], contact["updatedAt"]]
    for customer in larger.customers:
        stamps += [customer["created_at"], customer["updated_at"]]
    for order in larger.orders:
        stamps += [order["created_at"], order["updated_at"]] + [r["created_at"] for r in order["refunds"]]
    for product in larger.products:
        stamps += [product["created_at"], product["updated_at"]]
    assert all(re.search(r"[+-]0[45]:00$", s) for s in (o["created_at"] for o in larger.orders))
    outside = [s for s in stamps if s not in future and not start <= timestamp(s) < end]
    assert outside == []
    legacy = [row["updated_at"] for drop, _, _, row in larger.csv_rows if drop == "legacy_crm"]
    assert all(start <= datetime.strptime(s, "%m/%d/%Y %H:%M").replace(tzinfo=UTC) < end for s in legacy)


def test_products_and_line_items_reference_the_catalogue(demo: Data) -> None:
    assert 190 <= len(demo.products) <= 210
    categories = {p["product_type"] for p in demo.products}
    assert {"Shoes", "Outerwear", "Accessories", "Home", "Beauty", "Kids"} <= categories
    variants = {v["id"]: (p["id"], v["sku"]) for p in demo.products for v in p["variants"]}
    for order in demo.orders:
        assert 1 <= len(order["line_items"]) <= 5
        for item in order["line_items"]:
            assert variants[item["variant_id"]] == (item["product_id"], item["sku"])
        currency = {"US": "USD", "CA": "CAD", "GB": "GBP", "AU": "AUD"}.get(
            order["shipping_address"]["country_code"], "EUR"
        )
        assert order["currency"] == currency


def test_csv_drops_have_their_own_headers_mappings_and_a_bom(demo: Data) -> None:
    canonical = {
        "contact_id",
        "email",
        "phone",
        "first_name",
        "last_name",
        "address_line1",
        "address_line2",
        "city",
        "postal_code",
        "region",
        "country",
        "date_of_birth",
        "updated_at",
        "created_at",
        "email_consent",
        "email_consent_updated_at",
    }
    for drop in ("legacy_crm", "signup_forms"):
        mapping = json.loads((demo.root / "csv_contacts" / drop / "mapping.json").read_text(encoding="utf-8"))
        # a header feeds one field, or several as a list (a form's submission time)
        fields = [field for value in mapping.values() for field in ([value] if isinstance(value, str) else value)]
        assert set(fields) <= canonical and "contact_id" in fields and "email_consent" in fields
        assert len(set(fields)) == len(fields)
    files = sorted((demo.root / "csv_contacts/legacy_crm").glob("*.csv"))
    assert len(files) == 3 and files[0].read_bytes().startswith(b"\xef\xbb\xbf")
    assert not files[1].read_bytes().startswith(b"\xef\xbb\xbf")
    assert len(list((demo.root / "csv_contacts/signup_forms").glob("*.csv"))) >= 4


def test_manifest_counts_match_the_files(demo: Data) -> None:
    counts = demo.manifest["row_counts"]
    assert counts["hubspot/contacts.jsonl"] == len(demo.contacts)
    assert counts["hubspot/contacts_archived.jsonl"] == len(demo.archived)
    assert counts["shopify/orders.jsonl"] == len(demo.orders)
    assert counts["segment"] == len(demo.messages) + len(demo.broken_lines)
    csv_lines = Counter(f"csv_contacts/{drop}/{name}" for drop, name, _, _ in demo.csv_rows)
    csv_lines.update(f"csv_contacts/{drop}/{name}" for drop, name, _, _ in demo.csv_broken)
    assert {k: v for k, v in counts.items() if k.startswith("csv_contacts/")} == dict(csv_lines)
    assert demo.manifest["truth_counts"]["truth/source_records.csv"] == len(demo.truth)
    assert (demo.manifest["seed"], demo.manifest["customers"], demo.manifest["as_of"]) == (7, 300, "2026-11-01")


# -- the folder and the user --------------------------------------------------------------------------------
def test_rerun_replaces_owned_entries_and_keeps_everything_else(tmp_path: Path) -> None:
    out = tmp_path / "data"
    (out / "hubspot").mkdir(parents=True)
    (out / "hubspot" / "stale.jsonl").write_text("{}\n")
    (out / "segment" / "1999-01-01").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    (out / "truth").symlink_to(outside, target_is_directory=True)
    manifest = generate(out, customers=40, seed=1, as_of=AS_OF, progress=False)
    assert manifest["out"] == str(out)
    assert not (out / "hubspot" / "stale.jsonl").exists() and not (out / "segment" / "1999-01-01").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert (outside / "keep.txt").read_text() == "keep", "a symlinked entry must be unlinked, not followed"
    assert not (out / "truth").is_symlink() and (out / "truth" / "source_records.csv").exists()
    assert not (out / ".generate-tmp").exists()


def test_bad_input_raises_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="positive integer"):
        generate(tmp_path / "x", customers=0, seed=1, as_of=AS_OF, progress=False)
    with pytest.raises(UserError, match="limit"):
        generate(tmp_path / "x", customers=10**8, seed=1, as_of=AS_OF, progress=False)
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    with pytest.raises(UserError, match="not a folder"):
        generate(a_file, customers=10, seed=1, as_of=AS_OF, progress=False)
    with pytest.raises(UserError, match="chunk_size"):
        generate(tmp_path / "x", customers=10, seed=1, as_of=AS_OF, progress=False, chunk_size=10)


def test_cli_generate_prints_a_summary_and_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ingestion.cli import main

    assert (
        main(["generate", "--out", str(tmp_path / "cli"), "--customers", "30", "--seed", "3", "--as-of", "2026-11-01"])
        == 0
    )
    captured = capsys.readouterr()
    assert re.search(r"wrote [\d,]+ rows for 30 people to .*cli", captured.out)
    assert "generate: chunk 1/1, 30/30 people" in captured.err
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert main(["generate", "--out", str(a_file), "--customers", "5"]) == 2
    assert capsys.readouterr().err.strip() == f"customer360: error: output path {a_file} exists and is not a folder"


_MEMORY_PROBE = """
import sys
from datetime import date
from pathlib import Path
from ingestion.demo_kit.generate import generate
generate(Path(sys.argv[1]), customers=int(sys.argv[2]), seed=5, as_of=date(2026, 11, 1), progress=False)
# VmHWM is this process's own peak: ru_maxrss would carry over the forking parent's (pytest's) peak.
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def _peak_rss_kb(out: Path, customers: int) -> int:
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(out), str(customers)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return int(result.stdout.strip())


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_memory_stays_flat_from_2000_to_20000_people(tmp_path: Path) -> None:
    small = _peak_rss_kb(tmp_path / "small", 2_000)
    big = _peak_rss_kb(tmp_path / "big", 20_000)
    assert big < 150_000, f"peak RSS {big / 1024:.0f} MB at 20,000 people"
    assert big - small < 20_000, f"peak RSS grew {(big - small) / 1024:.0f} MB from 2,000 to 20,000 people"
