"""The CSV contact drop loader: mapping, rejects, row numbers, reloads, several drops, failure safety."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from ingestion.errors import UserError
from ingestion.sources import csv_contacts, file_loads
from ingestion.sources.csv_contacts import CANONICAL_FIELDS, _row_numbers, load_csv_contacts, make_csv_pipeline

LEGACY_MAPPING = {
    "Customer ID": "contact_id",
    "E-mail Address": "email",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Birth Date": "date_of_birth",
}
# BOM + CRLF, a doubled quote, a quoted multi-line value, a short row and a long row
EXPORT_A = (
    "\ufeffCustomer ID,First Name,Last Name,E-mail Address,Birth Date,Opt Out,Notes\r\n"
    'C1,Ann,Lee,ann@example.com,1980-01-02,N,"likes ""quotes"""\r\n'
    'C2,Bob,Stone,bob@example.com,,Y,"multi\r\nline note"\r\n'
    "C3,Cy,Short,cy@example.com,1990-01-01,N\r\n"
    "C4,Di,Long,di@example.com,,N,note,EXTRA\r\n"
    "C5,Ed,Last,ed@example.com,,N,\r\n"
)
# another export of the same system: semicolons, other column order, one more column
EXPORT_B = "E-mail Address;Customer ID;Loyalty Tier\nfay@example.com;C6;gold\n  gus@example.com ;C7;\n"


def write_drop(folder: Path, files: dict[str, str | bytes], mapping: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content.encode() if isinstance(content, str) else content)
    (folder / "mapping.json").write_text(json.dumps(mapping))
    return folder


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    return write_drop(tmp_path / "legacy_crm", {"a.csv": EXPORT_A, "b.csv": EXPORT_B}, LEGACY_MAPPING)


def load(folder: Path, name: str | None = None) -> Any:
    return load_csv_contacts(folder, folder / "mapping.json", folder.name if name is None else name)


