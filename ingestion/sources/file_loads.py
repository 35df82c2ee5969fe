"""What the bulk file loaders (Segment events, CSV contact drops) share.

Both loaders read folders of files that only ever grow or get re-exported. They remember, in dlt state,
each loaded file's size, mtime and sha256 so a rerun reads only new or changed files, and they make the
state advance only when the warehouse has committed the load:

* a failure during extract is rolled back by dlt itself (managed state);
* a failure after extract (normalize/load) would leave dlt's *local* state ahead of the warehouse, with a
  pending package that dlt's next ``run`` would load *instead of* extracting new data. We therefore wipe
  the local working folder; the next run restores state and schema from the warehouse, where only
  committed loads count, and simply reads those files again (the merges are idempotent).
"""

from __future__ import annotations

import codecs
import hashlib
import mmap
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dlt
import numpy as np
import pyarrow as pa
from dlt.common.pipeline import ExtractInfo, LoadInfo
from dlt.common.schema.typing import TColumnSchema

from ingestion.pipeline import LoadSummary
from ingestion.progress import say as progress

_CHUNK = 8 << 20


@dataclass(frozen=True)
class Fingerprint:
    """How a file looked when it was loaded. Stored in dlt state as ``[size, mtime_ns, sha256]``."""

    size: int
    mtime_ns: int
    sha256: str

    def to_state(self) -> list[Any]:
        return [self.size, self.mtime_ns, self.sha256]

    @classmethod
    def from_state(cls, value: Any) -> Fingerprint | None:
        if isinstance(value, list | tuple) and len(value) == 3:
            return cls(int(value[0]), int(value[1]), str(value[2]))
        return None


@dataclass(frozen=True)
class FileScan:
    """What one streaming pass over a file's bytes learns about it."""

    sha256: str
    utf8_error: str | None  # None when the whole file decodes as UTF-8
    nul_at: int | None  # offset of the first NUL byte: text files have none, binary and UTF-16 files do
    blank: bool  # nothing but whitespace (or nothing at all)
    line_break: bytes  # b"\n" (LF or CRLF files), or b"\r" for old Mac files that have no LF at all


@dataclass(frozen=True)
class ScannedFile:
    """A new or changed file, read once to hash it and check its text encoding."""

    rel: str  # POSIX path relative to the loaded folder: what `_source_file` stores
    path: Path
    fingerprint: Fingerprint
    scan: FileScan

    @property
    def utf8_error(self) -> str | None:
        return self.scan.utf8_error


def scan_file(path: Path) -> FileScan:
    """sha256, the first UTF-8 problem, NUL bytes, blankness and line breaks, in one pass at C speed."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8_error: str | None = None
    nul_at: int | None = None
    blank, has_lf, has_cr = True, False, False
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            if utf8_error is None:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as error:
                    utf8_error = f"byte 0x{chunk[error.start]:02x} at offset {offset + error.start}"
            if nul_at is None and (found := chunk.find(b"\x00")) >= 0:
                nul_at = offset + found
            blank = blank and not chunk.strip()
            has_lf = has_lf or b"\n" in chunk
            has_cr = has_cr or (not has_lf and b"\r" in chunk)  # only matters for a file with no LF
            offset += len(chunk)
    if utf8_error is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_error = f"truncated character at the end (offset {offset})"
    line_break = b"\r" if has_cr and not has_lf else b"\n"
    return FileScan(digest.hexdigest(), utf8_error, nul_at, blank, line_break)


@dataclass(frozen=True)
class RawRecord:
    """A rejected record's raw text, or, when it is too long to store, where its bytes are in the file."""

    text: str | None
    offset: int | None = None
    length: int | None = None


def escaped_text(raw: bytes) -> str:
    """Bytes as storable text: UTF-8 where it decodes, ``\\xNN`` escapes elsewhere and for NUL bytes."""
    return raw.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def keep_raw(raw: bytes, offset: int | None, max_text: int, pointer: bool = False) -> RawRecord:
    """The record's text if it is within the stored-text limit (``max_text`` bytes), else only a pointer to its bytes.

    ``pointer`` also records where the bytes are when the text is kept (whole-file and oversized rejects).
    """
    if len(raw) > max_text:
        return RawRecord(None, offset, len(raw))
    return RawRecord(escaped_text(raw), offset if pointer else None, len(raw) if pointer else None)


