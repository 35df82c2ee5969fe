"""A node that runs out of DuckDB's memory limit beside another is built again alone (ingestion/dbt_runner.py).

dbt's threads share one DuckDB process and its one ``memory_limit``; a query cannot spill what the query beside it
holds. Here two models each build a list of 15M integers in one aggregate (an aggregate state DuckDB cannot spill):
alone each peaks at about two thirds of a 1200MB limit, side by side they cannot both fit. The project is a small one
of its own (run in a child process, so its manifest and target folder never mix with the suite's).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
from conftest import PROJECT_ROOT

# len(list(i)) over 15M integers: ~0.8 GB at its peak, ~1 s on this machine (2 cores)
HOG = "select len(list(i order by i desc)) as n from range({rows}) as t (i)\n"
PROFILE = """
tiny:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('CUSTOMER360_DUCKDB_PATH') }}"
      threads: 2
      settings:
        memory_limit: "{{ env_var('CUSTOMER360_DUCKDB_MEMORY_LIMIT') }}"
        threads: "{{ env_var('CUSTOMER360_DUCKDB_THREADS') }}"
"""


def _project(root: Path, rows: int) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: tiny\nversion: '1.0'\nprofile: tiny\nmodels:\n  tiny:\n    +materialized: table\n", encoding="utf-8"
    )
    (root / "profiles.yml").write_text(PROFILE, encoding="utf-8")
    for name in ("left_hog", "right_hog"):
        (root / "models" / f"{name}.sql").write_text(HOG.format(rows=rows), encoding="utf-8")
    (root / "models" / "after_both.sql").write_text(
        "select l.n + r.n as n from {{ ref('left_hog') }} as l cross join {{ ref('right_hog') }} as r\n",
        encoding="utf-8",
    )
    return root


def _build(project: Path, tmp_path: Path, *args: str) -> tuple[dict[str, object], str]:
    script = (
        "import json, sys; from pathlib import Path; from ingestion.settings import Settings; "
        "from ingestion.dbt_runner import run_dbt; "
        "settings = Settings.from_environment(project_dir=Path(sys.argv[1])); "
        "o = run_dbt(['run', *sys.argv[2:]], progress=sys.stderr, settings=settings); "
        "print(json.dumps({'success': o.success, 'failures': o.failures, 'statuses': dict(o.statuses)}))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "CUSTOMER360_DUCKDB_PATH": str(tmp_path / "tiny.duckdb"),
        "CUSTOMER360_DUCKDB_MEMORY_LIMIT": "1200MB",
        "CUSTOMER360_DUCKDB_THREADS": "1",
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    done = subprocess.run(
        [sys.executable, "-c", script, str(project), *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_a_node_out_of_memory_beside_another_is_built_again_alone(tmp_path: Path) -> None:
    project = _project(tmp_path / "tiny", rows=15_000_000)
    outcome, progress = _build(project, tmp_path)

    # the first attempt ran the two models side by side and one of them ran out of the shared limit ...
    assert "Out of Memory Error" in progress, progress[-3000:]
    assert "ran out of DuckDB's memory limit beside others" in progress
    # ... then it and what it held up were built one at a time, and the build is a success
    assert outcome == {"success": True, "failures": [], "statuses": {"model:success": 3}}
    with duckdb.connect(str(tmp_path / "tiny.duckdb"), read_only=True) as con:
        assert con.execute("select n from after_both").fetchall() == [(30_000_000,)]
    # the last run_results.json is the retry's (dbt writes the retried command's name): one thread
    retry = json.loads((tmp_path / "target" / "run_results.json").read_text(encoding="utf-8"))
    assert retry["args"].get("threads") == 1
    assert [r["unique_id"] for r in retry["results"]][-1] == "model.tiny.after_both"


def test_the_retry_reads_the_results_of_the_run_it_retries(tmp_path: Path) -> None:
    """A first run with --target-path elsewhere: `dbt retry` would read the default folder's run_results.json, here
    a stale all-success run, re-run nothing and report a success with a model missing."""
    project = _project(tmp_path / "tiny", rows=1_000)
    stale, _ = _build(project, tmp_path)  # writes DBT_TARGET_PATH's run_results.json, every node a success
    assert stale["success"] is True
    for name in ("left_hog", "right_hog"):
        (project / "models" / f"{name}.sql").write_text(HOG.format(rows=15_000_000), encoding="utf-8")
    outcome, progress = _build(project, tmp_path, "--target-path", str(tmp_path / "elsewhere"))

    assert "building the failed and skipped nodes again, one at a time" in progress
    assert outcome == {"success": True, "failures": [], "statuses": {"model:success": 3}}
    with duckdb.connect(str(tmp_path / "tiny.duckdb"), read_only=True) as con:
        assert con.execute("select n from after_both").fetchall() == [(30_000_000,)]


def test_a_node_out_of_memory_alone_fails_and_names_the_setting(tmp_path: Path) -> None:
    project = _project(tmp_path / "tiny", rows=40_000_000)  # ~2 GB alone: more than the whole limit
    outcome, progress = _build(project, tmp_path)

    assert "building the failed and skipped nodes again, one at a time" in progress
    assert outcome["success"] is False
    failures = outcome["failures"]
    assert isinstance(failures, list) and len(failures) == 2
    for failure in failures:
        assert "Out of Memory Error" in failure
        assert failure.endswith("(alone too: raise CUSTOMER360_DUCKDB_MEMORY_LIMIT above 1200MB)")
    assert outcome["statuses"] == {"model:error": 2, "model:skipped": 1}
