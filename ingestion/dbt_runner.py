"""Run dbt in-process on this project and the configured warehouse file.

The terminal gets a compact view (a progress line, failures named as they happen, a summary); dbt's
full log goes to ``logs/dbt.log`` under the project, as dbt writes it by default.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import duckdb

from ingestion import build_state
from ingestion.errors import duckdb_locked, is_duckdb_lock_error
from ingestion.settings import (
    DEFAULT_DUCKDB_MEMORY_LIMIT,
    DEFAULT_DUCKDB_PATH,
    DEFAULT_DUCKDB_THREADS,
    DUCKDB_MEMORY_LIMIT_ENV,
    DUCKDB_PATH_ENV,
    DUCKDB_THREADS_ENV,
    Settings,
    resolve,
)

LOCK_MESSAGE = "Could not set lock on file"
FAILED_STATUSES = ("fail", "error")


@dataclass
class DbtOutcome:
    success: bool
    statuses: Counter[str] = field(default_factory=Counter)  # "model:success", "test:pass", ...
    failures: list[str] = field(default_factory=list)
    log_path: Path | None = None  # dbt's full log (dbt.log in --log-path / DBT_LOG_PATH, else the project's logs/)
    executed: list[str] = field(default_factory=list)  # unique ids of the nodes dbt ran, in order

    @property
    def tests_passed(self) -> int:
        return self.statuses["test:pass"] + self.statuses["unit_test:pass"]

    @property
    def tests_failed(self) -> int:
        return sum(n for key, n in self.statuses.items() if key.endswith((":fail", ":error")) and "test" in key)

    @property
    def tests_warned(self) -> int:
        return self.statuses["test:warn"]


def headline(message: str | None) -> str:
    """A node's message in one line: dbt's "Compilation Error in model X (path)" header says where, the
    next line says what (a Binder Error, a compiler error the project raised): both are kept."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    if len(lines) > 1 and re.match(r"(Compilation|Runtime|Database) Error in ", lines[0]):
        return f"{lines[0]}: {lines[1]}"
    return lines[0] if lines else ""


class ProgressView:
    """A dbt callback: one updating progress line on a terminal (a line per 100 nodes otherwise), and
    each failure or warning named the moment it happens."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.interactive = stream.isatty()
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.last_line = 0.0

    def __call__(self, event: Any) -> None:
        name = event.info.name
        if name == "ConcurrencyLine":
            return
        if name == "LogStartLine" and not self.total:
            self.total = int(getattr(event.data, "total", 0) or 0)
            return
        if name != "NodeFinished":
            return
        result = event.data.run_result
        status = str(result.status)
        self.counts[status] += 1
        node = event.data.node_info
        if status in (*FAILED_STATUSES, "warn"):
            first_line = headline(result.message)
            self._clear()
            print(f"  {status.upper():5} {node.resource_type} {node.node_name}: {first_line}", file=self.stream)
        self._progress()

    def _clear(self) -> None:
        if self.interactive:
            print("\r\033[K", end="", file=self.stream)

    def _progress(self) -> None:
        done = sum(self.counts.values())
        line = (
            f"  dbt: {done}"
            + (f"/{self.total}" if self.total else "")
            + " nodes "
            + ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items()))
        )
        if self.interactive:
            print(f"\r{line}", end="", file=self.stream, flush=True)
        elif done % 100 == 0 or time.monotonic() - self.last_line > 30:
            print(line, file=self.stream, flush=True)
            self.last_line = time.monotonic()

    def finish(self) -> None:
        if self.interactive and self.counts:
            print(file=self.stream)


def _check_not_locked(path: Path) -> None:
    """Fail in one line, before dbt starts, when another process holds the warehouse's write lock."""
    try:
        duckdb.connect(str(path)).close()
    except duckdb.Error as error:
        if is_duckdb_lock_error(error):
            raise duckdb_locked(path) from error
        raise


