"""The project's settings, resolved once and passed down as one frozen value.

``Settings.from_environment()`` is the one place that reads the ``CUSTOMER360_*`` variables: the CLI calls
it once per command (each orchestration task once per process) and hands the result to the loaders, dbt
and the other commands as an argument. Library functions take ``settings: Settings | None``; ``None``
resolves from the environment there and then, for callers such as tests and notebooks. The environment is
written only at dbt's door (``dbt_environment``: profiles.yml reads ``env_var``) and for child processes.
Secrets (API tokens, the erasure salt) are not settings: dlt reads them from its secrets providers.

The dbt project folder (``dbt_project.yml``, models, seeds) is found, in order: ``--project-dir`` /
``CUSTOMER360_PROJECT_DIR``, the current directory, then the source checkout this package was imported
from (an editable install). A regular install therefore works from the project folder, or from anywhere
with the variable set. Relative default paths (warehouse, data, dlt folder) sit under that folder, or
under the current directory when there is none.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingestion.errors import UserError

PROJECT_DIR_ENV = "CUSTOMER360_PROJECT_DIR"
DUCKDB_PATH_ENV = "CUSTOMER360_DUCKDB_PATH"
DATA_DIR_ENV = "CUSTOMER360_DATA_DIR"
PIPELINES_DIR_ENV = "CUSTOMER360_PIPELINES_DIR"
MAX_LINE_BYTES_ENV = "CUSTOMER360_MAX_LINE_BYTES"
MAX_REJECT_TEXT_BYTES_ENV = "CUSTOMER360_MAX_REJECT_TEXT_BYTES"
DUCKDB_MEMORY_LIMIT_ENV = "CUSTOMER360_DUCKDB_MEMORY_LIMIT"
DUCKDB_THREADS_ENV = "CUSTOMER360_DUCKDB_THREADS"
DUCKDB_TEMP_DIRECTORY_ENV = "CUSTOMER360_DUCKDB_TEMP_DIRECTORY"
PARALLEL_LOADS_ENV = "CUSTOMER360_PARALLEL_LOADS"
DBT_TARGET_PATH_ENV = "DBT_TARGET_PATH"  # dbt's own variable: the target folder it writes to

PROJECT_FILE = "dbt_project.yml"
DEFAULT_DUCKDB_PATH = Path("warehouse") / "customer360.duckdb"  # relative to the project folder
DEFAULT_DATA_DIR = Path("data") / "demo"
DEFAULT_PIPELINES_DIR = Path(".dlt_pipelines")
DEFAULT_MAX_LINE_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_REJECT_TEXT_BYTES = 16 * 1024 * 1024
DEFAULT_DUCKDB_MEMORY_LIMIT = "4GB"
DEFAULT_DUCKDB_THREADS = 2
DEFAULT_PARALLEL_LOADS = 2  # sources `load all` runs side by side (1: one after another)
# The folder above this package: the project itself when imported from a source checkout.
_CHECKOUT = Path(__file__).resolve().parent.parent


def find_project_dir(explicit: Path | None, cwd: Path, checkout: Path = _CHECKOUT) -> Path | None:
    """The dbt project folder: ``explicit`` (which must hold dbt_project.yml), else ``cwd``, else the
    source checkout; None when there is none (a regular install run outside the project)."""
    if explicit is not None:
        folder = explicit.expanduser().resolve()
        if not (folder / PROJECT_FILE).is_file():
            raise UserError(f"{folder} is not a customer360 project folder (it has no {PROJECT_FILE})")
        return folder
    for folder in (cwd, checkout):
        if (folder / PROJECT_FILE).is_file():
            return folder.resolve()
    return None


@functools.cache
def _memory_limit(value: str) -> str:
    """``value`` if DuckDB takes it as a memory limit (``4GB``, ``500 MiB``, ``80%``), else one clear error
    now: otherwise a loader failed later with DuckDB's parser message, not naming the variable."""
    try:
        duckdb.connect(":memory:", config={"memory_limit": value}).close()
    except duckdb.Error as error:
        raise UserError(f"{DUCKDB_MEMORY_LIMIT_ENV} must be a size such as 4GB or 80%, got {value!r}") from error
    return value


