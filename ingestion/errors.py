"""User-facing errors: the CLI prints them as one line and exits non-zero, with no traceback."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path


class UserError(Exception):
    """A problem the user can fix (bad path, server unreachable, locked file, wrong token ...)."""


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, then the exception it was raised from or while handling (``__cause__``, else ``__context__``),
    and so on to the innermost; a cycle ends the walk. dlt wraps the real problem (an HTTP error, a locked
    file) several levels deep: every place that looks for it walks this one chain."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        context = current.__context__
        # an error raised in a generator that dlt resumed while it handled another generator's end carries that
        # StopIteration as its context: the end of an iteration is never the problem
        if isinstance(context, StopIteration | StopAsyncIteration | GeneratorExit):
            context = None
        current = current.__cause__ or context


def root_cause(error: BaseException) -> BaseException:
    """The innermost exception of ``error``'s chain, which is the one that names the real problem."""
    *_, innermost = exception_chain(error)
    return innermost


def is_duckdb_lock_error(error: BaseException) -> bool:
    """True when DuckDB refused the file because another process holds its write lock."""
    return any("Could not set lock on file" in str(cause) for cause in exception_chain(error))


def duckdb_locked(path: Path) -> UserError:
    return UserError(
        f"the DuckDB file {path} is locked by another process (a running load, dbt build or open "
        "client); wait for it to finish or close it, then retry"
    )


# The device's state, not a bug: the errno, DuckDB's words for it (DuckDB raises its own IOException, not an
# OSError, when it cannot open or write its file), and what to do about it.
_DEVICE_STATES = (
    (errno.EROFS, "Read-only file system", "the file system is read-only: make it writable, or point the setting "
     "for that file (CUSTOMER360_DUCKDB_PATH, CUSTOMER360_PIPELINES_DIR, --out) at a writable folder, then run again"),
    (errno.ENOSPC, "No space left on device", "free space on the device, then run again"),
    (errno.EDQUOT, "Disk quota exceeded", "free space on the device (or raise the quota), then run again"),
    (errno.EACCES, "Permission denied", "this user may not write there: fix the permissions, or point the setting "
     "for that file (CUSTOMER360_DUCKDB_PATH, CUSTOMER360_PIPELINES_DIR, --out) at a folder it may write, then run "
     "again"),
)  # fmt: skip


def device_state_error(error: BaseException) -> str | None:
    """One line for a full, over-quota, read-only or forbidden place anywhere in ``error``'s chain (an ``OSError``
    with its file, or DuckDB's IO error, which names its file itself); None for anything else, which stays a
    traceback: a bug must show where it is."""
    for cause in exception_chain(error):
        for number, words, advice in _DEVICE_STATES:
            if isinstance(cause, OSError) and cause.errno == number:
                where = f" ({cause.filename})" if cause.filename else ""
                return f"{cause.strerror or words}{where}: {advice}"
            if type(cause).__module__.startswith(("duckdb", "_duckdb")) and words in str(cause):
                return f"{str(cause).strip().splitlines()[0]}: {advice}"
    return None