def run_dbt(
    args: list[str], progress: TextIO | None = None, settings: Settings | None = None, changed_only: bool = False
) -> DbtOutcome:
    """`dbt <args>` with the project folder and warehouse of ``settings``.

    dbt's own console output is off; ``progress`` (a stream) gets the compact view, the full log is
    in ``logs/dbt.log``. One in-process invocation per step: dbt costs ~4 s to import and ~5-9 s to
    parse each time. dbt's door: profiles.yml reads the warehouse path, memory limit and threads with
    ``env_var``, so they are written to the environment here (and only here).

    A complete build (no selection) that succeeds is recorded (ingestion/build_state.py); ``changed_only``
    (a `build` with no selection) builds only what is downstream of the source tables changed since the
    record, or nothing, or everything when the record cannot be trusted.
    """
    from dbt.cli.main import dbtRunner

    settings = resolve(settings)
    root = str(settings.dbt_project())
    os.environ.update(settings.dbt_environment())
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    _check_not_locked(settings.duckdb_path)
    view = ProgressView(progress) if progress is not None else None
    # the console is ours (the compact view); the file log keeps dbt's own account at info level (--log-level alone
    # would switch it off too: dbt's file level follows the console's unless set)
    common = ["--project-dir", root, "--profiles-dir", root, "--log-level", "none", "--log-level-file", "info"]
    manifest = None
    if args and args[0] in PARSED_FIRST:
        manifest = _parsed_project(args, common, settings)
        if manifest is not None and args[0] in ("build", "test"):
            args = _excluding(args, unit_tests_of_missing_sources(manifest, settings.duckdb_path), progress)
    # a complete build is recorded after it succeeds, with the fingerprints taken before it starts
    plan = None
    if manifest is not None and build_state.is_complete_build(args):
        plan = build_state.plan(settings.duckdb_path, manifest, Path(root), args)
        if changed_only:
            if progress is not None:
                print(f"  --changed: {plan.reason}", file=progress)
            if plan.selection == []:
                return DbtOutcome(success=True)
            if plan.selection is not None:
                args = [*args, "--select", *plan.selection]
    runner = dbtRunner(manifest=manifest, callbacks=[view] if view else [])
    result = runner.invoke([*args, *common])
    if view:
        view.finish()
    node_results = _node_results(result)
    command = "dbt"
    retried: set[str] = set()
    not_retried = None
    if not result.success and args and args[0] in RETRIED_COMMANDS and _out_of_memory(node_results):
        folder = _results_folder(result, root)
        if folder is None:
            not_retried = "dbt: not retried: the run's results were not found where it wrote them (run_results.json)"
        else:
            command = "dbt retry"
            result, node_results, retried = _retry_one_at_a_time(folder, node_results, manifest, common, progress)
    # a success is a success of every node's last run, whatever dbt's own verdict on the last invocation says
    success = bool(result.success) and not any(_status(r) in FAILED_STATUSES for r in node_results)
    outcome = DbtOutcome(success=success, log_path=_log_file(result, root))
    if not_retried:
        outcome.failures.append(not_retried)
    if outcome.success and plan is not None:
        build_state.record(settings.duckdb_path, plan if changed_only else build_state.everything(plan))
    if result.exception is not None:
        if LOCK_MESSAGE in str(result.exception):
            raise duckdb_locked(settings.duckdb_path) from result.exception
        outcome.failures.append(f"{command}: {_exception_line(result.exception)}")
    for node_result in node_results:
        resource_type = node_result.node.resource_type.value
        status = _status(node_result)
        outcome.statuses[f"{resource_type}:{status}"] += 1
        outcome.executed.append(node_result.node.unique_id)
        if status in FAILED_STATUSES:
            message = headline(node_result.message)
            if OUT_OF_MEMORY in message and node_result.node.unique_id in retried:
                limit = settings.duckdb_memory_limit
                message += f" (alone too: raise {DUCKDB_MEMORY_LIMIT_ENV} above {limit})"
            if LOCK_MESSAGE in (node_result.message or ""):
                raise duckdb_locked(settings.duckdb_path)
            outcome.failures.append(f"{node_result.node.unique_id}: {message}")
    return outcome


# The commands whose nodes dbt retry can run again (a node that ran out of memory beside others: see below).
RETRIED_COMMANDS = ("build", "run", "test", "seed", "snapshot")
OUT_OF_MEMORY = "Out of Memory Error"  # DuckDB's error class, as dbt reports it in a node's message


def _exception_line(exception: BaseException) -> str:
    """dbt's exception in one line: a bare "Runtime Error" header keeps the line that says what."""
    lines = [line.strip() for line in str(exception).splitlines() if line.strip()]
    if not lines:
        return type(exception).__name__
    if len(lines) > 1 and lines[0].endswith("Error"):
        return f"{lines[0]}: {lines[1]}"
    return lines[0]


