"""`customer360 sql`: query the warehouse right after set-up, with no other client installed.

`customer360 sql "select ..."` prints one result; `customer360 sql` alone reads statements ending in
`;` from standard input (a terminal or a pipe) until end of input. The connection is read-only, so a
typo cannot change the warehouse.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

import duckdb

from ingestion.errors import UserError, duckdb_locked, is_duckdb_lock_error

MAX_ROWS = 200
MAX_CELL = 60


def _cell(value: object) -> str:
    text = "NULL" if value is None else str(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def print_result(cursor: duckdb.DuckDBPyConnection, out: TextIO) -> None:
    if cursor.description is None:
        print("ok", file=out)
        return
    names = [column[0] for column in cursor.description]
    rows = cursor.fetchmany(MAX_ROWS + 1)
    shown = [[_cell(v) for v in row] for row in rows[:MAX_ROWS]]
    widths = [max([len(name), *(len(row[i]) for row in shown)]) for i, name in enumerate(names)]
    print(" | ".join(name.ljust(w) for name, w in zip(names, widths, strict=True)), file=out)
    print("-+-".join("-" * w for w in widths), file=out)
    for row in shown:
        print(" | ".join(value.ljust(w) for value, w in zip(row, widths, strict=True)), file=out)
    more = " (first {MAX_ROWS} shown)" if len(rows) > MAX_ROWS else ""
    print(f"({len(shown)} row{'s' if len(shown) != 1 else ''}{more.format(MAX_ROWS=MAX_ROWS)})", file=out)


def statements(lines: Iterable[str]) -> Iterator[str]:
    """Statements ending in `;` (a final one without `;` too)."""
    pending: list[str] = []
    for line in lines:
        pending.append(line)
        if line.rstrip().endswith(";"):
            text = "".join(pending).strip().rstrip(";").strip()
            pending = []
            if text:
                yield text
    text = "".join(pending).strip().rstrip(";").strip()
    if text:
        yield text


def run_sql(path: Path, query: str | None, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    if not path.exists():
        raise UserError(f"no warehouse at {path}: run `customer360 demo` or `customer360 load` first")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        if is_duckdb_lock_error(error):
            raise duckdb_locked(path) from error
        raise UserError(f"cannot open {path}: {error}") from error
    from ingestion.privacy.erasure import set_session_salt

    set_session_salt(con)  # the activation views check erased addresses at read time
    failed = 0
    try:
        interactive = query is None and stdin.isatty()
        if interactive:
            print(f"customer360 sql on {path} (read-only). End statements with ';', Ctrl-D to quit.", file=out)
        for text in [query] if query is not None else statements(stdin):
            try:
                # DuckDB's own parser splits a text holding several statements (a ';' in a string stays)
                for statement in con.extract_statements(text):
                    print_result(con.execute(statement), out)
            except duckdb.Error as error:
                failed += 1
                print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
    finally:
        con.close()
    return 1 if failed else 0
