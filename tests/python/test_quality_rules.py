"""Every quarantine rule, one at a time, fed its bad value (issue 10: "every field rule that changes or
blanks a value writes a quarantine row").

The person-field rules run through the real person CTEs (person_inputs, person_lookups, person_checks,
person_columns), which every person staging model writes out itself: a test checks the five models keep them
the same, then the rules run through that SQL in ONE `dbt show` on a copy of the project's macros and seeds:
one row per rule, equal to a clean control row but for the one bad value, so each row must raise exactly its
rule and nothing else, with the value nulled or changed as the rule says. Formatting that keeps the meaning (case,
spacing, E.164 layout, ISO codes) must raise nothing. The other rules (order totals, enums, rejected lines
...) need whole records and are fed their bad value by the tests listed in OTHER_RULE_TESTS; this module
checks that list covers `quality_rules()` exactly, so a new rule without a test fails here.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FIELDS = (
    "email_raw", "phone_raw", "first_name_raw", "last_name_raw", "address_line1_raw", "address_line2_raw",
    "city_raw", "postal_code_raw", "region_raw", "country_raw", "date_of_birth_raw",
)  # fmt: skip
CONTROL = {
    "email_raw": "ann.lee@example.com",
    "phone_raw": "+1 415 555 0101",
    "first_name_raw": "Ann",
    "last_name_raw": "Lee",
    "address_line1_raw": "1 High St",
    "address_line2_raw": None,
    "city_raw": "Boston",
    "postal_code_raw": "02134",
    "region_raw": "MA",
    "country_raw": "US",
    "date_of_birth_raw": "1980-01-02",
}
# rule -> (the fields that differ from the control, the staged column to check, its expected value)
PERSON_RULES: dict[str, tuple[dict[str, str], str, str | None]] = {
    "invalid_email": ({"email_raw": "ann.lee@@example"}, "email", None),
    "email_domain_corrected": ({"email_raw": "Ann.Lee@GMIAL.com"}, "email", "ann.lee@gmail.com"),
    "invalid_phone": ({"phone_raw": "555-CALL-NOW"}, "phone_e164", None),
    "invalid_date": ({"date_of_birth_raw": "1985-02-30"}, "date_of_birth", None),
    "future_date": ({"date_of_birth_raw": "2999-01-01"}, "date_of_birth", None),
    "date_before_1900": ({"date_of_birth_raw": "1850-06-01"}, "date_of_birth", None),
    # the issue's own example: a UK postcode that breaks the UK pattern was blanked with no trace
    "invalid_postal_code": ({"postal_code_raw": "nee 5jh", "country_raw": "United Kingdom"}, "postal_code", None),
    "postal_code_shortened": ({"postal_code_raw": "02134-1234"}, "postal_code", "02134"),
    "unknown_country": ({"country_raw": "Narnia"}, "country_code", None),
    "value_too_long": ({"first_name_raw": "A" * 1001}, "first_name", None),
}
# Formatting only: staged differently, same meaning, no finding.
FORMATTING: dict[str, tuple[dict[str, str], str, str]] = {
    "email_case_and_mailto": ({"email_raw": " MAILTO:Ann.Lee@Example.COM "}, "email", "ann.lee@example.com"),
    "phone_layout": ({"phone_raw": "(415) 555-0101"}, "phone_e164", "+14155550101"),
    "name_case": ({"first_name_raw": "  aNN  "}, "first_name", "Ann"),
    "country_name": ({"country_raw": " united states "}, "country_code", "US"),
    "uk_postcode_spacing": ({"postal_code_raw": "sw1a1aa", "country_raw": "GB"}, "postal_code", "SW1A 1AA"),
}
# The other rules of quality_rules(), each fed its bad value by these tests (file: test name).
QUARANTINE_UNIT_TESTS = "models/intermediate/quality/_quality__unit_tests.yml"
SEGMENT_UNIT_TESTS = "models/staging/segment/_segment__unit_tests.yml"
ROUTING = "tests/python/test_quarantine_routing.py"
CSV_UNIT_TESTS = "models/staging/csv_contacts/_csv_contacts__unit_tests.yml"
OTHER_RULE_TESTS = {
    "negative_amount": (ROUTING, "test_negative_total_spent_is_nulled_and_quarantined"),
    "order_total_mismatch": (QUARANTINE_UNIT_TESTS, "int_quality__quarantine_order_totals_and_rejections"),
    "missing_required_key": (CSV_UNIT_TESTS, "base_csv_contacts__contact_rows_formats_consent_and_keys"),
    "unknown_enum": (ROUTING, "test_unseen_hubspot_enums_are_quarantined"),
    "missing_identity": (SEGMENT_UNIT_TESTS, "stg_segment__events_identity_traits_and_flags"),
    "broken_json": (SEGMENT_UNIT_TESTS, "stg_segment__rejected_events_rules_by_reason"),
    "broken_csv_row": (QUARANTINE_UNIT_TESTS, "int_quality__quarantine_order_totals_and_rejections"),
    "unknown_reference": (ROUTING, "test_order_of_an_unknown_customer_is_flagged_not_dropped"),
    "message_id_collision": (SEGMENT_UNIT_TESTS, "stg_segment__rejected_events_rules_by_reason"),
    "erased": ("tests/python/test_erasure.py", "test_a_returning_record_of_an_erased_person_is_blocked"),
}  # fmt: skip


# Every person staging model; the input CTE its person_inputs reads is named `renamed` in the query below.
PERSON_MODELS = (
    "models/staging/hubspot/stg_hubspot__contacts.sql",
    "models/staging/shopify/stg_shopify__customers.sql",
    "models/staging/shopify/stg_shopify__orders.sql",
    "models/staging/segment/base/base_segment__event_person_values.sql",
    "models/staging/csv_contacts/base/base_csv_contacts__contact_rows.sql",
)


def person_ctes(model: str) -> str:
    """The person CTEs of a model, from `person_inputs as (` to the end of person_columns, reading `renamed`."""
    text = (PROJECT_ROOT / model).read_text()
    start = text.index("person_inputs as (")
    end = text.index("\n),", text.index("person_columns as (", start)) + len("\n)")
    block = text[start:end]
    found = re.search(r"\n    from (\w+)\n", block)
    assert found, f"{model}: person_inputs reads no CTE"
    return re.sub(rf"\b{found.group(1)}\b", "renamed", block)


def test_every_person_model_writes_the_same_person_ctes() -> None:
    """The five copies of the person SQL may not drift: a change is made in all of them or in none."""
    reference = person_ctes(PERSON_MODELS[0])
    for model in PERSON_MODELS[1:]:
        assert person_ctes(model) == reference, f"{model}'s person CTEs differ from {PERSON_MODELS[0]}'s"


def sql_literal(value: str | None) -> str:
    return "null" if value is None else "'" + value.replace("'", "''") + "'"


def cases() -> dict[str, dict[str, str | None]]:
    rows: dict[str, dict[str, str | None]] = {"control": dict(CONTROL)}
    for name, (changes, _, _) in {**PERSON_RULES, **FORMATTING}.items():
        rows[name] = {**CONTROL, **changes}
    return rows


def inline_query() -> str:
    values = ",\n".join(
        "(" + ", ".join([sql_literal(name), *(sql_literal(row[f]) for f in FIELDS)]) + ")"
        for name, row in cases().items()
    )
    return f"""
