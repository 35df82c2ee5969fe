"""Incremental staging (issue 16): HubSpot contacts, Shopify customers, Shopify orders and the CSV contact rows
re-stage only what a delta changed, and end up exactly as a full refresh would build them.

One module-scoped world, cloned from the session's built warehouse: `customer360 generate --delta` (new
people, changed contacts, new orders, new CSV files), a planted new contact with an invalid email, a planted
CSV file that moves its drop's date-of-birth format verdict, every source loaded again, and raw rows of one
contact, one customer, one order and one CSV row removed the way the erasure's raw scrub (or a hard delete)
removes them. Then one incremental build of the staging models and the quarantine, a
fingerprint of the incremental tables (tests/relation_fingerprints.py), a `--full-refresh` of them, and
a second fingerprint.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from conftest import PROJECT_ROOT, BuiltWarehouse
from test_marts import query

from ingestion.cli import main
from ingestion.dbt_runner import DbtOutcome, run_dbt
from ingestion.settings import Settings

sys.path.insert(0, str(PROJECT_ROOT / "tests"))
from relation_fingerprints import differences, fingerprints

pytestmark = pytest.mark.slow

# model -> (its key column, the raw table, the raw key column, a text column to mark a row with)
INCREMENTAL_STAGING = {
    "stg_hubspot__contacts": ("contact_id", "raw_hubspot.contacts", "id", "job_title"),
    "stg_shopify__customers": ("customer_id", "raw_shopify.customers", "id", "tags"),
    "stg_shopify__orders": ("order_id", "raw_shopify.orders", "id", "order_name"),
}
MARK = "left alone by the incremental build"
# the HubSpot and Shopify staging (the child tables' relationships to their orders are tested) and the quality
# models, with the tests whose every parent is built (a test comparing staging with the marts waits for them)
STAGING_BUILD = [
    *("build", "--exclude-resource-type", "unit_test", "--indirect-selection", "cautious", "--select"),
    *("path:models/staging/hubspot", "path:models/staging/shopify", "path:models/staging/csv_contacts"),
    "path:models/intermediate/quality",
]
CSV_ROWS = "base_csv_contacts__contact_rows"  # keyed by drop, file and row (macro csv_contact_row_key)
CSV_KEY = "source_system || ':' || source_file || ':' || source_row_number"
VERDICT_DROP = "signup_forms"  # the drop whose date-of-birth verdict the planted file moves (ISO -> %d/%m/%Y)
BAD_CONTACT_ID = "880000001"
BAD_EMAIL = "not-an-address.example.org"


@dataclass
class DeltaWorld:
    before: dict[str, set[tuple[str, str]]]  # model -> (key, load_id) staged by the first build
    removed: dict[str, str]  # model -> the key whose raw row was removed after the delta's load
    marked_rows_left: dict[str, int]  # model -> rows of the first build, marked, the delta did not touch
    removed_still_staged: dict[str, int]  # model -> rows of the removed key after the incremental build
    build: DbtOutcome
    incremental: dict[str, dict[str, object]]
    full_refresh: dict[str, dict[str, object]]
    csv_before: dict[str, int]  # drop -> rows the first build staged
    csv_marked_left: dict[str, int]  # drop -> of those, rows the incremental build did not stage again
    csv_new_load_rows: int  # rows staged from the delta's loads
    csv_removed_still_staged: int  # rows of the removed raw row after the incremental build


def _plant_bad_contact(data: Path) -> None:
    """A new HubSpot contact in the delta's file, with an address that is not one (quarantine: invalid_email)."""
    (delta_file,) = sorted((data / "hubspot").glob("contacts.delta-*.jsonl"))
    stamp = json.loads(delta_file.read_text().splitlines()[0])["updatedAt"]
    contact = {
        "id": BAD_CONTACT_ID,
        "properties": {
            "hs_object_id": BAD_CONTACT_ID, "email": BAD_EMAIL, "firstname": "Ottoline", "lastname": "Brackwater",
            "createdate": stamp, "lastmodifieddate": stamp, "hs_email_optout": "false",
        },
        "createdAt": stamp, "updatedAt": stamp, "archived": False,
    }  # fmt: skip
    with delta_file.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(contact) + "\n")