def rows(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def columns(path: Path, table: str) -> list[str]:
    return [
        r[0]
        for r in rows(
            path,
            "select column_name from information_schema.columns where table_schema = 'raw_csv_contacts' "
            "and table_name = ? order by ordinal_position",
            table,
        )
    ]


def test_full_load_maps_keeps_and_rejects(drop: Path, warehouse: Path) -> None:
    summary = load(drop)

    assert summary.source_system == "legacy_crm"
    assert summary.rows_by_table == {"legacy_crm": 5, "rejected_rows": 2}
    assert summary.rejected == 2
    assert summary.files_read == ["a.csv", "b.csv"]

    # every canonical column exists (phone, city ... are never mapped), then the kept extra columns
    cols = columns(warehouse, "legacy_crm")
    assert cols[: len(CANONICAL_FIELDS)] == list(CANONICAL_FIELDS)
    assert {"opt_out", "notes", "loyalty_tier", "_source_file", "_row_number", "_file_checksum", "_dlt_load_id"} <= set(
        cols
    )
    assert rows(
        warehouse,
        "select _source_file, _row_number, contact_id, first_name, last_name, email, date_of_birth, opt_out, notes, "
        "loyalty_tier, phone from raw_csv_contacts.legacy_crm order by _source_file, _row_number",
    ) == [
        ("a.csv", 1, "C1", "Ann", "Lee", "ann@example.com", "1980-01-02", "N", 'likes "quotes"', None, None),
        ("a.csv", 2, "C2", "Bob", "Stone", "bob@example.com", None, "Y", "multi\r\nline note", None, None),
        ("a.csv", 5, "C5", "Ed", "Last", "ed@example.com", None, "N", None, None, None),
        ("b.csv", 1, "C6", None, None, "fay@example.com", None, None, None, "gold", None),
        ("b.csv", 2, "C7", None, None, "  gus@example.com ", None, None, None, None, None),
    ]
    checksum = hashlib.sha256((drop / "a.csv").read_bytes()).hexdigest()
    assert rows(
        warehouse, "select distinct _file_checksum from raw_csv_contacts.legacy_crm where _source_file = 'a.csv'"
    ) == [(checksum,)]
    assert rows(
        warehouse,
        "select source_name, source_file, row_number, reason, raw_text from raw_csv_contacts.rejected_rows order by 3",
    ) == [
        (
            "legacy_crm",
            "a.csv",
            3,
            "missing columns: Expected Number of Columns: 7 Found: 6",
            "C3,Cy,Short,cy@example.com,1990-01-01,N",
        ),
        (
            "legacy_crm",
            "a.csv",
            4,
            "too many columns: Expected Number of Columns: 7 Found: 8",
            "C4,Di,Long,di@example.com,,N,note,EXTRA",
        ),
    ]
    assert rows(warehouse, "select count(*) from raw_csv_contacts.rejected_rows where rejected_at is null") == [(0,)]


def test_rerun_skips_unchanged_files_without_reading_them(
    drop: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(drop)
    loads = rows(warehouse, "select count(*) from raw_csv_contacts._dlt_loads")
    scanned: list[Path] = []
    original = file_loads.scan_file
    monkeypatch.setattr(file_loads, "scan_file", lambda p: scanned.append(p) or original(p))

    again = load(drop)

    assert again.skipped == "no new or changed CSV files"
    assert again.files_read == [] and again.files_unchanged == 2
    assert scanned == []
    assert rows(warehouse, "select count(*) from raw_csv_contacts.legacy_crm") == [(5,)]
    assert rows(warehouse, "select count(*) from raw_csv_contacts._dlt_loads") == loads


def test_changed_file_replaces_its_rows_and_rejects(drop: Path, warehouse: Path) -> None:
    load(drop)
    b_load = rows(
        warehouse, "select distinct _dlt_load_id from raw_csv_contacts.legacy_crm where _source_file = 'b.csv'"
    )
    # a re-export with fewer rows and nothing broken
    (drop / "a.csv").write_text(
        "Customer ID,First Name,Last Name,E-mail Address,Birth Date,Opt Out,Notes\nC1,Ann,Lee-Smith,,,,\n"
    )

    summary = load(drop)

    assert summary.files_read == ["a.csv"] and summary.files_unchanged == 1
    assert summary.rows_by_table == {"legacy_crm": 1, "rejected_rows": 0}
    assert rows(
        warehouse,
        "select contact_id, last_name, _row_number from raw_csv_contacts.legacy_crm where _source_file = 'a.csv'",
    ) == [("C1", "Lee-Smith", 1)]
    assert rows(warehouse, "select count(*) from raw_csv_contacts.rejected_rows") == [(0,)]
    assert (
        rows(warehouse, "select distinct _dlt_load_id from raw_csv_contacts.legacy_crm where _source_file = 'b.csv'")
        == b_load
    )

    # emptied down to its header: the file's rows are gone, not left stale
    (drop / "a.csv").write_text("Customer ID,First Name,Last Name,E-mail Address,Birth Date,Opt Out,Notes\n")
    assert load(drop).rows_by_table == {"legacy_crm": 0, "rejected_rows": 0}
    assert rows(warehouse, "select _source_file, count(*) from raw_csv_contacts.legacy_crm group by 1") == [
        ("b.csv", 2)
    ]


def test_two_drops_share_the_dataset(drop: Path, tmp_path: Path, warehouse: Path) -> None:
    signups = write_drop(
        tmp_path / "signup_forms",
        {"q1.csv": "submission_id,email_address,form_name\nS1,sue@example.com,spring\nS2,broken,row,here\n"},
        {"submission_id": "contact_id", "email_address": "email"},
    )
    load(drop)
    assert load(signups).rows_by_table == {"signup_forms": 1, "rejected_rows": 1}

    assert rows(warehouse, "select contact_id, email, form_name from raw_csv_contacts.signup_forms") == [
        ("S1", "sue@example.com", "spring")
    ]
    assert "loyalty_tier" not in columns(warehouse, "signup_forms")
    assert rows(warehouse, "select count(*) from raw_csv_contacts.legacy_crm") == [(5,)]
    assert rows(
        warehouse, "select source_name, source_file, row_number from raw_csv_contacts.rejected_rows order by 1, 3"
    ) == [("legacy_crm", "a.csv", 3), ("legacy_crm", "a.csv", 4), ("signup_forms", "q1.csv", 2)]

    # reloading one drop's file touches neither the other drop's rows nor its rejects
    (drop / "a.csv").write_text("Customer ID,E-mail Address,Birth Date,First Name,Last Name\nC1,a@b.c,,A,L\n")
    load(drop)
    assert rows(
        warehouse, "select source_name, source_file, row_number from raw_csv_contacts.rejected_rows order by 1, 3"
    ) == [("signup_forms", "q1.csv", 2)]
    assert rows(warehouse, "select count(*) from raw_csv_contacts.signup_forms") == [(1,)]
    # each drop keeps its own state: both reruns are no-ops
    assert load(drop).skipped and load(signups).skipped
    for name in ("legacy_crm", "signup_forms"):
        pipeline = make_csv_pipeline(name)
        pipeline.sync_destination()
        assert pipeline.dataset_name == "raw_csv_contacts"
        assert set(pipeline.state["sources"]) == {f"csv_contacts_{name}"}


def test_mapping_errors_list_every_problem(drop: Path, warehouse: Path) -> None:
    bad = drop / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "Customer ID": "contact_id",
                "E-mail Address": "email_address",
                "First Name": "name",
                "Last Name": "contact_id",
            }
        )
    )
    with pytest.raises(UserError) as error:
        load_csv_contacts(drop, bad, "legacy_crm")
    message = str(error.value)
    assert "unknown canonical fields ['email_address', 'name']" in message
    assert "contact_id <- 'Customer ID', 'Last Name'" in message

    bad.write_text(json.dumps({"Customer ID": "contact_id", "Email": "email", "Zip Code": "postal_code"}))
    with pytest.raises(UserError, match=r"mapped headers not found in any file: \['Email', 'Zip Code'\]"):
        load_csv_contacts(drop, bad, "legacy_crm")

    # an unmapped header that would land on a mapped column is ambiguous
    write_drop(drop, {"c.csv": "Customer ID,E-mail Address,Email\nC9,x@y.z,other@y.z\n"}, LEGACY_MAPPING)
    with pytest.raises(UserError, match=r"c.csv: headers \['E-mail Address', 'Email'\] all become column 'email'"):
        load(drop)
    with pytest.raises(UserError, match="mapping file not found"):
        load_csv_contacts(drop, drop / "missing.json", "legacy_crm")
    (drop / "broken.json").write_text("{not json")
    with pytest.raises(UserError, match="is not valid JSON"):
        load_csv_contacts(drop, drop / "broken.json", "legacy_crm")
    assert not warehouse.exists()