def _log_file(result: Any, root: str) -> Path:
    """The file dbt wrote its full log to: --log-path / DBT_LOG_PATH as dbt read it (relative to the working
    directory), else the project's ``logs`` folder (dbt's default)."""
    folder = (getattr(result.result, "args", None) or {}).get("log_path") or os.environ.get("DBT_LOG_PATH")
    return (Path(folder) if folder else Path(root) / "logs").absolute() / "dbt.log"


def _node_results(result: Any) -> list[Any]:
    return list(getattr(result.result, "results", None) or [])


def _status(node_result: Any) -> str:
    return str(node_result.status.value if hasattr(node_result.status, "value") else node_result.status)


def _out_of_memory(node_results: list[Any]) -> list[str]:
    """The nodes that failed on DuckDB's memory limit."""
    return [r.node.unique_id for r in node_results if OUT_OF_MEMORY in (r.message or "")]


def _results_folder(result: Any, root: str) -> Path | None:
    """The folder where the run that returned ``result`` wrote run_results.json, when that file is its own: dbt
    writes it to --target-path / DBT_TARGET_PATH (relative to the project) or the project's ``target``, and the
    file names the invocation that wrote it (a stale file from another run would make `dbt retry` re-run
    nothing and succeed)."""
    from dbt_common.invocation import get_invocation_id

    target = (getattr(result.result, "args", None) or {}).get("target_path") or "target"
    folder = Path(root) / str(target)
    try:
        written = json.loads((folder / "run_results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return folder if written.get("metadata", {}).get("invocation_id") == get_invocation_id() else None


def _retry_one_at_a_time(
    folder: Path, node_results: list[Any], manifest: Any, common: list[str], progress: TextIO | None
) -> tuple[Any, list[Any], set[str]]:
    """`dbt retry --threads 1`: the nodes that failed or were skipped, built again one at a time.

    dbt's threads share one DuckDB process and its one ``memory_limit``. A query spills what it holds to disk,
    but not what the query beside it holds: at 1M people, one full build in three stopped when a 17M-row model
    ran beside two others that read millions of rows, although the model alone completes under 700 MB. Alone,
    a node has the whole limit (and DuckDB's threads); a node that fails again alone needs a higher limit,
    which the failure then says. The retry reads the first run's own run_results.json in ``folder``
    (``--state``, see _results_folder) and writes its results beside it.
    Returns the retry's result, every node's last result and the nodes the retry ran."""
    from dbt.cli.main import dbtRunner

    failed = _out_of_memory(node_results)
    if progress is not None:
        names = ", ".join(unique_id.split(".")[-1] for unique_id in failed)
        print(
            f"  {len(failed)} node(s) ran out of DuckDB's memory limit beside others"
            f" ({names}): building the failed and skipped nodes again, one at a time",
            file=progress,
        )
    view = ProgressView(progress) if progress is not None else None
    runner = dbtRunner(manifest=manifest, callbacks=[view] if view else [])
    retried = runner.invoke(["retry", "--threads", "1", "--state", str(folder), "--target-path", str(folder), *common])
    if view:
        view.finish()
    again = _node_results(retried)
    last = {r.node.unique_id: r for r in node_results}
    last.update({r.node.unique_id: r for r in again})
    return retried, list(last.values()), {r.node.unique_id for r in again}


# The commands run with a manifest parsed here first (and kept for this process: see _parsed_project).
PARSED_FIRST = ("build", "test", "run", "seed", "snapshot", "compile", "ls", "list")
# project fingerprint, warehouse file name, parse options -> the manifest dbt parsed for them in this process,
# the most recently used last
_MANIFESTS: dict[tuple[str, str, tuple[str, ...]], Any] = {}
# Manifests kept at once: the project's own and a few with other --vars, so a process that alternates (a test
# of a changed var, then the project's vars again) parses each once; older ones and a project edit's leftovers
# are dropped (~10-25 MB each).
MANIFESTS_KEPT = 4


def _parsed_project(args: list[str], common: list[str], settings: Settings) -> Any | None:
    """The project's manifest for ``args``, parsed once per process for the same project files and options.

    dbt's own partial parsing starts over whenever the profile changes, and the warehouse path is part of it:
    each process that builds several warehouses (the test suite, a notebook) paid a full parse (~7 s) per dbt
    command. dbt supports reusing a parsed manifest across invocations (see ``reusable``); the key holds
    everything the parse reads: the files dbt reads, --vars / --target / --profile (and dbt's variables for
    them), dbt's version (build_state.project_fingerprint), and the warehouse file's name, which dbt-duckdb
    makes the database name. The parse itself sees one profile for every warehouse of that name (see
    ``_parse_environment``), so dbt's partial parse also carries over from one process to the next.
    """
    from dbt.cli.main import dbtRunner

    root = Path(settings.dbt_project())
    options = _parse_options(args)
    key = (build_state.project_fingerprint(root, options), settings.duckdb_path.stem, tuple(options))
    if key not in _MANIFESTS:
        os.environ.update(_parse_environment(settings))
        # no target/manifest.json from this parse: the command itself writes it when it ends (a quarter of a
        # partial parse's CPU was writing a file the command then overwrote)
        parse = ["parse", "--no-write-json", *options, *common]
        try:
            parsed = dbtRunner().invoke(parse)
            if parsed.success and dangling_dependencies(parsed.result):
                # dbt's partial parse can keep a node whose parent it dropped (dbt-core #10903: snapshots defined
                # in YAML), and every command then stops on "depends on ... which is not in the graph": parse it
                # whole
                parsed = dbtRunner().invoke([*parse, "--no-partial-parse"])
        finally:
            os.environ.update(settings.dbt_environment())  # the command runs on the warehouse itself
        if not parsed.success:
            return None  # the command itself parses again and reports why
        if not reusable(parsed.result):
            return parsed.result
        while len(_MANIFESTS) >= MANIFESTS_KEPT:
            del _MANIFESTS[next(iter(_MANIFESTS))]  # the least recently used
        _MANIFESTS[key] = parsed.result
    _MANIFESTS[key] = _MANIFESTS.pop(key)  # now the most recently used
    return _MANIFESTS[key]


def _parse_environment(settings: Settings) -> dict[str, str]:
    """The variables profiles.yml reads, as the parse before a command sees them: the warehouse file's name in
    the project's default warehouse folder, and the default memory limit and threads.

    dbt keeps its partial parse (target/partial_parse.msgpack) only while the profile is unchanged, and the
    warehouse path, memory limit and threads are all part of it: every other warehouse meant a full parse
    (~10 CPU s), in each process (each CLI command of the test suite on its own warehouse, each Airflow task).
    None of them reaches the parsed manifest but the file's stem (dbt-duckdb's database name; the models read
    only ``target.schema``), and the command itself runs with the real ones: the manifest is the one its own
    parse would give. dbt's partial parse still re-reads every file that changed since.
    """
    return {
        DUCKDB_PATH_ENV: str(settings.dbt_project() / DEFAULT_DUCKDB_PATH.parent / settings.duckdb_path.name),
        DUCKDB_MEMORY_LIMIT_ENV: DEFAULT_DUCKDB_MEMORY_LIMIT,
        DUCKDB_THREADS_ENV: str(DEFAULT_DUCKDB_THREADS),
    }


def dangling_dependencies(manifest: Any) -> list[tuple[str, str]]:
    """(node, parent) for each parent a node of ``manifest`` depends on that the manifest does not hold: the
    check dbt's graph makes before any command runs (dbt.compilation.Linker.link_node), made after the parse."""
    known = set(manifest.nodes) | set(manifest.sources) | set(manifest.metrics) | set(manifest.semantic_models)
    known |= set(getattr(manifest, "functions", None) or {})
    return [
        (node.unique_id, parent)
        for node in manifest.nodes.values()
        for parent in node.depends_on_nodes
        if parent not in known
    ]


def reusable(manifest: Any) -> bool:
    """Whether a second command may run on this manifest: not with an ephemeral model. dbt marks the nodes it
    compiled on the manifest it runs, and one whose ephemeral parent's CTE was injected once is not injected
    again (the next command fails: "__dbt__cte__... does not exist"). A copy does not help: dbt's lookups do
    not survive a deepcopy or a pickle. The project has no ephemeral model."""
    return not any(node.config.materialized == "ephemeral" for node in manifest.nodes.values())


def _existing_tables(path: Path) -> set[tuple[str, str]]:
    """(schema, table) of every table and view in the warehouse file (nothing when there is no file yet)."""
    if not path.exists():
        return set()
    con = duckdb.connect(str(path))
    try:
        rows = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        return {(schema, table) for schema, table in rows}
    finally:
        con.close()


def unit_tests_of_missing_sources(manifest: Any, duckdb_path: Path) -> dict[str, list[str]]:
    """{unit test name: [missing source tables]} for the unit tests whose given rows stand in for a source
    table the warehouse does not have: dbt reads such an input's columns from the table itself, so the
    test cannot run until the source is loaded (its model is empty and typed meanwhile)."""
    existing = _existing_tables(duckdb_path)
    by_call = {
        f"source('{node.source_name}', '{node.name}')": (node.schema, node.identifier)
        for node in manifest.sources.values()
        # a source the project's on-run-start hook creates (the erasure audit) is there before any unit test runs
        if not (node.source_meta or {}).get("created_by_on_run_start")
    }
    missing: dict[str, list[str]] = {}
    for unit_test in manifest.unit_tests.values():
        for given in unit_test.given:
            call = re.sub(r"\s+", "", given.input).replace(",", ", ").replace('"', "'")
            table = by_call.get(call)
            if table is not None and table not in existing:
                missing.setdefault(unit_test.name, []).append(".".join(table))
    return missing


def _parse_options(args: list[str]) -> list[str]:
    """The options of a dbt command that change what parsing sees (vars, target, profile), for the parse that
    precedes it (its manifest is then reused, so it must be the one the command would parse)."""
    kept: list[str] = []
    for index, arg in enumerate(args):
        name = arg.split("=", 1)[0]
        if name in ("--vars", "--target", "-t", "--profile"):
            kept.append(arg)
            if "=" not in arg and index + 1 < len(args):
                kept.append(args[index + 1])
    return kept


def _excluding(args: list[str], unit_tests: dict[str, list[str]], progress: TextIO | None) -> list[str]:
    """``args`` with the unit tests excluded (added to the caller's own ``--exclude``, if any)."""
    if not unit_tests:
        return args
    if progress is not None:
        tables = sorted({table for tables in unit_tests.values() for table in tables})
        print(
            f"  skipping {len(unit_tests)} unit tests of sources not loaded ({', '.join(tables)})",
            file=progress,
        )
    names = [f"unit_test:{name}" for name in sorted(unit_tests)]
    if "--exclude" in args:
        at = args.index("--exclude") + 1
        return [*args[:at], *names, *args[at:]]
    return [*args, "--exclude", *names]


INCLUDE_UNIT_TESTS = "--include-unit-tests"
RESOURCE_TYPE_OPTIONS = ("--resource-type", "--resource-types", "--exclude-resource-type", "--exclude-resource-types")


def production_build_args(args: list[str]) -> list[str]:
    """The dbt arguments of a production build (`customer360 build`, `run`, the DAG, `erase --apply`): unit
    tests excluded (they test the SQL's logic on fixed rows, not the data: CI runs them) unless ``args`` holds
    ``--include-unit-tests`` (removed here: dbt does not know it) or chooses resource types itself."""
    if INCLUDE_UNIT_TESTS in args:
        return [arg for arg in args if arg != INCLUDE_UNIT_TESTS]
    if any(arg.split("=", 1)[0] in RESOURCE_TYPE_OPTIONS for arg in args):
        return args
    return [*args, "--exclude-resource-type", "unit_test"]


def print_outcome(outcome: DbtOutcome, stream: TextIO = sys.stderr) -> None:
    """The closing lines of a build: counts by status and where the full log is."""
    by_status: Counter[str] = Counter()
    for key, n in outcome.statuses.items():
        by_status[key.split(":", 1)[1]] += n
    summary = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items())) or "nothing ran"
    print(f"dbt {'succeeded' if outcome.success else 'FAILED'}: {summary}", file=stream)
    for failure in outcome.failures[:20]:
        print(f"  failed: {failure}", file=stream)
    if len(outcome.failures) > 20:
        print(f"  ... and {len(outcome.failures) - 20} more", file=stream)
    if outcome.log_path is not None:
        print(f"full dbt log: {outcome.log_path}", file=stream)
