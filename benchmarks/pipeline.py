"""The whole pipeline, stage by stage, at 10k / 100k / 1M people: one command, a table and a JSON file.

    python benchmarks/pipeline.py --sizes 10k,100k [--seed 42] [--work .bench] [--json results.json]

For each size, in a fresh folder ``<work>/<size>/`` (data, warehouse, dlt folder; kept with ``--resume``), every
stage runs as its own process of the real CLI (``python -m ingestion.cli ...``) and is timed separately; the JSON
file is rewritten after every stage:

  generate · serve (start the local HubSpot/Shopify servers) · load hubspot / shopify / segment /
  csv_contacts (each alone) · load all, side by side (``customer360 load all`` into a scratch warehouse,
  removed after: the loads' wall in "load + full build") · build (full) · generate --delta (1%) · load (the
  delta, each source) · build after delta · build with nothing new (both `build --changed`) · evaluate

Each stage reports wall time, CPU time (user + system of the stage's processes), rows/s where rows are
counted (raw rows landed by a load, people generated), and the peak resident memory of the stage's
process tree (sampled from /proc every 0.2 s; the servers run in their own process and are reported
apart). After the build: the DuckDB file size, and the 10 slowest dbt nodes of each build from
``target/run_results.json``. Next to each file loader: DuckDB's own ``read_json`` / ``read_csv`` of the
same files in a separate process (``CREATE TABLE AS`` into an in-memory database), so the loaders' rate
is compared on the same machine in the same run.

DuckDB settings come from the usual variables (CUSTOMER360_DUCKDB_MEMORY_LIMIT, _THREADS,
_TEMP_DIRECTORY); the run records them and the machine's load average. Benchmarks are not tests: no
figure here fails anything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from ingestion.settings import Settings  # noqa: E402
from ingestion.sources import LOADED_SOURCES  # noqa: E402

SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}
STAGE_NAMES = (  # in the order they run
    "generate",
    "serve start",
    *(f"load {source}" for source in LOADED_SOURCES),
    "duckdb read_json",
    "duckdb read_csv",
    "load all, side by side",
    "build full",
    "generate --delta (1%)",
    "serve start (delta)",
    *(f"load {source} (delta)" for source in LOADED_SOURCES),
    "build after 1% delta",
    "build, nothing new",
    "evaluate",
)


@dataclass
class Stage:
    size: str
    name: str
    wall_s: float
    cpu_s: float | None  # None: a stage kept from a JSON file that recorded no figure (a generate run apart)
    peak_rss_mb: float | None
    rows: int | None = None
    ok: bool = True
    note: str = ""

    @property
    def rows_per_s(self) -> float | None:
        return self.rows / self.wall_s if self.rows and self.wall_s > 0 else None


@dataclass
class SizeResult:
    size: str
    people: int
    stages: list[Stage] = field(default_factory=list)
    duckdb_file_mb: float | None = None
    server_rss_mb: float | None = None
    slowest_nodes: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    evaluate: str = ""


# -- process-tree memory -----------------------------------------------------------------------------
def _children_map() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(pid: int) -> float:
    tree = _children_map()
    pending, total = [pid], 0
    while pending:
        current = pending.pop()
        total += _rss_kb(current)
        pending.extend(tree.get(current, []))
    return total / 1024


class PeakSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_mb = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.pid))
            self._stop_event.wait(0.2)

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return self.peak_mb


# -- running stages ----------------------------------------------------------------------------------
def run_stage(size: str, name: str, argv: list[str], env: dict[str, str], log: Path) -> Stage:
    """Run one stage as a child process; wall, CPU (from the children's rusage) and peak tree RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        sampler = PeakSampler(process.pid)
        sampler.start()
        code = process.wait()
        peak = sampler.stop()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stage = Stage(size, name, round(wall, 2), round(cpu, 2), round(peak, 1), ok=code == 0)
    if code:
        stage.note = f"exit {code}, see {log}"
    print(f"  {name:<28} {wall:8.1f}s wall {cpu:8.1f}s cpu {peak:8.0f} MB{'  FAILED' if code else ''}", flush=True)
    return stage


def raw_rows(warehouse: Path, source: str) -> int:
    """Rows in the raw tables of one source (dlt's own tables and staging copies excluded)."""
    if not warehouse.is_file():
        return 0
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_schema = ? "
            "and table_name not like '\\_dlt%' escape '\\' and table_type = 'BASE TABLE'",
            [f"raw_{source}"],
        ).fetchall()
        return sum(con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0] for s, t in tables)
    finally:
        con.close()