@pytest.mark.parametrize("name", ["Legacy CRM", "legacy-crm", "1crm", "", "hubspot", "segment", "rejected_rows"])
def test_source_name_is_validated(drop: Path, warehouse: Path, name: str) -> None:
    with pytest.raises(UserError, match="--source-name"):
        load(drop, name)


def test_folders_and_encodings(tmp_path: Path, warehouse: Path) -> None:
    with pytest.raises(UserError, match="CSV drop folder not found"):
        load(tmp_path / "nope")
    empty = write_drop(tmp_path / "empty_drop", {}, {"id": "contact_id"})
    assert load(empty).skipped == f"no CSV files in {empty.resolve()}"

    latin = write_drop(
        tmp_path / "latin_drop",
        {"ok.csv": "id,name\n1,Zoe\n", "latin.csv": "id,name\n1,Ren\xe9e\n".encode("latin-1")},
        {"id": "contact_id", "name": "first_name"},
    )
    with pytest.raises(UserError, match=r"not UTF-8.*latin\.csv \(byte 0xe9 at offset 13\)"):
        load(latin)
    assert rows(warehouse, "select count(*) from information_schema.tables where table_name = 'latin_drop'") == [(0,)]


def test_row_numbers_skip_blank_lines(tmp_path: Path, warehouse: Path) -> None:
    folder = write_drop(
        tmp_path / "gaps",
        {"g.csv": 'id,name\n1,a\n\n2,b\n3,c,extra\n\n\n4,"two\n\nparagraphs"\n5,e\n\n'},
        {"id": "contact_id"},
    )
    load(folder)
    assert rows(warehouse, "select contact_id, _row_number, name from raw_csv_contacts.gaps order by 2") == [
        ("1", 1, "a"),
        ("2", 2, "b"),
        ("4", 4, "two\n\nparagraphs"),
        ("5", 5, "e"),
    ]
    assert rows(warehouse, "select row_number, raw_text from raw_csv_contacts.rejected_rows") == [(3, "3,c,extra")]