with values_cte as (
    select * from (values {values}) as v (case_name, {", ".join(FIELDS)})
),
renamed as (
    select
        values_cte.*,
        {{{{ customer360.parse_date(customer360.clean_text('values_cte.date_of_birth_raw'), '%Y-%m-%d') }}}}
            as date_of_birth_parsed
    from values_cte
),
{person_ctes(PERSON_MODELS[0])}
select
    case_name,
    cast(is_email_invalid as varchar) as is_email_invalid,
    cast(is_phone_invalid as varchar) as is_phone_invalid,
    date_of_birth_issue,
    oversized_values,
    value_findings,
    cast(case when date_of_birth_issue is null then date_of_birth_read end as varchar) as date_of_birth,
    email,
    phone_e164,
    first_name,
    postal_code,
    country_code,
    '{{{{ customer360.quality_rules().keys() | join(",") }}}}' as rule_names
from person_columns
"""


def copy_project(destination: Path) -> Path:
    """dbt_project.yml, profiles, every macro, the root seeds and the docs blocks: no models."""
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy2(PROJECT_ROOT / name, destination / name)
    shutil.copytree(PROJECT_ROOT / "macros", destination / "macros")
    shutil.copytree(PROJECT_ROOT / "docs" / "dbt", destination / "docs" / "dbt")
    shutil.copytree(PROJECT_ROOT / "tests" / "generic", destination / "tests" / "generic")
    (destination / "seeds").mkdir()
    for seed_file in (PROJECT_ROOT / "seeds").iterdir():
        if seed_file.is_file() and seed_file.suffix in {".csv", ".yml"}:
            shutil.copy2(seed_file, destination / "seeds" / seed_file.name)
    (destination / "models").mkdir()
    return destination


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """Each case's flags, findings and staged columns, by case name."""
    from dbt.cli.main import dbtRunner

    project = copy_project(tmp_path_factory.mktemp("dbt_rules_project"))
    common = [
        "--project-dir", str(project), "--profiles-dir", str(project),
        "--target-path", str(project / "target"), "--log-path", str(project / "logs"),
    ]  # fmt: skip
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CUSTOMER360_DUCKDB_PATH", str(project / "rules.duckdb"))
        env.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        runner = dbtRunner()
        seeded = runner.invoke(["seed", "--quiet", *common])
        assert seeded.success, f"dbt seed failed: {seeded.exception or seeded.result}"
        show = runner.invoke(["show", "--inline", inline_query(), "--limit", "-1", "--quiet", *common])
        assert show.success, f"dbt show failed: {show.exception or show.result}"
    table = show.result.results[0].agate_table
    names = list(table.column_names)
    yield {row[0]: dict(zip(names, row, strict=True)) for row in table.rows}