def _positive_int(environ: Mapping[str, str], name: str, default: int, unit: str) -> int:
    value = environ.get(name, "").strip()
    if not value:
        return default
    number = int(value) if value.isdigit() else 0
    if number <= 0:
        raise UserError(f"{name} must be a positive number of {unit}, got {value!r}")
    return number


@dataclass(frozen=True)
class Settings:
    """Where the warehouse, the demo data, dlt's working folder and the dbt project are; load limits; DuckDB's
    memory limit, threads and spill folder (the same variables and defaults as profiles.yml)."""

    project_dir: Path | None
    duckdb_path: Path
    data_dir: Path
    pipelines_dir: Path
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES  # longer CSV rows / JSONL lines are rejected (and kept)
    max_reject_text_bytes: int = DEFAULT_MAX_REJECT_TEXT_BYTES  # longer rejected text is kept as a pointer
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    duckdb_threads: int = DEFAULT_DUCKDB_THREADS
    duckdb_temp_directory: Path | None = None  # None: DuckDB's default for a file, <warehouse>.tmp
    parallel_loads: int = DEFAULT_PARALLEL_LOADS
    dbt_target_dir: Path | None = None  # dbt's DBT_TARGET_PATH (relative to the project); None: <project>/target

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, project_dir: Path | None = None, cwd: Path | None = None
    ) -> Settings:
        """Every setting from ``environ`` (default ``os.environ``), with the defaults above."""
        env = os.environ if environ is None else environ
        here = (cwd or Path.cwd()).resolve()
        explicit = project_dir or (Path(env[PROJECT_DIR_ENV]) if env.get(PROJECT_DIR_ENV, "").strip() else None)
        project = find_project_dir(explicit, here)
        base = project or here

        def path(name: str, default: Path) -> Path:
            value = env.get(name, "").strip()
            return Path(value).expanduser().resolve() if value else base / default

        temp = env.get(DUCKDB_TEMP_DIRECTORY_ENV, "").strip()
        return cls(
            project_dir=project,
            duckdb_path=path(DUCKDB_PATH_ENV, DEFAULT_DUCKDB_PATH),
            data_dir=path(DATA_DIR_ENV, DEFAULT_DATA_DIR),
            pipelines_dir=path(PIPELINES_DIR_ENV, DEFAULT_PIPELINES_DIR),
            max_line_bytes=_positive_int(env, MAX_LINE_BYTES_ENV, DEFAULT_MAX_LINE_BYTES, "bytes"),
            max_reject_text_bytes=_positive_int(env, MAX_REJECT_TEXT_BYTES_ENV, DEFAULT_MAX_REJECT_TEXT_BYTES, "bytes"),
            duckdb_memory_limit=_memory_limit(
                env.get(DUCKDB_MEMORY_LIMIT_ENV, "").strip() or DEFAULT_DUCKDB_MEMORY_LIMIT
            ),
            duckdb_threads=_positive_int(env, DUCKDB_THREADS_ENV, DEFAULT_DUCKDB_THREADS, "threads"),
            duckdb_temp_directory=Path(temp).expanduser().resolve() if temp else None,
            parallel_loads=_positive_int(env, PARALLEL_LOADS_ENV, DEFAULT_PARALLEL_LOADS, "sources"),
            dbt_target_dir=base / target if (target := env.get(DBT_TARGET_PATH_ENV, "").strip()) else None,
        )

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def dbt_project(self) -> Path:
        """The dbt project folder, or one clear error naming the ways to give it."""
        if self.project_dir is None:
            raise UserError(
                f"no customer360 dbt project found: run from the project folder (the one with {PROJECT_FILE}), "
                f"pass --project-dir or set {PROJECT_DIR_ENV}"
            )
        return self.project_dir

    def duckdb_config(self) -> dict[str, str]:
        """DuckDB's memory limit, threads and spill folder, for the loaders' own connections.

        ``memory_limit`` 4GB by default (DuckDB's own default is 80% of RAM, which let one 100k-people build
        reach 18 GB), 2 threads, and a spill folder (default ``<warehouse>.tmp``), so a query larger than the
        limit spills instead of failing.
        """
        return {
            "memory_limit": self.duckdb_memory_limit,
            "threads": str(self.duckdb_threads),
            "temp_directory": str(self.duckdb_temp_directory or f"{self.duckdb_path}.tmp"),
        }

    def shared_by(self, loads: int) -> Settings:
        """These settings for one of ``loads`` loads that run side by side (`load all`), each in its own process with
        its own DuckDB databases: the memory limit and the threads split between them, so together they stay within
        the limit and the cores set for one (``4GB`` and 2 threads: ``2GB`` and 1 thread each)."""
        if loads <= 1:
            return self
        limit = self.duckdb_memory_limit
        size = re.fullmatch(r"\s*(\d*\.?\d+)\s*(.*?)\s*", limit)
        # plain decimals (DuckDB reads no exponent: 4000000000B / 2 is 2000000000B, not 2e+09B)
        share = f"{float(size[1]) / loads:.6f}".rstrip("0").rstrip(".") if size else ""
        return self.replace(
            # a limit that is no size (DuckDB also takes -1, none) is kept as set
            duckdb_memory_limit=_memory_limit(f"{share}{size[2]}") if size else limit,
            # at least one thread each: with one set, two loads use two
            duckdb_threads=max(1, self.duckdb_threads // loads),
        )

    def duckdb_warehouse_settings(self) -> dict[str, str]:
        """``duckdb_config()`` without the spill folder, for settings applied to the warehouse with SET.

        dlt (like dbt-duckdb) runs them on connections to the warehouse that may share one DuckDB instance, and
        DuckDB refuses to switch ``temp_directory`` once it has been used, even to the same path. The
        warehouse spills to DuckDB's default for a file, ``<warehouse>.tmp``.
        """
        return {key: value for key, value in self.duckdb_config().items() if key != "temp_directory"}

    def dbt_target(self) -> Path:
        """dbt's target folder (manifest, run_results): dbt's own DBT_TARGET_PATH when set, else <project>/target."""
        return self.dbt_target_dir or self.dbt_project() / "target"

    def dbt_environment(self) -> dict[str, str]:
        """The variables profiles.yml reads (``env_var``): set at dbt's door, and for child processes."""
        return {
            DUCKDB_PATH_ENV: str(self.duckdb_path),
            DUCKDB_MEMORY_LIMIT_ENV: self.duckdb_memory_limit,
            DUCKDB_THREADS_ENV: str(self.duckdb_threads),
        }

    def child_environment(self) -> dict[str, str]:
        """Every setting as the variables ``from_environment`` reads, for a child process to resolve the same."""
        env = {
            **self.dbt_environment(),
            DATA_DIR_ENV: str(self.data_dir),
            PIPELINES_DIR_ENV: str(self.pipelines_dir),
            MAX_LINE_BYTES_ENV: str(self.max_line_bytes),
            MAX_REJECT_TEXT_BYTES_ENV: str(self.max_reject_text_bytes),
            PARALLEL_LOADS_ENV: str(self.parallel_loads),
        }
        if self.project_dir is not None:
            env[PROJECT_DIR_ENV] = str(self.project_dir)
        if self.duckdb_temp_directory is not None:
            env[DUCKDB_TEMP_DIRECTORY_ENV] = str(self.duckdb_temp_directory)
        return env


def resolve(given: Settings | None) -> Settings:
    """``given``, or the settings from the environment for a caller that passed none."""
    return given if given is not None else Settings.from_environment()