def test_empty_extra_fields_are_rejected(tmp_path: Path, warehouse: Path) -> None:
    """DuckDB's reader, even in strict mode, loads ``5,6,7,`` under a 3-field header as a good row (it
    drops empty trailing fields): the loader must reject it like any row of the wrong length."""
    folder = write_drop(
        tmp_path / "trailing",
        {
            # BOM, CRLF, a quoted multi-line value and a blank line before the broken rows shift the numbers
            "t.csv": "\ufeffid,name,note\r\n"
            '1,"Ann\r\nLee",x\r\n'
            "\r\n"
            "2,Bob,\r\n"  # an empty last field: a good row
            "3,Cy,,\r\n"  # one extra, empty field
            "4,Di,note,\r\n"
            '5,"Ed, Jr","",""\r\n'  # a quoted delimiter in a field, a quoted empty extra field
            "6,Fay,,,,\r\n"  # three extra, empty fields
            "7,Gus,note,EXTRA\r\n"  # caught by DuckDB already
            "8,Hal\r\n"  # too short
            '9,"Ivy",""\r\n'  # a quoted empty last field: a good row
            "10,Jo,last,",  # no line break at the end
            "ok.csv": "id,name,note\n1,a,\n2,b,\n",  # every row ends with an empty field: none rejected
        },
        {"id": "contact_id"},
    )

    summary = load(folder)

    assert summary.rows_by_table == {"trailing": 5, "rejected_rows": 7}
    assert rows(
        warehouse,
        "select _source_file, _row_number, contact_id, name, note from raw_csv_contacts.trailing order by 1, 2",
    ) == [
        ("ok.csv", 1, "1", "a", None),
        ("ok.csv", 2, "2", "b", None),
        ("t.csv", 1, "1", "Ann\r\nLee", "x"),
        ("t.csv", 2, "2", "Bob", None),
        ("t.csv", 9, "9", "Ivy", None),
    ]
    expected = "too many columns: Expected Number of Columns: 3 Found: {}"
    assert rows(
        warehouse, "select source_file, row_number, raw_text, reason from raw_csv_contacts.rejected_rows order by 2"
    ) == [
        ("t.csv", 3, "3,Cy,,", expected.format(4)),
        ("t.csv", 4, "4,Di,note,", expected.format(4)),
        ("t.csv", 5, '5,"Ed, Jr","",""', expected.format(4)),
        ("t.csv", 6, "6,Fay,,,,", expected.format(6)),
        ("t.csv", 7, "7,Gus,note,EXTRA", expected.format(4)),
        ("t.csv", 8, "8,Hal", "missing columns: Expected Number of Columns: 3 Found: 2"),
        ("t.csv", 10, "10,Jo,last,", expected.format(4)),
    ]


def test_every_row_is_loaded_or_rejected_as_written(tmp_path: Path, warehouse: Path) -> None:
    """Random rows of known length and content (quoted delimiters, doubled quotes, quoted newlines,
    empty and quoted-empty fields, blank lines, LF and CRLF): the rows of the header's length load with
    their values and the 1-based data row number; every other row is rejected with its exact text."""
    pieces = [("", None), ("x", "x"), ('""', None), ('"a,b"', "a,b"), (" y ", " y "), ('"q""r"', 'q"r')]
    pieces += [('"m\nl"', "m\nl"), ('"m\r\nl"', "m\r\nl"), ("é", "é")]
    rnd = random.Random(11)
    files: dict[str, str] = {}
    expected_rows: list[tuple[Any, ...]] = []
    expected_rejects: list[tuple[Any, ...]] = []
    for name, newline in (("lf.csv", "\n"), ("crlf.csv", "\r\n")):
        lines, row = ["a,b,c"], 0
        for _ in range(400):
            if rnd.random() < 0.03:
                lines.append("")  # a blank line is not a row
                continue
            width = rnd.choice([3] * 6 + [1, 2, 4, 5])
            chosen = [rnd.choice(pieces) for _ in range(width)]
            if width > 3 and rnd.random() < 0.6:  # most long rows: only empty extra fields
                chosen[3:] = [rnd.choice(pieces[:3:2]) for _ in chosen[3:]]
            if width == 1 and chosen[0][1] is None:
                chosen[0] = pieces[1]  # a row of one empty field would be a blank line
            text, row = ",".join(piece for piece, _ in chosen), row + 1
            lines.append(text)
            if width == 3:
                expected_rows.append((name, row, *(value for _, value in chosen)))
            else:
                expected_rejects.append((name, row, text))
        files[name] = newline.join(lines) + newline
    folder = write_drop(tmp_path / "random", files, {"a": "contact_id"})

    summary = load(folder)

    assert summary.rows_by_table == {"random": len(expected_rows), "rejected_rows": len(expected_rejects)}
    assert any(text.endswith(",") for _, _, text in expected_rejects)  # the case DuckDB alone gets wrong
    assert rows(
        warehouse, "select _source_file, _row_number, contact_id, b, c from raw_csv_contacts.random order by 1, 2"
    ) == sorted(expected_rows)
    assert rows(
        warehouse, "select source_file, row_number, raw_text from raw_csv_contacts.rejected_rows order by 1, 2"
    ) == sorted(expected_rejects)


