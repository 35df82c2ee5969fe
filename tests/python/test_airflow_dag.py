"""The Airflow DAG (`pip install -e ".[airflow]"`): rendered with cosmos, and run by `airflow dags test`.

* Rendering: with cosmos every dbt model is its own task (tests after it), with the retries, pool and
  timeout of the loads, so a failed model retries alone; `publish` waits for every gate.
* One `airflow dags test` run (SQLite metadata, the local source servers): a 5xx burst on HubSpot
  outlasts the loader's request retries, the task's retry recovers it; a data test fails (dbt vars from
  the run's conf), so `publish` never runs and `published.*` keeps its last good rows, while the rest of
  the warehouse is built and the run's figures recorded; the failure reaches a webhook.
The suite runs dbt as one task here (CUSTOMER360_AIRFLOW_DBT=build): cosmos pays dbt's start-up per node.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import DBT_TARGET_DIR, PROJECT_ROOT, WebhookReceiver

pytest.importorskip("airflow", reason='the airflow extra is not installed: pip install -e ".[airflow]"')
pytest.importorskip("cosmos", reason='the airflow extra is not installed: pip install -e ".[airflow]"')

DAGS_FOLDER = PROJECT_ROOT / "ingestion" / "orchestration" / "dags"
LAST_GOOD_AUDIENCE = [("cus_last_good", "last.good@example.com")]


def _airflow(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    }
    for args in (("db", "migrate"), ("pools", "set", "customer360_duckdb", "1", "DuckDB single writer")):
        done = _airflow(env, *args)
        assert done.returncode == 0, done.stderr[-3000:]
    return env


def test_cosmos_renders_each_model_as_a_retried_task(airflow_env: dict[str, str]) -> None:
    from ingestion.dbt_runner import run_dbt

    assert run_dbt(["parse"]).success  # cosmos renders from dbt's manifest
    probe = (
        "import json\nfrom ingestion.orchestration.dag import build_dag\ndag = build_dag()\n"
        "print(json.dumps({t.task_id: [t.retries, t.pool, t.retry_exponential_backoff,"
        " t.execution_timeout.total_seconds() if t.execution_timeout else None, sorted(t.upstream_task_ids)]"
        " for t in dag.tasks}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**airflow_env, "CUSTOMER360_AIRFLOW_DBT": "cosmos"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    tasks = json.loads(done.stdout.strip().splitlines()[-1])
    manifest = json.loads((DBT_TARGET_DIR / "manifest.json").read_text())
    models = {
        n["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and "monitoring" not in n["tags"] and n["package_name"] == "customer360"
    }
    for model in models:
        # a model with tests is a group (run, then test); one without is a single task
        retries, pool, backoff, timeout, _ = tasks.get(f"dbt.{model}.run") or tasks[f"dbt.{model}_run"]
        assert (retries, pool, backoff) == (2, "customer360_duckdb", True), model
        assert timeout and timeout > 0
    assert "dbt.email_audience.test" in tasks
    assert not any("monitoring" in task_id for task_id in tasks)  # built by anomaly_check, after the figures
    for source in ("hubspot", "shopify", "segment", "csv_contacts"):
        assert tasks[f"load_{source}"][:3] == [2, "customer360_duckdb", True]
    upstream = set(tasks["publish"][4])
    assert {"freshness_gate", "load_hubspot", "load_csv_contacts"} <= upstream
    assert any(task.startswith("dbt.") for task in upstream)


def test_dags_test_recovers_a_5xx_burst_and_a_failed_gate_keeps_the_published_audience(
    airflow_env: dict[str, str], demo_data: Path, tmp_path: Path, webhook_receiver: WebhookReceiver
) -> None:
    from ingestion.demo_kit.servers.run import running_servers

    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema published")
    con.execute("create table published.email_audience_rows (customer_id varchar, email varchar)")
    con.execute("insert into published.email_audience_rows values (?, ?)", LAST_GOOD_AUDIENCE[0])
    con.close()
    env = {
        **airflow_env,
        "CUSTOMER360_DUCKDB_PATH": str(warehouse),
        "CUSTOMER360_PIPELINES_DIR": str(tmp_path / "dlt_pipelines"),
        "DLT_DATA_DIR": str(tmp_path / "dlt_data"),
        "CUSTOMER360_DATA_DIR": str(demo_data),
        "CUSTOMER360_AIRFLOW_DBT": "build",
        "DBT_TARGET_PATH": str(tmp_path / "dbt_target"),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "RUNTIME__REQUEST_MAX_ATTEMPTS": "2",
        "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.1",
        "CUSTOMER360_LOAD_RETRY_DELAY_SECONDS": "1",
        "CUSTOMER360_ALERTS": "log,webhook",
        "CUSTOMER360_ALERT_WEBHOOK_URL": webhook_receiver.url,
    }
    with running_servers(demo_data) as servers:
        env.update(servers.loader_environment())
        servers.hubspot.faults.arm("server_error", count=3, status=503)
        conf = json.dumps({"dbt_vars": "{identity_max_cluster_size: 1}"})
        done = _airflow(env, "dags", "test", "customer360", "2026-11-02", "--conf", conf, timeout=1500)
    log = done.stdout[-4000:] + done.stderr[-4000:]

    metadata = sqlite3.connect(Path(airflow_env["AIRFLOW_HOME"]) / "airflow.db")
    states = {
        task: (state, tries)
        for task, state, tries in metadata.execute(
            "select task_id, state, try_number from task_instance where dag_id = 'customer360'"
        )
    }
    metadata.close()
    assert states["load_hubspot"] == ("success", 2), (states, log)  # the first try met the burst
    for source in ("shopify", "segment", "csv_contacts"):
        assert states[f"load_{source}"] == ("success", 1), states
    assert states["freshness_gate"][0] == "success", states
    assert states["dbt_build"][0] == "failed", states
    assert states["publish"][0] == "upstream_failed", states
    assert states["quality_history"][0] == "success" and states["anomaly_check"][0] == "success", states

    con = duckdb.connect(str(warehouse))
    try:
        assert con.execute("select * from published.email_audience_rows").fetchall() == LAST_GOOD_AUDIENCE
        assert not con.execute(
            "select count(*) from information_schema.tables where table_schema = 'published'"
            " and table_name = 'publish_log'"
        ).fetchone()[0]  # type: ignore[index]
        # the rest of the warehouse was built up to the failing test (dbt skips only what depends on it)
        assert con.execute("select count(*) from staging.stg_hubspot__contacts").fetchone()[0] > 0  # type: ignore[index]
        assert con.execute("select count(*) from intermediate.int_identity__clusters").fetchone()[0] > 0  # type: ignore[index]
        (figures,) = con.execute("select count(*) from monitoring.run_metrics where run_id like 'airflow_%'").fetchone()  # type: ignore[misc]
        assert figures > 10
    finally:
        con.close()
    gate = [a for a in webhook_receiver.received if "identity_cluster_size_within_limit" in str(a["subject"])]
    assert len(gate) == 1 and gate[0]["kind"] == "failure" and gate[0]["step"] == "build", webhook_receiver.received
