"""Shopify first load: REST paging under the leaky bucket vs a GraphQL bulk export (issue 16).

    python benchmarks/bench_shopify_bulk.py --people 10000 [--data DIR] [--modes rest,bulk,ungrouped] [--json OUT]

Generates the population (or reuses ``--data``), serves it with the local Shopify server at a standard
plan's REST limits (bucket 40, leaking 2 calls/s), and times ``load_shopify`` into a fresh warehouse for
each mode, one after the other: wall seconds, CPU seconds of this process and its children (the server runs in
this process too, so its CPU is counted for both modes; the CPU its bulk exports spent writing files is also
shown apart), rows landed per raw table, and the load average before and after.
``ungrouped`` is a bulk load whose files are written as a shop does when ``groupObjects`` is false (children first,
shuffled: the server's ``ungrouped`` fault).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOKEN = "shpat_bench_0123456789abcdef"


def _cpu_seconds() -> float:
    """This process's CPU and its finished children's (dlt's normalize workers, where configured)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def run(data: Path, mode: str, root: Path) -> dict[str, Any]:
    from ingestion.demo_kit.servers.shopify import ShopifyServer
    from ingestion.sources.shopify import load_shopify

    folder = root / mode
    os.environ.update(
        {
            "CUSTOMER360_DUCKDB_PATH": str(folder / "warehouse.duckdb"),
            "CUSTOMER360_PIPELINES_DIR": str(folder / "pipelines"),
            "DLT_DATA_DIR": str(folder / "dlt_data"),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "SOURCES__SHOPIFY__BULK_FIRST_LOAD": "false" if mode == "rest" else "true",
        }
    )
    with ShopifyServer(data, TOKEN) as server:  # a standard plan's bucket: 40 calls, 2 per second
        if mode == "ungrouped":
            server.bulk_faults.arm("ungrouped", count=3)
        load_before = os.getloadavg()[0]
        wall, cpu = time.monotonic(), _cpu_seconds()
        summary = load_shopify(server.url, TOKEN)
        wall, cpu = time.monotonic() - wall, _cpu_seconds() - cpu
        rest_calls = sum(len(server.requests_to(f"/{name}.json")) for name in ("customers", "orders", "products"))
        server_export_cpu = sum(o.cpu_seconds for o in server.bulk.operations)
    return {
        "mode": mode,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "of_which_server_export_cpu_s": round(server_export_cpu, 1),
        "rows": summary.rows_by_table,
        "rest_list_calls": rest_calls,
        "load_average_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--data", type=Path, help="an already generated data folder")
    parser.add_argument("--modes", default="rest,bulk")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-shopify-") as tmp:
        root = Path(tmp)
        data = args.data
        if data is None:
            from ingestion.demo_kit.generate import generate

            data = root / "data"
            generate(data, customers=args.people, seed=42, as_of=date(2026, 11, 30), progress=False)
        results = [run(data, mode, root) for mode in args.modes.split(",")]
    print(
        f"{'mode':9} {'wall s':>8} {'cpu s':>7} {'server':>7} {'orders':>8} {'line items':>10} {'REST calls':>10}"
        "  load avg"
    )
    for r in results:
        print(
            f"{r['mode']:9} {r['wall_s']:>8} {r['cpu_s']:>7} {r['of_which_server_export_cpu_s']:>7} "
            f"{r['rows'].get('orders', 0):>8} "
            f"{r['rows'].get('orders__line_items', 0):>10} {r['rest_list_calls']:>10}  {r['load_average_before_after']}"
        )
    if args.json:
        args.json.write_text(json.dumps({"people": args.people, "cores": os.cpu_count(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
