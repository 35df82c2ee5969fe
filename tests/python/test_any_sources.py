"""Bring your own data (issue 10): any subset of sources builds green, and a CSV drop the project has
never heard of reaches `customers` with no file edited.

Each case is one load and one `dbt build` of the whole project on the session's small demo data
(`demo_data`, 300 people), so these are the expensive tests of the suite (~1 min each, idle machine).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

NEW_DROP = "crm_b"  # a drop name no project file mentions (checked below)
# Another vendor's export: its own headers, day-first dates, a consent column the seed does not know.
NEW_DROP_CSV = """\
Kunden-Nr;Vorname;Nachname;E-Mail;Geburtsdatum;Geändert am;Newsletter
K-1;Anna;Schmidt;anna.schmidt@example.de;24.12.1970;03.11.2025 10:00;ja
K-2;anna;SCHMIDT; Anna.Schmidt@Example.de ;24.12.1970;28.10.2025 09:30;ja
K-3;Jonas;Weber;jonas.weber@example.de;31.01.1985;01.11.2025 08:15;nein
K-4;Lea;Fischer;lea.fischer@example.de;15.06.1992;02.11.2025 17:45;
"""
NEW_DROP_MAPPING = {
    "Kunden-Nr": "contact_id",
    "Vorname": "first_name",
    "Nachname": "last_name",
    "E-Mail": "email",
    "Geburtsdatum": "date_of_birth",
    "Geändert am": "updated_at",
    "Newsletter": "email_consent",
}


def _query(path: Path, sql: str) -> list[tuple]:
    # not read_only: dbt-duckdb keeps the file open in this process with its own configuration
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _build_green(path: Path) -> None:
    from ingestion.dbt_runner import production_build_args, run_dbt

    # as `customer360 build` builds (the session's build runs the unit tests)
    outcome = run_dbt(production_build_args(["build"]))
    assert outcome.success, outcome.failures[:10]
    assert outcome.tests_failed == 0
    assert _query(path, "select count(*) from marts.customers")[0][0] > 0


@pytest.mark.parametrize("source", ["hubspot", "shopify", "segment"])
def test_one_source_alone_builds_green(source: str, demo_data: Path, warehouse: Path, monkeypatch) -> None:
    """A warehouse holding one source kind (none of the others, no CSV drop, no deletion tables)."""
    from ingestion.demo_kit.servers.run import running_servers
    from ingestion.loading import load

    if source == "segment":
        load("segment", data_dir=demo_data)
    else:
        with running_servers(demo_data) as servers:
            for name, value in servers.loader_environment().items():
                monkeypatch.setenv(name, value)
            load(source, data_dir=demo_data)
    _build_green(warehouse)
    systems = {row[0] for row in _query(warehouse, "select distinct source_system from marts.customer_identities")}
    assert systems == {source}


def test_new_csv_drop_alone_reaches_customers_with_no_edit(tmp_path: Path, warehouse: Path) -> None:
    """`customer360 load csv_contacts --path DIR --mapping FILE --source-name crm_b`, then `build`: the
    drop is its own source system in staging, identity and the marts, read in its own date format."""
    from ingestion.cli import main

    project_files = [
        p for folder in ("models", "macros", "seeds", "snapshots", "tests/singular") for p in Path(folder).rglob("*")
    ]
    assert not [p for p in project_files if p.is_file() and NEW_DROP in p.read_text(errors="ignore")]
    assert NEW_DROP not in Path("dbt_project.yml").read_text()

    drop = tmp_path / "export"
    drop.mkdir()
    (drop / "kunden.csv").write_text(NEW_DROP_CSV, encoding="utf-8")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(NEW_DROP_MAPPING), encoding="utf-8")
    load_args = ["--path", str(drop), "--mapping", str(mapping), "--source-name", NEW_DROP]
    assert main(["load", "csv_contacts", *load_args]) == 0
    _build_green(warehouse)

    # K-1 and K-2 are one person (same email and birth date): 3 customers from 4 records
    assert _query(
        warehouse,
        "select count(distinct source_record_id), count(distinct customer_id) from marts.customer_identities "
        f"where source_system = '{NEW_DROP}'",
    ) == [(4, 3)]
    assert _query(
        warehouse,
        "select datetime_format from staging.base_csv_contacts__datetime_formats "
        f"where source_system = '{NEW_DROP}' and field_name in ('date_of_birth', 'updated_at') order by field_name",
    ) == [("%d.%m.%Y",), ("%d.%m.%Y %H:%M",)]
    assert _query(
        warehouse,
        "select date_of_birth from marts.customers where email = 'jonas.weber@example.de'",
    ) == [(date(1985, 1, 31),)]
    # consent values the seed does not know for this drop fail closed: opted out, and quarantined
    assert _query(
        warehouse,
        "select email_consent_state, count(*) from staging.stg_csv_contacts__contacts "
        f"where source_system = '{NEW_DROP}' group by 1 order by 1",
    ) == [("opted_out", 3), ("unknown", 1)]
    assert _query(
        warehouse,
        f"select count(*) from intermediate.int_quality__quarantine where source_system = '{NEW_DROP}' "
        "and rule_name = 'unknown_enum'",
    ) == [(3,)]


def test_drop_loaded_by_an_older_version_stops_the_build_in_one_line(warehouse: Path) -> None:
    """A drop table from before the canonical consent/created_at fields: the build names it and the fix."""
    from ingestion.dbt_runner import run_dbt

    old_columns = [
        *("contact_id", "email", "phone", "first_name", "last_name", "address_line1", "address_line2", "city"),
        *("postal_code", "region", "country", "date_of_birth", "updated_at", "opt_out", "_source_file"),
    ]
    con = duckdb.connect(str(warehouse))
    con.execute("create schema raw_csv_contacts")
    con.execute(
        "create table raw_csv_contacts.legacy_crm ("
        + ", ".join(f"{name} varchar" for name in old_columns)
        + ", _row_number bigint, _dlt_load_id varchar)"
    )
    con.close()
    outcome = run_dbt(["build", "--select", "base_csv_contacts__drop_rows"])
    assert not outcome.success
    [failure] = outcome.failures
    assert (
        "legacy_crm in raw_csv_contacts was loaded by an older customer360 (no created_at, email_consent, "
        "email_consent_updated_at): load it again with `customer360 load csv_contacts --path DIR --mapping FILE "
        "--source-name legacy_crm`"
    ) in failure


def test_build_arguments_for_a_partial_warehouse() -> None:
    """The parse before a build sees the build's vars and target; skipped unit tests join the caller's
    --exclude; a failure keeps dbt's header and the reason on one line."""
    from ingestion.dbt_runner import _excluding, _parse_options, headline

    args = ["build", "--vars", "{a: 1}", "-s", "x", "--target=dev"]
    assert _parse_options(args) == ["--vars", "{a: 1}", "--target=dev"]
    skipped = {"b_test": ["raw_segment.events"], "a_test": ["raw_hubspot.contacts"]}
    assert _excluding(["build"], skipped, None) == ["build", "--exclude", "unit_test:a_test", "unit_test:b_test"]
    assert _excluding(["build", "--exclude", "y", "-s", "x"], skipped, None) == [
        *("build", "--exclude", "unit_test:a_test", "unit_test:b_test", "y", "-s", "x"),
    ]
    assert _excluding(["build"], {}, None) == ["build"]
    assert headline("Compilation Error in model m (m.sql)\n  legacy_crm was loaded by an older customer360\n") == (
        "Compilation Error in model m (m.sql): legacy_crm was loaded by an older customer360"
    )
    assert headline("Got 3 results, configured to fail if != 0\nmore") == "Got 3 results, configured to fail if != 0"
    assert headline(None) == ""
