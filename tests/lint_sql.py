"""Lint every hand-written dbt SQL file once, both branches of the incremental models included.

sqlfluff's dbt templater compiles each file against a database. On an empty DuckDB file `is_incremental()` is
false, so the first pass lints every model's full-refresh branch. The second pass lints the incremental models
again against a DuckDB file in which their own relations exist (empty placeholder tables named after dbt's
manifest), so `is_incremental()` is true and the `{% if is_incremental() %}` branch is linted too.

Neither pass touches the developer's warehouse, `target/` or partial-parse state: both get temporary folders.

Run from the project root: `python tests/lint_sql.py [files...]` (no files: every SQL folder).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import duckdb

try:  # sqlfluff's optional Rust parser (the dev extra installs it; sqlfluff uses it when present): same findings
    PARSER = f"rust parser (sqlfluffrs {version('sqlfluffrs')})"
except PackageNotFoundError:
    PARSER = "python parser (install sqlfluff[rs] for the faster rust one)"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Hand-written dbt SQL. tests/generic holds test macros, which sqlfluff's dbt templater skips anyway.
SQL_FOLDERS = ("models", "tests/singular", "snapshots", "analyses")


def _dbt_env(scratch: Path, database: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CUSTOMER360_DUCKDB_PATH": str(database),
        "DBT_TARGET_PATH": str(scratch / "target"),
        "DBT_LOG_PATH": str(scratch / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def _sqlfluff(paths: list[str], env: dict[str, str]) -> int:
    """Run `sqlfluff lint` and print its findings (without the templater's per-file progress lines)."""
    result = subprocess.run(
        [sys.executable, "-m", "sqlfluff", "lint", *paths, "--processes", "2", "--nocolor"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    findings = [line for line in result.stdout.splitlines() if not line.startswith("=== [dbt templater]")]
    print("\n".join(findings))
    if result.returncode != 0 and result.stderr.strip():
        print(result.stderr, file=sys.stderr)
    return result.returncode


def _incremental_models(env: dict[str, str], scratch: Path) -> list[tuple[str, str, str]]:
    """(file path, schema, relation name) of every incremental model, from `dbt parse`'s manifest."""
    dbt = shutil.which("dbt", path=str(Path(sys.executable).parent)) or "dbt"
    subprocess.run(
        [dbt, "parse", "--profiles-dir", ".", "--quiet"],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
    )
    manifest = json.loads((scratch / "target" / "manifest.json").read_text())
    return sorted(
        (node["original_file_path"], node["schema"], node["alias"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] == "incremental"
    )


def _is_under(path: Path, targets: list[str]) -> bool:
    """Whether `path` is one of the files or folders named on the command line."""
    resolved = path.resolve()
    return any(resolved == Path(t).resolve() or Path(t).resolve() in resolved.parents for t in targets)


def main(paths: list[str]) -> int:
    targets = paths or [folder for folder in SQL_FOLDERS if any((PROJECT_ROOT / folder).rglob("*.sql"))]
    with tempfile.TemporaryDirectory(prefix="customer360-lint-") as tmp:
        scratch = Path(tmp)
        print(f"sqlfluff lint {' '.join(targets)} (full-refresh branches; {PARSER})", flush=True)
        status = _sqlfluff(targets, _dbt_env(scratch / "full", scratch / "full.duckdb"))

        incremental_env = _dbt_env(scratch / "incremental", scratch / "incremental.duckdb")
        models = _incremental_models(incremental_env, scratch / "incremental")
        models = [model for model in models if _is_under(PROJECT_ROOT / model[0], targets)]
        if models:
            with duckdb.connect(str(scratch / "incremental.duckdb")) as con:
                for _, schema, name in models:
                    con.execute(f'create schema if not exists "{schema}"')
                    con.execute(f'create table if not exists "{schema}"."{name}" (placeholder integer)')
            files = [path for path, _, _ in models]
            print(f"sqlfluff lint {len(files)} incremental models (is_incremental() branches)", flush=True)
            status = max(status, _sqlfluff(files, incremental_env))
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