def test_row_numbering_around_many_rejects() -> None:
    # records: header=1, then rows; DuckDB reports rejects by record number, blank lines included
    numbers, rejected = _row_numbers(good_rows=5, rejected_lines=[2, 5, 9], blanks=[4])
    assert rejected == [1, 3, 7]
    assert numbers.tolist() == [2, 4, 5, 6, 8]
    # a large file: the numbering stays linear in the rows, not rows x rejects
    numbers, rejected = _row_numbers(1_000_000, list(range(3, 400_003, 2)), [])
    assert len(numbers) == 1_000_000 and numbers[0] == 1 and numbers[1] == 3 and numbers[-1] == 1_200_000
    assert rejected[:2] == [2, 4]


def test_changed_mapping_reloads_every_file(drop: Path, warehouse: Path) -> None:
    load(drop)
    remapped = {k: v for k, v in LEGACY_MAPPING.items() if k != "Birth Date"}
    (drop / "mapping.json").write_text(json.dumps(remapped))

    summary = load(drop)

    assert summary.files_read == ["a.csv", "b.csv"]
    assert rows(
        warehouse, "select count(*), count(date_of_birth), count(birth_date) from raw_csv_contacts.legacy_crm"
    ) == [(5, 0, 1)]


def test_locked_warehouse_is_a_user_error(
    drop: Path, warehouse: Path, write_lock_held: Callable[[Path], AbstractContextManager[None]]
) -> None:
    with write_lock_held(warehouse), pytest.raises(UserError, match="is locked by another process"):
        load(drop)


