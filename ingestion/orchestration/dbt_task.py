"""`python -m ingestion.orchestration.dbt_task <dbt args>`: one dbt invocation, its outcome as JSON.

The run's dbt steps run as this child process: dbt-duckdb keeps the warehouse file open in the process
that ran dbt, and DuckDB allows one process per file, so a parent that had run dbt in-process would lock
its own next loads (child processes) out. Progress goes to stderr; stdout carries one JSON line.
"""

from __future__ import annotations

import json
import sys

from ingestion.dbt_runner import run_dbt
from ingestion.errors import UserError


def main(argv: list[str] | None = None) -> int:
    try:
        outcome = run_dbt(sys.argv[1:] if argv is None else argv, progress=sys.stderr)
    except UserError as error:
        print(f"customer360: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"success": outcome.success, "statuses": dict(outcome.statuses), "failures": outcome.failures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
