"""Breaks a hostile tester found in the second round (erasure, sync, CSV drops): each test failed before its fix.

Lean: an empty DuckDB file, no demo, no dbt.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb
import pytest

from ingestion import settings
from ingestion.errors import UserError
from ingestion.privacy import identifiers
from ingestion.privacy.erasure import apply_pending, record_requests

SALT = "hostile-salt-0123456789abcdef"


@pytest.fixture
def empty_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PRIVACY__ERASURE_SALT", SALT)
    monkeypatch.chdir(tmp_path)  # any default folder (pipelines, logs) the apply touches stays in tmp
    path = tmp_path / "warehouse.duckdb"
    # a fixed build would go on to touch the warehouse and dlt's folder: keep both in tmp
    monkeypatch.setenv(settings.DUCKDB_PATH_ENV, str(path))
    monkeypatch.setenv(settings.PIPELINES_DIR_ENV, str(tmp_path / "pipelines"))
    duckdb.connect(str(path)).close()
    return path


# H1: executemany with an empty list raises InvalidInputException (a traceback),
# and since `customer360 build` runs apply_pending first, every later build fails the same way.
def test_a_request_that_matches_nobody_is_applied_not_a_crash(empty_warehouse: Path) -> None:
    record_requests([identifiers.from_cli("nobody.here@example.com", None, "hostile")], empty_warehouse)
    apply_pending(empty_warehouse)
    with duckdb.connect(str(empty_warehouse)) as con:
        statuses = con.execute("select status from privacy.erasure_requests").fetchall()
    assert statuses == [("applied",)]


# H1: the same person asked twice (common: a form and an email) crashes every build.
def test_a_repeated_request_is_applied_not_a_crash(empty_warehouse: Path) -> None:
    record_requests([identifiers.from_cli("twice@example.com", None, "hostile")], empty_warehouse)
    apply_pending(empty_warehouse)
    record_requests([identifiers.from_cli("TWICE@example.com ", None, "hostile again")], empty_warehouse)
    apply_pending(empty_warehouse)


# H8: the sync's warehouse connection never gets the session salt, so once any erasure
# exists `marts.email_audience` fails closed and `customer360 sync` dies with a traceback.
def test_the_sync_connection_carries_the_erasure_salt(empty_warehouse: Path) -> None:
    from ingestion.activation import sync as sync_module

    con = sync_module.connect(empty_warehouse)
    try:
        value = con.execute("select getvariable('customer360_erasure_salt')").fetchall()[0][0]
    finally:
        con.close()
    assert value == SALT


# H9: a blank header cell (an Excel export's trailing comma) crashes the loader with a bare
# `ValueError` traceback from dlt's naming convention; the code means to name it `column_<n>`.
@pytest.mark.parametrize("blank", ["", "  ", '""'])
def test_a_blank_header_is_a_named_column_or_one_clear_error(empty_warehouse: Path, blank: str) -> None:
    from ingestion.sources.csv_contacts import load_csv_contacts

    drop = empty_warehouse.parent / "drop"
    drop.mkdir()
    (drop / "d.csv").write_text(f"id,Email,{blank}\n1,a1@example.com,x\n", encoding="utf-8")
    mapping = empty_warehouse.parent / "mapping.json"
    mapping.write_text('{"id": "contact_id", "Email": "email"}', encoding="utf-8")
    with contextlib.suppress(UserError):  # one clear line is acceptable too
        load_csv_contacts(drop, mapping, "blank_header")


# H0: an erasure removes the person's row from the sync state too, so the sync forgot it had sent them and never
# archived them: every member this project tagged that the platform still holds as subscribed, and the audience
# does not want, is archived.
def test_a_subscribed_member_the_state_forgot_is_archived() -> None:
    from ingestion.activation.sync import diff_members

    changes, unchanged = diff_members([], {}, platform_subscribed=["a" * 32])
    assert [(c.kind, c.subscriber_hash) for c in changes] == [("archived", "a" * 32)]
    assert unchanged == 0


# H2: the suppression guard's list of drop tables is fixed when dbt builds it, so a drop loaded after the last
# build had its opt-outs ignored by the next sync: the sync now stops with one line until the next build.
def test_sync_stops_when_a_drop_was_loaded_after_the_last_build(empty_warehouse: Path) -> None:
    from ingestion.activation.sync import require_guard_covers_every_drop

    with duckdb.connect(str(empty_warehouse)) as con:
        con.execute("create schema raw_csv_contacts")
        for table in ("legacy_crm", "rejected_rows", "_dlt_loads"):
            con.execute(f"create table raw_csv_contacts.{table} (email varchar)")
        con.execute("create schema intermediate")
        con.execute(
            "create view intermediate.int_engagement__suppression_evidence as "
            "select email from raw_csv_contacts.legacy_crm"
        )
        require_guard_covers_every_drop(con)  # every drop is in the guard: no error
        con.execute("create table raw_csv_contacts.new_drop (email varchar)")
        with pytest.raises(UserError, match=r"new_drop loaded after the last build"):
            require_guard_covers_every_drop(con)


# Review: a member whose last_changed (part of the merge key) was blank or garbled was written with a null key,
# which fails the whole feedback load; it is now dated by the load and its text kept.
@pytest.mark.parametrize("changed", [None, "", "garbage", "2025-13-45T99:00:00Z"])
def test_a_feedback_row_with_an_unreadable_last_changed_is_kept_and_dated_by_the_load(changed: str | None) -> None:
    from datetime import UTC, datetime

    from ingestion.sources.mailchimp import _row

    loaded_at = datetime(2026, 12, 4, tzinfo=UTC)
    row = _row({"id": "a" * 32, "email_address": "x@example.com", "status": "unsubscribed", "last_changed": changed},
               loaded_at)  # fmt: skip
    assert row["last_changed"] == loaded_at
    assert row["last_changed_raw"] == str(changed)
    assert row["status"] == "unsubscribed"
    good = _row({"id": "b" * 32, "last_changed": "2025-01-02T03:04:05+00:00"}, loaded_at)
    assert good["last_changed"] == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC) and good["last_changed_raw"] is None
