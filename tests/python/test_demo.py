"""The README's first command, end to end at a small size: generate → serve → load → dbt build → summary."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb


def run_demo(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CUSTOMER360_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "CUSTOMER360_PIPELINES_DIR": str(tmp_path / "dlt_pipelines"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    argv = ["demo", "--customers", "200", "--seed", "3", "--as-of", "2026-11-01", "--data", str(tmp_path / "data")]
    return subprocess.run(
        [sys.executable, "-m", "ingestion.cli", *argv], capture_output=True, text=True, env=env, timeout=900
    )


def summary_figures(stdout: str) -> dict[str, int]:
    figures = {}
    for label, value in re.findall(r"^  ([a-z_ ,()]+): ([\d,]+)", stdout, flags=re.MULTILINE):
        figures[label.strip()] = int(value.replace(",", ""))
    return figures


def segment_redeliveries(data: Path) -> int:
    """Copies of a messageId beyond the first among the readable event lines, counted from the files."""
    seen: dict[str, int] = {}
    for path in sorted((data / "segment").rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            message_id = message.get("messageId") if isinstance(message, dict) else None
            if isinstance(message_id, str) and message_id.strip():
                seen[message_id] = seen.get(message_id, 0) + 1
    return sum(seen.values()) - len(seen)


def merged_by_source(stdout: str) -> dict[str, int]:
    line = next(line for line in stdout.splitlines() if line.startswith("  duplicates merged:"))
    return {name: int(n.replace(",", "")) for name, n in re.findall(r"([a-z_]+) ([\d,]+)", line.split("(", 1)[1])}


def test_demo_end_to_end_and_idempotent(tmp_path: Path) -> None:
    first = run_demo(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    figures = summary_figures(first.stdout)
    # compact (issue 10 point 8): a progress line per 100 nodes and the warnings, not ~1,230 dbt lines;
    # no colour codes when the output is not a terminal; the summary is the whole of stdout
    assert len(first.stdout.splitlines()) + len(first.stderr.splitlines()) < 150, first.stderr
    assert "\x1b[" not in first.stdout + first.stderr
    assert first.stdout.lstrip().startswith("customer360 demo summary")
    for source in ("hubspot", "shopify", "segment", "csv_contacts"):
        assert figures[f"rows landed, {source}"] > 0, first.stdout
    assert figures["unified customers"] > 0
    assert figures["dbt tests passed"] > 300
    assert "failed: 0" in first.stdout

    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (customers,) = con.execute("select count(*) from marts.customers").fetchone()
        (records,) = con.execute("select count(*) from marts.customer_identities").fetchone()
    assert customers == figures["unified customers"]
    assert records > customers  # several source records per person is the whole point
    assert f"unified customers: {customers:,} (from {records:,} source records)" in first.stdout

    # Duplicates merged (issue 10 point 8): Segment's redelivered messageIds, counted here from the files
    redeliveries = segment_redeliveries(tmp_path / "data")
    assert redeliveries > 0
    merged = merged_by_source(first.stdout)
    assert merged["segment"] == redeliveries, first.stdout
    assert figures["duplicates merged"] == sum(merged.values())
    assert "keep one row per messageId" in first.stdout
    # rejected at load: every row of the rejected tables, with where to look
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (rejected,) = con.execute(
            "select (select count(*) from raw_segment.rejected_events) "
            "+ (select count(*) from raw_csv_contacts.rejected_rows)"
        ).fetchone()
    assert figures["rejected at load, all loads"] == rejected > 0
    assert "see raw_csv_contacts.rejected_rows" in first.stdout
    assert figures["quarantined in staging"] > 0 and "see intermediate.int_quality__quarantine" in first.stdout
    assert 0 < figures["sendable audience"] <= customers

    # Same seed again: identical files, so every loader finds nothing new and no raw row is duplicated.
    second = run_demo(tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    again = summary_figures(second.stdout)
    for key in ("rows landed, hubspot", "rows landed, shopify", "rows landed, segment", "rows landed, csv_contacts"):
        assert again[key] == figures[key], (key, figures[key], again[key])
    assert again["unified customers"] == figures["unified customers"]
    # all-time figures, not this run's (a rerun that loads nothing new used to report 0 rejected)
    assert again["rejected at load, all loads"] == figures["rejected at load, all loads"]
    assert merged_by_source(second.stdout) == merged
