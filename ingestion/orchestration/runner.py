"""`customer360 run`: load all → freshness gate → build (data tests gate) → quality history → anomaly
check → publish → sync hook, in one command, for users without Airflow.

A failed load, a stale source or a failing data test does not stop the run: the rest of the warehouse
is still built and the figures still recorded, but nothing is published, so the email platform keeps
reading the audience and triggers of the last run whose gates all passed. Each failure and each
anomaly is an alert (ingestion/orchestration/alerts.py). Exit status 0 when the run published, 1 when
a gate failed, 2 for a user error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ingestion import progress
from ingestion.dbt_runner import DbtOutcome
from ingestion.orchestration import metrics, steps
from ingestion.orchestration.alerts import Alert, Alerter, first_line
from ingestion.settings import Settings, resolve
from ingestion.sources import LOADED_SOURCES

GATE_STEPS = ("load", "freshness", "build")


@dataclass
class RunReport:
    run_id: str
    failures: dict[str, dict[str, str]] = field(default_factory=dict)  # step -> subject -> first line
    loads: list[steps.LoadResult] = field(default_factory=list)
    anomalies: list[steps.Anomaly] = field(default_factory=list)
    published: dict[str, int] | None = None
    alerts: list[Alert] = field(default_factory=list)

    @property
    def gates_passed(self) -> bool:
        return not any(step in self.failures for step in GATE_STEPS)


def run_pipeline(
    data_dir: Path | None = None,
    dbt_args: list[str] | None = None,
    alerter: Alerter | None = None,
    policy: steps.RetryPolicy | None = None,
    sources: tuple[str, ...] = LOADED_SOURCES,
    settings: Settings | None = None,
) -> RunReport:
    settings = resolve(settings)
    alerter = alerter or Alerter()
    policy = policy or steps.RetryPolicy.from_env()
    data = (data_dir or settings.data_dir).resolve()
    started_at = steps.utc_now()
    report = RunReport(steps.new_run_id())
    progress.step(f"run {report.run_id}: loading {', '.join(sources)} (up to {policy.attempts} attempts each)")
    for source in sources:
        result = steps.load_with_retries(source, data, policy, settings)
        report.loads.append(result)
        if result.error is not None:
            report.failures.setdefault("load", {})[source] = f"{result.error} (after {result.attempts} attempts)"

    progress.step("gate: source freshness")
    try:
        steps.freshness_gate(settings)
    except steps.StepFailed as failure:
        report.failures["freshness"] = failure.subjects

    progress.step("dbt build (data tests are the gate)")
    outcome: DbtOutcome | None = None
    try:
        outcome = steps.build(dbt_args, settings)
        steps.build_gate(outcome)
    except steps.StepFailed as failure:
        report.failures["build"] = failure.subjects

    progress.step("quality history")
    rows_landed: dict[str, int] = {}
    rows_rejected: dict[str, int] = {}
    for result in report.loads:
        if result.error is None:
            rows_landed.update(result.rows_by_source_system)
            rows_rejected.update(result.rejected_by_source_system)
    with steps.warehouse_writer_lock(settings=settings):
        con = steps.connect(settings)
        try:
            figures = metrics.collect(
                con, report.run_id, started_at, steps.utc_now(), rows_landed, rows_rejected, outcome
            )
            metrics.append(con, figures, recorded_at=steps.utc_now())
            _, quarantine = metrics.run_quarantine(con, metrics.epoch(started_at))
        finally:
            con.close()
    progress.say(f"    {len(figures)} figures appended to monitoring.run_metrics")

    for step, subjects in report.failures.items():
        for subject, message in subjects.items():
            alerter.send(Alert("failure", report.run_id, subject, step, message, quarantine))

    progress.step("anomaly check")
    try:
        _, report.anomalies = steps.monitor(report.run_id, settings=settings)
    except steps.StepFailed as failure:
        report.failures["monitor"] = failure.subjects
        for subject, message in failure.subjects.items():
            alerter.send(Alert("failure", report.run_id, subject, "monitor", message, quarantine))
    for alert in steps.anomaly_alerts(report.run_id, report.anomalies, quarantine):
        alerter.send(alert)

    if report.gates_passed:
        progress.step("publish: activation marts → published.*")
        try:
            report.published = steps.publish(report.run_id, settings)
        except Exception as error:
            report.failures["publish"] = {"publish": first_line(error)}
            alerter.send(Alert("failure", report.run_id, "publish", "publish", first_line(error), quarantine))
    else:
        progress.step("not published: a gate failed; published.* keeps the last good run's audience and triggers")

    command = steps.sync_command()
    if report.published is not None and command:
        progress.step(f"sync: {' '.join(command)}")
        try:
            steps.run_sync(command, policy.timeout, settings)
        except steps.StepFailed as failure:
            report.failures["sync"] = failure.subjects
            alerter.send(Alert("failure", report.run_id, "sync", "sync", failure.subjects["sync"], quarantine))

    with steps.warehouse_writer_lock(settings=settings):
        con = steps.connect(settings)
        try:
            metrics.record_run(
                con, report.run_id, started_at, steps.utc_now(), sorted(report.failures), report.published is not None
            )
        finally:
            con.close()
    report.alerts = list(alerter.sent)
    return report


def print_report(report: RunReport, seconds: float) -> None:
    print(f"\ncustomer360 run {report.run_id}")
    for result in report.loads:
        state = f"failed: {result.error}" if result.error else "ok"
        print(f"  load {result.source}: {state} ({result.attempts} attempt{'s' * (result.attempts != 1)})")
    for step, subjects in report.failures.items():
        for subject, message in subjects.items():
            print(f"  FAILED {step}: {subject}: {message}")
    for anomaly in report.anomalies:
        print(f"  anomaly {anomaly.subject}: {anomaly.describe()}")
    if report.published is not None:
        counts = ", ".join(f"{model} {n:,}" for model, n in report.published.items())
        print(f"  published: {counts}")
    else:
        print("  not published: published.* keeps the last good run")
    print(f"  alerts sent: {len(report.alerts)}")
    print(f"  wall time: {seconds:.0f}s")


def run_command(data_dir: Path | None, dbt_args: list[str], settings: Settings | None = None) -> int:
    started = time.perf_counter()
    report = run_pipeline(data_dir=data_dir, dbt_args=dbt_args, settings=settings)
    print_report(report, time.perf_counter() - started)
    return 0 if report.published is not None and not report.failures else 1
