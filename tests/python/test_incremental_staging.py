"""Incremental staging (issue 16): HubSpot contacts, Shopify customers and Shopify orders re-stage only what a
delta changed, and end up exactly as a full refresh would build them.

One module-scoped world, cloned from the session's built warehouse: `customer360 generate --delta` (new
people, changed contacts, new orders), a planted new contact with an invalid email, every source loaded
again, and raw rows of one contact, one customer and one order removed the way the erasure's raw scrub
(or a hard delete) removes them. Then one incremental build of the staging models and the quarantine, a
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
    *("path:models/staging/hubspot", "path:models/staging/shopify", "path:models/intermediate/quality"),
]
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
        finally:
            con.close()
        incremental = fingerprints(Settings.from_environment().duckdb_path, ["staging"], read_only=False)
        refresh = run_dbt(["run", "--full-refresh", "--select", *INCREMENTAL_STAGING])
        assert refresh.success, refresh.failures
        full = fingerprints(Settings.from_environment().duckdb_path, ["staging"], read_only=False)
        yield DeltaWorld(before, removed, marked_rows_left, removed_still_staged, build, incremental, full)


def test_incremental_staging_after_a_delta_equals_a_full_refresh(delta_world: DeltaWorld) -> None:
    assert delta_world.build.success, delta_world.build.failures
    mine = {f"staging.{model}" for model in INCREMENTAL_STAGING}
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
