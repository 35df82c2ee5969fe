"""The README's first command, end to end at a small size: generate → serve → load → dbt build → summary."""

from __future__ import annotations

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


def test_demo_end_to_end_and_idempotent(tmp_path: Path) -> None:
    first = run_demo(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    figures = summary_figures(first.stdout)
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

    # Same seed again: identical files, so every loader finds nothing new and no raw row is duplicated.
    second = run_demo(tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    again = summary_figures(second.stdout)
    for key in ("rows landed, hubspot", "rows landed, shopify", "rows landed, segment", "rows landed, csv_contacts"):
        assert again[key] == figures[key], (key, figures[key], again[key])
    assert again["unified customers"] == figures["unified customers"]
