"""`python -m ingestion.orchestration.load_task SOURCE [--data DIR]`: one load, its summaries as JSON.

The runner and the Airflow DAG start each load attempt as this child process, so a timeout can end it
for real (a Python thread cannot be killed) and a crashed attempt leaves no dlt state in the parent.
Standard output carries one JSON list of the load's summaries; a user error is one line on stderr and
exit status 2, as for `customer360 load`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from ingestion.errors import UserError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="load_task")
    parser.add_argument("source")
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args(argv)
    from ingestion.loading import load

    try:
        summaries = load(args.source, data_dir=args.data)
    except UserError as error:
        print(f"customer360: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps([asdict(summary) for summary in summaries]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
