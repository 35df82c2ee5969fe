"""User-facing errors: the CLI prints them as one line and exits non-zero, with no traceback."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A problem the user can fix (bad path, server unreachable, locked file, wrong token ...)."""


def is_duckdb_lock_error(error: BaseException) -> bool:
    """True when DuckDB refused the file because another process holds its write lock."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if "Could not set lock on file" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def duckdb_locked(path: Path) -> UserError:
    return UserError(
        f"the DuckDB file {path} is locked by another process (a running load, dbt build or open "
        "client); wait for it to finish or close it, then retry"
    )
