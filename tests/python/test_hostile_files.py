"""Hostile input at the edges of the file loaders: names, line endings, sizes, empty and binary files,
message ids. Every file is loaded exactly once or rejected with its bytes (or a pointer to them) and a
reason in words; nothing is dropped silently and nothing crashes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion.sources.csv_contacts import load_csv_contacts
from ingestion.sources.segment import load_segment

MAPPING = {"id": "contact_id", "email": "email", "name": "first_name"}
HOSTILE_NAMES = ["semi;colon.csv", "it's; DROP TABLE x; --.csv", "new\nline.csv"]


def rows(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def drop_folder(tmp_path: Path, files: dict[str, bytes | str], name: str = "crm") -> Path:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    (folder / "mapping.json").write_text(json.dumps(MAPPING))
    for file_name, content in files.items():
        (folder / file_name).write_bytes(content.encode() if isinstance(content, str) else content)
    return folder


def load_drop(folder: Path) -> Any:
    return load_csv_contacts(folder, folder / "mapping.json", folder.name)


def csv_text(ids: range, tag: str = "", newline: str = "\n") -> str:
    return newline.join(["id,email,name", *(f"C{i},p{i}@example.com,N{i}{tag}" for i in ids)]) + newline


def event(message_id: str, received: str = "2026-01-01T10:00:02.000Z", **fields: Any) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "type": "track",
        "event": "Product Viewed",
        "anonymousId": "anon-1",
        "timestamp": "2026-01-01T10:00:00.000Z",
        "sentAt": "2026-01-01T10:00:01.000Z",
        "receivedAt": received,
        "properties": {"price": "9.99"},
    } | fields


def write_events(path: Path, lines: list[Any], newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = newline.join(line if isinstance(line, str) else json.dumps(line) for line in lines) + newline
    path.write_bytes(text.encode())


# -- 3. file names never reach SQL text ---------------------------------------------------------------
def test_csv_file_names_with_sql_characters_load_once_and_reload(tmp_path: Path, warehouse: Path) -> None:
    files = {name: csv_text(range(n * 10, n * 10 + 5)) + "x,y\n" for n, name in enumerate(HOSTILE_NAMES)}
    folder = drop_folder(tmp_path, files)

    summary = load_drop(folder)

    assert summary.rows_by_table == {"crm": 15, "rejected_rows": 3}
    assert rows(warehouse, "select _source_file, count(*) from raw_csv_contacts.crm group by 1 order by 1") == sorted(
        (name, 5) for name in HOSTILE_NAMES
    )
    # each file changed: it replaces its own rows and rejects, once
    for n, name in enumerate(HOSTILE_NAMES):
        (folder / name).write_text(csv_text(range(n * 10, n * 10 + 7), tag="-v2"))
    assert load_drop(folder).files_read == sorted(HOSTILE_NAMES)
    assert rows(
        warehouse,
        "select _source_file, count(*), count(distinct contact_id) from raw_csv_contacts.crm group by 1 order by 1",
    ) == [(name, 7, 7) for name in sorted(HOSTILE_NAMES)]
    assert rows(warehouse, "select count(*) from raw_csv_contacts.crm where first_name not like '%-v2'") == [(0,)]
    assert rows(warehouse, "select count(*) from raw_csv_contacts.rejected_rows") == [(0,)]


def test_segment_file_names_with_sql_characters_load_once_and_reload(tmp_path: Path, warehouse: Path) -> None:
    root = tmp_path / "segment"
    names = [name.replace(".csv", ".jsonl") for name in HOSTILE_NAMES]
    for n, name in enumerate(names):
        write_events(root / "2026-01-01" / name, [event(f"m{n}-1"), "{broken", event(f"m{n}-2")])

    summary = load_segment(root)

    assert summary.rows_by_table == {"events": 6, "rejected_events": 3}
    for n, name in enumerate(names):  # the broken line fixed, one event more
        write_events(root / "2026-01-01" / name, [event(f"m{n}-1"), event(f"m{n}-3"), event(f"m{n}-2")])
    assert sorted(load_segment(root).files_read) == sorted(f"2026-01-01/{name}" for name in names)
    assert rows(warehouse, "select count(*), count(distinct message_id) from raw_segment.events") == [(9, 9)]
    assert rows(warehouse, "select count(*) from raw_segment.rejected_events") == [(0,)]


# -- 4. edges of files -------------------------------------------------------------------------------
def test_cr_only_line_endings_parse(tmp_path: Path, warehouse: Path) -> None:
    folder = drop_folder(tmp_path, {"mac.csv": csv_text(range(3), newline="\r")})
    assert load_drop(folder).rows_by_table == {"crm": 3, "rejected_rows": 0}
    assert rows(warehouse, "select contact_id, first_name, _row_number from raw_csv_contacts.crm order by 3") == [
        ("C0", "N0", 1),
        ("C1", "N1", 2),
        ("C2", "N2", 3),
    ]

    root = tmp_path / "segment"
    write_events(root / "2026-01-01" / "mac.jsonl", [event("r1"), "{broken", event("r2")], newline="\r")
    summary = load_segment(root)
    assert summary.rows_by_table == {"events": 2, "rejected_events": 1}
    assert rows(warehouse, "select message_id, _line_number from raw_segment.events order by 1") == [
        ("r1", 1),
        ("r2", 3),
    ]
    assert rows(warehouse, "select line_number, raw_text from raw_segment.rejected_events") == [(2, "{broken")]


@pytest.mark.parametrize("name", ["x\n", "crm\n", "a\tb", "crm;", "über"])
def test_unsafe_source_name_is_refused_with_one_line(name: str, tmp_path: Path, warehouse: Path) -> None:
    folder = drop_folder(tmp_path, {"a.csv": csv_text(range(2))})
    args = ["load", "csv_contacts", "--path", str(folder), "--mapping", str(folder / "mapping.json")]
    result = subprocess.run(
        [sys.executable, "-m", "ingestion.cli", *args, "--source-name", name],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("customer360: error:")]
    assert len(errors) == 1 and "--source-name" in errors[0], result.stderr
    assert not warehouse.exists()


BIG = 3 * 1024 * 1024  # over the default 2 MiB line limit


def file_bytes(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read(length)


@pytest.mark.parametrize("keep_limit", [None, 1024 * 1024])
def test_oversized_csv_row_is_rejected_with_its_bytes_or_a_pointer(
    keep_limit: int | None, tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if keep_limit is not None:
        monkeypatch.setenv("CUSTOMER360_MAX_REJECT_TEXT_BYTES", str(keep_limit))
    huge = "C1,huge@example.com," + "x" * BIG
    folder = drop_folder(tmp_path, {"big.csv": f"id,email,name\nC0,a@example.com,A\n{huge}\nC2,c@example.com,C\n"})

    summary = load_drop(folder)

    assert summary.rows_by_table == {"crm": 2, "rejected_rows": 1}
    ((row, raw, reason, offset, length),) = rows(
        warehouse, "select row_number, raw_text, reason, raw_offset, raw_length from raw_csv_contacts.rejected_rows"
    )
    assert row == 2
    assert "none" not in reason.lower() and str(len(huge)) in reason.replace(",", ""), reason
    assert offset == len("id,email,name\nC0,a@example.com,A\n") and length == len(huge)
    assert file_bytes(folder / "big.csv", offset, length) == huge.encode()
    if keep_limit is None:
        assert raw == huge
    else:
        assert raw is None


@pytest.mark.parametrize("keep_limit", [None, 1024 * 1024])
def test_oversized_jsonl_line_is_rejected_with_its_bytes_or_a_pointer(
    keep_limit: int | None, tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if keep_limit is not None:
        monkeypatch.setenv("CUSTOMER360_MAX_REJECT_TEXT_BYTES", str(keep_limit))
    huge = json.dumps(event("big", properties={"blob": "x" * BIG}))
    path = tmp_path / "segment" / "2026-01-01" / "e.jsonl"
    write_events(path, [event("a"), huge, event("c")])

    summary = load_segment(tmp_path / "segment")

    assert summary.rows_by_table == {"events": 2, "rejected_events": 1}
    ((line, raw, reason, offset, length),) = rows(
        warehouse, "select line_number, raw_text, reason, raw_offset, raw_length from raw_segment.rejected_events"
    )
    assert line == 2
    assert "none" not in reason.lower() and str(len(huge)) in reason.replace(",", ""), reason
    assert offset == len(json.dumps(event("a"))) + 1 and length == len(huge)
    assert file_bytes(path, offset, length) == huge.encode()
    assert raw == (huge if keep_limit is None else None)


EMPTY_AND_BINARY = {
    "empty": b"",
    "blank": b"  \n\n \r\n",
    "nul": b"\x00" * 4096,
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
}


def test_empty_binary_and_nul_csv_files_are_rejected_as_such(tmp_path: Path, warehouse: Path) -> None:
    files: dict[str, bytes | str] = {f"{kind}.csv": content for kind, content in EMPTY_AND_BINARY.items()}
    folder = drop_folder(tmp_path, {**files, "good.csv": csv_text(range(3))})

    summary = load_drop(folder)

    assert summary.rows_by_table == {"crm": 3, "rejected_rows": 4}
    rejects = {
        r[0]: r[1:]
        for r in rows(
            warehouse,
            "select source_file, row_number, reason, raw_offset, raw_length from raw_csv_contacts.rejected_rows",
        )
    }
    assert sorted(rejects) == sorted(files)
    for kind in ("empty", "blank"):
        assert rejects[f"{kind}.csv"][:2] == (0, "empty file"), rejects
    for kind in ("nul", "binary"):
        number, reason, offset, length = rejects[f"{kind}.csv"]
        assert number == 0 and reason.startswith("binary file"), reason
        assert (offset, length) == (0, len(EMPTY_AND_BINARY[kind]))


def test_empty_binary_and_nul_jsonl_files_are_rejected_as_such(tmp_path: Path, warehouse: Path) -> None:
    day = tmp_path / "segment" / "2026-01-01"
    day.mkdir(parents=True)
    for kind, content in EMPTY_AND_BINARY.items():
        (day / f"{kind}.jsonl").write_bytes(content)
    write_events(day / "good.jsonl", [event("g1")])

    summary = load_segment(tmp_path / "segment")

    assert summary.rows_by_table == {"events": 1, "rejected_events": 4}
    rejects = {
        r[0]: r[1:]
        for r in rows(warehouse, "select source_file, line_number, reason, raw_length from raw_segment.rejected_events")
    }
    assert sorted(rejects) == sorted(f"2026-01-01/{kind}.jsonl" for kind in EMPTY_AND_BINARY)
    assert rejects["2026-01-01/empty.jsonl"][:2] == (0, "empty file")
    assert rejects["2026-01-01/blank.jsonl"][:2] == (0, "empty file")
    for kind in ("nul", "binary"):
        number, reason, length = rejects[f"2026-01-01/{kind}.jsonl"]
        assert number == 0 and reason.startswith("binary file") and length == len(EMPTY_AND_BINARY[kind])


def test_whitespace_only_message_id_is_rejected(tmp_path: Path, warehouse: Path) -> None:
    write_events(tmp_path / "segment" / "2026-01-01" / "e.jsonl", [event("ok"), event("   "), event("\t")])
    summary = load_segment(tmp_path / "segment")
    assert summary.rows_by_table == {"events": 1, "rejected_events": 2}
    assert rows(warehouse, "select line_number, reason from raw_segment.rejected_events order by 1") == [
        (2, "no messageId"),
        (3, "no messageId"),
    ]


def test_message_id_collision_with_different_content_is_rejected_not_dropped(tmp_path: Path, warehouse: Path) -> None:
    root = tmp_path / "segment"
    first = event("dup", event="Unsubscribed", received="2026-01-01T10:00:02.000Z")
    # another file of the same load: the same message id, a different event
    other = event("dup", event="Product Viewed", received="2026-01-02T08:00:00.000Z")
    write_events(root / "2026-01-01" / "a.jsonl", [first, event("x1")])
    write_events(root / "2026-01-02" / "b.jsonl", [other, event("x2")])

    summary = load_segment(root)

    assert summary.rows_by_table == {"events": 3, "rejected_events": 1}
    assert rows(warehouse, "select event from raw_segment.events where message_id = 'dup'") == [("Unsubscribed",)]
    assert rows(warehouse, "select source_file, line_number, reason, raw_text from raw_segment.rejected_events") == [
        ("2026-01-02/b.jsonl", 1, "messageId collision: different content", json.dumps(other))
    ]

    # a later load: an identical redelivery is deduplicated silently, a changed copy is rejected
    redelivered = event("dup", event="Unsubscribed", received="2026-01-03T09:00:00.000Z")
    changed = event("x1", event="Order Completed", received="2026-01-03T09:00:01.000Z")
    write_events(root / "2026-01-03" / "c.jsonl", [redelivered, changed])
    summary = load_segment(root)
    assert summary.rows_by_table == {"events": 1, "rejected_events": 1}
    assert rows(warehouse, "select count(*), count(distinct message_id) from raw_segment.events") == [(3, 3)]
    assert rows(warehouse, "select event, received_at::varchar from raw_segment.events where message_id = 'dup'") == [
        ("Unsubscribed", "2026-01-03 09:00:00+00")
    ]
    assert rows(warehouse, "select event from raw_segment.events where message_id = 'x1'") == [("Product Viewed",)]
    assert rows(warehouse, "select source_file, line_number, reason from raw_segment.rejected_events order by 1") == [
        ("2026-01-02/b.jsonl", 1, "messageId collision: different content"),
        ("2026-01-03/c.jsonl", 2, "messageId collision: different content"),
    ]


def test_rejected_reasons_are_words(tmp_path: Path, warehouse: Path) -> None:
    """No reason is ever empty or a stringified None, whatever the reject."""
    folder = drop_folder(
        tmp_path,
        {
            "a.csv": 'id,email,name\nC1,a,b,c\n"open quote\nC2,x,y\n',
            "big.csv": "id,email,name\nC3,b," + "y" * BIG + "\n",
            "nul.csv": b"\x00\x00",
            "e.csv": b"",
        },
    )
    load_drop(folder)
    reasons = [r[0] for r in rows(warehouse, "select reason from raw_csv_contacts.rejected_rows")]
    assert reasons and all(r and "none" not in r.lower() for r in reasons), reasons


def test_message_id_collision_within_one_file(tmp_path: Path, warehouse: Path) -> None:
    first = event("same", event="Email Unsubscribed")
    again = event("same", event="Email Unsubscribed", received="2026-01-01T11:00:00.000Z")  # a redelivery
    other = event("same", event="Email Subscribed", received="2026-01-01T12:00:00.000Z")
    write_events(tmp_path / "segment" / "2026-01-01" / "e.jsonl", [first, other, again, event("solo")])

    summary = load_segment(tmp_path / "segment")

    assert summary.rows_by_table == {"events": 3, "rejected_events": 1}  # events counts deliveries read
    assert rows(warehouse, "select message_id, event, received_at::varchar from raw_segment.events order by 1") == [
        ("same", "Email Unsubscribed", "2026-01-01 11:00:00+00"),
        ("solo", "Product Viewed", "2026-01-01 10:00:02+00"),
    ]
    assert rows(warehouse, "select line_number, reason from raw_segment.rejected_events") == [
        (2, "messageId collision: different content")
    ]