def test_failure_mid_load_changes_nothing(drop: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load(drop)
    before = rows(warehouse, "select * from raw_csv_contacts.legacy_crm order by _source_file, _row_number")
    (drop / "c.csv").write_text("Customer ID,E-mail Address,Birth Date,First Name,Last Name\nC8,h@x.y,,H,X\n")
    (drop / "b.csv").write_text("E-mail Address;Customer ID\nnew@example.com;C6\n")

    def explode(text: str) -> None:
        if text.endswith("rejected"):  # said after each file was handed to dlt
            raise RuntimeError("power cut")

    with monkeypatch.context() as patch:
        patch.setattr(csv_contacts, "progress", explode)
        with pytest.raises(UserError, match=r"failed at the extract step.*power cut"):
            load(drop)

    assert rows(warehouse, "select * from raw_csv_contacts.legacy_crm order by _source_file, _row_number") == before
    summary = load(drop)
    assert summary.files_read == ["b.csv", "c.csv"]
    assert rows(warehouse, "select contact_id from raw_csv_contacts.legacy_crm order by 1") == [
        ("C1",),
        ("C2",),
        ("C5",),
        ("C6",),
        ("C8",),
    ]


def check_generated_drops(data: Path, warehouse: Path) -> list[dict[str, str]]:
    """Every data row of the generated drops is either in its table or rejected, and the rejects are
    exactly the generator's planted ``broken_csv_row`` defects (same file:row, same raw text).
    Returns the planted broken rows."""
    with (data / "truth" / "planted_defects.csv").open(newline="", encoding="utf-8") as handle:
        defects = [d for d in csv.DictReader(handle) if d["rule"] == "broken_csv_row"]
    for folder in sorted((data / "csv_contacts").iterdir()):
        data_rows = 0
        for path in folder.glob("*.csv"):
            with path.open(newline="", encoding="utf-8-sig") as handle:
                data_rows += sum(1 for record in csv.reader(handle) if record) - 1
        summary = load(folder)
        assert summary.rows_by_table[folder.name] + summary.rejected == data_rows
        planted = {(d["record_key"], d["offending_value"]) for d in defects if d["source_system"] == folder.name}
        assert planted, f"the generator plants broken rows in {folder.name}"
        got = rows(
            warehouse,
            "select source_file || ':' || row_number, raw_text from raw_csv_contacts.rejected_rows "
            "where source_name = ?",
            folder.name,
        )
        assert sorted(got) == sorted(planted)
        assert rows(warehouse, f"select count(*) from raw_csv_contacts.{folder.name}") == [
            (summary.rows_by_table[folder.name],)
        ]
        # a row with a missing key is data for dbt's tests to flag, not a broken row
        for d in defects_of(data, folder.name, "missing_required_key"):
            source_file, row_number = d["record_key"].rsplit(":", 1)
            assert rows(
                warehouse,
                f"select contact_id from raw_csv_contacts.{folder.name} where _source_file = ? and _row_number = ?",
                source_file,
                int(row_number),
            ) == [(None,)]
    return defects


def test_generated_drops(demo_data: Path, warehouse: Path) -> None:
    check_generated_drops(demo_data, warehouse)


def test_generated_drops_at_3000_people(tmp_path: Path, warehouse: Path) -> None:
    """At 3,000 people the generator plants broken rows that are a copy with one unquoted comma and an
    empty last field (``...,Smith, Jr,...,``): one field too many, the extra one empty, which DuckDB's
    reader alone would load as a good row."""
    from ingestion.demo_kit.generate import generate

    data = tmp_path / "demo"
    # the demo fixture's seed and date; no events, which this loader does not read (generation < 1 s)
    generate(data, customers=3_000, seed=7, as_of=date(2026, 11, 1), progress=False, segment_events=False)

    defects = check_generated_drops(data, warehouse)

    trailing = [d for d in defects if d["offending_value"].endswith(",")]
    assert trailing, "the seed plants at least one broken row ending in an empty extra field"
    for d in trailing:
        source_file, row_number = d["record_key"].rsplit(":", 1)
        with (data / "csv_contacts" / d["source_system"] / source_file).open(encoding="utf-8-sig") as handle:
            width = len(next(csv.reader(handle)))
        assert rows(
            warehouse,
            "select reason from raw_csv_contacts.rejected_rows where source_name = ? and source_file = ? "
            "and row_number = ?",
            d["source_system"],
            source_file,
            int(row_number),
        ) == [(f"too many columns: Expected Number of Columns: {width} Found: {width + 1}",)]


def defects_of(demo_data: Path, source_system: str, rule: str) -> list[dict[str, str]]:
    with (demo_data / "truth" / "planted_defects.csv").open(newline="", encoding="utf-8") as handle:
        return [d for d in csv.DictReader(handle) if d["source_system"] == source_system and d["rule"] == rule]


def test_mapping_without_a_record_key_is_refused(drop: Path, warehouse: Path) -> None:
    """Issue 10 point 5: a mapping that names no record key used to load rows with no key."""
    keyless = drop / "keyless.json"
    keyless.write_text(json.dumps({k: v for k, v in LEGACY_MAPPING.items() if v != "contact_id"}))
    with pytest.raises(UserError, match=r'no record key: map the column that identifies a contact to "contact_id"'):
        load_csv_contacts(drop, keyless, "legacy_crm")
    for bad, message in (
        ({**LEGACY_MAPPING, "$record_key": "row_hash"}, "both a header mapped to contact_id"),
        ({"E-mail Address": "email", "$record_key": "Customer ID"}, '"$record_key" must be "row_hash"'),
    ):
        keyless.write_text(json.dumps(bad))
        with pytest.raises(UserError, match=re.escape(message)):
            load_csv_contacts(drop, keyless, "legacy_crm")
    assert not warehouse.exists()

    # the same through the CLI: one line, exit 2, nothing loaded
    from test_cli import assert_user_error, run_cli

    keyless.write_text(json.dumps({"E-mail Address": "email"}))
    result = run_cli("load", "csv_contacts", "--path", str(drop), "--mapping", str(keyless), "--source-name", "crm")
    assert_user_error(result, "no record key", '"$record_key": "row_hash"')
    assert not warehouse.exists()


def test_row_content_key_when_asked_for(tmp_path: Path, warehouse: Path) -> None:
    """``"$record_key": "row_hash"``: each row is keyed by its values (by column name, whatever the column
    order), so an identical row in another export is the same record and a changed row a new one."""
    mapping = {"$record_key": "row_hash", "E-mail Address": "email", "Surname": "last_name"}
    folder = write_drop(
        tmp_path / "no_ids",
        {
            "a.csv": "E-mail Address,Surname,Note\nann@example.com,Lee,\nbob@example.com,Stone,vip\n",
            # the same two people, columns reordered, Bob's note changed
            "b.csv": "Note,Surname,E-mail Address\n,Lee,ann@example.com\nregular,Stone,bob@example.com\n",
        },
        mapping,
    )
    load(folder)
    got = rows(warehouse, "select _source_file, email, contact_id from raw_csv_contacts.no_ids order by 1, 2")
    assert all(key.startswith("row:") and len(key) == 36 for _, _, key in got)
    keys = {(file, email): key for file, email, key in got}
    assert keys[("a.csv", "ann@example.com")] == keys[("b.csv", "ann@example.com")]
    assert keys[("a.csv", "bob@example.com")] != keys[("b.csv", "bob@example.com")]
    assert len({key for _, _, key in got}) == 3

    # an unmapped header that would become contact_id cannot coexist with the computed key
    write_drop(folder, {"c.csv": "E-mail Address,Contact ID\ncy@example.com,9\n"}, mapping)
    with pytest.raises(UserError, match="would overwrite the row-content key 'contact_id'"):
        load(folder)


def test_one_header_feeds_several_fields(tmp_path: Path, warehouse: Path) -> None:
    """A form's submission time is its updated_at, its created_at and the time its opt-in was given."""
    mapping: dict[str, Any] = {
        "id": "contact_id",
        "submitted": ["updated_at", "created_at", "email_consent_updated_at"],
        "opt_in": "email_consent",
    }
    folder = write_drop(tmp_path / "forms", {"q1.csv": "id,submitted,opt_in\ns1,2025-01-02T03:04:05Z,yes\n"}, mapping)
    load(folder)
    assert rows(
        warehouse,
        "select contact_id, updated_at, created_at, email_consent_updated_at, email_consent "
        "from raw_csv_contacts.forms",
    ) == [("s1", "2025-01-02T03:04:05Z", "2025-01-02T03:04:05Z", "2025-01-02T03:04:05Z", "yes")]

    # a field may still come from one header only, list or not
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"id": "contact_id", "submitted": ["updated_at", "created_at"], "opt_in": "created_at"}))
    with pytest.raises(UserError, match=r"created_at <- 'submitted', 'opt_in'"):
        load_csv_contacts(folder, bad, "forms")
    bad.write_text(json.dumps({"id": "contact_id", "submitted": []}))
    with pytest.raises(UserError, match="must be one JSON object"):
        load_csv_contacts(folder, bad, "forms")


