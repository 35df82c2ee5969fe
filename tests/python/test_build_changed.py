"""`customer360 build --changed` (issue 16): only what reads the sources whose raw tables changed since the last
complete build, nothing when none did, everything when the record cannot be trusted; and what it leaves alone is
what a build of everything would write.

One module world, cloned from the session's build (a complete build: it left its record): a `--changed` build
with nothing new; a new CSV drop (a table no source yml lists) holding one known person's opt-out; a `--changed`
build of it; a fingerprint of the warehouse; a plain build of everything; a second fingerprint.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT_ROOT, BuiltWarehouse, execute_sql
from test_marts import query

from ingestion import build_state
from ingestion.cli import main
from ingestion.dbt_runner import DbtOutcome, production_build_args, run_dbt
from ingestion.settings import Settings

sys.path.insert(0, str(PROJECT_ROOT / "tests"))
from relation_fingerprints import differences, fingerprints

pytestmark = pytest.mark.slow

DROP = "changed_build_drop"
# Relations that record when they were built, not only what from: equal data, different clock.
BUILD_TIME_RELATIONS = {
    "intermediate.int_identity__customer_id_history",  # assigned_at: run_started_at of the build that assigned
    "marts.customer_id_history",
    "marts.cart_abandonment_trigger_log",  # triggered_at
}


@dataclass
class ChangedWorld:
    nothing_new: DbtOutcome
    drop_build: DbtOutcome
    drop_email: str
    after_changed: dict[str, dict[str, object]]
    after_everything: dict[str, dict[str, object]]


def _write_drop(folder: Path, email: str, stamp: str) -> None:
    """A new CSV drop (its own source system) with a known person's opt-out, dated a minute ago."""
    folder.mkdir(parents=True)
    mapping = {
        "id": "contact_id", "email": "email", "opt_in": "email_consent",
        "at": ["updated_at", "created_at", "email_consent_updated_at"],
    }  # fmt: skip
    (folder / "mapping.json").write_text(json.dumps(mapping))
    (folder / "export.csv").write_text(f"id,email,opt_in,at\nx1,{email},no,{stamp}\n")


def _warehouse_prints() -> dict[str, dict[str, object]]:
    prints = fingerprints(Settings.from_environment().duckdb_path, ["staging", "intermediate", "marts"], False)
    return {name: value for name, value in prints.items() if name not in BUILD_TIME_RELATIONS}


@pytest.fixture(scope="module")
def changed_world(built_warehouse: BuiltWarehouse, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChangedWorld]:
    from ingestion.loading import load

    root = tmp_path_factory.mktemp("changed_build")
    with pytest.MonkeyPatch.context() as env:
        built_warehouse.clone(root, env)
        nothing_new = run_dbt(production_build_args(["build"]), changed_only=True)
        (email,) = query(
            "select email from marts.email_consent where is_latest_for_customer "
            "and customer_consent_state_after = 'opted_in' and email is not null order by email limit 1"
        )[0]
        stamp = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        _write_drop(root / DROP, email, stamp)
        load("csv_contacts", path=root / DROP, mapping=root / DROP / "mapping.json", source_name=DROP)
        drop_build = run_dbt(production_build_args(["build"]), changed_only=True)
        after_changed = _warehouse_prints()
        everything = run_dbt(production_build_args(["build"]))
        assert everything.success, everything.failures
        yield ChangedWorld(nothing_new, drop_build, email, after_changed, _warehouse_prints())


def test_nothing_new_runs_no_dbt_node(changed_world: ChangedWorld) -> None:
    assert changed_world.nothing_new.success
    assert changed_world.nothing_new.executed == [], changed_world.nothing_new.executed


def test_a_new_drop_builds_what_reads_csv_drops_and_nothing_else(changed_world: ChangedWorld) -> None:
    outcome = changed_world.drop_build
    assert outcome.success, outcome.failures
    models = {uid.split(".")[-1] for uid in outcome.executed if uid.startswith("model.")}
    # the drop's own staging and everything downstream: identity, golden records, the consent ledger ...
    assert {"base_csv_contacts__drop_rows", "int_identity__scored_pairs", "customers", "email_consent"} <= models
    # ... and none of the other sources' staging
    assert not models & {"stg_hubspot__contacts", "stg_shopify__orders", "stg_segment__events", "base_segment__events"}


def test_the_new_drop_reached_identity_and_the_consent_ledger(changed_world: ChangedWorld) -> None:
    linked = query(
        "select count(*) from marts.customer_identities as drop_record "
        "inner join marts.customer_identities as other using (customer_id) "
        "where drop_record.source_system = ? and other.source_system <> ?",
        [DROP, DROP],
    )
    assert linked[0][0] >= 1, "the drop's record was not linked to the person it names"
    signals = query(
        "select email, consent_state, customer_consent_state_after from marts.email_consent where source_system = ?",
        [DROP],
    )
    assert signals == [(changed_world.drop_email, "opted_out", "opted_out")]


