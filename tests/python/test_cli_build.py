"""`customer360 build` and `customer360 sql` as a user runs them: dbt's options pass through, the
terminal gets a compact view, and a locked warehouse is one line."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import duckdb
import pytest
from test_cli import assert_user_error, run_cli

SEED = "consent_signal_rules"


@pytest.mark.parametrize(
    "dbt_args",
    [
        ["-s", SEED, "--full-refresh", "--vars", "{reporting_currency: EUR}"],
        ["--", "--select", SEED, "--exclude", "country_codes"],
    ],
    ids=["short-options", "double-dash"],
)
def test_build_passes_dbt_options_through(warehouse: Path, dbt_args: list[str]) -> None:
    result = run_cli("build", *dbt_args, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "unrecognized arguments" not in result.stderr
    # only the selected seed ran (its unique/not_null tests may run too: they are the seed's own)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    finally:
        con.close()
    assert SEED in tables and "country_codes" not in tables
    # compact: a summary line and the log's path, not dbt's hundreds of lines and no colour codes
    assert "dbt succeeded:" in result.stderr and "full dbt log:" in result.stderr
    assert len(result.stdout.splitlines()) + len(result.stderr.splitlines()) < 20, result.stderr
    assert "\x1b[" not in result.stdout + result.stderr


def test_build_failure_names_the_node_and_exits_1(warehouse: Path, tmp_path: Path) -> None:
    logs = tmp_path / "dbt-logs"
    result = run_cli(  # no raw tables loaded
        "build", "--select", "stg_hubspot__contacts", env={"DBT_LOG_PATH": str(logs)}, timeout=300
    )
    assert result.returncode == 1
    assert "dbt FAILED" in result.stderr and "stg_hubspot__contacts" in result.stderr
    assert "Traceback" not in result.stderr
    # the log named is the one dbt wrote: DBT_LOG_PATH's, not the project's logs/ folder
    named = re.search(r"full dbt log: (.+)", result.stderr)
    assert named is not None and Path(named.group(1).strip()) == logs / "dbt.log", result.stderr
    assert "stg_hubspot__contacts" in (logs / "dbt.log").read_text(encoding="utf-8", errors="replace")


def test_build_on_a_locked_warehouse_is_one_line(
    warehouse: Path, write_lock_held: Callable[[Path], AbstractContextManager[None]]
) -> None:
    duckdb.connect(str(warehouse)).close()
    with write_lock_held(warehouse):
        result = run_cli("build", timeout=300)
    assert_user_error(result, "locked by another process")
    assert len(result.stdout.splitlines()) + len(result.stderr.splitlines()) == 1, result.stdout + result.stderr


def test_sql_runs_queries_read_only(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse))
    con.execute("create table answers as select 42 as answer, 'a;b' as text")
    con.close()
    result = run_cli("sql", "select answer, text from answers")
    assert result.returncode == 0, result.stderr
    assert "42" in result.stdout and "a;b" in result.stdout and "(1 row)" in result.stdout
    write = run_cli("sql", "drop table answers")
    assert write.returncode == 1 and "read-only" in write.stderr
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("select count(*) from answers").fetchone() == (1,)
    con.close()


def test_sql_without_a_warehouse_is_one_line(warehouse: Path) -> None:
    assert_user_error(run_cli("sql", "select 1"), "no warehouse", "customer360 demo")


def test_readme_query_works_right_after_set_up(warehouse: Path) -> None:
    """Issue 10 point 9: the README's way to query the warehouse needs nothing beyond the two set-up
    commands (the `duckdb` CLI it used to show is not installed by them)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert not re.search(r"^duckdb ", readme, re.MULTILINE)
    command = next(line for line in readme.splitlines() if line.startswith("customer360 sql "))
    argv = shlex.split(command.split("#", 1)[0])
    assert argv[:2] == ["customer360", "sql"] and len(argv) == 3, argv
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts; create table marts.email_audience as select 'a@example.com' as email")
    con.close()
    result = run_cli(*argv[1:])
    assert result.returncode == 0, result.stderr
    assert "a@example.com" in result.stdout