def test_rejects_stay_with_their_file_when_files_share_one_reader(tmp_path: Path, warehouse: Path) -> None:
    """The load reads every file with one in-memory DuckDB, whose reject log would carry one file's broken
    rows into the next file's rejects if it were not cleared between files."""
    header = "Customer ID,E-mail Address\n"
    folder = write_drop(
        tmp_path / "crm",
        {
            "a.csv": header + "C1,a@example.com\nC2,b@example.com,EXTRA\nC3,c@example.com\n",
            "b.csv": header + "C4,d@example.com\n",
            "c.csv": header + "C5\nC6,f@example.com\nC7,g@example.com,X,Y\n",
        },
        {"Customer ID": "contact_id", "E-mail Address": "email"},
    )
    summary = load(folder)
    assert summary.rows_by_table == {"crm": 4, "rejected_rows": 3}
    assert rows(warehouse, "select source_file, row_number from raw_csv_contacts.rejected_rows order by 1, 2") == [
        ("a.csv", 2),
        ("c.csv", 1),
        ("c.csv", 3),
    ]
    assert rows(warehouse, "select _source_file, _row_number, contact_id from raw_csv_contacts.crm order by 3") == [
        ("a.csv", 1, "C1"),
        ("a.csv", 3, "C3"),
        ("b.csv", 1, "C4"),
        ("c.csv", 2, "C6"),
    ]