def whole_file_reject(scanned: ScannedFile, max_text: int) -> tuple[str, RawRecord] | None:
    """Why a file cannot be read as text at all (empty, blank, binary), or None when it can.

    The reject points at the whole file (offset 0, its size) and keeps its bytes as escaped text when
    they are within the stored-text limit.
    """
    size = scanned.fingerprint.size
    if scanned.scan.nul_at is not None:
        reason = (
            f"binary file: NUL byte at offset {scanned.scan.nul_at} of {size} bytes (not UTF-8 text; a UTF-16 "
            "export must be re-saved as UTF-8)"
        )
    elif scanned.scan.blank:
        reason = "empty file"
    else:
        return None
    if size > max_text:
        return reason, RawRecord(None, 0, size)
    return reason, RawRecord(escaped_text(scanned.path.read_bytes()), 0, size)


def line_spans(path: Path, line_numbers: Iterable[int], line_break: bytes) -> dict[int, tuple[int, int]]:
    """``{line number: (byte offset, byte length)}`` of 1-based lines split at ``line_break`` (a trailing
    CR of a CRLF line is not part of it). Only for the few rejected lines that need a pointer."""
    wanted = sorted(set(line_numbers))
    if not wanted:
        return {}
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == line_break[0])
        spans = {}
        for number in wanted:
            start = 0 if number == 1 else int(breaks[number - 2]) + 1
            end = int(breaks[number - 1]) if number - 1 < len(breaks) else len(data)
            if line_break == b"\n" and end > start and data[end - 1] == 13:
                end -= 1
            spans[number] = (start, end - start)
    return spans


def source_key(rel: str) -> str:
    """md5 of a file's relative path: how merge conditions name files, so a name never reaches SQL text.

    dlt splits the SQL it runs at every ``;`` and newline, even inside string literals, so a file named
    ``a;b.csv`` in a delete condition would break (or worse, split) the statement. DuckDB's ``md5()`` of
    the stored name gives the same hex digest, and hex digits are safe anywhere.
    """
    return hashlib.md5(rel.encode("utf-8")).hexdigest()


def files_condition(column: str, rels: Iterable[str]) -> str:
    """A dlt merge condition matching the rows of these files, by the md5 of their names."""
    keys = ", ".join(f"'{source_key(rel)}'" for rel in sorted(set(rels)))
    return f'md5("{column}") IN ({keys})' if keys else "FALSE"


@dataclass
class FilePlan:
    """Which files a run reads, and the file map dlt state gets once that run commits."""

    to_load: list[ScannedFile] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    state_after: dict[str, list[Any]] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)  # loaded before, no longer in the folder

    def gone_note(self) -> str:
        if not self.gone:
            return ""
        return f"; {len(self.gone):,} loaded before are gone from the folder (their rows are kept)"


def plan_files(
    candidates: Iterable[tuple[str, Path]],
    loaded: Mapping[str, Any],
    force: bool = False,
) -> FilePlan:
    """Compare the folder with the files recorded in state.

    Same size and mtime → unchanged without reading a byte (that is what makes a rerun over a big archive
    fast). Otherwise hash it: same sha256 → unchanged (a `touch` or a copy), else it is (re)loaded.
    ``force`` reloads everything (e.g. the CSV mapping changed).
    """
    plan = FilePlan()
    seen: set[str] = set()
    to_scan: list[tuple[str, Path, os.stat_result, Fingerprint | None]] = []
    for rel, path in candidates:
        seen.add(rel)
        stat = path.stat()
        before = Fingerprint.from_state(loaded.get(rel))
        if not force and before and before.size == stat.st_size and before.mtime_ns == stat.st_mtime_ns:
            plan.unchanged.append(rel)
            plan.state_after[rel] = before.to_state()
            continue
        to_scan.append((rel, path, stat, before))
    # Files are scanned side by side: sha256 and the reads release the GIL, so two threads scanned 640 MB of
    # event files 2.2x as fast as one (a first load of 15 GB of events spent ~26 s here before its parse).
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        scans = pool.map(scan_file, [path for _, path, _, _ in to_scan])
        for (rel, path, stat, before), scan in zip(to_scan, scans, strict=True):
            now = Fingerprint(stat.st_size, stat.st_mtime_ns, scan.sha256)
            plan.state_after[rel] = now.to_state()
            if not force and before and before.sha256 == scan.sha256:
                plan.unchanged.append(rel)
                continue
            plan.to_load.append(ScannedFile(rel, path, now, scan))
    # Files that disappeared keep their rows; keep their fingerprints too, so that if one comes back
    # unchanged it is not loaded twice.
    plan.gone = sorted(set(loaded) - seen)
    for rel in plan.gone:
        plan.state_after[rel] = list(loaded[rel])
    return plan


