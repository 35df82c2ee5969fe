"""Segment events: ``events_dir/YYYY-MM-DD/*.jsonl`` → ``raw_segment.events`` and ``rejected_events``.

Speed is the point of this module's shape. Lines never become Python dicts: an in-memory DuckDB splits
each file into numbered lines, parses each line once (``from_json`` into the contract's columns, only
for lines that pass ``json_valid``, so a broken line yields NULL instead of failing the scan; ``try()``
would do the same at twice the cost) into one table, judges repeated message ids set-wise over that
table (one query per load, not per file), and streams the rows to keep as Arrow record batches that dlt
writes as parquet and merges in the warehouse. The parsed table stays within DuckDB's memory limit and
spills to its temp folder beyond it.

Decisions (also in docs/data_contracts.md):

* ``timestamp``, ``sent_at``, ``received_at`` are TIMESTAMPTZ. A value that is present but does not parse
  is NULL there and kept verbatim in ``_invalid_timestamps`` (a JSON object, NULL when all parsed), so
  dbt can quarantine it without the loader dropping the event.
* ``traits``, ``properties``, ``context`` are JSON text: new fields in them never change the schema.
* Rejected (``rejected_events``): lines that are not JSON, JSON that is not an object, or an object with
  no (or a blank) ``messageId``, lines that are not valid UTF-8, lines over the line size limit, and
  whole files that are empty or binary (line 0). A reject keeps the line's text, or a pointer (byte
  offset and length in the file) when it is too long to store. Everything else loads, even an event with
  no identity or a track without a name: judging those is dbt's job. Blank lines carry no message and
  are skipped. Lines break at LF (CRLF) or, in a file with no LF, at CR.
* ``message_id`` is the merge key. A message delivered twice (same messageId and content, often a later
  day folder) stays one row: within one load the delivery with the latest ``received_at`` wins, and a
  later load's delivery replaces an earlier one (copies differ only in ``receivedAt`` and file). A copy
  with other content is a collision: the first arrival stays and the copy is rejected (``_Collisions``).
* A changed file is read again: its events merge by message_id (an event that vanished from a file is
  kept), and its old rejected lines are replaced by the new ones.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dlt
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.schema.typing import TColumnSchema

from ingestion.errors import UserError
from ingestion.pipeline import LoadSummary, exclusive_run, make_pipeline, user_errors, warehouse_turn
from ingestion.privacy.erasure import refuse_load_without_salt
from ingestion.settings import Settings, resolve
from ingestion.sources.file_loads import (
    DUCKDB_ROW_GROUP_ROWS,
    FileLoadSummary,
    RawRecord,
    ScannedFile,
    appends_in_one_file,
    arrow_schema,
    discard_unfinished,
    files_condition,
    keep_raw,
    line_spans,
    plan_files,
    progress,
    rejected_columns,
    rejected_table,
    rejects_table,
    row_groups,
    run_committed,
    source_state,
    sql_literal,
    warehouse_open,
    whole_file_reject,
)

SOURCE = "segment"
EVENTS_TABLE = "events"
# source-state key: messages read per file, for the duplicates-merged count
DELIVERED_STATE = "delivered_messages"
REJECTED_TABLE = "rejected_events"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Contract field → column. Everything is read as text first; the three timestamps are cast afterwards.
_MESSAGE_FIELDS = {
    "messageId": "message_id",
    "type": "type",
    "event": "event",
    "name": "name",
    "anonymousId": "anonymous_id",
    "userId": "user_id",
    "timestamp": "timestamp",
    "sentAt": "sent_at",
    "receivedAt": "received_at",
}
_TIMESTAMPS = ("timestamp", "sent_at", "received_at")
_JSON_FIELDS = {"traits": "traits", "properties": "properties", "context": "context"}

EVENT_COLUMNS: dict[str, TColumnSchema] = {
    "message_id": {"data_type": "text", "nullable": False},
    "type": {"data_type": "text"},
    "event": {"data_type": "text"},
    "name": {"data_type": "text"},
    "anonymous_id": {"data_type": "text"},
    "user_id": {"data_type": "text"},
    "timestamp": {"data_type": "timestamp", "timezone": True},
    "sent_at": {"data_type": "timestamp", "timezone": True},
    # the latest delivery of a message wins (_COPIES_SQL: dlt gets one row per message_id)
    "received_at": {"data_type": "timestamp", "timezone": True},
    "traits": {"data_type": "text"},
    "properties": {"data_type": "text"},
    "context": {"data_type": "text"},
    "_invalid_timestamps": {"data_type": "text"},
    "_source_file": {"data_type": "text", "nullable": False},
    "_line_number": {"data_type": "bigint", "nullable": False},
    "_dlt_load_id": {"data_type": "text", "nullable": False},
}
REJECTED_COLUMNS = rejected_columns("line_number")
COLLISION = "messageId collision: different content"
EVENTS_SCHEMA = arrow_schema(EVENT_COLUMNS)
REJECTED_SCHEMA = arrow_schema(REJECTED_COLUMNS)


def discover_event_files(events_dir: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """``(relative path, path)`` of every ``YYYY-MM-DD/*.jsonl``, sorted, plus what was ignored."""
    files: list[tuple[str, Path]] = []
    ignored: list[str] = []
    for entry in sorted(events_dir.iterdir()):
        if not entry.is_dir():
            ignored.append(entry.name)
            continue
        if not _DAY.match(entry.name) or not _is_date(entry.name):
            ignored.append(entry.name + "/")
            continue
        for file in sorted(entry.iterdir()):
            if file.is_file() and file.suffix == ".jsonl":
                if any(char in file.name for char in "*?[]{}"):
                    # DuckDB would read these characters as a glob pattern, not as a file name
                    raise UserError(f"unsupported characters (*?[]{{}}) in event file name {file}; rename it")
                files.append((f"{entry.name}/{file.name}", file))
            else:
                ignored.append(f"{entry.name}/{file.name}")
    return files, ignored


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _parse_sql(
    events_dir: Path,
    utf8_files: Sequence[ScannedFile],
    has_fallback: bool,
    max_line: int,
    max_text: int,
) -> str:
    """One query: lines → parsed messages, good and rejected rows side by side (``_ok``)."""
    parts = []
    for line_break in (b"\n", b"\r"):
        group = [f for f in utf8_files if f.scan.line_break == line_break]
        if group:
            paths = ", ".join(sql_literal(str(f.path)) for f in group)
            # splitting at the file's line break keeps line numbers exact; a trailing "\r" (CRLF files) is
            # JSON whitespace. Old Mac files break lines with CR alone.
            parts.append(
                "SELECT filename, unnest(l) AS raw_text, generate_subscripts(l, 1) AS line_number "
                f"FROM (SELECT filename, string_split(content, chr({line_break[0]})) AS l "
                f"FROM read_text([{paths}]))"
            )
    if has_fallback:
        parts.append("SELECT filename, raw_text, line_number FROM fallback_lines")
    lines = " UNION ALL ".join(parts)
    shape = {key: "VARCHAR" for key in _MESSAGE_FIELDS} | {key: "JSON" for key in _JSON_FIELDS}
    shape_sql = sql_literal(_json_object(shape))
    prefix_len = len(str(events_dir)) + 1
    fields = ",\n  ".join(f'm."{key}" AS "{col}"' for key, col in _MESSAGE_FIELDS.items() if col not in _TIMESTAMPS)
    stamps = ",\n  ".join(f'try_cast(m."{key}" AS TIMESTAMPTZ) AS "{col}"' for key, col in _stamp_fields())
    bad_stamp = " OR ".join(
        f'(m."{key}" IS NOT NULL AND try_cast(m."{key}" AS TIMESTAMPTZ) IS NULL)' for key, _ in _stamp_fields()
    )
    # json_merge_patch drops the NULL entries, so only the unparseable values remain
    bad_stamp_json = (
        "json_merge_patch('{}', json_object("
        + ", ".join(
            f'\'{col}\', CASE WHEN try_cast(m."{key}" AS TIMESTAMPTZ) IS NULL THEN m."{key}" END'
            for key, col in _stamp_fields()
        )
        + "))::VARCHAR"
    )
    json_fields = ",\n  ".join(f'm."{key}"::VARCHAR AS "{col}"' for key, col in _JSON_FIELDS.items())
    return f"""
WITH lines AS ({lines}),
parsed AS (
  SELECT filename, line_number, raw_text, strlen(raw_text) > {max_line} AS _too_long,
         CASE WHEN strlen(raw_text) <= {max_line} AND json_valid(raw_text) THEN from_json(raw_text, {shape_sql}) END
           AS m
  FROM lines
  WHERE raw_text <> ''
),
flagged AS (
  -- a messageId of only whitespace is no id at all
  SELECT *, coalesce(NOT regexp_full_match(m."messageId", '\\s*'), false) AS _ok FROM parsed
)
SELECT
  _ok,
  {fields},
  {stamps},
  {json_fields},
  CASE WHEN _ok AND ({bad_stamp}) THEN {bad_stamp_json} END AS _invalid_timestamps,
  substr(filename, {prefix_len + 1}) AS _source_file,
  line_number::BIGINT AS _line_number,
  CASE WHEN NOT _ok AND strlen(raw_text) <= {max_text} THEN rtrim(raw_text, chr(13)) END AS raw_text,
  CASE WHEN NOT _ok AND (_too_long OR strlen(raw_text) > {max_text}) THEN strlen(rtrim(raw_text, chr(13))) END
    AS _raw_bytes,
  CASE WHEN NOT _ok THEN
    CASE WHEN _too_long THEN
           'line of ' || strlen(rtrim(raw_text, chr(13))) || ' bytes is over the {max_line}-byte limit'
         WHEN NOT json_valid(raw_text) THEN 'not valid JSON'
         WHEN json_type(raw_text) <> 'OBJECT' THEN 'not a JSON object'
         ELSE 'no messageId' END
  END AS reason
FROM flagged
-- blank lines (spaces, tabs, CR) carry no message; trim() <> '' would cost as much as the JSON parse
WHERE _ok OR NOT regexp_full_match(raw_text, '[ \\t\\r]*')
"""


def _stamp_fields() -> list[tuple[str, str]]:
    return [(key, col) for key, col in _MESSAGE_FIELDS.items() if col in _TIMESTAMPS]


def _json_object(mapping: dict[str, str]) -> str:
    return "{" + ", ".join(f'"{k}": "{v}"' for k, v in mapping.items()) + "}"


def _fallback_lines(
    files: Sequence[ScannedFile], max_line: int, max_text: int
) -> tuple[pa.Table, list[tuple[str, int, RawRecord]]]:
    """Lines of files that are not valid UTF-8 as a whole: decodable lines go on to the JSON parse,
    undecodable ones are rejected here (escaped text, or a pointer when too long). Rare: plain Python."""
    names: list[str] = []
    numbers: list[int] = []
    texts: list[str] = []
    rejected: list[tuple[str, int, RawRecord]] = []
    for file in files:
        data = file.path.read_bytes()
        offset = 0
        pieces = data.split(file.scan.line_break)
        if pieces and not pieces[-1]:
            pieces.pop()  # the file ends with a line break
        for number, raw in enumerate(pieces, start=1):
            start, offset = offset, offset + len(raw) + 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raw = raw.removesuffix(b"\r")
                rejected.append((file.rel, number, keep_raw(raw, start, max_text, pointer=len(raw) > max_line)))
                continue
            names.append(str(file.path))
            numbers.append(number)
            texts.append(text)
    lines = pa.table(
        {
            "filename": pa.array(names, pa.string()),
            "raw_text": pa.array(texts, pa.string()),
            "line_number": pa.array(numbers, pa.int64()),
        }
    )
    return lines, rejected


# Everything a delivery carries except receivedAt (and where it was read), which differ between
# redeliveries of one message: the columns whose hash tells a redelivery from a messageId collision.
_CONTENT_COLUMNS = (
    "type",
    "event",
    "name",
    "anonymous_id",
    "user_id",
    "timestamp",
    "sent_at",
    "traits",
    "properties",
    "context",
)
# DuckDB's hash(): fast, and compared only within one process (load side and warehouse side alike),
# never stored, so a different hash function in another DuckDB version cannot matter.
CONTENT_HASH_SQL = "hash(" + ", ".join(f'"{c}"' for c in _CONTENT_COLUMNS) + ")"

# The content hash of message ids already in the warehouse: (message_id, content_hash) for the ids given.
StoredHashes = Callable[[pa.Array], pa.Table]


def _no_stored_hashes(ids: pa.Array) -> pa.Table:
    return pa.table({"message_id": pa.array([], pa.string()), "content_hash": pa.array([], pa.uint64())})


# Judges every copy of a message id that arrives more than once (in this load, or again after an earlier
# load), over the parsed table, in one pass. The first arrival is the copy already in the warehouse, else
# the first copy in this load's file order (day folders are named by the day received). A copy whose
# content differs from it is a collision (``loser``: rejected); identical copies (another receivedAt) are
# redeliveries, of which the latest delivery is kept, as dlt's merge on ``received_at`` did: the others
# are folded into it (``rn > 1``).
_COPIES_SQL = f"""
CREATE TEMP TABLE dropped AS
WITH candidates AS (
  SELECT message_id FROM parsed WHERE _ok GROUP BY message_id HAVING count(*) > 1
  UNION
  SELECT message_id FROM stored_copies
),
copies AS (
  SELECT p.message_id, p._source_file, p._line_number, p.received_at,
         {CONTENT_HASH_SQL} AS content_hash
  FROM parsed AS p SEMI JOIN candidates USING (message_id)
  WHERE p._ok
),
firsts AS (
  SELECT message_id, arg_min(content_hash, (_source_file, _line_number)) AS first_hash
  FROM copies GROUP BY message_id
),
stored AS (
  SELECT message_id, any_value(content_hash) AS stored_hash FROM stored_copies GROUP BY message_id
),
judged AS (
  SELECT c.*, c.content_hash <> coalesce(s.stored_hash, f.first_hash) AS loser
  FROM copies AS c JOIN firsts AS f USING (message_id) LEFT JOIN stored AS s USING (message_id)
),
ranked AS (
  SELECT _source_file, _line_number, loser,
         row_number() OVER (
           PARTITION BY message_id, loser
           ORDER BY received_at DESC NULLS LAST, _source_file DESC, _line_number DESC
         ) AS rn
  FROM judged
)
SELECT _source_file, _line_number, loser FROM ranked WHERE loser OR rn > 1
"""


def _pointers(
    by_file: dict[str, ScannedFile], wanted: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], tuple[int, int]]:
    """Byte offset and length of each ``(file, line)``, for rejects that carry a pointer."""
    spans: dict[tuple[str, int], tuple[int, int]] = {}
    lines_by_file: dict[str, list[int]] = {}
    for rel, line in wanted:
        lines_by_file.setdefault(rel, []).append(line)
    for rel, lines in lines_by_file.items():
        scanned = by_file[rel]
        for line, span in line_spans(scanned.path, lines, scanned.scan.line_break).items():
            spans[(rel, line)] = span
    return spans


def _collision_rejects(
    con: duckdb.DuckDBPyConnection, by_file: dict[str, ScannedFile], max_text: int
) -> list[tuple[str, int, str, RawRecord]]:
    """The colliding copies as rejects, their text read back from the file (rare: plain Python)."""
    wanted = [
        (str(rel), int(line))
        for rel, line in con.execute(
            "SELECT _source_file, _line_number FROM dropped WHERE loser ORDER BY 1, 2"
        ).fetchall()
    ]
    spans = _pointers(by_file, wanted)
    rejects = []
    for rel, line in wanted:
        offset, length = spans[(rel, line)]
        with by_file[rel].path.open("rb") as handle:
            handle.seek(offset)
            raw = handle.read(min(length, max_text + 1))
        record = keep_raw(raw, offset, max_text) if length <= max_text else RawRecord(None, offset, length)
        rejects.append((rel, line, COLLISION, record))
    return rejects


def _line_rejects(
    con: duckdb.DuckDBPyConnection, by_file: dict[str, ScannedFile], rejected_at: datetime, load_id: str
) -> pa.Table:
    """The parsed lines that are no message; those too long to keep whole (``_raw_bytes`` set) get a pointer."""
    bad = con.sql(
        "SELECT _source_file, _line_number, raw_text, reason, _raw_bytes FROM parsed WHERE NOT _ok ORDER BY 1, 2"
    ).to_arrow_table()
    needs = np.flatnonzero(~np.asarray(pc.is_null(bad["_raw_bytes"]).to_numpy(zero_copy_only=False)))
    offsets: list[int | None] = [None] * bad.num_rows
    lengths: list[int | None] = [None] * bad.num_rows
    if len(needs):
        files_, lines_ = bad["_source_file"].to_pylist(), bad["_line_number"].to_pylist()
        wanted = [(files_[i], lines_[i]) for i in needs]
        spans = _pointers(by_file, wanted)
        for i, key in zip(needs, wanted, strict=True):
            offsets[i], lengths[i] = spans[key]
    return rejected_table(
        REJECTED_SCHEMA,
        bad["_source_file"],
        bad["_line_number"],
        bad["raw_text"],
        bad["reason"],
        offsets,
        lengths,
        rejected_at,
        load_id,
    )


@dlt.source(name=SOURCE)
def segment_source(
    events_dir: Path,
    files: Sequence[ScannedFile],
    state_after: dict[str, list[Any]],
    stats: dict[str, int] | None = None,
    stored_hashes: StoredHashes = _no_stored_hashes,
    settings: Settings | None = None,
    append_new: bool = True,
) -> Any:
    """The files to (re)load, as one resource that fills ``events`` and ``rejected_events``.

    ``state_after`` (the fingerprints of every known file) becomes the source state once all batches
    were extracted; dlt commits it together with the data. ``stored_hashes`` looks up the content hash
    of message ids already loaded, so a collision with an earlier load is found too. ``append_new``: append,
    not merge, a load none of whose message ids is stored (see ``appends_in_one_file``).
    """
    counts = stats if stats is not None else {}

    def extract() -> Iterator[Any]:
        load_id = dlt.current.load_package_state()["load_id"]
        rejected_at = datetime.now(UTC)
        config = resolve(settings)
        max_line, max_text = config.max_line_bytes, config.max_reject_text_bytes
        by_file = {f.rel: f for f in files}
        python_rejects: list[tuple[str, int, str, RawRecord]] = []
        readable = []
        for scanned in files:
            whole = whole_file_reject(scanned, max_text)
            if whole is None:
                readable.append(scanned)
            else:
                python_rejects.append((scanned.rel, 0, whole[0], whole[1]))
        utf8_files = [f for f in readable if f.utf8_error is None]
        fallback = [f for f in readable if f.utf8_error is not None]
        rejected: list[pa.Table] = []
        good = 0
        # messages read per file (redeliveries included, collisions not): duplicates merged
        delivered = dict.fromkeys((f.rel for f in files), 0)

        con = duckdb.connect(config=config.duckdb_config())
        try:
            con.execute("SET TimeZone = 'UTC'")
            if fallback:
                lines, undecodable = _fallback_lines(fallback, max_line, max_text)
                con.register("fallback_lines", lines)
                python_rejects += [(rel, line, "not valid UTF-8", raw) for rel, line, raw in undecodable]
            if utf8_files or fallback:
                parse = _parse_sql(events_dir, utf8_files, bool(fallback), max_line, max_text)
                con.execute(f"CREATE TEMP TABLE parsed AS {parse}")
                rejected.append(_line_rejects(con, by_file, rejected_at, load_id))
                if stored_hashes is _no_stored_hashes:  # a first load: no id to look up
                    con.register("stored_copies", _no_stored_hashes(pa.array([], pa.string())))
                else:
                    ids = con.sql("SELECT message_id FROM parsed WHERE _ok").to_arrow_table()["message_id"]
                    con.register("stored_copies", stored_hashes(pc.unique(ids)))
                con.execute(_COPIES_SQL)
                # No message id of this load is in the warehouse and the batch holds one row per id, so dlt's
                # merge would copy the rows into its staging table and then delete nothing: appending them is
                # the same table for half the writing (a first load at 100k people: 21.0 -> 16.4 s). dlt writes
                # the rows as one parquet file, so one INSERT: all or nothing still (test_atomic_loads kills it
                # before and after; where dlt split them into files, load_segment extracts again to merge).
                fresh = append_new and not con.execute("SELECT count(*) FROM stored_copies").fetchall()[0][0]
                python_rejects += _collision_rejects(con, by_file, max_text)
                for rel, n in con.execute(
                    "SELECT _source_file, count(*) FROM parsed AS p WHERE _ok "
                    "AND NOT EXISTS (SELECT 1 FROM dropped AS d WHERE d.loser "
                    "AND d._source_file = p._source_file AND d._line_number = p._line_number) GROUP BY 1"
                ).fetchall():
                    delivered[rel] = n
                good = sum(delivered.values())
                kept = ", ".join(
                    f"{sql_literal(load_id)} AS _dlt_load_id" if name == "_dlt_load_id" else f'p."{name}"'
                    for name in EVENTS_SCHEMA.names
                )
                batches = con.sql(
                    f"SELECT {kept} FROM parsed AS p WHERE _ok "
                    "AND NOT EXISTS (SELECT 1 FROM dropped AS d "
                    "WHERE d._source_file = p._source_file AND d._line_number = p._line_number)"
                ).to_arrow_reader(DUCKDB_ROW_GROUP_ROWS)
                done = 0
                tables = (pa.Table.from_batches([batch]).cast(EVENTS_SCHEMA) for batch in batches)
                for table in row_groups(tables, EVENTS_SCHEMA):
                    done += table.num_rows
                    progress(f"segment: {done:,} of the events handed on ({good:,} lines parsed)")
                    if fresh:
                        hints = dlt.mark.make_hints(table_name=EVENTS_TABLE, write_disposition="append")
                        yield dlt.mark.with_hints(table, hints, create_table_variant=True)
                    else:
                        yield dlt.mark.with_table_name(table, EVENTS_TABLE)
        finally:
            con.close()
        rejected.append(rejects_table(REJECTED_SCHEMA, python_rejects, rejected_at, load_id))
        bad = sum(t.num_rows for t in rejected)
        progress(f"segment: {good + bad:,} lines parsed, {bad:,} rejected")
        # Always one (possibly empty) rejected_events item: it makes dlt run that table's merge, whose
        # scope deletes the old rejects of every file read now, so a fixed line does not stay rejected.
        yield dlt.mark.with_table_name(pa.concat_tables(rejected), REJECTED_TABLE)
        counts["events"] = counts.get("events", 0) + good
        counts["rejected"] = counts.get("rejected", 0) + bad
        state = dlt.current.source_state()
        state["files"] = state_after
        # committed with the data; a reloaded file replaces its own count
        state[DELIVERED_STATE] = {**state.get(DELIVERED_STATE, {}), **delivered}

    resource = dlt.resource(extract, name="event_files")
    resource.apply_hints(
        table_name=EVENTS_TABLE,
        create_table_variant=True,
        write_disposition={
            "disposition": "merge",
            "strategy": "delete-insert",
            # one row per message_id already (see _COPIES_SQL): dlt's merge skips its own sort of the rows
            "deduplicated": True,
        },
        primary_key="message_id",
        columns=EVENT_COLUMNS,
    )
    resource.apply_hints(
        table_name=REJECTED_TABLE,
        create_table_variant=True,
        write_disposition={
            "disposition": "merge",
            "strategy": "delete-insert",
            # replace, not accumulate, the rejects of the files read in this run (named by md5: dlt
            # splits its SQL at ";" and newlines, so a file name must never be in it)
            "destination_scope": files_condition("source_file", (f.rel for f in files)),
        },
        primary_key=["source_file", "line_number"],
        columns=REJECTED_COLUMNS,
    )
    return resource


def _stored_hashes(pipeline: dlt.Pipeline) -> StoredHashes:
    """A lookup of the content hashes of the warehouse's copies of some message ids (dlt's SQL client).

    Called once per load, with every message id the load read; the warehouse stays open for the whole
    run (``warehouse_open``), so the client costs no reopening of the file.
    """
    with pipeline.sql_client() as client:
        exists = client.execute_sql(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            pipeline.dataset_name,
            EVENTS_TABLE,
        )
    if not exists or not exists[0][0]:
        return _no_stored_hashes  # a first load

    def lookup(ids: pa.Array) -> pa.Table:
        with pipeline.sql_client() as client:
            con = client.native_connection
            con.register("c360_message_ids", pa.table({"message_id": ids}))
            try:
                return con.sql(
                    f"SELECT e.message_id, {CONTENT_HASH_SQL} AS content_hash "
                    f"FROM {client.make_qualified_table_name(EVENTS_TABLE)} AS e "
                    "SEMI JOIN c360_message_ids USING (message_id)"
                ).to_arrow_table()
            finally:
                con.unregister("c360_message_ids")

    return lookup


def delivered_messages(pipeline: dlt.Pipeline | None = None, settings: Settings | None = None) -> int | None:
    """Messages read from every file loaded so far (each file as last loaded), redeliveries included;
    None when the warehouse was loaded before these counts were kept (or never).

    ``raw_segment.events`` holds one row per messageId, so this minus its rows is the number of
    redelivered copies dlt's merge folded into the copy already kept.
    """
    counts = source_state(pipeline or make_pipeline(SOURCE, settings), SOURCE).get(DELIVERED_STATE)
    return None if counts is None else sum(counts.values())


def load_segment(events_dir: Path, settings: Settings | None = None) -> LoadSummary:
    """Load new and changed event files into ``raw_segment``; unchanged files are not even opened."""
    started = time.monotonic()
    events_dir = Path(events_dir).expanduser().resolve()
    if not events_dir.is_dir():
        raise UserError(f"segment events folder not found: {events_dir}")
    candidates, ignored = discover_event_files(events_dir)
    if ignored:
        shown = ", ".join(ignored[:5]) + (" ..." if len(ignored) > 5 else "")
        progress(f"segment: ignored {len(ignored)} entries that are not YYYY-MM-DD/*.jsonl: {shown}")
    if not candidates:
        return FileLoadSummary(SOURCE, skipped=f"no event files in {events_dir}", seconds=time.monotonic() - started)

    config = resolve(settings)
    pipeline = make_pipeline(SOURCE, config)
    with user_errors(SOURCE, config.duckdb_path), exclusive_run(pipeline.pipeline_name, SOURCE, config.pipelines_dir):
        # first: it only touches the local folder, and the check below needs the pipeline's schema files whole
        discard_unfinished(pipeline)
        # the warehouse held for the whole run (warehouse_turn): the extract reads it as it goes, and one open
        # warehouse costs one checkpoint (see warehouse_open)
        with warehouse_turn(config, f"{SOURCE}: load"), warehouse_open(pipeline):
            refuse_load_without_salt(pipeline)
            pipeline.sync_destination()
            loaded = source_state(pipeline, SOURCE).get("files", {})
            plan = plan_files(candidates, loaded)
            days = len({rel.split("/", 1)[0] for rel, _ in candidates})
            progress(
                f"segment: {len(candidates):,} files in {days:,} day folders; {len(plan.to_load):,} new or changed, "
                f"{len(plan.unchanged):,} unchanged{plan.gone_note()}"
            )
            if not plan.to_load:
                return FileLoadSummary(
                    SOURCE,
                    skipped="no new or changed event files",
                    seconds=time.monotonic() - started,
                    files_unchanged=len(plan.unchanged),
                )
            stats: dict[str, int] = {}
            stored = _stored_hashes(pipeline)
            source = segment_source(events_dir, plan.to_load, plan.state_after, stats, stored, config)
            if run_committed(pipeline, source, keep_extract=appends_in_one_file) is None:
                progress("segment: dlt split the new events into several files; merging them instead of appending")
                stats.clear()
                source = segment_source(events_dir, plan.to_load, plan.state_after, stats, stored, config, False)
                run_committed(pipeline, source)
    return FileLoadSummary(
        SOURCE,
        rows_by_table={EVENTS_TABLE: stats.get("events", 0), REJECTED_TABLE: stats.get("rejected", 0)},
        rejected=stats.get("rejected", 0),
        seconds=time.monotonic() - started,
        files_read=[f.rel for f in plan.to_load],
        files_unchanged=len(plan.unchanged),
    )
