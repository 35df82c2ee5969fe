"""What the last complete build was built from, so `customer360 build --changed` builds only what is downstream
of the sources whose raw tables changed since (issue 16).

A **complete build** is a `build` that succeeded with no selection of its own (unit tests left out is still
complete: they write no data). After one, ``record`` writes to the warehouse (``build_state.last_complete_build``)
a fingerprint of the project and one of each source schema (every table in it), taken before the build started.

``plan`` compares them with the warehouse now:

- **nothing changed**: no dbt run at all;
- **some source schemas changed** (rows loaded, rows deleted by the erasure or by hand, a table that appeared or
  went, such as a new CSV drop): `--select source:<source>+` for every source in them. Every other node reads
  only unchanged raw tables, seeds and code, so it holds what a build now would write;
- **anything else builds everything**: no record, a different project (any file dbt reads, the `--vars`,
  `--target` or `--profile`, dbt's version), or no build of everything for ``MAX_AGE`` (staging's future-date
  cutoff moves with the clock). A model with no parent dbt knows of (with `marts_reference_date: today`, the
  one that reads the clock) and what reads it are built every time.

Fails closed: every dbt command but the read-only ones (test, compile, show, ls, docs) forgets the record as it
starts (the on-run-start hook ``forget_build_state``), so a failed, partial or hand-run build leaves none and the
next `--changed` build builds everything. The one change it cannot see is a hand edit of a raw table that keeps its
row count and load ids (an UPDATE): after one, run a plain `customer360 build`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import yaml

SCHEMA = "build_state"
# dlt's own tables (_dlt_loads, _dlt_pipeline_state, _dlt_version): every load adds to them, even one that found
# nothing new; no model reads them
DLT_BOOKKEEPING = "_dlt_"
TABLE = f"{SCHEMA}.last_complete_build"
PROJECT_ITEM = "project"
MAX_AGE = timedelta(hours=24)
# The options a complete build may carry: they change how it runs, or what it compiles (those are in the project's
# fingerprint: PROJECT_OPTIONS), never which nodes it builds. Any other option makes a build partial: a selection,
# --empty, --defer, --sample, a short option with its value attached (`-sX`) ... Unit tests may be left out too.
COMPLETE_BUILD_OPTIONS = (
    "--vars", "--target", "-t", "--profile", "--threads", "--full-refresh", "--fail-fast", "-x", "--no-fail-fast",
    "--warn-error", "--warn-error-options", "--store-failures", "--partial-parse", "--no-partial-parse",
    "--log-level", "--log-format", "--use-colors", "--no-use-colors", "--quiet", "-q", "--debug", "-d",
    "--project-dir", "--profiles-dir", "--target-path", "--log-path",
)  # fmt: skip
# dbt reads these flags from the environment too: a build with any of them set is partial.
PARTIAL_BUILD_ENVIRONMENT = (
    "DBT_SELECT", "DBT_EXCLUDE", "DBT_SELECTOR", "DBT_RESOURCE_TYPES", "DBT_EXCLUDE_RESOURCE_TYPES", "DBT_EMPTY",
    "DBT_DEFER", "DBT_STATE", "DBT_DEFER_STATE", "DBT_FAVOR_STATE", "DBT_SAMPLE", "DBT_EVENT_TIME_START",
    "DBT_EVENT_TIME_END",
)  # fmt: skip
# `--exclude unit_test:<name>`: one unit test by name, nothing more (no graph operator, no second selector)
UNIT_TEST_NAME = re.compile(r"unit_test:[A-Za-z0-9_]+")
# The options (and dbt's variables for them) that change what the project compiles to.
PROJECT_OPTIONS = ("--vars", "--target", "-t", "--profile")
PROJECT_ENVIRONMENT = ("DBT_TARGET", "DBT_PROFILE")
# Files dbt reads: the project's own files under its folders (docs blocks, Python models).
DBT_FILE_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".md", ".py")


@dataclass(frozen=True)
class Fingerprints:
    project: str
    schemas: dict[str, str]  # source schema -> fingerprint of its tables now
    taken_at: datetime


@dataclass(frozen=True)
class BuildPlan:
    selection: list[str] | None  # None: build everything; []: nothing to build
    reason: str
    fingerprints: Fingerprints
    # when a build last rebuilt every node: now for a build of everything, else the record's (the clock-bound
    # parts, such as staging's future-date cutoff, are only as fresh as that)
    rebuilt_all_at: datetime


def _option_values(args: list[str]) -> Iterator[tuple[str, list[str]]]:
    """(option, its values) for each `--option` in ``args``: `--opt=v` or `--opt v1 v2 ...`."""
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if not arg.startswith("-"):
            continue
        name, equals, value = arg.partition("=")
        values = [value] if equals else []
        while not equals and index < len(args) and not args[index].startswith("-"):
            values.append(args[index])
            index += 1
        yield name, values


def _parts(values: list[str]) -> list[str]:
    """The selectors in option values: dbt splits each value on whitespace (a union)."""
    return [part for value in values for part in value.split()]


def _is_set(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false", "no", "off")


def is_complete_build(args: list[str], environment: Mapping[str, str] | None = None) -> bool:
    """Whether `dbt <args>` builds the whole project: `build` with no option but the ones that never narrow it
    (COMPLETE_BUILD_OPTIONS; unit tests may be left out) and none of dbt's selecting variables set."""
    environment = os.environ if environment is None else environment
    if args[:1] != ["build"] or any(_is_set(environment.get(name)) for name in PARTIAL_BUILD_ENVIRONMENT):
        return False
    for name, values in _option_values(args[1:]):
        if name in ("--exclude-resource-type", "--exclude-resource-types") and set(values) <= {"unit_test"}:
            continue
        if name == "--exclude" and values and all(UNIT_TEST_NAME.fullmatch(part) for part in _parts(values)):
            continue
        if name not in COMPLETE_BUILD_OPTIONS:
            return False
    return True


