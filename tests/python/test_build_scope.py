"""What a build runs: production builds (`customer360 build`, `run`, `erase --apply`) leave the unit tests to
CI; the test suite's session build still runs every one of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT_ROOT, BuiltWarehouse

from ingestion import cli
from ingestion.dbt_runner import DbtOutcome, production_build_args
from ingestion.settings import Settings


def _dbt_ls(args: list[str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`dbt ls <args>` on this project: the unique ids of the resources a command with these options selects."""
    from dbt.cli.main import dbtRunner

    for name, value in Settings.from_environment().dbt_environment().items():
        monkeypatch.setenv(name, value)
    root = str(PROJECT_ROOT)
    common = ["--project-dir", root, "--profiles-dir", root, "--log-level", "none"]
    result = dbtRunner().invoke(["ls", *args, "--output", "json", "--output-keys", "unique_id", *common])
    assert result.success, result.exception
    return [line.split('"unique_id": "', 1)[1].split('"', 1)[0] for line in result.result]


def test_production_build_args_exclude_unit_tests_unless_asked() -> None:
    assert production_build_args(["build"]) == ["build", "--exclude-resource-type", "unit_test"]
    assert production_build_args(["build", "-s", "x", "--include-unit-tests"]) == ["build", "-s", "x"]
    # a caller choosing resource types decides for itself
    assert production_build_args(["build", "--resource-type", "unit_test"]) == ["build", "--resource-type", "unit_test"]
    chosen = ["build", "--exclude-resource-types=seed"]
    assert production_build_args(chosen) == chosen


def test_cli_build_runs_no_unit_test_by_default(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run_dbt(args: list[str], **_: Any) -> DbtOutcome:
        calls.append(args)
        return DbtOutcome(success=True)

    monkeypatch.setattr("ingestion.dbt_runner.run_dbt", fake_run_dbt)
    assert cli.main(["build", "-s", "customers"]) == 0
    assert cli.main(["build", "--include-unit-tests", "-s", "customers"]) == 0
    production, with_unit_tests = calls
    assert production[:3] == ["build", "-s", "customers"] and "unit_test" in production
    assert with_unit_tests == ["build", "-s", "customers"]

    # and dbt itself selects no unit test with the production options, every one without them
    every = _dbt_ls(["--resource-type", "unit_test"], monkeypatch)
    assert len(every) >= 19
    selected = _dbt_ls(production_build_args(["build"])[1:], monkeypatch)
    assert selected and not [node for node in selected if node.startswith("unit_test.")]


def test_the_suites_session_build_runs_every_unit_test(
    built_warehouse: BuiltWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI's guarantee: the unit tests left out of production builds still all run (and pass) in the suite."""
    monkeypatch.setenv("CUSTOMER360_DUCKDB_PATH", str(built_warehouse.path))
    every = _dbt_ls(["--resource-type", "unit_test"], monkeypatch)
    statuses = built_warehouse.outcome.statuses
    ran = sum(n for key, n in statuses.items() if key.startswith("unit_test:"))
    assert ran == len(every), statuses
    assert statuses["unit_test:pass"] == len(every), statuses