def test_load_files_are_cut_in_duckdb_row_groups(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dlt's parquet load file holds the rows in row groups of exactly DuckDB's size (the last one shorter),
    whatever the files' own sizes: the layout that lets the warehouse write them once (file_loads)."""
    size = file_loads.DUCKDB_ROW_GROUP_ROWS
    header = "Customer ID,E-mail Address\n"
    first, second = size - 1_000, 1_005  # neither file is a row group by itself
    folder = write_drop(
        tmp_path / "crm",
        {
            "a.csv": header + "".join(f"A{i},a{i}@example.com\n" for i in range(first)),
            "b.csv": header + "".join(f"B{i},b{i}@example.com\n" for i in range(second)),
        },
        {"Customer ID": "contact_id", "E-mail Address": "email"},
    )
    monkeypatch.setenv("LOAD__DELETE_COMPLETED_JOBS", "false")  # keep the load files to look at them

    load(folder)

    (job,) = (warehouse.parent / "dlt_pipelines").rglob("completed_jobs/crm.*.parquet")
    meta = pq.ParquetFile(job).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [size, first + second - size]
    assert rows(warehouse, "select count(*) from raw_csv_contacts.crm") == [(first + second,)]


def stored_write_dispositions(path: Path, drop_name: str) -> dict[str, str]:
    """How the drop's last load wrote its two tables, as its stored dlt schema says."""
    ((text,),) = rows(
        path,
        "select schema from raw_csv_contacts._dlt_version where schema_name = ? order by inserted_at desc limit 1",
        f"csv_contacts_{drop_name}",
    )
    tables = json.loads(text)["tables"]
    return {name: tables[name]["write_disposition"] for name in (drop_name, "rejected_rows")}


def staging_copies(path: Path) -> int:
    """Tables in dlt's staging dataset: a merge copies the load there first, an append does not."""
    return int(
        rows(path, "select count(*) from information_schema.tables where table_schema = 'raw_csv_contacts_staging'")[0][
            0
        ]
    )


def test_files_the_warehouse_holds_no_rows_of_are_appended(tmp_path: Path, warehouse: Path) -> None:
    """A table that holds no row of the files a load reads gets their rows appended (dlt's merge would copy them
    into a staging table and then delete nothing); a table that holds some (a changed file) merges, so the
    file's old rows and rejects are replaced. Each table is asked for itself, and for this drop only."""
    crm = write_drop(tmp_path / "crm", {"a.csv": EXPORT_A}, LEGACY_MAPPING)
    load(crm)
    assert stored_write_dispositions(warehouse, "crm") == {"crm": "append", "rejected_rows": "append"}
    assert staging_copies(warehouse) == 0
    assert rows(warehouse, "select count(*) from raw_csv_contacts.crm") == [(3,)]

    # a new file, and a second drop whose file has the same name: nothing of either is stored yet
    (crm / "b.csv").write_text(EXPORT_B)
    assert load(crm).files_read == ["b.csv"]
    forms = write_drop(tmp_path / "forms", {"a.csv": "id,email\nF1,f@example.com\nF2,x,y\n"}, {"id": "contact_id"})
    load(forms)
    assert stored_write_dispositions(warehouse, "forms") == {"forms": "append", "rejected_rows": "append"}
    assert staging_copies(warehouse) == 0

    # a changed file has rows stored: merged, its old rows and rejects replaced, the rest untouched
    (crm / "a.csv").write_text("Customer ID,First Name,Last Name,E-mail Address,Birth Date\nC1,Ann,Lee,,\n")
    assert load(crm).files_read == ["a.csv"]
    assert stored_write_dispositions(warehouse, "crm") == {"crm": "merge", "rejected_rows": "merge"}
    assert rows(warehouse, "select _source_file, contact_id from raw_csv_contacts.crm order by 2") == [
        ("a.csv", "C1"),
        ("b.csv", "C6"),
        ("b.csv", "C7"),
    ]
    assert rows(
        warehouse, "select source_name, source_file, row_number from raw_csv_contacts.rejected_rows order by 1"
    ) == [("forms", "a.csv", 2)]

    # a file whose rows were all rejected has rows in rejected_rows only: its reload merges that table
    (crm / "c.csv").write_text("Customer ID,E-mail Address\nX1,a,b\n")
    load(crm)
    (crm / "c.csv").write_text("Customer ID,E-mail Address\nX1,x@example.com\n")
    load(crm)
    assert stored_write_dispositions(warehouse, "crm") == {"crm": "append", "rejected_rows": "merge"}
    assert rows(warehouse, "select count(*) from raw_csv_contacts.rejected_rows where source_name = 'crm'") == [(0,)]
    assert rows(warehouse, "select contact_id from raw_csv_contacts.crm where _source_file = 'c.csv'") == [("X1",)]
    assert load(crm).skipped and load(forms).skipped


@pytest.mark.parametrize(
    "setting", ["DATA_WRITER__FILE_MAX_ITEMS", "SOURCES__CSV_CONTACTS__DATA_WRITER__FILE_MAX_ITEMS"]
)
def test_rows_split_into_files_are_merged_not_appended(
    setting: str, tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where dlt is set to split a table into files, an append would be one INSERT per file, not all or nothing:
    the extract is turned down and the rows are merged, each once, with the state committed."""
    for module in (csv_contacts, file_loads):  # 50 rows: five items of ten
        monkeypatch.setattr(module, "DUCKDB_ROW_GROUP_ROWS", 10, raising=False)
    monkeypatch.setenv(setting, "20")
    folder = write_drop(
        tmp_path / "crm",
        {"a.csv": "id,email\n" + "".join(f"C{i},c{i}@example.com\n" for i in range(50))},
        {"id": "contact_id"},
    )
    summary = load(folder)
    assert stored_write_dispositions(warehouse, "crm")["crm"] == "merge"
    assert summary.rows_by_table == {"crm": 50, "rejected_rows": 0}
    assert rows(warehouse, "select count(*), count(distinct contact_id) from raw_csv_contacts.crm") == [(50, 50)]
    assert rows(warehouse, "select count(*) from raw_csv_contacts._dlt_loads") == [(1,)]
    assert load(folder).skipped  # the state moved on with the merge
