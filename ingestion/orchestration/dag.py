"""The Airflow DAG `customer360` (optional extra: `pip install -e ".[airflow]"`).

    load_hubspot ─┐
    load_shopify ─┤                 ┌─ publish ── sync (only with CUSTOMER360_SYNC_COMMAND)
    load_segment ─┼─ freshness_gate ┤
    load_csv ─────┘        dbt ─────┘
                            └── quality_history ── anomaly_check

* One task per dlt source, each with retries, exponential backoff and a timeout (``CUSTOMER360_LOAD_*``,
  the same settings `customer360 run` reads); each attempt is a child process that a timeout ends.
* dbt: with ``CUSTOMER360_AIRFLOW_DBT=cosmos`` (default) the project is an astronomer-cosmos task group,
  one task per model/seed/snapshot with its tests after it, so a failed model retries alone; with
  ``build`` it is one `dbt build` task (what the test suite runs: cosmos pays dbt's start-up per node).
* Gates: ``freshness_gate`` (`dbt source freshness`) and the dbt tests; ``publish`` (trigger rule
  all_success) runs only when every load, the freshness gate and every dbt task succeeded, so a failed
  gate leaves ``published.*`` at the last good run. ``quality_history`` and ``anomaly_check`` run in
  any case (all_done).
* DuckDB has one writer: every task that writes is in the one-slot pool ``customer360_duckdb``
  (create it: ``airflow pools set customer360_duckdb 1 "DuckDB single writer"``) and also takes the
  warehouse writer lock (steps.warehouse_writer_lock), so even a misconfigured pool cannot make two
  writers. Loads therefore run one after another; see docs/decisions.md.
* Alerts: ``on_failure_callback`` sends each task's final failure through the configured alert
  callbacks (CUSTOMER360_ALERTS); anomalies are sent by ``anomaly_check``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.exceptions import AirflowSkipException
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, TriggerRule

from ingestion.dbt_runner import DbtOutcome
from ingestion.orchestration import metrics, steps
from ingestion.orchestration.alerts import Alert, Alerter, first_line
from ingestion.settings import Settings
from ingestion.sources import LOADED_SOURCES

DAG_ID = "customer360"
POOL = "customer360_duckdb"
DBT_MODE_ENV = "CUSTOMER360_AIRFLOW_DBT"
SCHEDULE_ENV = "CUSTOMER360_AIRFLOW_SCHEDULE"


def _run_id(context: dict[str, Any]) -> str:
    return "airflow_" + "".join(c if c.isalnum() else "_" for c in str(context["dag_run"].run_id))


def _started_at(context: dict[str, Any]) -> datetime:
    start = context["dag_run"].start_date or datetime.now(UTC)
    return start.astimezone(UTC).replace(tzinfo=None)


def _quarantine(context: dict[str, Any], settings: Settings) -> dict[str, int]:
    try:
        with steps.warehouse_writer_lock(wait_seconds=60, settings=settings):
            con = steps.connect(settings)
            try:
                return metrics.run_quarantine(con, metrics.epoch(_started_at(context)))[1]
            finally:
                con.close()
    except Exception:  # the alert matters more than its quarantine figures
        return {}


def on_failure(context: dict[str, Any]) -> None:
    """A task failed for good (retries exhausted): one alert per failing source or dbt node."""
    task_id = context["task_instance"].task_id
    error = context.get("exception")
    if isinstance(error, steps.StepFailed):
        subjects, step = error.subjects, error.step
    else:
        subject = task_id.removeprefix("load_") if task_id.startswith("load_") else task_id
        subjects, step = {subject: first_line(error) if error else "failed"}, task_id
    alerter = Alerter()
    quarantine = _quarantine(context, Settings.from_environment())
    for subject, message in subjects.items():
        alerter.send(Alert("failure", _run_id(context), subject, step, message, quarantine))


def load_task(source: str, **context: Any) -> dict[str, dict[str, int]]:
    policy, settings = steps.RetryPolicy.from_env(), Settings.from_environment()  # once per task process
    with steps.warehouse_writer_lock(settings=settings):
        summaries = steps.load_once(source, settings.data_dir, policy.timeout, settings)
    result = steps.LoadResult(source, summaries)
    return {"rows_landed": result.rows_by_source_system, "rows_rejected": result.rejected_by_source_system}


def freshness_task(**context: Any) -> None:
    steps.freshness_gate(Settings.from_environment())


def dbt_build_task(**context: Any) -> None:
    # `airflow dags trigger --conf '{"dbt_vars": "{...}"}'` passes dbt --vars to this run's build
    dbt_vars = (context["dag_run"].conf or {}).get("dbt_vars")
    outcome = steps.build(["--vars", str(dbt_vars)] if dbt_vars else None, Settings.from_environment())
    context["ti"].xcom_push(key="tests", value={"failed": outcome.tests_failed, "warned": outcome.tests_warned})
    steps.build_gate(outcome)


def quality_history_task(**context: Any) -> int:
    ti = context["ti"]
    rows_landed: dict[str, int] = {}
    rows_rejected: dict[str, int] = {}
    for source in LOADED_SOURCES:
        pulled = ti.xcom_pull(task_ids=f"load_{source}") or {}
        rows_landed.update(pulled.get("rows_landed", {}))
        rows_rejected.update(pulled.get("rows_rejected", {}))
    tests = ti.xcom_pull(task_ids="dbt_build", key="tests") if _dbt_mode() == "build" else None
    outcome = None
    if tests:
        outcome = DbtOutcome(success=not tests["failed"])
        outcome.statuses["test:fail"] = tests["failed"]
        outcome.statuses["test:warn"] = tests["warned"]
    elif _dbt_mode() == "cosmos":  # one task per node: a failed test task is a failed test (task SDK states)
        run_id = context["dag_run"].run_id
        try:
            states = ti.get_task_states(dag_id=ti.dag_id, task_group_id="dbt", run_ids=[run_id]).get(run_id, {})
        except Exception:  # an older task SDK: record the figures without the test count
            states = None
        if states is not None:
            failed = [task for task, state in states.items() if state in ("failed", "upstream_failed")]
            outcome = DbtOutcome(success=not failed)
            outcome.statuses["test:fail"] = sum(1 for task in failed if task.endswith("test"))
    started, settings = _started_at(context), Settings.from_environment()
    with steps.warehouse_writer_lock(settings=settings):
        con = steps.connect(settings)
        try:
            figures = metrics.collect(
                con, _run_id(context), started, steps.utc_now(), rows_landed, rows_rejected, outcome
            )
            return metrics.append(con, figures, recorded_at=steps.utc_now())
        finally:
            con.close()


def anomaly_check_task(**context: Any) -> int:
    settings = Settings.from_environment()
    _, anomalies = steps.monitor(_run_id(context), settings=settings)
    alerter = Alerter()
    quarantine = _quarantine(context, settings)
    for alert in steps.anomaly_alerts(_run_id(context), anomalies, quarantine):
        alerter.send(alert)
    return len(alerter.sent)


def publish_task(**context: Any) -> dict[str, int]:
    return steps.publish(_run_id(context), Settings.from_environment())


def sync_task(**context: Any) -> None:
    command = steps.sync_command()
    if not command:
        raise AirflowSkipException(f"{steps.SYNC_COMMAND_ENV} is not set: nothing to sync")
    steps.run_sync(command, steps.RetryPolicy.from_env().timeout, Settings.from_environment())


def _dbt_mode() -> str:
    mode = os.environ.get(DBT_MODE_ENV, "cosmos").strip().lower()
    if mode not in ("cosmos", "build"):
        raise ValueError(f"{DBT_MODE_ENV} must be cosmos or build, got {mode!r}")
    return mode


def _cosmos_group(dag: DAG, default_args: dict[str, Any]) -> Any:
    """The dbt project as a cosmos task group: one task per node (tests after each model), retried alone."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import InvocationMode, LoadMode, TestBehavior

    settings = Settings.from_environment()
    root = settings.dbt_project()
    manifest = settings.dbt_target() / "manifest.json"
    return DbtTaskGroup(
        group_id="dbt",
        dag=dag,
        project_config=ProjectConfig(
            dbt_project_path=root,
            manifest_path=manifest if manifest.is_file() else None,
            install_dbt_deps=False,
            env_vars=settings.dbt_environment(),
        ),
        profile_config=ProfileConfig(
            profile_name="customer360", target_name="dev", profiles_yml_filepath=root / "profiles.yml"
        ),
        execution_config=ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST if manifest.is_file() else LoadMode.DBT_LS,
            exclude=[steps.MONITORING_SELECTOR],
            test_behavior=TestBehavior.AFTER_EACH,
        ),
        operator_args={"install_deps": False, "pool": POOL},
        default_args=default_args,
    )


