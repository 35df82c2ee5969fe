"""Shared pytest fixtures.

pytest lives in tests/python/; dbt's own tests live in tests/generic/ and tests/singular/. dbt only
reads .sql/.yml there and pytest only collects tests/python (pyproject's testpaths), so they never mix.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

DEMO_AS_OF = date(2026, 11, 1)
DEMO_SEED = 7
DEMO_CUSTOMERS = 300


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated demo population, shared read-only by all tests (copy it before mutating)."""
    from ingestion.generate import generate

    out = tmp_path_factory.mktemp("demo_data")
    generate(out, customers=DEMO_CUSTOMERS, seed=DEMO_SEED, as_of=DEMO_AS_OF, progress=False)
    return out


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh DuckDB file and dlt working folder for one test, wired through the environment."""
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("CUSTOMER360_DUCKDB_PATH", str(path))
    monkeypatch.setenv("CUSTOMER360_PIPELINES_DIR", str(tmp_path / "dlt_pipelines"))
    # dlt must not pick up a developer's global config or telemetry during tests.
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_data"))
    yield path
    os.environ.pop("CUSTOMER360_DUCKDB_PATH", None)
