"""Paths and settings shared by the CLI, the loaders and the tests.

Every setting comes from an environment variable with a sensible default, so the demo runs with no
configuration while a deployment can point at its own files. Secrets (API tokens) are read by dlt
from its own environment variables (``SOURCES__HUBSPOT__ACCESS_TOKEN`` ...), never from the repo.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DUCKDB_PATH_ENV = "CUSTOMER360_DUCKDB_PATH"
DATA_DIR_ENV = "CUSTOMER360_DATA_DIR"
PIPELINES_DIR_ENV = "CUSTOMER360_PIPELINES_DIR"

DEFAULT_DUCKDB_PATH = PROJECT_ROOT / "warehouse" / "customer360.duckdb"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data" / "demo"
DEFAULT_PIPELINES_DIR = PROJECT_ROOT / ".dlt_pipelines"


def dbt_target_dir() -> Path:
    """dbt's target folder: dbt's own DBT_TARGET_PATH when set (relative to the project), else <project>/target."""
    value = os.environ.get("DBT_TARGET_PATH", "").strip()
    return PROJECT_ROOT / value if value else PROJECT_ROOT / "target"


def _path_from_env(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def duckdb_path() -> Path:
    """The warehouse file. dbt's profiles.yml reads the same variable with the same default."""
    return _path_from_env(DUCKDB_PATH_ENV, DEFAULT_DUCKDB_PATH)


def data_dir() -> Path:
    """Where `customer360 generate` writes demo data and where `load` reads files from."""
    return _path_from_env(DATA_DIR_ENV, DEFAULT_DATA_DIR)


def pipelines_dir() -> Path:
    """dlt's local working folder (pipeline state also lives in the warehouse itself)."""
    return _path_from_env(PIPELINES_DIR_ENV, DEFAULT_PIPELINES_DIR)


MAX_LINE_BYTES_ENV = "CUSTOMER360_MAX_LINE_BYTES"
MAX_REJECT_TEXT_BYTES_ENV = "CUSTOMER360_MAX_REJECT_TEXT_BYTES"
DEFAULT_MAX_LINE_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_REJECT_TEXT_BYTES = 16 * 1024 * 1024


def _positive_int_from_env(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        from ingestion.errors import UserError

        raise UserError(f"{name} must be a positive number of bytes, got {value!r}")
    return number


def max_line_bytes() -> int:
    """File loaders reject a CSV row or JSONL line longer than this many bytes (it is kept, see below)."""
    return _positive_int_from_env(MAX_LINE_BYTES_ENV, DEFAULT_MAX_LINE_BYTES)


def max_reject_text_bytes() -> int:
    """A rejected row's raw text is stored up to this many bytes; a longer one is stored as a pointer
    (file, byte offset, byte length) into the file instead."""
    return _positive_int_from_env(MAX_REJECT_TEXT_BYTES_ENV, DEFAULT_MAX_REJECT_TEXT_BYTES)


DUCKDB_MEMORY_LIMIT_ENV = "CUSTOMER360_DUCKDB_MEMORY_LIMIT"
DUCKDB_THREADS_ENV = "CUSTOMER360_DUCKDB_THREADS"
DUCKDB_TEMP_DIRECTORY_ENV = "CUSTOMER360_DUCKDB_TEMP_DIRECTORY"
DEFAULT_DUCKDB_MEMORY_LIMIT = "4GB"
DEFAULT_DUCKDB_THREADS = 2


def duckdb_config() -> dict[str, str]:
    """DuckDB's memory limit, threads and spill folder, for every connection the project opens.

    The same variables and defaults as profiles.yml (dbt): ``memory_limit`` 4GB (DuckDB's own default is
    80% of RAM, which let one 100k-people build reach 18 GB), 2 threads, and a spill folder
    (``CUSTOMER360_DUCKDB_TEMP_DIRECTORY``, default ``<warehouse>.tmp``), so a query larger than the limit
    spills instead of failing.
    """
    threads = os.environ.get(DUCKDB_THREADS_ENV, "").strip() or str(DEFAULT_DUCKDB_THREADS)
    if not threads.isdigit() or int(threads) < 1:
        from ingestion.errors import UserError

        raise UserError(f"{DUCKDB_THREADS_ENV} must be a positive number of threads, got {threads!r}")
    temp = os.environ.get(DUCKDB_TEMP_DIRECTORY_ENV, "").strip()
    return {
        "memory_limit": os.environ.get(DUCKDB_MEMORY_LIMIT_ENV, "").strip() or DEFAULT_DUCKDB_MEMORY_LIMIT,
        "threads": threads,
        "temp_directory": str(Path(temp).expanduser().resolve()) if temp else f"{duckdb_path()}.tmp",
    }


def duckdb_warehouse_settings() -> dict[str, str]:
    """``duckdb_config()`` without the spill folder, for settings applied to the warehouse with SET.

    dlt (like dbt-duckdb) runs them on connections to the warehouse that may share one DuckDB instance, and
    DuckDB refuses to switch ``temp_directory`` once it has been used, even to the same path. The warehouse
    spills to DuckDB's default for a file, ``<warehouse>.tmp``; ``duckdb_config()`` (with the folder) is for
    the loaders' own in-memory connections, configured once when they open.
    """
    return {key: value for key, value in duckdb_config().items() if key != "temp_directory"}
