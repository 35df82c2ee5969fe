"""A generated quality history: daily runs' figures, optionally ending in a run with a planted outage.

Anomaly detection needs weeks of runs before it can say what normal is. This writes that history into
``monitoring.run_metrics`` (the same table `customer360 run` appends to): one run a day at 06:00 UTC,
volumes with a weekly rhythm (weekends lighter for web and orders) and seeded noise, slowly growing
customers and audience. ``planted_outage=SOURCE`` makes the last run one in which that source
delivered 0 rows (its load ran, nothing came) and its data aged a day: exactly one thing went wrong,
so exactly one alert must fire. The truth is returned (and the same figures are what is written).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import duckdb
import numpy as np

from ingestion.orchestration.metrics import MetricRow, append

# Rows a normal weekday run lands per source system, and the share landed on Saturdays and Sundays.
WEEKDAY_ROWS = {"hubspot": 120, "shopify": 420, "segment": 2600, "legacy_crm": 40, "signup_forms": 30}
WEEKEND_SHARE = {"hubspot": 0.5, "shopify": 0.7, "segment": 0.6, "legacy_crm": 0.2, "signup_forms": 0.8}
QUARANTINE_RATES = {"invalid_email": 0.012, "invalid_phone": 0.02, "unknown_enum": 0.004, "future_date": 0.002}
NOISE = 0.06  # relative standard deviation of every volume


def history_rows(runs: int, as_of: date, seed: int = 7, planted_outage: str | None = None) -> list[MetricRow]:
    if runs < 1:
        raise ValueError("runs must be at least 1")
    if planted_outage is not None and planted_outage not in WEEKDAY_ROWS:
        raise ValueError(f"planted_outage must be one of {sorted(WEEKDAY_ROWS)}, got {planted_outage!r}")
    rng = np.random.default_rng(seed)
    rows: list[MetricRow] = []
    customers = 5000.0
    for index in range(runs):
        day = as_of - timedelta(days=runs - 1 - index)
        started = datetime.combine(day, time(6, 0))
        run_id = "run_" + started.strftime("%Y%m%dT%H%M%S000000Z")
        last = index == runs - 1
        weekend = day.weekday() >= 5

        def add(name: str, dimension: str, value: float, run_id: str = run_id, started: datetime = started) -> None:
            rows.append(MetricRow(run_id, started, name, dimension, value))

        total_in = 0
        for system, weekday_rows in WEEKDAY_ROWS.items():
            expected = weekday_rows * (WEEKEND_SHARE[system] if weekend else 1.0)
            landed = max(0, round(rng.normal(expected, expected * NOISE)))
            outage = last and system == planted_outage
            if outage:
                landed = 0
            total_in += landed
            add("rows_landed", system, landed)
            add("rows_rejected", system, 0 if outage or system in ("hubspot", "shopify") else int(rng.integers(0, 2)))
            # loads run at the start of the run; an outage source's newest data is yesterday's
            add("freshness_lag_hours", system, round(float(rng.uniform(0.05, 0.3)) + (24.0 if outage else 0.0), 3))
        for rule, rate in QUARANTINE_RATES.items():
            observed = max(0.0, rng.normal(rate, rate * NOISE))
            add("quarantined_rows", rule, round(observed * total_in))
            add("quarantine_rate", rule, observed)
        customers += rng.normal(25, 3)
        add("unified_customers", "", round(customers))
        add("identity_merges", "", int(rng.integers(2, 5)))
        add("identity_splits", "", int(rng.integers(0, 2)))
        add("sendable_audience", "", round(customers * 0.62))
        add("test_failures", "", 0)
        add("test_warnings", "", 16)
    return rows


def write_history(
    con: duckdb.DuckDBPyConnection, runs: int, as_of: date, seed: int = 7, planted_outage: str | None = None
) -> list[MetricRow]:
    """Append the generated runs to ``monitoring.run_metrics``; returns what was written."""
    rows = history_rows(runs, as_of, seed, planted_outage)
    append(con, rows, recorded_at=datetime.combine(as_of, time(7, 0)))
    return rows
