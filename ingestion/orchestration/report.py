"""`customer360 report`: one static HTML file of plots people look at rather than read.

Plots: rows landed per source over runs, quarantine rate per rule over runs, freshness lag per source,
sendable audience and unified customers over runs (quality history, ``monitoring.run_metrics``), and from
the current warehouse: the identity match-score histogram, cluster sizes and segment sizes. plotly.js is
inlined once (no network when the file is opened); a plot without data yet says so instead of hiding.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from ingestion.orchestration.steps import connect
from ingestion.settings import Settings, resolve

DEFAULT_REPORT = "monitoring_report.html"
PLOT_CLASS = "c360-plot"


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    sql = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    return bool(con.execute(sql, [schema, table]).fetchone()[0])  # type: ignore[index]


def _empty(title: str, why: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=why, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figure.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False})
    return figure


def _history(con: duckdb.DuckDBPyConnection, metric: str, title: str, y_title: str) -> go.Figure:
    if not _exists(con, "monitoring", "run_metrics"):
        return _empty(title, "no runs recorded yet: run `customer360 run`")
    rows = con.execute(
        "select dimension, run_started_at, metric_value from monitoring.run_metrics"
        " where metric_name = ? order by dimension, run_started_at",
        [metric],
    ).fetchall()
    if not rows:
        return _empty(title, f"no {metric} figures yet")
    figure = go.Figure()
    for dimension in sorted({row[0] for row in rows}):
        points = [(at, value) for d, at, value in rows if d == dimension]
        figure.add_trace(
            go.Scatter(
                x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=dimension or metric
            )
        )
    figure.update_layout(title=title, xaxis_title="run started (UTC)", yaxis_title=y_title)
    return figure


def _audience(con: duckdb.DuckDBPyConnection) -> go.Figure:
    title = "Sendable audience and unified customers over runs"
    if not _exists(con, "monitoring", "run_metrics"):
        return _empty(title, "no runs recorded yet: run `customer360 run`")
    figure = go.Figure()
    for metric in ("sendable_audience", "unified_customers"):
        points = con.execute(
            "select run_started_at, metric_value from monitoring.run_metrics where metric_name = ?"
            " order by run_started_at",
            [metric],
        ).fetchall()
        figure.add_trace(
            go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=metric)
        )
    figure.update_layout(title=title, xaxis_title="run started (UTC)", yaxis_title="people")
    return figure


def _match_scores(con: duckdb.DuckDBPyConnection) -> go.Figure:
    title = "Identity: match probability of scored record pairs"
    if not _exists(con, "intermediate", "int_identity__scored_pairs"):
        return _empty(title, "identity models not built yet")
    scores = [
        row[0]
        for row in con.execute("select match_probability from intermediate.int_identity__scored_pairs").fetchall()
    ]
    figure = go.Figure(go.Histogram(x=scores, nbinsx=50, name="pairs"))
    figure.update_layout(title=title, xaxis_title="match probability", yaxis_title="pairs")
    return figure


def _cluster_sizes(con: duckdb.DuckDBPyConnection) -> go.Figure:
    title = "Identity: source records per customer (cluster sizes)"
    if not _exists(con, "marts", "customers"):
        return _empty(title, "customers not built yet")
    rows = con.execute("select source_record_count, count(*) from marts.customers group by 1 order by 1").fetchall()
    figure = go.Figure(go.Bar(x=[r[0] for r in rows], y=[r[1] for r in rows], name="customers"))
    figure.update_layout(title=title, xaxis_title="source records", yaxis_title="customers", yaxis_type="log")
    return figure


def _segments(con: duckdb.DuckDBPyConnection) -> go.Figure:
    title = "Segments: customers and sendable audience per RFM segment"
    if not _exists(con, "marts", "customers"):
        return _empty(title, "customers not built yet")
    rows = con.execute(
        "select coalesce(rfm_segment, '(none)'), count(*), count(*) filter (where is_email_sendable)"
        " from marts.customers group by 1 order by 2 desc"
    ).fetchall()
    figure = go.Figure(
        [
            go.Bar(x=[r[0] for r in rows], y=[r[1] for r in rows], name="customers"),
            go.Bar(x=[r[0] for r in rows], y=[r[2] for r in rows], name="sendable"),
        ]
    )
    figure.update_layout(title=title, barmode="group", yaxis_title="customers")
    return figure


PLOTS: tuple[tuple[str, Callable[[duckdb.DuckDBPyConnection], go.Figure]], ...] = (
    ("volumes", lambda con: _history(con, "rows_landed", "Rows landed per source over runs", "rows")),
    ("quarantine", lambda con: _history(con, "quarantine_rate", "Quarantine rate per rule over runs", "share")),
    ("freshness", lambda con: _history(con, "freshness_lag_hours", "Freshness lag per source", "hours")),
    ("audience", _audience),
    ("match_scores", _match_scores),
    ("cluster_sizes", _cluster_sizes),
    ("segments", _segments),
)


def render(con: duckdb.DuckDBPyConnection, warehouse: Path) -> str:
    sections = []
    for name, make in PLOTS:
        figure = make(con)
        figure.update_layout(height=420, margin={"t": 60, "l": 60, "r": 20, "b": 50})
        div = pio.to_html(figure, include_plotlyjs=False, full_html=False, div_id=f"plot-{name}")
        sections.append(f'<section class="{PLOT_CLASS}" data-plot="{name}">{div}</section>')
    runs = 0
    if _exists(con, "monitoring", "runs"):
        runs = con.execute("select count(*) from monitoring.runs").fetchone()[0]  # type: ignore[index]
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>customer360 monitoring</title>
<style>body{{font-family:sans-serif;margin:24px;background:#fafafa}}
.grid{{display:grid;grid-template-columns:repeat(auto-fit,minmax(640px,1fr));gap:16px}}
section{{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}}</style>
<script>{get_plotlyjs()}</script></head>
<body><h1>customer360 monitoring</h1>
<p>Warehouse {html.escape(str(warehouse))} · {runs} runs recorded · generated {generated}</p>
<div class="grid">{"".join(sections)}</div></body></html>
"""


def write_report(out: Path | None = None, settings: Settings | None = None) -> Path:
    settings = resolve(settings)
    target = out or settings.duckdb_path.parent / DEFAULT_REPORT
    con = connect(settings)
    try:
        page = render(con, settings.duckdb_path)
    finally:
        con.close()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target
