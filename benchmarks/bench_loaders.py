"""Throughput of the bulk file loaders against DuckDB reading the same files itself.

    python benchmarks/bench_loaders.py [--events 200000] [--csv-rows 200000] [--repeat 3] [--json OUT]
    python benchmarks/bench_loaders.py --events 1000000 --csv-rows 1000000     # 1M lines each
    python benchmarks/bench_loaders.py --data data/demo                        # a generated data set

Synthesizes Segment day folders and a CSV drop in the contract's shapes (a few broken lines/rows and
re-delivered messages included, like the generator's), or takes a folder written by ``customer360
generate`` (``--data``: its ``segment/`` and every CSV drop under ``csv_contacts/``), then, interleaving
the contenders so a noisy machine hurts them alike, times end to end into a fresh DuckDB file each time:

* ours: ``load_segment`` / ``load_csv_contacts`` (hashing, planning, parse, dlt extract/normalize/load
  with merge, state), in this already-warm process;
* DuckDB alone: ``CREATE TABLE AS SELECT * FROM read_json(...)`` (schema sniffed, and with the contract's
  columns given) and ``read_csv(...)`` (sniffed, and all-VARCHAR), with ``ignore_errors`` so the broken
  lines do not stop it (it drops them silently, which the loaders must not do).

Prints rows/s (input lines per second) for each, the ratio ours/DuckDB, a no-change rerun time, and
the machine's load average before and after (the machine may be shared: compare CPU seconds too).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb

from ingestion.demo_kit.generate.csv_contacts import LEGACY_HEADER, LEGACY_MAPPING

EVENT_NAMES = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
# The synthetic CSV drop uses the demo's legacy-CRM layout, so the benchmark loads what the demo loads.
CSV_HEADER = ",".join(LEGACY_HEADER)
CSV_MAPPING = LEGACY_MAPPING


def synth_events(root: Path, n: int, seed: int = 7, days: int = 30, per_file: int = 2500) -> int:
    """``n`` lines of Segment messages over ``days`` day folders: ~0.05% broken, ~0.5% re-delivered."""
    rnd = random.Random(seed)
    written = 0
    per_day = -(-n // days)
    for day in range(days):
        stamp = (date(2026, 1, 1) + timedelta(days=day)).isoformat()
        folder = root / stamp
        folder.mkdir(parents=True, exist_ok=True)
        count = min(per_day, n - written)
        for part, start in enumerate(range(0, count, per_file)):
            lines = []
            for i in range(start, min(start + per_file, count)):
                number = written + i
                if rnd.random() < 0.0005:
                    lines.append(
                        '{"messageId": "broken-' + str(number) + '", "type": "page", "properties": {"url": "https://sh'
                    )
                    continue
                mid = f"m-{rnd.randrange(number) if number and rnd.random() < 0.005 else number:09d}"
                ts = f"{stamp}T{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:{rnd.randrange(60):02d}"
                kind = rnd.choice(("track", "track", "page", "identify"))
                message: dict[str, Any] = {
                    "messageId": mid,
                    "type": kind,
                    "anonymousId": f"{rnd.getrandbits(64):016x}-anon",
                    "userId": str(7_100_000_000 + rnd.randrange(100_000)) if rnd.random() < 0.4 else None,
                    "context": {
                        "ip": f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}",
                        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0.0.0",
                        "page": {"url": "https://shop.example.com/p/1", "path": "/p/1", "referrer": "", "title": "P"},
                        "campaign": {"source": "newsletter", "medium": "email", "name": "spring"},
                        "device": {"type": "mobile"},
                        "library": {"name": "analytics.js", "version": "2.11.1"},
                    },
                    "timestamp": ts + ".120Z",
                    "sentAt": ts + ".480Z",
                    "receivedAt": ts + ".910Z",
                }
                if kind == "track":
                    message["event"] = rnd.choice(EVENT_NAMES)
                    message["properties"] = {"product_id": rnd.randrange(500), "price": "19.99", "currency": "USD"}
                elif kind == "page":
                    message["name"] = "Product"
                    message["properties"] = {"url": "https://shop.example.com/p/1", "path": "/p/1"}
                else:
                    message["traits"] = {"email": f"user{number}@example.com", "first_name": "Ann"}
                lines.append(json.dumps(message, separators=(",", ":")))
            (folder / f"events-{part:04d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        written += count
    return written


def synth_csv(folder: Path, n: int, seed: int = 7, files: int = 4) -> int:
    """A drop of ``files`` exports totalling ``n`` data rows (BOM, quoted commas, ~0.05% broken rows)."""
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mapping.json").write_text(json.dumps(CSV_MAPPING, indent=2))
    per_file = -(-n // files)
    written = 0
    for part in range(files):
        count = min(per_file, n - written)
        lines = ["\ufeff" + CSV_HEADER]
        for i in range(count):
            number = written + i
            row = [
                f"LC-{number:07d}",
                rnd.choice(("Ann", "Bob", "Élodie", "Daniel")),
                rnd.choice(("Lee", "Stone", "Michel", "WILLIAMS")),
                f" user{number}@example.com ",
                f"+1 (404) {rnd.randrange(1000):03d}-{rnd.randrange(10000):04d}",
                f"{rnd.randrange(9999)} Main St",
                "",
                "Washington",
                f"{rnd.randrange(100000):05d}",
                "DC",
                "US",
                "09/20/1952",
                "06/18/2024",
                "09/30/2024 22:58",
                rnd.choice(("", "N", "Y")),
                '"Prefers phone, not email"' if rnd.random() < 0.3 else "VIP",
            ]
            if rnd.random() < 0.0005:
                row = row[:12]  # a short row: rejected
            lines.append(",".join(row))
        (folder / f"crm_export_{part:02d}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        written += count
    return written


def fresh_warehouse(work: Path, name: str) -> Path:
    """Point the loaders at a new DuckDB file and dlt folder (the same variables the CLI reads)."""
    target = work / "runs" / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    os.environ["CUSTOMER360_DUCKDB_PATH"] = str(target / "warehouse.duckdb")
    os.environ["CUSTOMER360_PIPELINES_DIR"] = str(target / "dlt")
    return target / "warehouse.duckdb"


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process: Python plus DuckDB's threads).

    CPU time is the fairer figure on a shared machine, where wall time also measures the neighbours.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def duckdb_into_table(work: Path, name: str, sql: str) -> tuple[float, float]:
    path = fresh_warehouse(work, name)

    def run() -> None:
        con = duckdb.connect(str(path))
        try:
            con.execute(sql)
        finally:
            con.close()

    return timed(run)


def count_lines(paths: list[str]) -> int:
    """Non-blank lines of event files (every one is an event or a reject), or data rows of CSV files
    (lines after the header; a quoted multi-line value counts once per line: near enough for a rate)."""
    total = 0
    for path in paths:
        with open(path, "rb") as handle:
            lines = sum(1 for line in handle if line.strip())
        total += lines - (1 if path.endswith(".csv") and lines else 0)
    return total


def machine_load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--csv-rows", type=int, default=200_000)
    parser.add_argument("--data", type=Path, default=None, help="a generated data folder instead of synthetic files")
    parser.add_argument("--only", choices=("events", "csv"), default=None, help="time one loader only")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first run (large inputs)")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder, removed after")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    # as the CLI does (ingestion/cli.py): with the airflow extra installed dlt would otherwise look every
    # setting up in Airflow Variables too, ~7 s per process
    os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")

    from ingestion.loading import csv_drops
    from ingestion.sources import csv_contacts, segment
    from ingestion.sources.csv_contacts import load_csv_contacts
    from ingestion.sources.segment import load_segment

    # keep the output to the figures (the loaders' progress lines go to stderr anyway)
    segment.progress = csv_contacts.progress = lambda message: None

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_loaders_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        if args.data is not None:
            data = args.data.expanduser().resolve()
            events_dir, drops = data / "segment", csv_drops(data)
            event_files = [str(p) for p in sorted(events_dir.glob("*/*.jsonl"))]
            csv_files = [str(p) for drop in drops for p in sorted(drop.glob("*.csv"))]
            n_events, n_rows = count_lines(event_files), count_lines(csv_files)
            source = f"{data} ({len(drops)} CSV drops)"
        else:
            events_dir, drop = work / "segment", work / "csv" / "legacy_crm"
            shutil.rmtree(events_dir, ignore_errors=True)
            shutil.rmtree(drop, ignore_errors=True)
            n_events = synth_events(events_dir, args.events) if args.only != "csv" else 0
            n_rows = synth_csv(drop, args.csv_rows) if args.only != "events" else 0
            drops = [drop]
            event_files = [str(p) for p in sorted(events_dir.glob("*/*.jsonl"))]
            csv_files = [str(p) for p in sorted(drop.glob("*.csv"))]
            source = f"synthesized under {work}"
        size = sum(Path(p).stat().st_size for p in [*event_files, *csv_files]) / 1e6
        print(
            f"{n_events:,} event lines and {n_rows:,} CSV rows ({size:,.0f} MB), {source}, "
            f"in {time.perf_counter() - started:.1f}s"
        )
        load_before = machine_load()
        print(f"machine: {load_before}")

        def load_drops() -> None:
            for folder in drops:
                load_csv_contacts(folder, folder / "mapping.json", folder.name)

        shape = (
            "{'messageId': 'VARCHAR', 'type': 'VARCHAR', 'event': 'VARCHAR', 'name': 'VARCHAR', "
            "'anonymousId': 'VARCHAR', 'userId': 'VARCHAR', 'timestamp': 'TIMESTAMPTZ', 'sentAt': 'TIMESTAMPTZ', "
            "'receivedAt': 'TIMESTAMPTZ', 'traits': 'JSON', 'properties': 'JSON', 'context': 'JSON'}"
        )
        contenders: dict[str, tuple[int, Callable[[], tuple[float, float]]]] = {
            "events: ours (load_segment)": (
                n_events,
                lambda: (fresh_warehouse(work, "ours_events"), timed(lambda: load_segment(events_dir)))[1],
            ),
            "events: duckdb read_json (sniffed)": (
                n_events,
                lambda: duckdb_into_table(
                    work,
                    "duck_json",
                    f"CREATE TABLE events AS SELECT * FROM read_json({event_files!r}, "
                    "format = 'newline_delimited', ignore_errors = true)",
                ),
            ),
            "events: duckdb read_json (columns given)": (
                n_events,
                lambda: duckdb_into_table(
                    work,
                    "duck_json_cols",
                    f"CREATE TABLE events AS SELECT * FROM read_json({event_files!r}, "
                    f"format = 'newline_delimited', ignore_errors = true, columns = {shape})",
                ),
            ),
            "csv: ours (load_csv_contacts)": (
                n_rows,
                lambda: (
                    fresh_warehouse(work, "ours_csv"),
                    timed(load_drops),
                )[1],
            ),
            "csv: duckdb read_csv (sniffed)": (
                n_rows,
                lambda: duckdb_into_table(
                    work,
                    "duck_csv",
                    f"CREATE TABLE contacts AS SELECT * FROM read_csv({csv_files!r}, "
                    "union_by_name = true, ignore_errors = true)",
                ),
            ),
            "csv: duckdb read_csv (all_varchar)": (
                n_rows,
                lambda: duckdb_into_table(
                    work,
                    "duck_csv_text",
                    f"CREATE TABLE contacts AS SELECT * FROM read_csv({csv_files!r}, "
                    "union_by_name = true, ignore_errors = true, all_varchar = true)",
                ),
            ),
        }
        if args.only is not None:
            contenders = {name: c for name, c in contenders.items() if name.startswith(args.only)}
        # one untimed warm-up each (imports, first dlt pipeline), then interleaved timed rounds
        for _, run in () if args.no_warmup else contenders.values():
            run()
        seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
        for _ in range(args.repeat):
            for name, (_, run) in contenders.items():
                seconds[name].append(run())

        load_after = machine_load()
        print(f"machine: {load_after}")
        # a rerun over unchanged files: what every scheduled load costs when nothing arrived
        rerun = None
        if args.only != "csv":
            fresh_warehouse(work, "ours_events_rerun")
            load_segment(events_dir)
            rerun, _ = timed(lambda: load_segment(events_dir))

        figures: dict[str, Any] = {
            "events": n_events,
            "csv_rows": n_rows,
            "data": str(args.data) if args.data else None,
            "repeat": args.repeat,
            "machine_before": load_before,
            "machine_after": load_after,
            "results": {},
        }
        print(f"\n{'contender':44} {'best s':>7} {'median s':>8} {'rows/s':>9} {'CPU s':>6} {'rows/CPU s':>10}")
        for name, (rows, _) in contenders.items():
            best = min(wall for wall, _ in seconds[name])
            median = statistics.median(wall for wall, _ in seconds[name])
            cpu = min(c for _, c in seconds[name])
            figures["results"][name] = {
                "rows": rows,
                "best_s": best,
                "median_s": median,
                "rows_per_s": rows / best,
                "cpu_s": cpu,
                "rows_per_cpu_s": rows / cpu,
            }
            print(f"{name:44} {best:7.2f} {median:8.2f} {rows / best:9,.0f} {cpu:6.2f} {rows / cpu:10,.0f}")
        print(f"\n{'ratio ours / DuckDB':60} {'wall':>5} {'CPU':>5}")
        results = figures["results"]
        for ours, theirs in (
            ("events: ours (load_segment)", "events: duckdb read_json (sniffed)"),
            ("events: ours (load_segment)", "events: duckdb read_json (columns given)"),
            ("csv: ours (load_csv_contacts)", "csv: duckdb read_csv (sniffed)"),
            ("csv: ours (load_csv_contacts)", "csv: duckdb read_csv (all_varchar)"),
        ):
            if ours not in results:
                continue
            wall_ratio = results[ours]["rows_per_s"] / results[theirs]["rows_per_s"]
            cpu_ratio = results[ours]["rows_per_cpu_s"] / results[theirs]["rows_per_cpu_s"]
            figures.setdefault("ratios", {})[f"{ours} / {theirs}"] = {"wall": wall_ratio, "cpu": cpu_ratio}
            print(f"{ours.split(' (')[0] + ' / ' + theirs.split(': ', 1)[1]:60} {wall_ratio:5.2f} {cpu_ratio:5.2f}")
        figures["rerun_unchanged_events_s"] = rerun
        if rerun is not None:
            print(f"\nsegment rerun with nothing new ({len(event_files)} files): {rerun:.2f}s")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