def _plant_verdict_moving_file(data: Path) -> None:
    """A new export in the signup drop whose dates of birth are day-first: more distinct values read that way than
    ISO reads in the whole drop, so the drop's verdict moves and every row of the drop must be read again."""
    drop = data / "csv_contacts" / VERDICT_DROP
    header = (sorted(drop.glob("*.csv"))[0].read_text(encoding="utf-8").splitlines())[0]
    columns = header.split(",")
    rows = []
    for number, (year, month, day) in enumerate(
        (y, m, d) for y in range(1960, 1964) for m in range(1, 13) for d in range(13, 29)
    ):
        values = dict.fromkeys(columns, "")
        values.update(submission_id=f"planted_{number:04d}", dob=f"{day:02d}/{month:02d}/{year}")
        rows.append(",".join(values[c] for c in columns))
    (drop / "signups_planted_day_first.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def _staged(model: str, key: str) -> set[tuple[str, str]]:
    return {(str(k), str(load)) for k, load in query(f"select {key}, load_id from staging.{model}")}


@pytest.fixture(scope="module")
def delta_world(built_warehouse: BuiltWarehouse, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeltaWorld]:
    from ingestion.demo_kit.servers.run import running_servers
    from ingestion.loading import load

    with pytest.MonkeyPatch.context() as env:
        data = built_warehouse.clone(tmp_path_factory.mktemp("incremental_staging"), env)
        before = {model: _staged(model, key) for model, (key, *_) in INCREMENTAL_STAGING.items()}
        assert main(["generate", "--out", str(data), "--delta", "--delta-share", "0.05"]) == 0
        _plant_bad_contact(data)
        _plant_verdict_moving_file(data)
        with running_servers(data) as servers:
            for name, value in servers.loader_environment().items():
                env.setenv(name, value)
            load("all", data_dir=data)
        # rows gone from raw since the last build (what the erasure's scrub of raw does to a returning record);
        # and every staged row marked (in a copy of the table kept aside), to see which ones the build redoes
        removed: dict[str, str] = {}
        con = duckdb.connect(str(Settings.from_environment().duckdb_path))
        try:
            for model, (key_column, table, raw_key, text_column) in INCREMENTAL_STAGING.items():
                (key,) = con.execute(f"select min({key_column}) from staging.{model}").fetchone()
                schema, name = table.split(".")
                children = con.execute(
                    "select table_name from information_schema.tables "
                    "where table_schema = ? and starts_with(table_name, ?)",
                    [schema, f"{name}__"],
                ).fetchall()
                for (child,) in children:  # dlt child tables go with their root row, as the erasure removes them
                    con.execute(
                        f"delete from {schema}.{child} where _dlt_root_id in "
                        f"(select _dlt_id from {table} where cast({raw_key} as varchar) = ?)",
                        [key],
                    )
                con.execute(f"delete from {table} where cast({raw_key} as varchar) = ?", [key])
                removed[model] = key
                con.execute(f"create table main.{model}_before as select * from staging.{model}")
                con.execute(f"update staging.{model} set {text_column} = '{MARK}'")
            # the CSV rows: one raw row of the other drop removed, every staged row marked in its city
            (csv_removed,) = con.execute(
                f"select min({CSV_KEY}) from staging.{CSV_ROWS} where source_system <> ?", [VERDICT_DROP]
            ).fetchone()
            drop, source_file, row = csv_removed.split(":")
            con.execute(
                f"delete from raw_csv_contacts.{drop} where _source_file = ? and _row_number = ?",
                [source_file, int(row)],
            )
            csv_before = dict(
                con.execute(f"select source_system, count(*) from staging.{CSV_ROWS} group by 1").fetchall()
            )
            csv_last_load = con.execute(f"select max(load_id) from staging.{CSV_ROWS}").fetchone()[0]
            con.execute(f"create table main.{CSV_ROWS}_before as select * from staging.{CSV_ROWS}")
            con.execute(f"update staging.{CSV_ROWS} set city = '{MARK}'")
        finally:
            con.close()
        build = run_dbt(STAGING_BUILD)
        marked_rows_left: dict[str, int] = {}
        removed_still_staged: dict[str, int] = {}
        con = duckdb.connect(str(Settings.from_environment().duckdb_path))
        try:
            for model, (key_column, _, _, text_column) in INCREMENTAL_STAGING.items():
                (removed_still_staged[model],) = con.execute(
                    f"select count(*) from staging.{model} where {key_column} = ?", [removed[model]]
                ).fetchone()
                (marked_rows_left[model],) = con.execute(
                    f"select count(*) from staging.{model} where {text_column} = '{MARK}'"
                ).fetchone()
                # back to the values the first build staged, for the comparison with a full refresh
                con.execute(
                    f"update staging.{model} as s set {text_column} = b.{text_column} from main.{model}_before as b "
                    f"where s.{key_column} = b.{key_column} and s.{text_column} = '{MARK}'"
                )
            csv_marked_left = dict.fromkeys(csv_before, 0) | dict(
                con.execute(
                    f"select source_system, count(*) from staging.{CSV_ROWS} where city = '{MARK}' group by 1"
                ).fetchall()
            )
            (csv_new_load_rows,) = con.execute(
                f"select count(*) from staging.{CSV_ROWS} where load_id > ?", [csv_last_load]
            ).fetchone()
            (csv_removed_still_staged,) = con.execute(
                f"select count(*) from staging.{CSV_ROWS} where {CSV_KEY} = ?", [csv_removed]
            ).fetchone()
            con.execute(
                f"update staging.{CSV_ROWS} as s set city = b.city from main.{CSV_ROWS}_before as b "
                "where (s.source_system, s.source_file, s.source_row_number) "
                f"= (b.source_system, b.source_file, b.source_row_number) and s.city = '{MARK}'"
            )
        finally:
            con.close()
        incremental = fingerprints(Settings.from_environment().duckdb_path, ["staging"], read_only=False)
        refresh = run_dbt(["run", "--full-refresh", "--select", *INCREMENTAL_STAGING, CSV_ROWS])
        assert refresh.success, refresh.failures
        full = fingerprints(Settings.from_environment().duckdb_path, ["staging"], read_only=False)
        yield DeltaWorld(
            before, removed, marked_rows_left, removed_still_staged, build, incremental, full,
            csv_before, csv_marked_left, csv_new_load_rows, csv_removed_still_staged,
        )  # fmt: skip


def test_incremental_staging_after_a_delta_equals_a_full_refresh(delta_world: DeltaWorld) -> None:
    assert delta_world.build.success, delta_world.build.failures
    mine = {f"staging.{model}" for model in [*INCREMENTAL_STAGING, CSV_ROWS]}
    assert len(mine & set(delta_world.incremental)) == len(mine)
    assert (
        differences(
            {k: v for k, v in delta_world.incremental.items() if k in mine},
            {k: v for k, v in delta_world.full_refresh.items() if k in mine},
        )
        == []
    )
    for model, (key, *_) in INCREMENTAL_STAGING.items():
        after = _staged(model, key)
        new = after - delta_world.before[model]
        # the delta reached every model (new and changed rows with the delta's load id) ...
        assert new, f"{model}: nothing of the delta was staged"
        # ... and the rows it did not touch were left as they were, not staged again: most of the table
        assert delta_world.marked_rows_left[model] >= len(delta_world.before[model]) * 0.8, model
        assert delta_world.marked_rows_left[model] <= len(delta_world.before[model] & after), model


def test_rows_gone_from_raw_leave_the_incremental_tables(delta_world: DeltaWorld) -> None:
    for model, key in delta_world.removed.items():
        column = INCREMENTAL_STAGING[model][0]
        assert key in {k for k, _ in delta_world.before[model]}, f"{model}: {column} {key} was never staged"
    assert delta_world.removed_still_staged == dict.fromkeys(INCREMENTAL_STAGING, 0)


def test_a_new_bad_row_is_quarantined(delta_world: DeltaWorld) -> None:
    rows = query(
        "select rule_name from intermediate.int_quality__quarantine "
        "where source_system = 'hubspot' and record_key like ? and offending_value = ?",
        [f"%{BAD_CONTACT_ID}%", BAD_EMAIL],
    )
    assert ("invalid_email",) in rows, rows


def test_csv_rows_restage_new_loads_and_a_drop_whose_format_verdict_moved(delta_world: DeltaWorld) -> None:
    """The delta's new files are staged; the drop whose date-of-birth verdict the planted file moved is staged
    again whole (its old rows are read in the new format); the other drop's old rows are left as they were."""
    assert delta_world.csv_new_load_rows > 0
    assert delta_world.csv_marked_left[VERDICT_DROP] == 0
    for drop, rows in delta_world.csv_before.items():
        if drop != VERDICT_DROP:
            assert rows - 1 <= delta_world.csv_marked_left[drop] <= rows, drop  # all but the removed row
    (verdict,) = query(
        "select datetime_format from staging.base_csv_contacts__datetime_formats "
        "where source_system = ? and field_name = 'date_of_birth'",
        [VERDICT_DROP],
    )
    assert verdict == ("%d/%m/%Y",)
    assert delta_world.csv_removed_still_staged == 0


def test_incremental_staging_restages_after_a_consent_seed_change(delta_world: DeltaWorld) -> None:
    """The consent seed now maps the CRM's Opt Out = N, HubSpot's hs_email_optout false and Shopify's subscribed to
    opted_out (what `dbt seed` does with an edited file): the next incremental build stages every row again with the
    new mapping, as a full refresh would; no row keeps the opt-in it was staged with. Runs last: it changes the
    module's warehouse."""
    assert delta_world.build.success, delta_world.build.failures
    path = Settings.from_environment().duckdb_path
    remapped = {"legacy_crm": "n", "hubspot": "false", "shopify": "subscribed"}
    consent = {
        CSV_ROWS: "source_system = 'legacy_crm'",
        "stg_hubspot__contacts": "true",
        "stg_shopify__customers": "true",
    }
    with duckdb.connect(str(path)) as con:
        for source_system, value in remapped.items():
            (changed,) = con.execute(
                "update reference.enum_email_consent_states set consent_state = 'opted_out' "
                "where source_system = ? and source_value = ? and consent_state = 'opted_in' returning 1",
                [source_system, value],
            ).fetchall()
            assert changed, source_system
        for model, where in consent.items():
            (opted_in,) = con.execute(
                f"select count(*) from staging.{model} where {where} and email_consent_state = 'opted_in'"
            ).fetchone()
            assert opted_in > 0, model
    models = [*INCREMENTAL_STAGING, CSV_ROWS]
    incremental_run = run_dbt(["run", "--select", *models])
    assert incremental_run.success, incremental_run.failures
    incremental = fingerprints(path, ["staging"], read_only=False)
    for model, where in consent.items():
        assert query(f"select count(*) from staging.{model} where {where} and email_consent_state = 'opted_in'") == [
            (0,)
        ], model
    refresh = run_dbt(["run", "--full-refresh", "--select", *models])
    assert refresh.success, refresh.failures
    full = fingerprints(path, ["staging"], read_only=False)
    mine = {f"staging.{model}" for model in models}
    assert (
        differences({k: v for k, v in incremental.items() if k in mine}, {k: v for k, v in full.items() if k in mine})
        == []
    )
