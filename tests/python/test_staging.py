"""The staging layer on generated demo data whose truth is known.

One warehouse for the session (conftest's `built_warehouse`: generate 300 people, serve, load every
source with dlt, one `dbt build`). The generator plants every invalid value on purpose and lists it in
truth/planted_defects.csv; the quarantine must catch exactly those and nothing else, and every value
that is not planted must survive normalization.
"""

from __future__ import annotations

import csv
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import PROJECT_ROOT

Key = tuple[str, str, str, str]  # source_system, table, record_key, rule

# Person staging models and the raw table each one judges: (model, source_system, table, key column).
PERSON_MODELS = (
    ("stg_hubspot__contacts", "hubspot", "contacts", "contact_id"),
    ("stg_shopify__customers", "shopify", "customers", "customer_id"),
    ("stg_shopify__orders", "shopify", "orders", "order_id"),
    ("stg_segment__events", "segment", "events", "message_id"),
    # every CSV drop's rows are in one model (its raw table is named after the drop)
    ("base_csv_contacts__contact_rows", "legacy_crm", "legacy_crm", "record_key"),
    ("base_csv_contacts__contact_rows", "signup_forms", "signup_forms", "record_key"),
)
MY_NODES = ("stg_", "base_csv_contacts__", "int_quality__", "staging_", "source_not_null_", "source_unique_")