def slowest_nodes(target: Path, since: float, count: int = 10) -> list[tuple[str, float]]:
    """The build's slowest nodes; none when dbt did not run since ``since`` (a `--changed` build with nothing to
    build leaves the last build's run_results.json)."""
    path = target / "run_results.json"
    if not path.is_file() or path.stat().st_mtime < since:
        return []
    results = json.loads(path.read_text(encoding="utf-8"))["results"]
    ranked = sorted(results, key=lambda r: -r["execution_time"])[:count]
    return [(r["unique_id"].split(".", 2)[-1], round(r["execution_time"], 2)) for r in ranked]


def keep_run_results(target: Path, since: float, label: str) -> None:
    """A copy of the build's run_results.json beside it (``run_results-build_full.json`` ...): every node's time,
    for comparing two builds node by node; nothing when dbt did not run since ``since``."""
    path = target / "run_results.json"
    if path.is_file() and path.stat().st_mtime >= since:
        name = "".join(c if c.isalnum() else "_" for c in label).strip("_")
        shutil.copyfile(path, target / f"run_results-{name}.json")


def start_servers(data: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[str], dict[str, str], float]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ingestion.cli",
            "serve",
            "--data",
            str(data),
            "--hubspot-port",
            "0",
            "--shopify-port",
            "0",
            "--mailchimp-port",  # free ports for all three: two sizes may run side by side
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log.open("a", encoding="utf-8"),
        text=True,
    )
    exports: dict[str, str] = {}
    assert process.stdout is not None
    while len(exports) < 4:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"the local servers did not start; see {log}")
        if line.startswith("export "):
            key, _, value = line[len("export ") :].strip().partition("=")
            exports[key] = value
    return process, exports, time.perf_counter() - started


def duckdb_read(kind: str, pattern: str, env: dict[str, str], size: str, log: Path) -> Stage:
    """DuckDB reading the same files itself, in its own process (same memory/thread settings)."""
    reader = (
        "read_json(?, format='newline_delimited', ignore_errors=true)"
        if kind == "json"
        else ("read_csv(?, union_by_name=true, ignore_errors=true, all_varchar=true)")
    )
    code = (
        "import duckdb,sys,json; from ingestion.settings import Settings; "
        "c=duckdb.connect(config=Settings.from_environment().duckdb_config()); "
        f'c.execute("create table t as select * from {reader}", [sys.argv[1]]); '
        "print(c.execute('select count(*) from t').fetchone()[0])"
    )
    stage = run_stage(size, f"duckdb read_{kind}", [sys.executable, "-c", code, pattern], env, log)
    text = log.read_text(encoding="utf-8").rstrip().splitlines()
    stage.rows = int(text[-1]) if text and text[-1].isdigit() else None
    return stage


class Resume:
    """``--resume``: the stages a previous run of this size measured successfully are kept, not run again; the
    ones that failed or were never reached run. With ``--from``, every stage from the named one on runs.
    Without it, a stage that succeeded after a failed one is kept too: it changed the folder (a ``generate
    --delta`` that ran after a failed build added its delta), and running it again would change it again.

    The size's folder (data, warehouse, dlt state) is kept as it is, so a stage run again runs on what is there:
    a load is incremental if that source loaded before, the full build runs with ``--full-refresh`` (the
    snapshots keep their history), a second ``generate --delta`` adds a second delta. Use it to finish a run
    that stopped, not to re-measure a stage that succeeded."""

    def __init__(self, previous: list[Stage], slowest: dict[str, Any], from_stage: str | None) -> None:
        self.kept = {stage.name: stage for stage in previous if stage.ok}
        self.slowest = slowest  # the 10 slowest dbt nodes of the builds measured before
        self.from_stage = from_stage
        self.reached = False

    def missing_files(self, data: Path, warehouse: Path) -> str | None:
        """Why the stages this resume keeps do not match the size's folder, or None: a kept stage stands for files
        the stages after it read (a resumed build on a warehouse removed since would build nothing, or the round's
        own figures would describe another folder)."""
        cut = STAGE_NAMES.index(self.from_stage) if self.from_stage else len(STAGE_NAMES)
        kept = [name for name in STAGE_NAMES[:cut] if name in self.kept]
        if "generate" in kept and not data.is_dir():
            return f"--resume keeps 'generate' but its data folder {data} is missing; resume with --from generate"
        first_load = f"load {LOADED_SOURCES[0]}"
        loads = [name for name in kept if name in {f"load {source}" for source in LOADED_SOURCES}]
        if loads and not warehouse.is_file():
            return (
                f"--resume keeps '{loads[0]}' but the warehouse it loaded ({warehouse}) is missing; resume with "
                f"--from '{first_load}' to load it again"
            )
        return None

    def take(self, name: str) -> Stage | None:
        """The stage measured before, if it is kept; None if it must run."""
        if name == self.from_stage:
            self.reached = True
        if self.reached or name not in self.kept:
            return None
        return self.kept[name]


