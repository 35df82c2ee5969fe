"""Anomaly detection on the quality history (dbt models tagged `monitoring`, warn-severity test).

The generator writes 29 normal daily runs (weekly rhythm, seeded noise) and a 30th in which HubSpot
delivered 0 rows. The 29th run must stay quiet; the outage must raise exactly one alert, naming
hubspot; a `--full-refresh` of the monitoring models must keep the history (the runner owns it).
Only the monitoring models are built (two small dbt invocations), on a warehouse holding nothing else.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb

from ingestion.demo_kit.generate.run_history import history_rows
from ingestion.orchestration import metrics, steps


def _append(path: Path, rows: list[metrics.MetricRow]) -> None:
    con = duckdb.connect(str(path))
    try:
        metrics.append(con, rows, recorded_at=datetime(2026, 12, 1))
    finally:
        con.close()


def test_planted_outage_raises_exactly_one_alert_and_a_normal_run_none(warehouse: Path) -> None:
    rows = history_rows(30, date(2026, 11, 30), seed=7, planted_outage="hubspot")
    runs = sorted({row.run_id for row in rows})
    normal, outage = runs[-2], runs[-1]
    _append(warehouse, [row for row in rows if row.run_id != outage])

    outcome, anomalies = steps.monitor(normal)
    assert outcome.success
    assert anomalies == [] and outcome.tests_warned == 0, [a.describe() for a in anomalies]
    assert steps.anomaly_alerts(normal, anomalies, {}) == []

    _append(warehouse, [row for row in rows if row.run_id == outage])
    outcome, anomalies = steps.monitor(outage, ["--full-refresh"])
    assert outcome.tests_warned == 1  # the warn-severity dbt test saw the outage too
    alerts = steps.anomaly_alerts(outage, anomalies, {"invalid_email": 3})
    assert len(alerts) == 1, [a.text() for a in alerts]
    alert = alerts[0]
    assert (alert.kind, alert.subject, alert.run_id) == ("anomaly", "hubspot", outage)
    assert "rows_landed 0 (drop" in alert.message
    # the outage also aged HubSpot's data by a day: same source, same alert
    assert {a.metric_name for a in anomalies} == {"rows_landed", "freshness_lag_hours"}
    assert "invalid_email 3" in alert.text()

    con = duckdb.connect(str(warehouse))
    try:
        (kept,) = con.execute("select count(distinct run_id) from monitoring.run_metrics").fetchone()  # type: ignore[misc]
        (baseline_weekday,) = con.execute(
            "select bool_and(is_weekday_baseline) from intermediate.int_monitoring__metric_anomalies"
            " where run_id = ? and metric_name = 'rows_landed'",
            [outage],
        ).fetchone()  # type: ignore[misc]
    finally:
        con.close()
    assert kept == 30  # the full refresh rebuilt the models, not the history
    assert baseline_weekday  # four earlier Mondays: the baseline is Mondays only
