"""A manifest whose node depends on a parent it does not hold is parsed again whole (ingestion/dbt_runner.py).

dbt's partial parse can keep a node after dropping its parent (dbt-core #10903, snapshots defined in YAML: once
after a code change every `customer360 build` stopped on "'test...' depends on 'snapshot...customers_snapshot'
which is not in the graph!"). The bug needs dbt's own state to go wrong, so the test makes the first parse's
manifest dangle (a parent appended to a node after the parse) and checks that the runner parses with
``--no-partial-parse`` and the command runs. A small project of its own, in a child process (as
test_dbt_memory_retry.py), so its manifest and target folder never mix with the suite's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
from conftest import PROJECT_ROOT
from test_dbt_memory_retry import PROFILE

# The child wraps dbt's public runner: the first (partial) parse returns a manifest with a dangling parent.
SCRIPT = """
import json, sys
from pathlib import Path
import dbt.cli.main
from ingestion.settings import Settings
from ingestion.dbt_runner import dangling_dependencies, run_dbt

invoked = []
original = dbt.cli.main.dbtRunner.invoke

def invoke(self, args, **kwargs):
    result = original(self, args, **kwargs)
    invoked.append([args[0], "whole" if "--no-partial-parse" in args else "partial"])
    if args[0] == "parse" and "--no-partial-parse" not in args and result.success:
        result.result.nodes["model.tiny.child"].depends_on.nodes.append("snapshot.tiny.dropped_by_partial_parse")
        invoked.append(["dangling", dangling_dependencies(result.result)])
    return result

dbt.cli.main.dbtRunner.invoke = invoke
settings = Settings.from_environment(project_dir=Path(sys.argv[1]))
outcome = run_dbt(["run"], settings=settings)
print(json.dumps({"success": outcome.success, "failures": outcome.failures, "invoked": invoked}))
"""


def test_a_manifest_with_a_dangling_parent_is_parsed_again_whole(tmp_path: Path) -> None:
    project = tmp_path / "tiny"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: tiny\nversion: '1.0'\nprofile: tiny\n", encoding="utf-8")
    (project / "profiles.yml").write_text(PROFILE, encoding="utf-8")
    (project / "models" / "parent.sql").write_text("select 1 as id\n", encoding="utf-8")
    (project / "models" / "child.sql").write_text("select id from {{ ref('parent') }}\n", encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "CUSTOMER360_DUCKDB_PATH": str(tmp_path / "tiny.duckdb"),
        "CUSTOMER360_DUCKDB_MEMORY_LIMIT": "500MB",
        "CUSTOMER360_DUCKDB_THREADS": "1",
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(project)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])

    assert outcome["invoked"] == [
        ["parse", "partial"],
        ["dangling", [["model.tiny.child", "snapshot.tiny.dropped_by_partial_parse"]]],
        ["parse", "whole"],
        ["run", "partial"],
    ], outcome
    assert outcome["success"], outcome["failures"]
    with duckdb.connect(str(tmp_path / "tiny.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from main.child").fetchall() == [(1,)]
