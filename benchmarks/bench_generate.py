"""Benchmark `customer360 generate`: people per second and peak memory at a given size.

    python benchmarks/bench_generate.py                    # 50,000 people, with and without Segment events
    python benchmarks/bench_generate.py --customers 200000
    python benchmarks/bench_generate.py --million          # 1,000,000 people (several GB of files, minutes)

Each measured run happens in a fresh subprocess so its peak RSS (VmHWM) is its own. Both wall-clock and
CPU rates are printed: on a shared machine the CPU rate is the generator's own speed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_RUN = """
import json, resource, sys, time
from datetime import date
from pathlib import Path
from ingestion.demo_kit.generate import generate
out, customers, events = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
wall, cpu = time.perf_counter(), time.process_time()
manifest = generate(out, customers=customers, seed=42, as_of=date(2026, 11, 1), progress=True, segment_events=events)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"wall": wall, "cpu": cpu, "peak_kb": peak_kb, "rows": manifest["row_counts"]}))
"""


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure(customers: int, events: bool, scratch: Path) -> dict[str, float]:
    out = scratch / f"gen_{customers}_{int(events)}"
    result = subprocess.run(
        [sys.executable, "-c", _RUN, str(out), str(customers), "1" if events else "0"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    stats["bytes"] = _folder_bytes(out)
    shutil.rmtree(out)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--million", action="store_true", help="run at 1,000,000 people")
    parser.add_argument("--scratch", type=Path, default=None, help="where to write (default: a temp folder)")
    args = parser.parse_args()
    customers = 1_000_000 if args.million else args.customers
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="bench_generate_"))
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"generating {customers:,} people into {scratch}", flush=True)
    for events, label in ((False, "without Segment events"), (True, "with Segment events")):
        stats = measure(customers, events, scratch)
        rows = sum(stats["rows"].values())
        print(
            f"{label:>24}: {customers / stats['wall']:>8,.0f} people/s wall, "
            f"{customers / stats['cpu']:>8,.0f} people/s CPU, {stats['wall']:.1f}s, "
            f"peak RSS {stats['peak_kb'] / 1024:.0f} MB, {rows:,} rows "
            f"({stats['rows'].get('segment', 0):,} Segment lines), {stats['bytes'] / 2**20:,.0f} MB on disk",
            flush=True,
        )
    if args.scratch is None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
