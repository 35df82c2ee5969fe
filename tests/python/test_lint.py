"""Lint gates: ruff for the Python, sqlfluff (dbt templater, config in .sqlfluff) for the dbt SQL.

Both run the tools as a developer would, from the project root, and print the tools' findings on failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion.settings import PROJECT_ROOT

# Hand-written dbt SQL. tests/generic holds test macros, which sqlfluff's dbt templater skips anyway.
SQL_FOLDERS = ("models", "tests/singular", "snapshots", "analyses")


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_ruff_check_and_format() -> None:
    for args in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
        result = _run(args)
        if result.returncode != 0:
            pytest.fail(f"`{' '.join(args)}` failed:\n{result.stdout}{result.stderr}", pytrace=False)


@pytest.mark.slow
def test_sqlfluff_lint(tmp_path: Path) -> None:
    """`sqlfluff lint` over every SQL folder (~2 minutes: the dbt templater compiles each file).

    The dbt templater only compiles, so it needs no built warehouse: it gets an empty temporary DuckDB file
    (is_incremental() is false, so the full-refresh branch of incremental models is what gets linted) and
    its own target/log folders, so it never touches the developer's warehouse, manifest or partial parse.
    """
    folders = [folder for folder in SQL_FOLDERS if any((PROJECT_ROOT / folder).rglob("*.sql"))]
    env = {
        **os.environ,
        "CUSTOMER360_DUCKDB_PATH": str(tmp_path / "lint.duckdb"),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    result = _run(["sqlfluff", "lint", *folders, "--processes", "2", "--nocolor"], env=env)
    findings = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("=== [dbt templater]"))
    if result.returncode != 0:
        pytest.fail(f"`sqlfluff lint {' '.join(folders)}` failed:\n{findings}\n{result.stderr}", pytrace=False)