def build_dag() -> DAG:
    policy = steps.RetryPolicy.from_env()
    default_args: dict[str, Any] = {
        "owner": "customer360",
        "retries": policy.attempts - 1,
        "retry_delay": timedelta(seconds=policy.initial_delay),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(seconds=policy.max_delay),
        "execution_timeout": timedelta(seconds=policy.timeout) if policy.timeout else None,
        "pool": POOL,
        "on_failure_callback": on_failure,
    }
    gate_args = {**default_args, "retries": 0}  # a failed gate does not pass by asking again
    with DAG(
        dag_id=DAG_ID,
        description="customer360: load every source, gate, build, record quality, publish the audience",
        schedule=os.environ.get(SCHEDULE_ENV, "@daily") or None,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args=default_args,
        tags=["customer360"],
    ) as dag:
        loads = [
            PythonOperator(task_id=f"load_{source}", python_callable=load_task, op_kwargs={"source": source})
            for source in LOADED_SOURCES
        ]
        freshness = PythonOperator(
            task_id="freshness_gate", python_callable=freshness_task, trigger_rule=TriggerRule.ALL_DONE, **gate_args
        )
        if _dbt_mode() == "build":
            dbt: Any = PythonOperator(
                task_id="dbt_build", python_callable=dbt_build_task, trigger_rule=TriggerRule.ALL_DONE, **gate_args
            )
        else:
            dbt = _cosmos_group(dag, default_args)
        history = PythonOperator(
            task_id="quality_history",
            python_callable=quality_history_task,
            trigger_rule=TriggerRule.ALL_DONE,
            **gate_args,
        )
        anomaly = PythonOperator(task_id="anomaly_check", python_callable=anomaly_check_task, **gate_args)
        publish = PythonOperator(
            task_id="publish", python_callable=publish_task, trigger_rule=TriggerRule.ALL_SUCCESS, **gate_args
        )
        sync = PythonOperator(task_id="sync", python_callable=sync_task)
        for load in loads:
            load >> freshness
        freshness >> dbt >> history >> anomaly
        [*loads, freshness, dbt] >> publish
        publish >> sync
    return dag