# DuckDB's row group size. dlt's parquet load files get one row group per table the loaders yield, and DuckDB
# copies row groups of exactly this many rows (staging insert, then merge insert) straight into the warehouse
# file; with other sizes (one 125,000-row table per CSV file, say) it kept them for the checkpoint when the
# file closes, which then compressed and wrote every row again. Measured on 500k CSV rows: that checkpoint
# cost 0.8 CPU s (4-7 s wall on this shared machine) and left a 44 MB file; with aligned row groups 0.01 s
# and 31 MB.
DUCKDB_ROW_GROUP_ROWS = 122_880


def row_groups(tables: Iterable[pa.Table], schema: pa.Schema) -> Iterator[pa.Table]:
    """The rows of ``tables`` (all of ``schema``) re-cut into tables of exactly ``DUCKDB_ROW_GROUP_ROWS``
    rows, in order and without copying; the rest comes last. Always at least one table, maybe empty, so a
    merge that replaces a reloaded file's rows runs even when the file has none left."""
    pending: list[pa.Table] = []
    rows = 0
    handed = False
    for table in tables:
        pending.append(table)
        rows += table.num_rows
        while rows >= DUCKDB_ROW_GROUP_ROWS:
            whole = pa.concat_tables(pending)
            yield whole.slice(0, DUCKDB_ROW_GROUP_ROWS)
            handed = True
            rest = whole.slice(DUCKDB_ROW_GROUP_ROWS)
            pending, rows = [rest], rest.num_rows
    if rows or not handed:
        yield pa.concat_tables(pending) if pending else schema.empty_table()


_ARROW_TYPES = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def arrow_schema(columns: Mapping[str, TColumnSchema]) -> pa.Schema:
    """The Arrow schema matching dlt column hints, nullability included.

    Batches are cast to it so dlt sees exactly the hinted columns (and does not warn, per batch, that a
    NOT NULL hint differs from Arrow's default nullable fields).
    """
    return pa.schema(
        [
            pa.field(name, _ARROW_TYPES[str(col["data_type"])], nullable=col.get("nullable", True))
            for name, col in columns.items()
        ]
    )


def rejected_columns(position: str, *, source_name: bool = False) -> dict[str, TColumnSchema]:
    """The one schema of the file loaders' rejected-records tables (Segment's ``rejected_events``, the CSV
    drops' ``rejected_rows``): the file and the record's ``position`` in it (Segment: ``line_number``;
    CSV: ``row_number``, the data row; 0 for a file rejected whole), its raw text, or where its bytes are
    when too long to keep, and why it was rejected. The CSV drops share one table, so theirs also names the
    drop (``source_name``). Never a silent drop: a record the loader cannot read is a row here."""
    columns: dict[str, TColumnSchema] = {"source_name": {"data_type": "text", "nullable": False}} if source_name else {}
    return columns | {
        "source_file": {"data_type": "text", "nullable": False},
        position: {"data_type": "bigint", "nullable": False},
        "raw_text": {"data_type": "text"},
        "reason": {"data_type": "text", "nullable": False},
        # where the raw bytes are in the file when raw_text does not hold them all (or the record was too long)
        "raw_offset": {"data_type": "bigint"},
        "raw_length": {"data_type": "bigint"},
        "rejected_at": {"data_type": "timestamp", "timezone": True, "nullable": False},
        "_dlt_load_id": {"data_type": "text", "nullable": False},
    }


def rejected_table(
    schema: pa.Schema,
    source_file: Any,
    position: Any,
    raw_text: Any,
    reason: Any,
    raw_offset: Any,
    raw_length: Any,
    rejected_at: datetime,
    load_id: str,
    source_name: str | None = None,
) -> pa.Table:
    """Rejected records as a table of ``schema`` (``arrow_schema(rejected_columns(...))``). Columns come as
    Arrow arrays (a parsed batch's bad rows, vectorised) or plain lists (rejects found in Python)."""
    n = len(source_file)
    values = [source_file, position, raw_text, reason, raw_offset, raw_length, [rejected_at] * n, [load_id] * n]
    if "source_name" in schema.names:
        values.insert(0, [source_name] * n)
    arrays = [
        v if isinstance(v, pa.Array | pa.ChunkedArray) else pa.array(v, f.type)
        for v, f in zip(values, schema, strict=True)
    ]
    return pa.table(arrays, schema=schema)


def rejects_table(
    schema: pa.Schema,
    rejects: Sequence[tuple[str, int, str, RawRecord]],
    rejected_at: datetime,
    load_id: str,
    source_name: str | None = None,
) -> pa.Table:
    """``(file, position, reason, raw record)`` rows as a rejected-records table of ``schema``."""
    return rejected_table(
        schema,
        [r[0] for r in rejects],
        [r[1] for r in rejects],
        [r[3].text for r in rejects],
        [r[2] for r in rejects],
        [r[3].offset for r in rejects],
        [r[3].length for r in rejects],
        rejected_at,
        load_id,
        source_name,
    )