def changed_refusal(args: list[str]) -> str | None:
    """Why `build --changed` with these dbt arguments cannot run, or None: it chooses the nodes itself."""
    full_refresh = any(name == "--full-refresh" for name, _ in _option_values(args))
    if full_refresh or _is_set(os.environ.get("DBT_FULL_REFRESH")):
        return "--changed builds what changed and --full-refresh rebuilds everything: give one of them"
    if not is_complete_build(["build", *args]):
        return "--changed selects what to build itself: drop --select, --exclude and the like (or dbt's variables)"
    return None


def _project_options(args: list[str]) -> list[str]:
    options = [f"{name}={' '.join(values)}" for name, values in _option_values(args) if name in PROJECT_OPTIONS]
    return [*options, *(f"{name}={os.environ.get(name, '')}" for name in PROJECT_ENVIRONMENT)]


def _dbt_files(project_dir: Path) -> Iterator[Path]:
    project = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8")) or {}
    folders: set[str] = set()
    for key, default in (
        ("model-paths", ["models"]), ("macro-paths", ["macros"]), ("seed-paths", ["seeds"]),
        ("snapshot-paths", ["snapshots"]), ("analysis-paths", ["analyses"]), ("test-paths", ["tests"]),
        ("docs-paths", []),
    ):  # fmt: skip
        folders.update(project.get(key) or default)
    test_folders = set(project.get("test-paths") or ["tests"])
    for folder in sorted(folders):
        for path in sorted((project_dir / folder).rglob("*")):
            if path.is_file() and path.suffix in DBT_FILE_SUFFIXES:
                if path.suffix == ".py" and folder in test_folders:
                    continue  # pytest's files share the test folder: dbt reads no Python there
                yield path