def bench_size(
    size: str,
    people: int,
    seed: int,
    work: Path,
    as_of: str,
    checkpoint: Callable[[SizeResult], None],
    resume: Resume | None = None,
) -> SizeResult:
    folder = work / size
    if resume is None:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    data, warehouse, log = folder / "data", folder / "warehouse.duckdb", folder / "bench.log"
    if resume and (problem := resume.missing_files(data, warehouse)):
        raise SystemExit(f"pipeline.py: error: {size}: {problem}")
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        CUSTOMER360_DUCKDB_PATH=str(warehouse),
        CUSTOMER360_DATA_DIR=str(data),
        CUSTOMER360_PIPELINES_DIR=str(folder / "dlt"),
        RUNTIME__DLTHUB_TELEMETRY="false",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        # dbt's artifacts (run_results.json) and log per run, not in the project's target/ and logs/
        DBT_TARGET_PATH=str(folder / "target"),
        DBT_LOG_PATH=str(folder / "logs"),
    )
    # dbt's partial-parse file holds the absolute paths of the checkout that wrote it; a resumed run from
    # another checkout would load seeds from the old one's folder (a 1M resume: every seed failed)
    (folder / "target" / "partial_parse.msgpack").unlink(missing_ok=True)
    cli = [sys.executable, "-m", "ingestion.cli"]
    result = SizeResult(size, people)
    if resume:
        result.slowest_nodes = {label: nodes for label, nodes in resume.slowest.items() if label in resume.kept}

    def add(stage: Stage) -> None:
        # the JSON is rewritten after every stage, so a run stopped at 1M keeps what it measured
        result.stages.append(stage)
        checkpoint(result)

    def kept(name: str) -> bool:
        """With --resume, a stage measured before is taken over as it was and not run."""
        stage = resume.take(name) if resume else None
        if stage is not None:
            print(f"  {name:<28} kept from the previous run", flush=True)
            add(stage)
        return stage is not None

    print(f"== {size}: {people:,} people in {folder}", flush=True)

    if not kept("generate"):
        stage = run_stage(
            size,
            "generate",
            [*cli, "generate", "--out", str(data), "--customers", str(people), "--seed", str(seed), "--as-of", as_of],
            env,
            log,
        )
        stage.rows = people
        add(stage)

    def load_all(label: str) -> None:
        to_load = [source for source in LOADED_SOURCES if not kept(f"load {source}{label}")]
        if not to_load:
            kept(f"serve start{label}")  # no server needed: its measurement is taken over with the loads
            return
        server, exports, start_s = start_servers(data, env, log)
        result.server_rss_mb = max(result.server_rss_mb or 0.0, round(tree_rss_mb(server.pid), 1))
        add(Stage(size, f"serve start{label}", round(start_s, 2), 0.0, result.server_rss_mb))
        try:
            for source in to_load:
                before = raw_rows(warehouse, source)
                stage = run_stage(size, f"load {source}{label}", [*cli, "load", source], {**env, **exports}, log)
                stage.rows = raw_rows(warehouse, source) - before if not label else None
                if label:
                    stage.note = (
                        f"raw rows now {raw_rows(warehouse, source):,} ({raw_rows(warehouse, source) - before:+,})"
                    )
                add(stage)
        finally:
            server.terminate()
            server.wait()

    def load_side_by_side() -> None:
        """`load all` as the demo and a first deployment run it (the sources side by side) into a scratch
        warehouse and dlt folder, removed after; the stages above time each source alone."""
        name = "load all, side by side"
        if kept(name):
            return
        scratch = folder / "side_by_side"
        shutil.rmtree(scratch, ignore_errors=True)
        server, exports, _ = start_servers(data, env, log)
        scratch_env = {
            **env,
            **exports,
            "CUSTOMER360_DUCKDB_PATH": str(scratch / "warehouse.duckdb"),
            "CUSTOMER360_PIPELINES_DIR": str(scratch / "dlt"),
        }
        try:
            stage = run_stage(size, name, [*cli, "load", "all"], scratch_env, log)
            stage.rows = sum(raw_rows(scratch / "warehouse.duckdb", source) for source in LOADED_SOURCES)
        finally:
            server.terminate()
            server.wait()
            shutil.rmtree(scratch, ignore_errors=True)
        add(stage)

    load_all("")
    if not kept("duckdb read_json"):
        add(duckdb_read("json", str(data / "segment" / "*" / "*.jsonl"), env, size, log))
    if not kept("duckdb read_csv"):
        add(duckdb_read("csv", str(data / "csv_contacts" / "*" / "*.csv"), env, size, log))
    load_side_by_side()

    def build(label: str, *dbt_args: str) -> None:
        if kept(label):
            return
        started = time.time()
        stage = run_stage(size, label, [*cli, "build", *dbt_args], env, log)
        result.slowest_nodes[label] = slowest_nodes(folder / "target", started)
        keep_run_results(folder / "target", started, label)
        add(stage)

    # --full-refresh: in a resumed run the warehouse still holds the models an earlier build left, and the
    # incremental ones would only add to them (snapshots keep their history either way)
    build("build full", "--full-refresh")
    result.duckdb_file_mb = round(warehouse.stat().st_size / 1e6, 1) if warehouse.is_file() else None
    if not kept("generate --delta (1%)"):
        add(run_stage(size, "generate --delta (1%)", [*cli, "generate", "--out", str(data), "--delta"], env, log))
    load_all(" (delta)")
    # --changed, as a scheduled build runs: only what reads the sources with new rows (the 1% delta reaches all
    # four), and no dbt run at all when nothing changed since the last complete build
    build("build after 1% delta", "--changed")
    build("build, nothing new", "--changed")
    if kept("evaluate"):
        return result
    stage = run_stage(
        size, "evaluate", [*cli, "evaluate", "--truth", str(data / "truth" / "source_records.csv")], env, log
    )
    add(stage)
    text = log.read_text(encoding="utf-8")
    lines = text[text.rindex("ingestion.cli evaluate") :].splitlines()
    wanted = ("precision:", "recall:", "f1:", "customers:")
    result.evaluate = " | ".join(line.strip() for line in lines if line.startswith(wanted))
    return result