def query(path: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    # Not read_only: dbt-duckdb keeps this file open in-process, and DuckDB refuses a second
    # connection to it with another configuration.
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def planted(data: Path) -> list[dict[str, str]]:
    with (data / "truth" / "planted_defects.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def corrected_emails(path: Path) -> set[Key]:
    """The email_domain_corrected findings the quarantine must hold, derived here from the staged raw
    emails and the typo seed (independently of the SQL): a one-"@" address whose domain is a known typo
    and whose corrected form is a valid address."""
    typos = {row["typo_domain"]: row["corrected_domain"] for row in read_seed("email_domain_corrections")}
    found: set[Key] = set()
    for model, system, table, key in PERSON_MODELS:
        # the CSV drops share one model: each drop's rows are its source_system's
        drop_filter = f" and source_system = '{system}'" if model.startswith("base_csv_contacts__") else ""
        sql = f"select {key}, email_raw from staging.{model} where email_raw is not null{drop_filter}"
        for record_key, raw in query(path, sql):
            cleaned = raw.strip().lower().removeprefix("mailto:").strip()
            local, _, domain = cleaned.partition("@")
            if cleaned.count("@") == 1 and domain in typos and local and " " not in local:
                found.add((system, table, str(record_key), "email_domain_corrected"))
    return found


def read_seed(name: str) -> list[dict[str, str]]:
    with (PROJECT_ROOT / "seeds" / f"{name}.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def warehouse_path(built_warehouse: Any) -> Path:
    mine = [failure for failure in built_warehouse.outcome.failures if any(n in failure for n in MY_NODES)]
    assert not mine, "staging/quality nodes failed:\n" + "\n".join(mine)
    return built_warehouse.path


def test_staging_build_ran_models_and_tests(built_warehouse: Any, warehouse_path: Path) -> None:
    statuses = built_warehouse.outcome.statuses
    assert statuses["model:success"] >= 20
    assert statuses["unit_test:pass"] >= 7, statuses
    tables = {
        name
        for (name,) in query(
            warehouse_path,
            "select table_name from information_schema.tables where table_schema in ('staging', 'intermediate')",
        )
    }
    expected = {model for model, *_ in PERSON_MODELS} | {
        "stg_csv_contacts__contacts",
        "stg_hubspot__contact_merges",
        "stg_shopify__order_line_items",
        "int_quality__quarantine",
        "int_quality__load_summary",
        "int_quality__rule_summary",
    }
    assert expected <= tables, expected - tables


def test_quarantine_catches_exactly_the_planted_defects(built_warehouse: Any, warehouse_path: Path) -> None:
    want: set[Key] = {
        (d["source_system"], d["table"], d["record_key"], d["rule"]) for d in planted(built_warehouse.data)
    } | corrected_emails(warehouse_path)
    got: set[Key] = set(
        query(
            warehouse_path,
            "select source_system, source_table, record_key, rule_name from intermediate.int_quality__quarantine",
        )
    )
    assert len(want) >= 20, "the generator should plant every kind of defect at least once"
    missed, extra = sorted(want - got), sorted(got - want)
    assert not missed and not extra, f"missed {missed}\nextra {extra}"
    # every rule of the contract is exercised by the demo data
    assert {rule for *_, rule in got} == {
        "invalid_email", "invalid_phone", "invalid_date", "future_date", "date_before_1900", "negative_amount",
        "order_total_mismatch", "missing_required_key", "unknown_enum", "missing_identity", "broken_json",
        "broken_csv_row", "email_domain_corrected",
    }  # fmt: skip


def test_quarantine_keeps_the_offending_values(built_warehouse: Any, warehouse_path: Path) -> None:
    """The raw value is what the source sent (the generator logs it verbatim for value-level rules)."""
    rows = query(
        warehouse_path,
        "select source_system, source_table, record_key, rule_name, offending_value, disposition "
        "from intermediate.int_quality__quarantine",
    )
    by_key = {(s, t, k, r): (value, disposition) for s, t, k, r, value, disposition in rows}
    checked = 0
    for defect in planted(built_warehouse.data):
        key = (defect["source_system"], defect["table"], defect["record_key"], defect["rule"])
        value, disposition = by_key[key]
        if defect["rule"] in ("invalid_email", "invalid_phone", "unknown_enum"):
            assert value == defect["offending_value"], key
            assert disposition == "value_nulled", key
            checked += 1
        elif defect["rule"] in ("broken_json", "broken_csv_row"):
            assert disposition == "rejected_at_load", key
        elif defect["rule"] == "missing_required_key" and defect["table"] != "events":
            assert disposition == "row_excluded", key
    assert checked >= 8


def test_every_value_that_is_not_planted_survives_normalization(built_warehouse: Any, warehouse_path: Path) -> None:
    """Exactly the planted emails/phones/dates are nulled: the normalized share is known in advance."""
    defects = planted(built_warehouse.data)
    planted_counts = Counter((d["source_system"], d["table"], d["rule"]) for d in defects)
    # A planted future_date sits on a birth date or on a creation timestamp (written with a time).
    dob_counts = Counter(
        (d["source_system"], d["table"])
        for d in defects
        if d["rule"] in ("invalid_date", "date_before_1900")
        or (d["rule"] == "future_date" and "T" not in d["offending_value"] and ":" not in d["offending_value"])
    )
    for model, system, table, _key in PERSON_MODELS:
        emails, emails_kept, phones, phones_kept, dobs, dobs_kept = query(
            warehouse_path,
            f"""
            select
                count(nullif(trim(email_raw), '')), count(email),
                count(nullif(trim(phone_raw), '')), count(phone_e164),
                count(nullif(trim(date_of_birth_raw), '')), count(date_of_birth)
            from staging.{model}
            where source_system = '{system}'
            """,
        )[0]
        assert emails - emails_kept == planted_counts[(system, table, "invalid_email")], model
        assert phones - phones_kept == planted_counts[(system, table, "invalid_phone")], model
        assert dobs - dobs_kept == dob_counts[(system, table)], model


def test_normalization_fixes_the_generated_noise(warehouse_path: Path) -> None:
    typos = {row["typo_domain"]: row["corrected_domain"] for row in read_seed("email_domain_corrections")}
    rows = query(
        warehouse_path,
        " union all ".join(
            f"select email_raw, email, email_match_key from staging.{model} where email is not null"
            for model in ("stg_hubspot__contacts", "stg_shopify__customers", "base_csv_contacts__contact_rows")
        ),
    )
    fixed_typos = plus_tags = changed = 0
    for raw, email, match_key in rows:
        cleaned = raw.strip().lower().removeprefix("mailto:")
        local, _, domain = cleaned.partition("@")
        assert email == f"{local}@{typos.get(domain, domain)}"
        fixed_typos += domain in typos
        changed += raw != email
        if "+" in local:
            plus_tags += 1
            assert "+" in email and "+" not in match_key
    assert fixed_typos > 0 and plus_tags > 0 and changed > len(rows) * 0.05, (fixed_typos, plus_tags, changed)
    phones = query(
        warehouse_path,
        " union all ".join(
            f"select phone_raw, phone_e164 from staging.{model} where phone_e164 is not null"
            for model in ("stg_hubspot__contacts", "base_csv_contacts__contact_rows")
        ),
    )
    assert len(phones) > 50
    for raw, e164 in phones:
        digits = "".join(ch for ch in raw if ch.isdigit())
        assert e164.startswith("+") and e164[1:].isdigit()
        assert e164[-7:] == digits[-7:], (raw, e164)  # the subscriber number is never altered
    assert len({raw for raw, _ in phones}) > len({e for _, e in phones}) / 2  # many formats, one E.164 each


def _name_key(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name.replace("ß", "ss").replace("ø", "o").replace("Ø", "O"))
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def test_given_names_resolve_to_the_truth(built_warehouse: Any, warehouse_path: Path) -> None:
    """Case, spaces, dropped accents and nicknames all lead back to the person's canonical given name."""
    nicknames = {row["nickname"]: row["canonical_given_name"] for row in read_seed("given_name_nicknames")}
    truth = built_warehouse.data / "truth"
    with (truth / "people.csv").open(newline="", encoding="utf-8") as handle:
        first_names = {row["entity_id"]: row["first_name"] for row in csv.DictReader(handle)}
    with (truth / "source_records.csv").open(newline="", encoding="utf-8") as handle:
        entity_of = {
            (row["source_system"], row["source_record_id"]): row["entity_id"] for row in csv.DictReader(handle)
        }
    rows = query(
        warehouse_path,
        " union all ".join(
            f"select source_system, source_record_id, given_name_canonical from staging.{model}"
            for model in ("stg_hubspot__contacts", "stg_csv_contacts__contacts", "stg_shopify__customers")
        ),
    )
    compared = 0
    for system, record_id, canonical in rows:
        entity = entity_of.get((system, record_id))
        if canonical is None or entity is None or entity not in first_names:
            continue
        key = _name_key(first_names[entity])
        assert canonical == nicknames.get(key, key), (system, record_id, first_names[entity], canonical)
        compared += 1
    assert compared > 200


def test_load_summary_counts_rows_in_passed_and_quarantined(built_warehouse: Any, warehouse_path: Path) -> None:
    raw_rows = {
        ("hubspot", "contacts"): "raw_hubspot.contacts",
        ("shopify", "customers"): "raw_shopify.customers",
        ("shopify", "orders"): "raw_shopify.orders",
        ("shopify", "orders__line_items"): "raw_shopify.orders__line_items",
        ("segment", "events"): "raw_segment.events",
        ("segment", "rejected_events"): "raw_segment.rejected_events",
        ("legacy_crm", "legacy_crm"): "raw_csv_contacts.legacy_crm",
        ("signup_forms", "signup_forms"): "raw_csv_contacts.signup_forms",
    }
    summary = {
        (system, table): (rows_in, passed, quarantined)
        for system, table, rows_in, passed, quarantined in query(
            warehouse_path,
            "select source_system, source_table, sum(rows_in), sum(rows_passed), sum(rows_quarantined) "
            "from intermediate.int_quality__load_summary group by all",
        )
    }
    # one defect per record: the quarantined rows per table are the planted records of that table, and
    # the records whose email domain was corrected
    corrected = corrected_emails(warehouse_path)
    records = {(d["source_system"], d["table"], d["record_key"]) for d in planted(built_warehouse.data)}
    records |= {(system, table, key) for system, table, key, _ in corrected}
    planted_records = Counter((system, table) for system, table, _ in records)
    for (system, table), relation in raw_rows.items():
        (count,) = query(warehouse_path, f"select count(*) from {relation}")[0]
        rows_in, passed, quarantined = summary[(system, table)]
        assert rows_in == count, (system, table)
        assert quarantined == planted_records[(system, table)], (system, table)
        assert passed == rows_in - quarantined
    rejected_rows = dict(
        query(
            warehouse_path,
            "select source_name, count(*) from raw_csv_contacts.rejected_rows group by all",
        )
    )
    for drop in ("legacy_crm", "signup_forms"):
        assert summary[(drop, "rejected_rows")][0] == rejected_rows[drop]
        assert summary[(drop, "rejected_rows")][1] == 0
    rules = query(
        warehouse_path,
        "select rule_name, sum(rows_quarantined) from intermediate.int_quality__rule_summary group by all",
    )
    expected_rules = Counter(d["rule"] for d in planted(built_warehouse.data))
    expected_rules["email_domain_corrected"] = len(corrected)
    assert dict(rules) == dict(expected_rules)
