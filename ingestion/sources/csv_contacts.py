"""CSV contact drops: ``DIR/*.csv`` + ``mapping.json`` → ``raw_csv_contacts.<source_name>``.

Each drop is its own source system (``legacy_crm``, ``signup_forms``): its own table, its own dlt
pipeline (``customer360_csv_contacts_<name>``, schema ``csv_contacts_<name>``, so drops never share a
stored schema or state), all in the one dataset ``raw_csv_contacts``. Rows that DuckDB's CSV reader
cannot split (wrong field count, unterminated quote) go to the shared ``rejected_rows`` table with the
drop's name.

Files are parsed by an in-memory DuckDB (``read_csv`` with the dialect fixed from the header line, every
column VARCHAR, ``store_rejects`` to catch broken rows with their line and message) and handed to dlt as
Arrow tables: no row ever becomes a Python dict.

Contract details:
* Columns: canonical names from the mapping, other headers snake_cased (dlt's naming), all text; empty
  fields are NULL. The mapping must name the record key (a header mapped to ``contact_id``) or ask for a
  row-content key (``"$record_key": "row_hash"``: ``contact_id`` = ``row:`` + md5 of the row's values by
  column name, so an identical row is the same record and a changed row a new one). ``_source_file``
  (file name in the drop), ``_row_number`` (1-based data row: the header and blank lines are not rows,
  a quoted multi-line value is one row), ``_file_checksum`` (sha256 of the file).
* A file with the same checksum as when it was loaded is skipped; a changed file is reloaded and its
  previous rows (and rejects) are replaced, so a shrunken file leaves nothing stale. Files that
  vanished from the folder keep their rows. A changed mapping reloads every file.
* UTF-8 with or without BOM; any other encoding is a user error naming the file and byte offset. A file
  with NUL bytes is binary and one of only whitespace is empty: either is rejected whole (row 0). Lines
  break at LF, CRLF or CR alone. A row over the line size limit is rejected with its bytes (or, when too
  long to store, a pointer: byte offset and length in the file).
* A row with more fields than the header is rejected even when the extra fields are empty (``a,b,c,``
  under a 3-field header): DuckDB's reader silently drops such trailing empty fields, so they are found
  by a second read (see ``_extra_field_rows``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import mmap
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import duckdb
import numpy as np
import pyarrow as pa
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.common.schema.typing import TColumnSchema

from ingestion.errors import UserError
from ingestion.pipeline import LoadSummary, exclusive_run, user_errors, warehouse_destination, warehouse_turn
from ingestion.privacy.erasure import refuse_load_without_salt
from ingestion.settings import Settings, resolve
from ingestion.sources.file_loads import (
    FileLoadSummary,
    RawRecord,
    ScannedFile,
    appends_in_one_file,
    arrow_schema,
    discard_unfinished,
    files_condition,
    keep_raw,
    plan_files,
    progress,
    rejected_columns,
    rejects_table,
    row_groups,
    run_committed,
    source_state,
    sql_literal,
    warehouse_open,
    whole_file_reject,
)

DATASET = "raw_csv_contacts"
REJECTED_TABLE = "rejected_rows"
CANONICAL_FIELDS = (
    "contact_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "region",
    "country",
    "date_of_birth",
    "updated_at",
    # optional: when the contact was created, its email consent value (read through seed
    # enum_email_consent_states for the drop) and when that consent was given
    "created_at",
    "email_consent",
    "email_consent_updated_at",
)
META_COLUMNS: dict[str, TColumnSchema] = {
    "_source_file": {"data_type": "text", "nullable": False},
    "_row_number": {"data_type": "bigint", "nullable": False},
    "_file_checksum": {"data_type": "text", "nullable": False},
    "_dlt_load_id": {"data_type": "text", "nullable": False},
}
REJECTED_COLUMNS = rejected_columns("row_number", source_name=True)
REJECTED_SCHEMA = arrow_schema(REJECTED_COLUMNS)
# Names a drop cannot take: the API sources' systems, and tables that share its dataset.
RESERVED_NAMES = frozenset({"hubspot", "shopify", "segment", "csv_contacts", REJECTED_TABLE})
_SOURCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_DELIMITERS = (",", ";", "\t", "|")
_HEADER_LIMIT = 1 << 20
# A null string no field can hold, so that an empty field reads as '' and only a missing one as NULL.
_NO_NULLS = "\x1fcustomer360-no-null\x1f"
_OVERFLOW = "__overflow"
_NAMING = NamingConvention()
# The one mapping entry that is not a header: how rows are keyed when no column identifies a contact.
RECORD_KEY_DIRECTIVE = "$record_key"
ROW_HASH = "row_hash"


def validate_source_name(source_name: str) -> str:
    # fullmatch: with match, "$" would also accept a name that ends in a newline
    if not _SOURCE_NAME.fullmatch(source_name or ""):
        raise UserError(
            f"--source-name {source_name!r} must be a lower snake_case identifier (a-z, 0-9, _; starts with a "
            "letter; at most 40 characters)"
        )
    if source_name in RESERVED_NAMES:
        raise UserError(f"--source-name {source_name!r} is reserved; choose a name for the drop's own system")
    return source_name


def read_mapping(mapping_path: Path) -> dict[str, tuple[str, ...]]:
    """``{file header: canonical fields}`` (a header may feed several fields: ``["updated_at", "created_at"]``),
    plus ``"$record_key": ("row_hash",)`` when the rows are to be keyed by their content.

    Unknown fields, a field fed by two headers and a mapping that names no record key are user errors.
    """
    if not mapping_path.is_file():
        raise UserError(f"mapping file not found: {mapping_path}")
    try:
        raw = json.loads(mapping_path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as error:
        raise UserError(f"mapping file {mapping_path} is not valid JSON: {error}") from error

    def fields_of(value: object) -> tuple[str, ...] | None:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return tuple(value)
        return None

    raw = raw if isinstance(raw, dict) else {}
    directive = raw.get(RECORD_KEY_DIRECTIVE)
    mapping = {k: fields_of(v) for k, v in raw.items() if k != RECORD_KEY_DIRECTIVE}
    if not raw or not all(v for v in mapping.values()):
        raise UserError(
            f'mapping file {mapping_path} must be one JSON object of "file header": "canonical field" '
            "(or a list of canonical fields)"
        )
    problems = []
    unknown = sorted({f for fields in mapping.values() for f in fields or () if f not in CANONICAL_FIELDS})
    if unknown:
        problems.append(f"unknown canonical fields {unknown} (expected some of {', '.join(CANONICAL_FIELDS)})")
    targets: dict[str, list[str]] = {}
    for header, fields in mapping.items():
        for field in dict.fromkeys(fields or ()):
            targets.setdefault(field, []).append(header)
    duplicates = {field: names for field, names in targets.items() if len(names) > 1}
    if duplicates:
        shown = "; ".join(f"{field} <- {', '.join(repr(h) for h in names)}" for field, names in duplicates.items())
        problems.append(f"several headers map to the same field ({shown})")
    if directive is not None and directive != ROW_HASH:
        problems.append(f'"{RECORD_KEY_DIRECTIVE}" must be "{ROW_HASH}", got {directive!r}')
    elif directive == ROW_HASH and "contact_id" in targets:
        problems.append(f'both a header mapped to contact_id and "{RECORD_KEY_DIRECTIVE}": "{ROW_HASH}": keep one')
    elif directive is None and "contact_id" not in targets:
        problems.append(
            'no record key: map the column that identifies a contact to "contact_id", or add '
            f'"{RECORD_KEY_DIRECTIVE}": "{ROW_HASH}" to key each row by its content '
            "(a changed row is then a new record)"
        )
    if problems:
        raise UserError(f"mapping file {mapping_path}: " + "; ".join(problems))
    resolved = {header: tuple(dict.fromkeys(fields or ())) for header, fields in mapping.items()}
    return resolved | ({RECORD_KEY_DIRECTIVE: (ROW_HASH,)} if directive == ROW_HASH else {})


@dataclass(frozen=True)
class CsvLayout:
    """How one file is read: delimiter, header names and the column each header becomes."""

    rel: str
    path: Path
    delimiter: str
    headers: tuple[str, ...]
    columns: tuple[str, ...]  # the table column of each header, same order
    row_hash_key: bool = False  # contact_id is computed from the row's values (no header maps to it)
    copies: tuple[tuple[str, int], ...] = ()  # more canonical fields fed by a header: (column, header index)


def read_header(path: Path) -> tuple[str, list[str]]:
    """Delimiter and header names from the first line (BOM stripped). An empty file has no header."""
    with path.open("rb") as handle:
        first = handle.read(_HEADER_LIMIT)
    if b"\x00" in first:  # a binary file: it has no header, and is rejected whole when loaded
        return ",", []
    # the header ends at the first LF, CRLF or (old Mac exports) lone CR
    first = re.split(rb"\r\n|\n|\r", first, maxsplit=1)[0]
    if first.startswith(b"\xef\xbb\xbf"):
        first = first[3:]
    try:
        line = first.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as error:
        raise UserError(
            f"{path} is not UTF-8 (byte 0x{first[error.start]:02x} in the header line); re-export it as UTF-8"
        ) from error
    if not line.strip():
        return ",", []
    # the delimiter that splits the header into the most fields; a one-column file reads the same either way
    best = max(_DELIMITERS, key=lambda d: (len(next(csv.reader([line], delimiter=d))), d == ","))
    return best, [h.strip() for h in next(csv.reader([line], delimiter=best))]


def _column_name(header: str, index: int) -> str:
    """The table column of an unmapped header; a blank header cell (an export's trailing comma) is column_<n>."""
    return (_NAMING.normalize_identifier(header) if header.strip() else "") or f"column_{index}"


def plan_layouts(files: Sequence[tuple[str, Path]], mapping: Mapping[str, Sequence[str]]) -> dict[str, CsvLayout]:
    """Every file's layout, after checking the mapping against all the files' headers at once."""
    layouts: dict[str, CsvLayout] = {}
    seen_headers: set[str] = set()
    problems: list[str] = []
    row_hash_key = tuple(mapping.get(RECORD_KEY_DIRECTIVE, ())) == (ROW_HASH,)
    mapping = {k: v for k, v in mapping.items() if k != RECORD_KEY_DIRECTIVE}
    for rel, path in files:
        delimiter, headers = read_header(path)
        seen_headers.update(headers)
        columns = []
        copies = []
        for index, header in enumerate(headers, start=1):
            columns.append(mapping[header][0] if header in mapping else _column_name(header, index))
            copies.extend((field, index - 1) for field in mapping.get(header, ())[1:])
        clashes: dict[str, list[str]] = {}
        for header, column in [*zip(headers, columns, strict=True), *((headers[i], c) for c, i in copies)]:
            clashes.setdefault(column, []).append(header)
        for column, owners in clashes.items():
            if len(owners) > 1:
                problems.append(f"{rel}: headers {owners} all become column {column!r}")
            if column in META_COLUMNS or column.startswith("_dlt"):
                problems.append(f"{rel}: header {owners[0]!r} would overwrite the loader's column {column!r}")
            if row_hash_key and column == "contact_id":
                problems.append(f"{rel}: header {owners[0]!r} would overwrite the row-content key 'contact_id'")
        layouts[rel] = CsvLayout(rel, path, delimiter, tuple(headers), tuple(columns), row_hash_key, tuple(copies))
    absent = sorted(set(mapping) - seen_headers)
    if absent:
        problems.append(f"mapped headers not found in any file: {absent}")
    if problems:
        raise UserError("CSV drop does not match its mapping: " + "; ".join(problems))
    return layouts


def _blank_records(path: Path, delimiter: str) -> list[int]:
    """Record numbers (header = 1, as DuckDB counts) of empty lines.

    Only needed to place rejected rows, so only read for a file that has rejects, and parsed only when a
    plain byte search finds an empty line at all.
    """
    data = path.read_bytes()
    if b"\n\n" not in data and b"\n\r\n" not in data:
        return []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [number for number, record in enumerate(csv.reader(handle, delimiter=delimiter), start=1) if not record]


def _row_numbers(good_rows: int, rejected_lines: Sequence[int], blanks: Sequence[int]) -> tuple[np.ndarray, list[int]]:
    """1-based data row numbers of the good rows (in file order) and of the rejected rows.

    DuckDB reports a rejected row by its record number (header = 1, blank lines counted, a multi-line
    quoted value counted once) but says nothing about good rows, which come back in file order. Good rows
    therefore take, in order, the data row numbers that no reject holds.
    """
    blank_arr = np.asarray(sorted(blanks), dtype=np.int64)
    rejected = [int(line - 1 - np.searchsorted(blank_arr, line)) for line in rejected_lines]
    total = good_rows + len(rejected)
    taken = np.zeros(total + 1, dtype=bool)
    taken[0] = True  # row numbers start at 1
    taken[[r for r in rejected if 0 < r <= total]] = True
    return np.flatnonzero(~taken)[:good_rows].astype(np.int64), rejected


def _csv_options(
    layout: CsvLayout, columns: Mapping[str, str], rejects: str, max_line: int, extra: Sequence[str] = ()
) -> str:
    return ", ".join(
        [
            f"columns = {{{', '.join(f'{sql_literal(k)}: {sql_literal(v)}' for k, v in columns.items())}}}",
            "header = true",
            "auto_detect = false",
            f"delim = {sql_literal(layout.delimiter)}",
            "quote = '\"'",
            "escape = '\"'",
            "strict_mode = true",
            f"max_line_size = {max_line}",
            "store_rejects = true",
            f"rejects_table = '{rejects}'",
            f"rejects_scan = '{rejects}_scans'",
            *extra,
        ]
    )


def _may_have_empty_extra_fields(path: Path, delimiter: str) -> bool:
    """False when no line ends with the delimiter or with ``""``, i.e. no row can end in an empty field.

    The only rows DuckDB's reader wrongly accepts are rows whose fields past the header's count are all
    empty (see ``_extra_field_rows``), so they end with one of those; most exports never do and skip the
    second read. Vectorised, because ``bytes.find`` of a two-byte needle is several times slower.
    """
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    lf = ends.size > 0
    if not lf:
        ends = np.flatnonzero(data == 13)  # old Mac exports end lines with CR alone
    last = np.append(ends, data.size)  # the last line may lack its line break
    last = last[last > 0] - 1
    if lf:
        crlf = data[last] == 13
        last[crlf] -= 1
        last = last[last >= 0]
    final = data[last]
    if (final == ord(delimiter)).any():
        return True
    quoted = last[(final == ord('"')) & (last > 0)]
    return bool((data[quoted - 1] == ord('"')).any())


def _extra_field_rows(
    con: duckdb.DuckDBPyConnection, layout: CsvLayout, max_line: int
) -> tuple[np.ndarray, list[int], list[int]]:
    """Which records have more fields than the header, as DuckDB's reader sees them.

    DuckDB (strict mode or not) accepts ``4,5,6,`` or ``4,5,6,""`` under a 3-field header, dropping the
    empty extra fields. So the file is read again with one overflow column after the real ones:
    ``null_padding`` lets rows of the right length through with the overflow NULL, and a null string no
    field can hold makes an empty overflow field '' instead of NULL. Returns, for the rows this read
    yields (in file order), whether each has an overflow field; the record numbers (header = 1, as in
    the rejects) of every row it rejected; and of those rejected for too many fields (two or more extra).
    """
    columns = {f"c{i}": "VARCHAR" for i in range(len(layout.headers))} | {_OVERFLOW: "VARCHAR"}
    # DuckDB's parallel reader refuses null_padding with quoted newlines; this read only flags rows
    options = _csv_options(
        layout,
        columns,
        "extra_rejects",
        max_line,
        ["null_padding = true", f"nullstr = {sql_literal(_NO_NULLS)}", "parallel = false"],
    )
    flags = con.execute(
        f'SELECT "{_OVERFLOW}" IS NOT NULL FROM read_csv({sql_literal(str(layout.path))}, {options})'
    ).fetchnumpy()
    rejected = con.execute(
        "SELECT line, bool_or(error_type = 'TOO MANY COLUMNS') FROM extra_rejects GROUP BY line ORDER BY line"
    ).fetchall()
    return (
        np.asarray(next(iter(flags.values())), dtype=bool),
        [int(line) for line, _ in rejected],
        [int(line) for line, too_many in rejected if too_many],
    )


def _raw_records(path: Path, delimiter: str, wanted: set[int]) -> dict[int, tuple[str, int]]:
    """``{data row: (raw text, field count)}`` for the wanted data rows, read back from the file.

    DuckDB keeps the raw text of the rows it rejects, not of rows it accepted; this walks the records
    (quoted newlines included) only as far as the last wanted row, so it runs only for files that have
    such rows.
    """
    found: dict[int, tuple[str, int]] = {}
    consumed: list[str] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:

        def lines() -> Iterator[str]:
            for line in handle:
                consumed.append(line)
                yield line

        reader = csv.reader(lines(), delimiter=delimiter)
        row = -1  # the header is record 0
        try:
            for record in reader:
                if record or row < 0:
                    row += 1
                if row in wanted and record:
                    text = "".join(consumed)
                    found[row] = (text[:-2] if text.endswith("\r\n") else text.removesuffix("\n"), len(record))
                    if len(found) == len(wanted):
                        break
                consumed.clear()
        except csv.Error:
            pass  # a record Python cannot read back: reported by the caller as not found
    return found


def _count_reason(width: int, fields: int) -> str:
    """DuckDB's wording for a wrong field count, with the row's true count."""
    return f"{'too many' if fields > width else 'missing'} columns: Expected Number of Columns: {width} Found: {fields}"


def _reject_reason(kind: str, message: str, raw: str, delimiter: str, width: int) -> str:
    """``<error type>: <DuckDB's message>``, but with the real field count for a wrong-length row.

    DuckDB logs a too-long row once per extra field and may stop counting at trailing empty ones
    (``1,2,,,,x`` under 3 headers: "Found: 4"), so the count is taken from the row's own text.
    """
    if kind in ("TOO MANY COLUMNS", "MISSING COLUMNS"):
        try:
            fields = len(next(csv.reader(io.StringIO(raw.strip("\r\n"), newline=""), delimiter=delimiter), []))
        except csv.Error:
            fields = 0
        if fields and fields != width:
            return _count_reason(width, fields)
    return f"{kind.lower()}: {message}"


# DuckDB keeps at most this many characters of a rejected line's text; a longer one is read from the file.
_DUCKDB_CSV_LINE_CHARS = 10_000


def _reject(
    layout: CsvLayout,
    scanned: ScannedFile,
    line: int,
    kind: str | None,
    message: str | None,
    raw: str | None,
    position: int | None,
    max_line: int,
    max_text: int,
) -> tuple[int, str, RawRecord]:
    """``(record number, reason, raw record)`` of a row DuckDB's reader rejected."""
    width = len(layout.headers)
    text = (raw or "").strip("\r\n")  # CRLF files: DuckDB keeps the LF
    oversized = kind == "LINE SIZE OVER MAXIMUM"
    if position is not None and (oversized or len(text) >= _DUCKDB_CSV_LINE_CHARS):
        offset, length = _line_at(layout.path, position, scanned.scan.line_break)
        with layout.path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(min(length, max_text + 1))
        record = (
            keep_raw(data, offset, max_text, pointer=True) if length == len(data) else RawRecord(None, offset, length)
        )
        if oversized:
            return line, f"row of {length} bytes is over the {max_line}-byte limit", record
        text_for_reason = record.text or ""
    else:
        record = keep_raw(text.encode("utf-8"), None, max_text)
        text_for_reason = text
    if not kind:
        return line, f"unreadable row: {message or 'the CSV reader gave no detail'}", record
    return line, _reject_reason(kind, message or "", text_for_reason, layout.delimiter, width), record


def _line_at(path: Path, hint: int, line_break: bytes) -> tuple[int, int]:
    """Byte offset and length of the line around byte ``hint`` (DuckDB's position of a rejected line,
    which can be one byte past its start), without its line break."""
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        hint = min(max(hint, 0), len(data))
        start = max(data.rfind(b"\n", 0, hint), data.rfind(b"\r", 0, hint)) + 1
        end = data.find(line_break, start)
        end = len(data) if end < 0 else end
        if line_break == b"\n" and end > start and data[end - 1] == 13:
            end -= 1
        return start, end - start


def _read_file(
    con: duckdb.DuckDBPyConnection,
    layout: CsvLayout,
    scanned: ScannedFile,
    target: pa.Schema,
    load_id: str,
    settings: Settings,
) -> tuple[pa.Table, list[tuple[int, str, RawRecord]]]:
    """The file's good rows as an Arrow table of the ``target`` schema, and its rejected rows.

    ``con`` is the load's in-memory DuckDB (one for all files: opening one costs ~50 ms); the reader's
    reject tables are dropped after each file, since DuckDB appends to them."""
    whole = whole_file_reject(scanned, settings.max_reject_text_bytes)
    if whole is not None:  # empty or binary: no rows (its old rows are still replaced), one reject
        return target.empty_table(), [(0, *whole)]
    if not layout.headers:
        return target.empty_table(), [(0, "no header line (the first line is blank)", RawRecord(None, 0, 0))]
    max_line, max_text = settings.max_line_bytes, settings.max_reject_text_bytes
    width = len(layout.headers)
    positional = {f"c{i}": "VARCHAR" for i in range(width)}
    by_column = {column: f"c{i}" for i, column in enumerate(layout.columns)} | {c: f"c{i}" for c, i in layout.copies}
    constants = {"_source_file": layout.rel, "_file_checksum": scanned.fingerprint.sha256, "_dlt_load_id": load_id}

    def projection(name: str) -> str:
        if name == "contact_id" and layout.row_hash_key:
            # the row's own values by column name (sorted: a reordered export keeps its keys); nulls included
            pairs = ", ".join(f"{sql_literal(c)}, {by_column[c]}" for c in sorted(by_column))
            return f"'row:' || md5(CAST(json_object({pairs}) AS VARCHAR)) AS \"contact_id\""
        if name in by_column:
            return f'{by_column[name]} AS "{name}"'
        if name in constants:
            return f'{sql_literal(constants[name])} AS "{name}"'
        if name == "_row_number":
            return '0::BIGINT AS "_row_number"'  # numbered below, once the rejects are known
        return f'NULL::VARCHAR AS "{name}"'  # a column this file does not have

    select = ", ".join(projection(name) for name in target.names)
    options = _csv_options(layout, positional, "csv_rejects", max_line, ["null_padding = false"])
    try:
        good = con.sql(f"SELECT {select} FROM read_csv({sql_literal(str(layout.path))}, {options})").to_arrow_table()
        rejects = [
            _reject(layout, scanned, int(line), kind, message, raw, position, max_line, max_text)
            for line, kind, message, raw, position in con.execute(
                # DuckDB may log several errors for a row (one per missing or extra column): keep the first.
                # A row over the line size limit has no column, hence the coalesce.
                "SELECT line, arg_min(error_type, coalesce(column_idx, -1)), "
                "arg_min(error_message, coalesce(column_idx, -1)), arg_min(csv_line, coalesce(column_idx, -1)), "
                "min(line_byte_position) FROM csv_rejects GROUP BY line ORDER BY line"
            ).fetchall()
        ]
        extra = (
            _extra_field_rows(con, layout, max_line)
            if _may_have_empty_extra_fields(layout.path, layout.delimiter)
            else None
        )
    finally:
        for table in ("csv_rejects", "csv_rejects_scans", "extra_rejects", "extra_rejects_scans"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    found_extra = extra is not None and (bool(extra[0].any()) or bool(extra[1]))
    blanks = _blank_records(layout.path, layout.delimiter) if rejects or found_extra else []
    numbers, rejected_rows = _row_numbers(good.num_rows, [line for line, _, _ in rejects], blanks)
    rejected = [(row, reason, raw) for row, (_, reason, raw) in zip(rejected_rows, rejects, strict=True)]
    if extra is not None and found_extra:
        flags, extra_rejected, too_many = extra
        extra_numbers, extra_rejected_rows = _row_numbers(len(flags), extra_rejected, blanks)
        by_line = dict(zip(extra_rejected, extra_rejected_rows, strict=True))
        too_long = np.union1d(extra_numbers[flags], np.asarray([by_line[line] for line in too_many], np.int64))
        # rows the first read accepted although they have more fields than the header
        accepted = np.isin(numbers, too_long)
        if accepted.any():
            wanted = [int(n) for n in numbers[accepted]]
            records = _raw_records(layout.path, layout.delimiter, set(wanted))
            for row in wanted:
                raw, fields = records.get(row, ("", 0))
                if fields <= width:
                    raise UserError(
                        f"{layout.path}: data row {row} has more fields than the header's {width} but could not "
                        "be read back; check the quoting around it"
                    )
                rejected.append((row, _count_reason(width, fields), keep_raw(raw.encode("utf-8"), None, max_text)))
            good = good.filter(pa.array(~accepted))
            numbers = numbers[~accepted]
            rejected.sort()
    index = target.get_field_index("_row_number")
    good = good.set_column(index, target.field(index), pa.array(numbers, pa.int64())).cast(target)
    return good, rejected


def csv_contacts_source(
    source_name: str,
    files: Sequence[ScannedFile],
    layouts: Mapping[str, CsvLayout],
    state_after: dict[str, Any],
    stats: dict[str, int],
    settings: Settings,
    append_tables: frozenset[str] = frozenset(),
) -> Any:
    """A dlt source named ``csv_contacts_<source_name>`` filling ``<source_name>`` and ``rejected_rows``.

    ``state_after`` (file fingerprints and the mapping's checksum) becomes the source state once every
    file was extracted; dlt commits it together with the data. The tables in ``append_tables`` hold no row
    of these files (``tables_without_rows_of``): their rows are appended, not merged.
    """

    def item(table: pa.Table, name: str) -> Any:
        if name in append_tables:
            hints = dlt.mark.make_hints(table_name=name, write_disposition="append")
            return dlt.mark.with_hints(table, hints, create_table_variant=True)
        return dlt.mark.with_table_name(table, name)

    extra = sorted({c for f in files for c in layouts[f.rel].columns} - set(CANONICAL_FIELDS))
    all_columns = [*CANONICAL_FIELDS, *extra]
    table_columns: dict[str, TColumnSchema] = {name: {"data_type": "text"} for name in all_columns} | META_COLUMNS
    target = arrow_schema(table_columns)

    def extract() -> Iterator[Any]:
        load_id = dlt.current.load_package_state()["load_id"]
        rejected_at = datetime.now(UTC)
        rejects: list[tuple[str, int, str, RawRecord]] = []

        def good_rows(con: duckdb.DuckDBPyConnection) -> Iterator[pa.Table]:
            for scanned in files:
                good, file_rejects = _read_file(con, layouts[scanned.rel], scanned, target, load_id, settings)
                rejects.extend((scanned.rel, row, reason, raw) for row, reason, raw in file_rejects)
                stats["rows"] = stats.get("rows", 0) + good.num_rows
                stats["rejected"] = stats.get("rejected", 0) + len(file_rejects)
                progress(f"{source_name}: {scanned.rel}: {good.num_rows:,} rows, {len(file_rejects):,} rejected")
                yield good

        con = duckdb.connect(config=settings.duckdb_config())
        try:
            # at least one table, even empty: the merge must run to delete the reloaded files' previous rows
            for table in row_groups(good_rows(con), target):
                yield item(table, source_name)
        finally:
            con.close()
        yield item(rejects_table(REJECTED_SCHEMA, rejects, rejected_at, load_id, source_name), REJECTED_TABLE)
        dlt.current.source_state().update(state_after)

    rejects_scope = files_condition("source_file", (f.rel for f in files))
    resource = dlt.resource(extract, name=f"{source_name}_files")
    resource.apply_hints(
        table_name=source_name,
        create_table_variant=True,
        write_disposition={
            "disposition": "merge",
            "strategy": "delete-insert",
            # a reloaded file replaces all of its previous rows, however many it has now (files named by
            # md5: dlt splits its SQL at ";" and newlines, so a file name must never be in it)
            "destination_scope": files_condition("_source_file", (f.rel for f in files)),
        },
        columns=table_columns,
    )
    resource.apply_hints(
        table_name=REJECTED_TABLE,
        create_table_variant=True,
        write_disposition={
            "disposition": "merge",
            "strategy": "delete-insert",
            # the table is shared by every drop: only this drop's reloaded files are replaced
            # (source_name is a validated identifier: safe in SQL text)
            "destination_scope": f'"source_name" = {sql_literal(source_name)} AND {rejects_scope}',
        },
        columns=REJECTED_COLUMNS,
    )

    def drop_source() -> Any:
        return resource

    return dlt.source(drop_source, name=f"csv_contacts_{source_name}", section="csv_contacts")()


def make_csv_pipeline(source_name: str, settings: Settings | None = None) -> dlt.Pipeline:
    """One pipeline per drop, all into ``raw_csv_contacts`` (same file and folders as make_pipeline)."""
    settings = resolve(settings)
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    return dlt.pipeline(
        pipeline_name=f"customer360_csv_contacts_{source_name}",
        destination=warehouse_destination(settings),
        dataset_name=DATASET,
        pipelines_dir=str(settings.pipelines_dir),
    )


def tables_without_rows_of(pipeline: dlt.Pipeline, source_name: str, rels: Sequence[str]) -> frozenset[str]:
    """The drop's tables (its own, ``rejected_rows``) that hold no row of these files: their rows can be appended.

    Asked of the warehouse, not of the state: a load killed after an insert committed but before dlt marked the
    load complete leaves rows of files the state still calls new, and those must be replaced (merged), not
    appended twice. Each table is asked for itself: a file all of whose rows were rejected has rows in
    ``rejected_rows`` only.
    """
    free: set[str] = set()
    with pipeline.sql_client() as client:
        con = client.native_connection
        # rejected_rows is shared by every drop: only this drop's rows count there
        for table, column, shared in ((source_name, "_source_file", False), (REJECTED_TABLE, "source_file", True)):
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [pipeline.dataset_name, table],
            ).fetchone()
            if not exists or not exists[0]:
                free.add(table)
                continue
            where = f'list_contains(?, "{column}")' + (' AND "source_name" = ?' if shared else "")
            params: list[Any] = [list(rels), *([source_name] if shared else [])]
            held = con.execute(
                f"SELECT EXISTS (SELECT 1 FROM {client.make_qualified_table_name(table)} WHERE {where})", params
            ).fetchone()
            if held is not None and not held[0]:
                free.add(table)
    return frozenset(free)


def _mapping_checksum(mapping: Mapping[str, Sequence[str]]) -> str:
    return hashlib.sha256(json.dumps(mapping, sort_keys=True).encode()).hexdigest()


def load_csv_contacts(path: Path, mapping: Path, source_name: str, settings: Settings | None = None) -> LoadSummary:
    """Load a drop's new and changed CSV files into ``raw_csv_contacts.<source_name>``."""
    started = time.monotonic()
    source_name = validate_source_name(source_name)
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise UserError(f"CSV drop folder not found: {folder}")
    header_map = read_mapping(Path(mapping).expanduser())
    candidates = sorted((p.name, p) for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    for rel, _ in candidates:
        if any(char in rel for char in "*?[]{}"):
            # DuckDB would read these characters as a glob pattern, not as a file name
            raise UserError(f"unsupported characters (*?[]{{}}) in CSV file name {folder / rel}; rename it")
    if not candidates:
        return FileLoadSummary(source_name, skipped=f"no CSV files in {folder}", seconds=time.monotonic() - started)
    layouts = plan_layouts(candidates, header_map)
    mapping_sha = _mapping_checksum(header_map)

    config = resolve(settings)
    pipeline = make_csv_pipeline(source_name, config)
    schema_name = f"csv_contacts_{source_name}"
    with (
        user_errors(source_name, config.duckdb_path),
        exclusive_run(pipeline.pipeline_name, source_name, config.pipelines_dir),
    ):
        # first: it only touches the local folder, and the check below needs the pipeline's schema files whole
        discard_unfinished(pipeline)
        # the warehouse held for the whole run (warehouse_turn): the extract reads it as it goes, and one open
        # warehouse costs one checkpoint (see warehouse_open)
        with warehouse_turn(config, f"{source_name}: load"), warehouse_open(pipeline):
            refuse_load_without_salt(pipeline)
            pipeline.sync_destination()
            state = source_state(pipeline, schema_name)
            remapped = bool(state.get("files")) and state.get("mapping_sha256") != mapping_sha
            plan = plan_files(candidates, state.get("files", {}), force=remapped)
            # (a file with NUL bytes is binary, not mis-encoded text: it is rejected whole instead)
            undecodable = [f"{f.path} ({f.utf8_error})" for f in plan.to_load if f.utf8_error and f.scan.nul_at is None]
            if undecodable:
                raise UserError(f"not UTF-8, re-export as UTF-8: {'; '.join(undecodable)}")
            progress(
                f"{source_name}: {len(candidates):,} CSV files; {len(plan.to_load):,} new or changed"
                f"{' (mapping changed: all reloaded)' if remapped else ''}, {len(plan.unchanged):,} unchanged"
                f"{plan.gone_note()}"
            )
            if not plan.to_load:
                return FileLoadSummary(
                    source_name,
                    skipped="no new or changed CSV files",
                    seconds=time.monotonic() - started,
                    files_unchanged=len(plan.unchanged),
                )
            stats: dict[str, int] = {}
            state_after = {"files": plan.state_after, "mapping_sha256": mapping_sha}
            # A table holding no row of this load's files gets them appended: the merge would copy them into a
            # staging table and delete nothing (1M people's two drops, 748k rows: 8.9 -> 6.8 CPU s). Where dlt
            # split a table into files, an append would be several inserts: the extract is turned down and merged.
            fresh = tables_without_rows_of(pipeline, source_name, [f.rel for f in plan.to_load])
            source = csv_contacts_source(source_name, plan.to_load, layouts, state_after, stats, config, fresh)
            if fresh and run_committed(pipeline, source, keep_extract=appends_in_one_file) is None:
                progress(f"{source_name}: dlt split the rows into several files; merging them instead of appending")
                fresh = frozenset()
            if not fresh:
                stats.clear()
                source = csv_contacts_source(source_name, plan.to_load, layouts, state_after, stats, config)
                run_committed(pipeline, source)
    return FileLoadSummary(
        source_name,
        rows_by_table={source_name: stats.get("rows", 0), REJECTED_TABLE: stats.get("rejected", 0)},
        rejected=stats.get("rejected", 0),
        seconds=time.monotonic() - started,
        files_read=[f.rel for f in plan.to_load],
        files_unchanged=len(plan.unchanged),
    )