def findings(row: dict[str, Any]) -> dict[str, str]:
    """``{rule: disposition}`` of one staged row, as the quarantine reads the flags and findings."""
    found = {}
    if row["is_email_invalid"] == "true":
        found["invalid_email"] = "value_nulled"
    if row["is_phone_invalid"] == "true":
        found["invalid_phone"] = "value_nulled"
    if row["date_of_birth_issue"]:
        found[row["date_of_birth_issue"]] = "value_nulled"
    if row["oversized_values"]:
        found["value_too_long"] = "value_nulled"
    for entry in (row["value_findings"] or "").split("\x1e"):
        if entry:
            rule, _column, disposition, _value = entry.split("=", 3)
            found[rule] = disposition
    return found


def test_the_control_row_raises_nothing(staged: dict[str, dict[str, Any]]) -> None:
    assert findings(staged["control"]) == {}
    assert staged["control"]["postal_code"] == "02134" and staged["control"]["country_code"] == "US"


@pytest.mark.parametrize("rule", sorted(PERSON_RULES))
def test_each_person_rule_alone(staged: dict[str, dict[str, Any]], rule: str) -> None:
    changes, column, expected = PERSON_RULES[rule]
    row = staged[rule]
    disposition = "value_changed" if expected is not None else "value_nulled"
    assert findings(row) == {rule: disposition}, row
    assert row[column] == expected, (column, row[column])
    if row["value_findings"]:  # the entry keeps the value as the source sent it
        (value,) = changes.values() if len(changes) == 1 else [changes["postal_code_raw"]]
        assert row["value_findings"].endswith(f"={value}")


@pytest.mark.parametrize("case", sorted(FORMATTING))
def test_formatting_is_not_a_change(staged: dict[str, dict[str, Any]], case: str) -> None:
    _, column, expected = FORMATTING[case]
    assert findings(staged[case]) == {}, staged[case]
    assert staged[case][column] == expected


def test_every_rule_is_fed_its_bad_value_somewhere(staged: dict[str, dict[str, Any]]) -> None:
    """quality_rules() == the rules tested here + OTHER_RULE_TESTS, each named test exists, and the
    quarantine's accepted rule names are the same list."""
    rules = set(staged["control"]["rule_names"].split(","))
    assert rules == set(PERSON_RULES) | set(OTHER_RULE_TESTS)
    for rule, (path, test_name) in OTHER_RULE_TESTS.items():
        text = (PROJECT_ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"(def |name: ){re.escape(test_name)}\b", text), (rule, path, test_name)
    quality = yaml.safe_load((PROJECT_ROOT / "models/intermediate/quality/_quality__models.yml").read_text())
    (quarantine,) = [m for m in quality["models"] if m["name"] == "int_quality__quarantine"]
    (rule_column,) = [c for c in quarantine["columns"] if c["name"] == "rule_name"]
    accepted = next(t["accepted_values"] for t in rule_column["data_tests"] if isinstance(t, dict))
    assert set(accepted["arguments"]["values"]) == rules
