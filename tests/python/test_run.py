"""`customer360 run` end to end against the local source servers, and the monitoring report in Chromium.

One module warehouse, two runs (each a full load + `dbt build` of the 300-person demo):
1. a 5xx burst on HubSpot outlasts the loader's own request retries, so the first load attempt fails and
   the run's retry (exponential backoff) recovers; every gate passes and `published.*` gets the marts;
2. new Segment lines (one unreadable) arrive and a data test fails (`identity_max_cluster_size: 1`): the
   build gate fails, `published.*` keeps run 1's rows exactly, and the webhook alert names the test,
   its first line and the run's quarantine counts.
Then the report is written from this warehouse and opened in headless Chromium (screenshot in target/).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from conftest import DBT_TARGET_DIR, WebhookReceiver

from ingestion.orchestration.alerts import Alert, Alerter, callbacks_from_env
from ingestion.orchestration.runner import RunReport, run_pipeline

SCREENSHOT = DBT_TARGET_DIR / "monitoring_report.png"
FAILING_GATE_VARS = "{identity_max_cluster_size: 1}"
PUBLISHED_RELATIONS = (
    "email_audience_rows",
    "cart_abandonment_triggers_rows",
    "publish_log",
    "email_audience",
    "cart_abandonment_triggers",
)


@dataclass
class Ops:
    path: Path
    data: Path
    first: RunReport
    first_alerts: list[Alert]


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def ops(demo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ops]:
    from ingestion.demo_kit.servers.run import running_servers

    root = tmp_path_factory.mktemp("ops")
    data = root / "data"
    shutil.copytree(demo_data, data)  # run 2 adds files
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CUSTOMER360_DUCKDB_PATH", str(root / "warehouse.duckdb"))
        env.setenv("CUSTOMER360_PIPELINES_DIR", str(root / "dlt_pipelines"))
        env.setenv("DLT_DATA_DIR", str(root / "dlt_data"))
        env.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        # the loader retries a request twice; the run retries the whole load after 0.5 s, then 1 s
        env.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "2")
        env.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.1")
        env.setenv("CUSTOMER360_LOAD_RETRY_DELAY_SECONDS", "0.5")
        with running_servers(data) as servers:
            for name, value in servers.loader_environment().items():
                env.setenv(name, value)
            servers.hubspot.faults.arm("server_error", count=3, status=503)
            alerts: list[Alert] = []
            first = run_pipeline(data, alerter=Alerter([alerts.append]))
            yield Ops(root / "warehouse.duckdb", data, first, alerts)


def test_run_recovers_from_a_5xx_burst_and_publishes(ops: Ops) -> None:
    attempts = {result.source: (result.attempts, result.error) for result in ops.first.loads}
    assert attempts == {"hubspot": (2, None), "shopify": (1, None), "segment": (1, None), "csv_contacts": (1, None)}
    assert ops.first.failures == {}
    assert ops.first.published is not None
    for model in ("email_audience", "cart_abandonment_triggers"):
        marts = _rows(ops.path, f"select * from marts.{model} order by all")
        assert _rows(ops.path, f"select * from published.{model}_rows order by all") == marts
        assert _rows(ops.path, f"select * from published.{model} order by all") == marts  # the guarded view
        assert ops.first.published[model] == len(marts)
    assert ops.first.published["email_audience"] > 0
    figures = dict(
        ((name, dimension), value)
        for name, dimension, value in _rows(
            ops.path,
            "select metric_name, dimension, metric_value from monitoring.run_metrics"
            f" where run_id = '{ops.first.run_id}'",
        )
    )
    assert figures[("rows_landed", "hubspot")] > 0
    assert figures[("unified_customers", "")] == _rows(ops.path, "select count(*) from marts.customers")[0][0]
    assert figures[("sendable_audience", "")] == ops.first.published["email_audience"]
    assert figures[("test_failures", "")] == 0
    assert sum(v for (name, _), v in figures.items() if name == "quarantined_rows") > 0
    assert _rows(ops.path, "select status, published from monitoring.runs") == [("succeeded", True)]
    assert ops.first_alerts == []  # nothing failed, and two weeks of history do not exist yet


def test_failed_gate_keeps_the_published_audience_and_alerts_by_webhook(
    ops: Ops, webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    published_before = {
        model: _rows(ops.path, f"select * from published.{model} order by all") for model in PUBLISHED_RELATIONS
    }
    new_day = ops.data / "segment" / "2026-11-02"
    new_day.mkdir()
    page = {
        "messageId": "ops-run-2-page",
        "type": "page",
        "name": "Home",
        "anonymousId": "ops-device-1",
        "properties": {"url": "https://shop.example.com/"},
        "timestamp": "2026-11-01T08:00:00Z",
    }
    (new_day / "events-0000.jsonl").write_text(json.dumps(page) + "\n{this line is not json\n")
    monkeypatch.setenv("CUSTOMER360_ALERT_WEBHOOK_URL", webhook_receiver.url)

    second = run_pipeline(
        ops.data, dbt_args=["--vars", FAILING_GATE_VARS], alerter=Alerter(callbacks_from_env("webhook"))
    )

    assert second.published is None
    failing = second.failures["build"]
    assert any("identity_cluster_size_within_limit" in node for node in failing), failing
    for model, rows in published_before.items():
        assert _rows(ops.path, f"select * from published.{model} order by all") == rows, f"published.{model} changed"
    # the marts were rebuilt from run 2's data all the same: the new page is in staging
    assert _rows(ops.path, "select count(*) from staging.stg_segment__events where message_id = 'ops-run-2-page'") == [
        (1,)
    ]
    assert _rows(ops.path, "select status, published from monitoring.runs order by run_started_at") == [
        ("succeeded", True),
        ("failed", False),
    ]

    received = webhook_receiver.received
    gate_alerts = [a for a in received if "identity_cluster_size_within_limit" in str(a["subject"])]
    assert len(gate_alerts) == 1, received
    alert = gate_alerts[0]
    assert alert["kind"] == "failure" and alert["step"] == "build" and alert["run_id"] == second.run_id
    assert re.search(r"\d+ results?", str(alert["message"])), alert[
        "message"
    ]  # dbt's first line, e.g. "Got 90 results"
    assert "\n" not in str(alert["message"])
    # the run's quarantine per rule, as recorded in its figures; it holds the new file's unreadable line
    recorded = _rows(
        ops.path,
        "select dimension, metric_value from monitoring.run_metrics"
        f" where run_id = '{second.run_id}' and metric_name = 'quarantined_rows'",
    )
    assert alert["quarantine_by_rule"] == {rule: int(n) for rule, n in recorded}, alert  # type: ignore[call-overload]
    assert alert["quarantine_by_rule"]["broken_json"] >= 1  # type: ignore[index]
    assert "broken_json" in str(alert["text"])


def test_an_unsubscribe_after_a_failed_gate_still_leaves_the_published_audience(ops: Ops) -> None:
    """The published rows are frozen, but the published views apply the suppression guard live: an
    opt-out loaded while the gates keep failing is honoured without any build or publish."""
    from ingestion.loading import load

    (email,) = _rows(ops.path, "select email from published.email_audience order by email limit 1")[0]
    new_day = ops.data / "segment" / "2026-11-03"
    new_day.mkdir()
    unsubscribe = {
        "messageId": "ops-unsubscribe-1",
        "type": "track",
        "event": "Email Unsubscribed",
        "anonymousId": "ops-device-2",
        "properties": {"email_address": email},
        "timestamp": "2026-11-20T00:00:00Z",
    }
    (new_day / "events-0000.jsonl").write_text(json.dumps(unsubscribe) + "\n")
    load("segment", data_dir=ops.data)  # a load only: no build, no publish
    assert _rows(ops.path, f"select count(*) from published.email_audience_rows where email = '{email}'") == [(1,)]
    assert _rows(ops.path, f"select count(*) from published.email_audience where email = '{email}'") == [(0,)]


def test_report_renders_every_plot_in_chromium(ops: Ops, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_docs_site import _chromium, _run_chromium

    from ingestion.orchestration.report import PLOTS, write_report

    monkeypatch.setenv("CUSTOMER360_DUCKDB_PATH", str(ops.path))
    page = write_report(tmp_path / "report.html")
    text = page.read_text()
    # plotly.js is inlined: no script, stylesheet or image is fetched when the file is opened
    assert not re.search(r"<(script|link|img)\b[^>]*\b(src|href)=", text)
    chromium = _chromium()
    dump = _run_chromium(chromium, tmp_path / "profile-dom", "--virtual-time-budget=15000", "--dump-dom", page.as_uri())
    rendered = re.findall(r'<section class="c360-plot" data-plot="(\w+)">.*?</section>', dump.stdout, re.S)
    assert rendered == [name for name, _ in PLOTS]
    for name in rendered:
        section = re.search(rf'data-plot="{name}">(.*?)</section>', dump.stdout, re.S)
        assert section and 'class="main-svg"' in section.group(1), f"plot {name} did not render"
    # plots with data draw marks: points/bars in every plot of this warehouse (two runs, built marts)
    assert dump.stdout.count('class="point"') > 10
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    _run_chromium(
        chromium,
        tmp_path / "profile-shot",
        "--window-size=1400,2200",
        "--virtual-time-budget=15000",
        f"--screenshot={SCREENSHOT}",
        page.as_uri(),
    )
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 20_000
    print(f"\nmonitoring report screenshot: {SCREENSHOT}")


def test_retry_policy_backs_off_exponentially_up_to_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    from ingestion.orchestration.steps import RetryPolicy

    monkeypatch.setenv("CUSTOMER360_LOAD_ATTEMPTS", "5")
    monkeypatch.setenv("CUSTOMER360_LOAD_RETRY_DELAY_SECONDS", "10")
    monkeypatch.setenv("CUSTOMER360_LOAD_MAX_RETRY_DELAY_SECONDS", "35")
    policy = RetryPolicy.from_env()
    assert policy.attempts == 5
    assert [policy.delay(retry) for retry in (1, 2, 3, 4)] == [10, 20, 35, 35]


def test_a_load_attempt_past_its_timeout_is_stopped(ops: Ops) -> None:
    """The attempt is a child process: the timeout ends it (a hung API call cannot hold the run)."""
    import time

    from ingestion.demo_kit.servers.run import running_servers
    from ingestion.orchestration.steps import StepFailed, load_once

    with running_servers(ops.data) as servers, pytest.MonkeyPatch.context() as env:
        for name, value in servers.loader_environment().items():
            env.setenv(name, value)
        servers.hubspot.faults.arm("slow", count=50, delay=20)
        started = time.monotonic()
        with pytest.raises(StepFailed, match="timed out after 8s"):
            load_once("hubspot", ops.data, timeout=8)
        assert time.monotonic() - started < 18
