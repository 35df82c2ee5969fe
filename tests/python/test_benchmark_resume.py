"""`benchmarks/pipeline.py --resume` refuses a folder that no longer holds what the stages it keeps made."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pipeline() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmark_pipeline", ROOT / "benchmarks" / "pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _measured(pipeline: ModuleType, *names: str) -> list:
    return [pipeline.Stage("1m", name, 1.0, 1.0, 1.0) for name in names]


def test_resume_past_the_loads_needs_their_warehouse(pipeline: ModuleType, tmp_path: Path) -> None:
    stages = _measured(pipeline, "generate", "load hubspot", "load shopify", "load segment", "load csv_contacts")
    data, warehouse = tmp_path / "data", tmp_path / "warehouse.duckdb"
    data.mkdir()
    resume = pipeline.Resume(stages, {}, "build full")
    problem = resume.missing_files(data, warehouse)
    assert problem is not None
    assert "keeps 'load hubspot'" in problem and "--from 'load hubspot'" in problem and str(warehouse) in problem
    warehouse.touch()
    assert resume.missing_files(data, warehouse) is None


def test_resume_from_the_loads_or_without_them_needs_no_warehouse(pipeline: ModuleType, tmp_path: Path) -> None:
    data, warehouse = tmp_path / "data", tmp_path / "warehouse.duckdb"
    data.mkdir()
    loaded = _measured(pipeline, "generate", "load hubspot", "load shopify")
    assert pipeline.Resume(loaded, {}, "load hubspot").missing_files(data, warehouse) is None
    assert pipeline.Resume(_measured(pipeline, "generate"), {}, None).missing_files(data, warehouse) is None


def test_resume_that_keeps_generate_needs_its_data(pipeline: ModuleType, tmp_path: Path) -> None:
    resume = pipeline.Resume(_measured(pipeline, "generate"), {}, None)
    problem = resume.missing_files(tmp_path / "data", tmp_path / "warehouse.duckdb")
    assert problem is not None and "--from generate" in problem
    assert (
        pipeline.Resume(_measured(pipeline, "generate"), {}, "generate").missing_files(
            tmp_path / "data", tmp_path / "warehouse.duckdb"
        )
        is None
    )