def test_what_changed_leaves_alone_is_what_a_build_of_everything_writes(changed_world: ChangedWorld) -> None:
    assert differences(changed_world.after_changed, changed_world.after_everything) == []


def test_a_partial_build_forgets_the_record(built_warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    """The hook empties the record as any writing command starts: a build that fails never gets to write one."""
    with pytest.MonkeyPatch.context() as env:
        built_warehouse.clone(tmp_path, env)
        path = Settings.from_environment().duckdb_path
        assert build_state.recorded_state(path) is not None  # the session's build was complete
        tests_only = run_dbt(["test", "--select", "customers"])  # reads, writes no model: the record stays
        assert tests_only.success, tests_only.failures
        assert build_state.recorded_state(path) is not None
        partial = run_dbt(["run", "--select", "stg_mailchimp__members"])
        assert partial.success, partial.failures
        assert build_state.recorded_state(path) is None


def _parsed(*options: str) -> Any:
    from dbt.cli.main import dbtRunner

    with pytest.MonkeyPatch.context() as env:
        for name, value in Settings.from_environment().dbt_environment().items():
            env.setenv(name, value)
        root = str(PROJECT_ROOT)
        common = ["--project-dir", root, "--profiles-dir", root, "--log-level", "none"]
        parsed = dbtRunner().invoke(["parse", *options, *common])
    assert parsed.success, parsed.exception
    return parsed.result


@pytest.fixture(scope="module")
def manifest() -> Any:
    return _parsed()


def test_the_plan_builds_everything_when_the_record_cannot_be_trusted(
    built_warehouse: BuiltWarehouse, manifest: Any, tmp_path: Path
) -> None:
    with pytest.MonkeyPatch.context() as env:
        built_warehouse.clone(tmp_path, env)
        path = Settings.from_environment().duckdb_path
        build_args = production_build_args(["build"])
        assert build_state.plan(path, manifest, PROJECT_ROOT, build_args).selection == []
        # a load that found nothing new still writes dlt's bookkeeping, which no model reads
        execute_sql(path, "insert into raw_hubspot._dlt_loads select * from raw_hubspot._dlt_loads limit 1")
        assert build_state.plan(path, manifest, PROJECT_ROOT, build_args).selection == []
        # other vars compile other SQL
        other_vars = [*build_args, "--vars", "{identity_match_threshold: 0.9}"]
        assert build_state.plan(path, manifest, PROJECT_ROOT, other_vars).selection is None
        # a row gone from a raw table (the erasure, a hard delete): that source and what reads it
        execute_sql(
            path,
            "delete from raw_hubspot.contacts where id = (select min(id) from raw_hubspot.contacts)",
            f"update {build_state.TABLE} set rebuilt_all_at = rebuilt_all_at - interval 23 hour",
        )
        assert build_state.plan(path, manifest, PROJECT_ROOT, build_args).selection == ["source:hubspot+"]
        # nothing rebuilt in full for over a day: the clock-bound parts (future-date cutoff) are stale
        execute_sql(path, f"update {build_state.TABLE} set rebuilt_all_at = rebuilt_all_at - interval 2 hour")
        assert build_state.plan(path, manifest, PROJECT_ROOT, build_args).selection is None
        # a record dated in the future (a clock set back) would never age: it is not trusted either
        build_state.record(path, build_state.everything(build_state.plan(path, manifest, PROJECT_ROOT, build_args)))
        assert build_state.plan(path, manifest, PROJECT_ROOT, build_args).selection == []
        execute_sql(path, f"update {build_state.TABLE} set rebuilt_all_at = rebuilt_all_at + interval 1 hour")
        assert build_state.plan(path, manifest, PROJECT_ROOT, build_args).selection is None
        # marts_reference_date 'today' (however it is set): the model that reads the clock has no parent dbt
        # knows of then; it and what reads it are built even when no source changed
        today = [*build_args, "--vars", "{marts_reference_date: today}"]
        today_manifest = _parsed("--vars", "{marts_reference_date: today}")
        build_state.record(path, build_state.everything(build_state.plan(path, today_manifest, PROJECT_ROOT, today)))
        planned = build_state.plan(path, today_manifest, PROJECT_ROOT, today).selection
        assert planned == ["int_customers__reference_time+"]


def _copy_of_project(root: Path) -> Path:
    import shutil

    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy2(PROJECT_ROOT / name, root / name)
    for folder in ("models", "macros", "seeds", "snapshots", "tests/generic", "tests/singular", "docs/dbt"):
        shutil.copytree(PROJECT_ROOT / folder, root / folder)
    (root / "tests" / "python").mkdir()
    return root


def test_the_project_fingerprint_sees_what_dbt_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _copy_of_project(tmp_path)
    before = build_state.project_fingerprint(project, ["build"])
    assert build_state.project_fingerprint(project, ["build", "--exclude-resource-type", "unit_test"]) == before
    assert build_state.project_fingerprint(project, ["build", "--vars", "{a: 1}"]) != before
    assert build_state.project_fingerprint(project, ["build", "-t", "prod"]) != before
    monkeypatch.setenv("DBT_TARGET", "prod")  # dbt reads its target from there too
    assert build_state.project_fingerprint(project, ["build"]) != before
    monkeypatch.delenv("DBT_TARGET")
    # pytest's files share the tests folder: dbt does not read them, but it reads any SQL or yml there
    (project / "tests" / "python" / "test_new.py").write_text("def test_x(): pass\n")
    assert build_state.project_fingerprint(project, ["build"]) == before
    (project / "tests" / "python" / "a_singular_test.sql").write_text("select 1 as broken\n")
    assert build_state.project_fingerprint(project, ["build"]) != before
    (project / "tests" / "python" / "a_singular_test.sql").unlink()
    model = project / "models" / "marts" / "customers" / "customers.sql"
    model.write_text(model.read_text() + "\n-- an analyst's edit\n")
    assert build_state.project_fingerprint(project, ["build"]) != before


@pytest.mark.parametrize(
    ("args", "environment", "complete"),
    [
        (["build"], {}, True),
        (["build", "--exclude-resource-type", "unit_test", "--full-refresh", "--threads", "4", "-t", "dev"], {}, True),
        (["build", "--exclude", "unit_test:a", "unit_test:b", "--vars", "{x: 1}"], {}, True),
        (["build"], {"DBT_EMPTY": "false", "DBT_TARGET_PATH": "elsewhere"}, True),
        (["build", "--select", "customers"], {}, False),
        (["build", "-s", "customers"], {}, False),
        (["build", "-scustomers"], {}, False),  # dbt reads it as -s customers
        (["build", "--models=customers"], {}, False),
        (["build", "--exclude", "customers"], {}, False),
        (["build", "--exclude", "unit_test:a", "customers"], {}, False),
        (["build", "--exclude", "unit_test:a stg_segment__events+"], {}, False),  # dbt splits a value on spaces
        (["build", "--exclude=unit_test:a customers"], {}, False),
        (["build", "--exclude", "unit_test:a+"], {}, False),
        (["build", "--exclude-resource-type", "test"], {}, False),
        (["build", "--selector", "nightly"], {}, False),
        (["build", "--empty"], {}, False),
        (["build", "--sample", "3 days"], {}, False),
        (["build"], {"DBT_EMPTY": "true"}, False),
        (["build"], {"DBT_DEFER": "1"}, False),
        (["run"], {}, False),
        (["test"], {}, False),
    ],
)
def test_only_a_build_of_the_whole_project_is_complete(
    args: list[str], environment: dict[str, str], complete: bool
) -> None:
    assert build_state.is_complete_build(args, environment) is complete


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (["--select", "customers"], "selects what to build itself"),
        (["-scustomers"], "selects what to build itself"),
        (["--full-refresh"], "--full-refresh rebuilds everything"),
        (["DBT_FULL_REFRESH=true"], "--full-refresh rebuilds everything"),
    ],
)
def test_changed_with_a_selection_or_a_full_refresh_is_one_line(
    warehouse: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str], refused: str
) -> None:
    for variable in [arg for arg in args if arg.startswith("DBT_")]:  # dbt reads its flags from there too
        monkeypatch.setenv(*variable.split("=", 1))
    args = [arg for arg in args if not arg.startswith("DBT_")]
    assert main(["build", "--changed", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("customer360: error: ") and refused in err and "\n" not in err


def test_a_manifest_with_an_ephemeral_model_is_parsed_again_for_each_command(manifest: Any) -> None:
    """dbt injects an ephemeral model's CTE once per manifest: a second command on a kept one would fail."""
    from ingestion.dbt_runner import reusable

    assert reusable(manifest)  # the project has no ephemeral model: the suite reuses its manifest
    node = next(node for node in manifest.nodes.values() if node.resource_type.value == "model")
    kept = node.config.materialized
    try:
        node.config.materialized = "ephemeral"
        assert not reusable(manifest)
    finally:
        node.config.materialized = kept