def sql_literal(text: str) -> str:
    """A DuckDB string literal, for SQL that our own in-memory DuckDB runs whole (never through dlt)."""
    return "'" + text.replace("'", "''") + "'"


def source_state(pipeline: dlt.Pipeline, source_name: str) -> dict[str, Any]:
    """The committed state of one source (after ``sync_destination``), or {} for a first run."""
    state: dict[str, Any] = pipeline.state.get("sources", {}).get(source_name, {})  # type: ignore[assignment]
    return state


def discard_unfinished(pipeline: dlt.Pipeline) -> dlt.Pipeline:
    """Forget a package left behind by a run that was killed between extract and load commit.

    Its files are still marked as loaded in the local state only; wiping the working folder makes dlt
    restore the warehouse's state, so those files are read again instead of being silently skipped.
    """
    marker = _dropping_marker(pipeline)
    if pipeline.has_pending_data or marker.exists():
        progress(f"{pipeline.pipeline_name}: discarding an unfinished load from an interrupted run")
        forget_local(pipeline)
    return pipeline


def _dropping_marker(pipeline: dlt.Pipeline) -> Path:
    """Beside the pipeline's working folder, not in it (dropping the pipeline wipes the folder)."""
    return Path(pipeline.working_dir).with_name(f".{pipeline.pipeline_name}.dropping")


def forget_local(pipeline: dlt.Pipeline) -> None:
    """Wipe the pipeline's working folder (packages, local state, schemas): dlt then restores the state from
    the warehouse, where it is committed with the data. A marker written first and removed last makes a kill
    in the middle finish the wipe on the next run: the folder is not deleted in one step, and a local state
    that outlived its package would mark files as loaded that never were."""
    marker = _dropping_marker(pipeline)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    pipeline.drop()
    marker.unlink()


@contextmanager
def warehouse_open(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Keep the warehouse file open for a whole run.

    dlt opens the DuckDB file and closes it again for each step and load job (restoring state, creating
    tables, each copy and merge job, completing the package). Closing the last connection to a DuckDB
    file checkpoints it: everything written so far is compressed into the file, the staging copy
    included, which dlt deletes right after the merge. One connection held for the run makes DuckDB
    reuse the open database for dlt's connections, so the file is opened once and checkpointed once, at
    the end, with only the final rows. Durability does not depend on it: each commit is in DuckDB's
    write-ahead log.
    """
    with pipeline.sql_client():
        yield


def run_committed(
    pipeline: dlt.Pipeline, data: Any, keep_extract: Callable[[ExtractInfo], bool] | None = None
) -> LoadInfo | None:
    """extract → normalize → load, with state that only moves forward when the load commits.

    The caller already ran ``sync_destination`` (it needed the committed state to plan the files), so
    the steps are called one by one rather than through ``run``, which would sync a second time.
    ``keep_extract`` may turn the extracted package down: nothing of it reached the warehouse, the working
    folder is wiped (``forget_local``) and the state restored from the warehouse, and None is returned.
    """
    try:
        extracted = pipeline.extract(data)
        if keep_extract is not None and not keep_extract(extracted):
            forget_local(pipeline)
            pipeline.sync_destination()
            return None
        pipeline.normalize()
        return pipeline.load()
    except BaseException:
        # extract rolls its own state back; anything that failed after it leaves a package pending
        if pipeline.has_pending_data:
            forget_local(pipeline)
        raise


def appends_in_one_file(extracted: ExtractInfo) -> bool:
    """Whether every table an extract appends to was written as one file, so dlt inserts it with one statement.

    A loader appends, rather than merges, the rows of a table none of whose rows it replaces (the merge would copy
    them into a staging table and then delete nothing). dlt splits a table into files where
    ``data_writer.file_max_items`` or ``file_max_bytes`` is set, in any of the sections it reads them from
    (globally, ``extract``, ``sources.<name>`` ...); an append would then be one INSERT per file, and a kill
    between two would leave part of the load. dlt's own tables (its state row) are left out: they are not ours."""
    for package in extracted.load_packages:
        for name, table in package.schema.tables.items():
            if name.startswith("_dlt") or table.get("write_disposition") != "append":
                continue
            files = [job for job in package.jobs.get("new_jobs", []) if job.job_file_info.table_name == name]
            if len(files) > 1:
                return False
    return True


@dataclass
class FileLoadSummary(LoadSummary):
    """A LoadSummary that also says which files were read and how many were skipped as unchanged."""

    files_read: list[str] = field(default_factory=list)
    files_unchanged: int = 0

    def line(self) -> str:
        files = f" [{len(self.files_read):,} files read, {self.files_unchanged:,} unchanged]"
        return super().line() + files