def project_fingerprint(project_dir: Path, args: list[str]) -> str:
    """A hash of every file dbt reads, the options that change what it compiles, and dbt's version."""
    from dbt.version import __version__ as dbt_version

    digest = hashlib.sha256()
    for path in [project_dir / "dbt_project.yml", project_dir / "profiles.yml", *_dbt_files(project_dir)]:
        if path.is_file():
            digest.update(str(path.relative_to(project_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps([dbt_version, _project_options(args)]).encode())
    return digest.hexdigest()


def _source_schemas(manifest: Any) -> dict[str, list[str]]:
    """schema -> the names of the sources in it (a source is one schema; a schema may hold several)."""
    schemas: dict[str, list[str]] = {}
    for node in manifest.sources.values():
        names = schemas.setdefault(node.schema, [])
        if node.source_name not in names:
            names.append(node.source_name)
    return {schema: sorted(names) for schema, names in sorted(schemas.items())}


def schema_fingerprints(con: duckdb.DuckDBPyConnection, schemas: list[str]) -> dict[str, str]:
    """Each source schema's tables now, in brief: every table in it, declared or not (the CSV drops are found
    when the build runs; views are code, and the published ones the build's own), with its row count and
    newest dlt load id (a load adds or replaces rows under a new id; the erasure and hard deletes lower the
    count); a table dlt does not write (privacy, monitoring: small) by a hash of every row. A table that
    appears with rows or goes changes its schema's print too; an empty one counts as absent."""
    columns: dict[tuple[str, str], set[str]] = {}
    for schema, table, column in con.execute(
        "select c.table_schema, c.table_name, c.column_name from information_schema.columns as c "
        "inner join information_schema.tables as t using (table_catalog, table_schema, table_name) "
        "where t.table_type = 'BASE TABLE' and c.table_schema in (select unnest(?))",
        [schemas],
    ).fetchall():
        columns.setdefault((schema, table), set()).add(column)
    prints: dict[str, str] = {}
    for schema in schemas:
        digest = hashlib.sha256()
        for (table_schema, table), names in sorted(columns.items()):
            if table_schema != schema or table.startswith(DLT_BOOKKEEPING):
                continue
            summary = "max(_dlt_load_id)" if "_dlt_load_id" in names else "sum(hash(row_values))"
            relation = f'"{schema}"."{table}"'
            count, newest = con.execute(f"select count(*), {summary} from {relation} as row_values").fetchone()  # type: ignore[misc]
            if count:  # an empty table reads as an absent one (source_if_loaded): the build's on-run-start makes some
                digest.update(f"{table}|{count}|{newest}\0".encode())
        prints[schema] = digest.hexdigest()
    return prints


def fingerprints(duckdb_path: Path, manifest: Any, project_dir: Path, args: list[str]) -> Fingerprints:
    """The project's and each source schema's fingerprint now. The connections here are read-write (and only
    read): dbt-duckdb keeps the file open in this process after a run, and DuckDB refuses a read-only one beside."""
    now = datetime.now(UTC)
    schemas: dict[str, str] = {}
    if duckdb_path.exists():
        con = duckdb.connect(str(duckdb_path))
        try:
            schemas = schema_fingerprints(con, list(_source_schemas(manifest)))
        finally:
            con.close()
    return Fingerprints(project_fingerprint(project_dir, args), schemas, now)


def recorded_state(duckdb_path: Path) -> tuple[dict[str, str], datetime] | None:
    if not duckdb_path.exists():
        return None
    con = duckdb.connect(str(duckdb_path))
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [SCHEMA, TABLE.split(".")[1]],
        ).fetchone()
        if not exists or not exists[0]:
            return None
        rows = con.execute(f"select item, fingerprint, rebuilt_all_at from {TABLE}").fetchall()
    finally:
        con.close()
    if not rows:
        return None
    return {item: fingerprint for item, fingerprint, _ in rows}, min(at for *_, at in rows)


def _parentless_models(manifest: Any) -> list[str]:
    """Models and snapshots with no parent dbt knows of: no source, ref or seed, so no fingerprint covers what they
    read. With `marts_reference_date: today`, int_customers__reference_time is one (its refs sit in the branch
    not taken): it reads the clock."""
    return sorted(
        node.name
        for node in manifest.nodes.values()
        if node.resource_type.value in ("model", "snapshot") and not node.depends_on.nodes
    )


def plan(duckdb_path: Path, manifest: Any, project_dir: Path, args: list[str]) -> BuildPlan:
    """What a `--changed` build of ``args`` (the dbt build arguments) has to build now."""
    now = fingerprints(duckdb_path, manifest, project_dir, args)
    started = now.taken_at.replace(tzinfo=None)
    recorded = recorded_state(duckdb_path)
    if recorded is None:
        return BuildPlan(None, "no complete build on record: building everything", now, started)
    items, rebuilt_all_at = recorded
    if items.get(PROJECT_ITEM) != now.project:
        reason = "the project (a file dbt reads, --vars, --target, dbt's version) changed: building everything"
        return BuildPlan(None, reason, now, started)
    if rebuilt_all_at > started:  # a clock set back since, or a hand edit: not to be trusted
        return BuildPlan(
            None,
            f"the record is dated in the future ({rebuilt_all_at:%Y-%m-%d %H:%M} UTC): building everything",
            now,
            started,
        )
    if started - rebuilt_all_at > MAX_AGE:
        hours = int(MAX_AGE.total_seconds() // 3600)
        reason = f"no build of everything for over {hours} h ({rebuilt_all_at:%Y-%m-%d %H:%M} UTC): building everything"
        return BuildPlan(None, reason, now, started)
    changed = [schema for schema, fingerprint in now.schemas.items() if items.get(f"schema:{schema}") != fingerprint]
    sources = [name for schema, names in _source_schemas(manifest).items() if schema in changed for name in names]
    selection = [f"source:{name}+" for name in sources]
    reasons = []
    if changed:
        reads = ", ".join(sources)
        reasons.append(f"{', '.join(changed)} changed since the last complete build: building what reads {reads}")
    parentless = _parentless_models(manifest)
    if parentless:
        selection += [f"{name}+" for name in parentless]
        reasons.append(
            f"{', '.join(parentless)} read nothing dbt knows of (the clock?): building them and what reads them"
        )
    if not selection:
        return BuildPlan([], "no source table changed since the last complete build: no dbt run", now, rebuilt_all_at)
    return BuildPlan(selection, "; ".join(reasons), now, rebuilt_all_at)


def everything(planned: BuildPlan) -> BuildPlan:
    """``planned`` as a build of every node (a plain complete build, whatever the record says)."""
    started = planned.fingerprints.taken_at.replace(tzinfo=None)
    return dataclasses.replace(planned, selection=None, rebuilt_all_at=started)


def record(duckdb_path: Path, built: BuildPlan) -> None:
    """After a complete build succeeded: what it was built from (the fingerprints taken before it started)."""
    schemas = built.fingerprints.schemas
    rows = [
        (PROJECT_ITEM, built.fingerprints.project),
        *((f"schema:{name}", schemas[name]) for name in sorted(schemas)),
    ]
    con = duckdb.connect(str(duckdb_path))
    try:
        con.execute("begin")  # the build's on-run-start made the table (macros/utils/build_state.sql)
        con.execute(f"delete from {TABLE}")
        con.executemany(f"insert into {TABLE} values (?, ?, ?)", [(*row, built.rebuilt_all_at) for row in rows])
        con.execute("commit")
    finally:
        con.close()
