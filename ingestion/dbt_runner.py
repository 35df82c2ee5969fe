"""Run dbt in-process on this project and the configured warehouse file."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from ingestion import settings
from ingestion.errors import duckdb_locked

LOCK_MESSAGE = "Could not set lock on file"


@dataclass
class DbtOutcome:
    success: bool
    statuses: Counter[str] = field(default_factory=Counter)  # "model:success", "test:pass", ...
    failures: list[str] = field(default_factory=list)

    @property
    def tests_passed(self) -> int:
        return self.statuses["test:pass"] + self.statuses["unit_test:pass"]

    @property
    def tests_failed(self) -> int:
        return sum(n for key, n in self.statuses.items() if key.endswith((":fail", ":error")) and "test" in key)


def run_dbt(args: list[str]) -> DbtOutcome:
    """`dbt <args>` with this project's folders and the warehouse path from settings.

    One in-process invocation per step: dbt costs ~4 s to import and ~5-9 s to parse each time.
    """
    from dbt.cli.main import dbtRunner

    os.environ["CUSTOMER360_DUCKDB_PATH"] = str(settings.duckdb_path())
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    settings.duckdb_path().parent.mkdir(parents=True, exist_ok=True)
    root = str(settings.PROJECT_ROOT)
    result = dbtRunner().invoke([*args, "--project-dir", root, "--profiles-dir", root])
    outcome = DbtOutcome(success=bool(result.success))
    if result.exception is not None and LOCK_MESSAGE in str(result.exception):
        raise duckdb_locked(settings.duckdb_path()) from result.exception
    for node_result in getattr(result.result, "results", None) or []:
        resource_type = node_result.node.resource_type.value
        status = str(node_result.status.value if hasattr(node_result.status, "value") else node_result.status)
        outcome.statuses[f"{resource_type}:{status}"] += 1
        if status in ("fail", "error"):
            message = (node_result.message or "").splitlines()[0] if node_result.message else ""
            if LOCK_MESSAGE in (node_result.message or ""):
                raise duckdb_locked(settings.duckdb_path())
            outcome.failures.append(f"{node_result.node.unique_id}: {message}")
    return outcome