def _figure(value: float | None, width: int, spec: str) -> str:
    """A table cell: the figure, or "-" where a kept stage recorded none."""
    return f"{value:>{width}{spec}}" if value is not None else f"{'-':>{width}}"


def print_table(results: list[SizeResult]) -> None:
    names: list[str] = []
    for result in results:
        for stage in result.stages:
            if stage.name not in names:
                names.append(stage.name)
    header = f"{'stage':<30}" + "".join(
        f"{r.size + ' wall s':>14}{'cpu s':>9}{'peak MB':>9}{'rows/s':>11}" for r in results
    )
    print("\n" + header)
    print("-" * len(header))
    for name in names:
        row = f"{name:<30}"
        for result in results:
            stage = next((s for s in result.stages if s.name == name), None)
            if stage is None:
                row += " " * 43
                continue
            rate = f"{stage.rows_per_s:,.0f}" if stage.rows_per_s else ""
            row += f"{stage.wall_s:>14.1f}{_figure(stage.cpu_s, 9, '.1f')}{_figure(stage.peak_rss_mb, 9, '.0f')}"
            row += f"{rate:>11}"
            row += "" if stage.ok else " FAILED"
        print(row)
    for result in results:
        full = next((s for s in result.stages if s.name == "build full"), None)
        delta = next((s for s in result.stages if s.name == "build after 1% delta"), None)
        idle = next((s for s in result.stages if s.name == "build, nothing new"), None)
        print(f"\n{result.size}: DuckDB file {result.duckdb_file_mb} MB; servers {result.server_rss_mb} MB RSS")
        side_by_side = next((s for s in result.stages if s.name == "load all, side by side"), None)
        alone = [s for s in result.stages if s.name in {f"load {source}" for source in LOADED_SOURCES}]
        if full and side_by_side:
            print(
                f"  load + full build = {side_by_side.wall_s:.1f} s side by side + {full.wall_s:.1f} s = "
                f"{(side_by_side.wall_s + full.wall_s) / 60:.1f} min (the loads one after another: "
                f"{sum(s.wall_s for s in alone):.1f} s)"
            )
        if full and delta and idle:
            print(
                f"  build after 1% delta = {delta.wall_s / full.wall_s:.0%} of full; "
                f"nothing new = {idle.wall_s / full.wall_s:.0%}"
            )
        for loader, reader in (("load segment", "duckdb read_json"), ("load csv_contacts", "duckdb read_csv")):
            ours = next((s for s in result.stages if s.name == loader), None)
            theirs = next((s for s in result.stages if s.name == reader), None)
            if ours and theirs and ours.rows_per_s and theirs.rows_per_s:
                print(
                    f"  {loader}: {ours.rows_per_s:,.0f} rows/s vs DuckDB {theirs.rows_per_s:,.0f} "
                    f"({ours.rows_per_s / theirs.rows_per_s:.2f}x; wall {ours.wall_s / theirs.wall_s:.1f}x DuckDB's)"
                )
        for label, nodes in result.slowest_nodes.items():
            print(f"  10 slowest dbt nodes, {label}: " + ", ".join(f"{n} {t}s" for n, t in nodes))
        if result.evaluate:
            print(f"  evaluate: {result.evaluate}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="10k,100k", help=f"comma-separated, of {', '.join(SIZES)} (default 10k,100k)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", default="2026-11-30")
    parser.add_argument("--work", type=Path, default=ROOT / ".bench", help="working folder (default .bench/)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here (default <work>/results.json)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep each size's folder and the stages the JSON file says succeeded; run the rest (Resume)",
    )
    parser.add_argument(
        "--from",
        dest="from_stage",
        default=None,
        help="with --resume: run again from this stage on ('build full'); without it, what failed or never ran",
    )
    args = parser.parse_args()
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        print(f"pipeline.py: error: unknown size {', '.join(unknown)}; choose from {', '.join(SIZES)}", file=sys.stderr)
        return 2
    machine = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average_at_start": os.getloadavg(),
        "duckdb_config": Settings.from_environment().duckdb_config(),
    }
    print(f"machine: {machine}", flush=True)
    out = args.json or args.work / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: list[SizeResult] = []
    if args.from_stage and not args.resume:
        print("pipeline.py: error: --from needs --resume", file=sys.stderr)
        return 2
    if args.from_stage and args.from_stage not in STAGE_NAMES:
        print(f"pipeline.py: error: no stage '{args.from_stage}'; stages: {', '.join(STAGE_NAMES)}", file=sys.stderr)
        return 2
    previous: list[dict[str, Any]] = (
        json.loads(out.read_text(encoding="utf-8"))["results"] if args.resume and out.is_file() else []
    )

    def save(current: SizeResult) -> None:
        machine["load_average_at_end"] = os.getloadavg()
        measured = results if results and results[-1] is current else [*results, current]
        payload: dict[str, Any] = {
            "machine": machine,
            "results": [
                {
                    **{k: v for k, v in asdict(r).items() if k != "stages"},
                    "stages": [{**asdict(s), "rows_per_s": s.rows_per_s} for s in r.stages],
                }
                for r in measured
            ]
            # with --resume, the sizes not run this time stay as they were
            + [r for r in previous if r["size"] not in {m.size for m in measured}],
        }
        out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")

    for size in sizes:
        resume = None
        if args.resume:
            before = next((r for r in previous if r["size"] == size), {"stages": [], "slowest_nodes": {}})
            stages = [Stage(**{k: v for k, v in s.items() if k != "rows_per_s"}) for s in before["stages"]]
            resume = Resume(stages, before["slowest_nodes"], args.from_stage)
        results.append(bench_size(size, SIZES[size], args.seed, args.work, args.as_of, save, resume))
        save(results[-1])
        print_table(results)
        print(f"\nwrote {out}", flush=True)
    return 0 if all(s.ok for r in results for s in r.stages) else 1


if __name__ == "__main__":
    sys.exit(main())
