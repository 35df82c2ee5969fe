"""Erasure requests as people and vendors send them: parsed, normalized, stored as salted hashes only."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from ingestion.cli import main
from ingestion.errors import UserError
from ingestion.privacy import identifiers
from ingestion.privacy.erasure import apply_pending

SALT = "another-test-salt-not-a-secret"


def test_hubspot_gdpr_delete_bodies_and_privacy_deletion_events(tmp_path: Path) -> None:
    (tmp_path / "by_email.json").write_text(json.dumps({"objectId": " Ann@Example.COM ", "idProperty": "email"}))
    (tmp_path / "by_id.json").write_text(json.dumps({"objectId": "1001"}))
    (tmp_path / "events.json").write_text(json.dumps([
        {"objectId": 1002, "subscriptionType": "contact.privacyDeletion", "portalId": 7, "occurredAt": 1},
    ]))  # fmt: skip
    requests = identifiers.from_hubspot(tmp_path, "ticket 1")
    assert [(r.channel, r.identifiers) for r in requests] == [
        ("hubspot_gdpr_delete", [("email", "ann@example.com")]),
        ("hubspot_gdpr_delete", [("record", "hubspot|1001")]),
        ("hubspot_privacy_deletion", [("record", "hubspot|1002")]),
    ]
    (tmp_path / "other.json").write_text(json.dumps([{"objectId": 1, "subscriptionType": "contact.creation"}]))
    with pytest.raises(UserError, match="not a privacy deletion"):
        identifiers.from_hubspot(tmp_path / "other.json", "x")


def test_shopify_customers_redact_payloads_and_stored_deliveries(tmp_path: Path) -> None:
    payload = {"shop_id": 1, "shop_domain": "s.myshopify.com", "customer": {"id": 71, "email": "B@x.org",
               "phone": "+1 (415) 555-0100"}, "orders_to_redact": [52, 53]}  # fmt: skip
    (tmp_path / "a.json").write_text(json.dumps(payload))
    (tmp_path / "b.json").write_text(json.dumps({"topic": "customers/redact", "payload": {"customer": {"id": 72}}}))
    requests = identifiers.from_shopify(tmp_path, "redact")
    assert requests[0].identifiers == [
        ("record", "shopify|customer:71"), ("email", "b@x.org"), ("phone", "+14155550100"),
        ("record", "shopify|order:52"), ("record", "shopify|order:53"),
    ]  # fmt: skip
    assert requests[1].identifiers == [("record", "shopify|customer:72")]
    (tmp_path / "c.json").write_text(json.dumps({"topic": "customers/delete", "payload": {"id": 1}}))
    with pytest.raises(UserError, match="not customers/redact"):
        identifiers.from_shopify(tmp_path / "c.json", "x")


def test_a_request_file_is_all_or_nothing(tmp_path: Path) -> None:
    good = tmp_path / "requests.csv"
    good.write_text("email,phone,reason\na@x.org,,ticket 1\n,+44 20 7946 0000,\n")
    requests = identifiers.from_csv(good, "default reason")
    assert [(r.identifiers, r.reason) for r in requests] == [
        ([("email", "a@x.org")], "ticket 1"), ([("phone", "+442079460000")], "default reason"),
    ]  # fmt: skip
    bad = tmp_path / "bad.csv"
    bad.write_text("email,phone\na@x.org,\nnot-an-address,\n")
    with pytest.raises(UserError, match=r"bad.csv, line 3: not an email address: no… \(14 characters\)"):
        identifiers.from_csv(bad, "x")
    national = tmp_path / "national.csv"
    national.write_text("email,phone\n,020 7946 0000\n")
    with pytest.raises(UserError, match="international form"):
        identifiers.from_csv(national, "x")


def test_only_salted_hashes_are_stored_and_the_salt_is_required(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PRIVACY__ERASURE_SALT", raising=False)
    assert main(["erase", "--email", "carol@example.org"]) == 2
    assert "PRIVACY__ERASURE_SALT" in capsys.readouterr().err
    assert apply_pending(warehouse) is None  # never asked to erase anyone: no salt needed to build
    monkeypatch.setenv("PRIVACY__ERASURE_SALT", "short")
    assert main(["erase", "--email", "carol@example.org"]) == 2
    monkeypatch.setenv("PRIVACY__ERASURE_SALT", SALT)
    assert main(["erase", "--email", " Carol@Example.org", "--phone", "+1 415 555 0100", "--reason", "art. 17"]) == 0
    con = duckdb.connect(str(warehouse))
    try:
        dump = " ".join(
            str(value)
            for table in ("erasure_requests", "erased_identifiers")
            for row in con.execute(f"select * from privacy.{table}").fetchall()
            for value in row
        )
        hashes = {row[0] for row in con.execute("select identifier_hash from privacy.erased_identifiers").fetchall()}
    finally:
        con.close()
    assert "carol" not in dump.lower() and "4155550100" not in dump
    assert "art. 17" in dump and "pending" in dump
    assert hashes == {
        identifiers.identifier_hash(SALT, "email", "carol@example.org"),
        identifiers.identifier_hash(SALT, "phone", "+14155550100"),
    }
    monkeypatch.delenv("PRIVACY__ERASURE_SALT")
    with pytest.raises(UserError, match="PRIVACY__ERASURE_SALT"):
        apply_pending(warehouse)  # requests exist: a build without the salt fails closed


def _scalar(warehouse: Path, sql: str) -> object:
    con = duckdb.connect(str(warehouse))
    try:
        return con.execute(sql).fetchall()[0][0]
    finally:
        con.close()


def _identify_events(folder: Path, email: str) -> Path:
    """A Segment events folder holding one identify call that carries ``email``."""
    events = folder / "segment" / "2026-01-01" / "events-0000.jsonl"
    events.parent.mkdir(parents=True)
    message = {"messageId": "m1", "type": "identify", "userId": "7", "traits": {"email": email},
               "timestamp": "2026-01-01T10:00:00Z", "receivedAt": "2026-01-01T10:00:01Z"}  # fmt: skip
    events.write_text(json.dumps(message) + "\n")
    return events.parents[1]


def test_a_load_into_a_warehouse_with_erasure_requests_needs_the_salt_first(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the salt, the records of an erased person that come back could not be removed after the load:
    the load is refused before it fetches anything (it used to commit them, then fail on the missing salt)."""
    events = _identify_events(tmp_path, "carol@example.org")
    monkeypatch.setenv("PRIVACY__ERASURE_SALT", SALT)
    assert main(["erase", "--email", "carol@example.org", "--reason", "art. 17"]) == 0
    capsys.readouterr()

    monkeypatch.delenv("PRIVACY__ERASURE_SALT")
    assert main(["load", "segment", "--path", str(events)]) == 2
    err = capsys.readouterr().err
    assert "PRIVACY__ERASURE_SALT" in err and "nothing was loaded" in err and "Traceback" not in err
    landed = "select count(*) from information_schema.tables where table_schema = 'raw_segment'"
    assert _scalar(warehouse, landed) == 0

    monkeypatch.setenv("PRIVACY__ERASURE_SALT", SALT)
    assert main(["load", "segment", "--path", str(events)]) == 0
    # with the salt it loads, and the returning record is removed at once
    assert _scalar(warehouse, "select count(*) from raw_segment.events") == 0


def test_the_sync_feedback_load_needs_the_salt_first_too(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`customer360 sync` loads Mailchimp feedback itself (not through `customer360 load`): the loader's own
    check refuses it too, before it fetches a member (the hostile review found the sync path loading them)."""
    from ingestion.demo_kit.servers.mailchimp import MailchimpServer, mailchimp_environment, new_api_key

    monkeypatch.setenv("PRIVACY__ERASURE_SALT", SALT)
    assert main(["erase", "--email", "carol@example.org", "--reason", "art. 17"]) == 0
    monkeypatch.delenv("PRIVACY__ERASURE_SALT")
    capsys.readouterr()
    with MailchimpServer(new_api_key()) as server:
        for name, value in mailchimp_environment(server).items():
            monkeypatch.setenv(name, value)
        assert main(["sync"]) == 2
    err = capsys.readouterr().err
    assert "PRIVACY__ERASURE_SALT" in err and "nothing was loaded" in err and "Traceback" not in err
    landed = "select count(*) from information_schema.tables where table_schema = 'raw_mailchimp'"
    assert _scalar(warehouse, landed) == 0


def test_a_salt_other_than_the_requests_is_refused_everywhere(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With another salt nothing would match: an erased person's returning records would stay in raw and the
    activation views' erasure guard would let their address through. A keyed check recorded with the first
    request tells the salt apart; every path that uses the salt refuses another one, in one line."""
    from ingestion.privacy.dbt_plugin import Plugin
    from ingestion.privacy.erasure import WRONG_SALT, salt_check_value, set_session_salt

    events = _identify_events(tmp_path, "dave@example.org")
    monkeypatch.setenv("PRIVACY__ERASURE_SALT", SALT)
    assert main(["erase", "--email", "carol@example.org", "--reason", "art. 17"]) == 0
    assert _scalar(warehouse, "select check_value from privacy.erasure_salt_check") == salt_check_value(SALT)
    assert _scalar(warehouse, "select count(*) from privacy.erasure_salt_check") == 1
    capsys.readouterr()

    monkeypatch.setenv("PRIVACY__ERASURE_SALT", "a-different-salt-of-enough-length")
    assert main(["erase", "--email", "dave@example.org"]) == 2  # recorded under it, it could never match
    err = capsys.readouterr().err
    assert "is not the salt this warehouse's erasure requests were recorded with" in err and "Traceback" not in err
    assert _scalar(warehouse, "select count(*) from privacy.erasure_requests") == 1
    with pytest.raises(UserError, match="is not the salt"):
        apply_pending(warehouse)  # the build's first step
    assert _scalar(warehouse, "select count(*) from privacy.erasure_requests where status = 'pending'") == 1
    assert main(["load", "segment", "--path", str(events)]) == 2
    err = capsys.readouterr().err
    assert "is not the salt" in err and "nothing was loaded" in err and "Traceback" not in err
    landed = "select count(*) from information_schema.tables where table_schema = 'raw_segment'"
    assert _scalar(warehouse, landed) == 0
    con = duckdb.connect(str(warehouse))
    try:
        with pytest.raises(UserError, match="is not the salt"):
            set_session_salt(con)  # `customer360 sql`, sync's audience read
        # every dbt connection, `dbt build` run by hand included
        with pytest.raises(UserError, match="is not the salt"):
            Plugin("customer360", {}).configure_connection(con)
        assert con.execute("select getvariable('customer360_erasure_salt')").fetchall()[0][0] is None
    finally:
        con.close()
    assert WRONG_SALT.startswith("PRIVACY__ERASURE_SALT")

    monkeypatch.setenv("PRIVACY__ERASURE_SALT", SALT)
    assert main(["load", "segment", "--path", str(events)]) == 0
    assert apply_pending(warehouse) is not None


def test_requests_recorded_before_the_salt_check_take_the_next_runs_salt(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warehouse whose requests predate the check has none: the first run with a salt records it (that salt is
    taken as the requests'), and from then on another salt is refused."""
    from ingestion.privacy.erasure import salt_check_value

    monkeypatch.setenv("PRIVACY__ERASURE_SALT", SALT)
    assert main(["erase", "--email", "carol@example.org"]) == 0
    con = duckdb.connect(str(warehouse))
    con.execute("drop table privacy.erasure_salt_check")
    con.close()
    assert apply_pending(warehouse) is not None
    assert _scalar(warehouse, "select check_value from privacy.erasure_salt_check") == salt_check_value(SALT)
    monkeypatch.setenv("PRIVACY__ERASURE_SALT", "a-different-salt-of-enough-length")
    with pytest.raises(UserError, match="is not the salt"):
        apply_pending(warehouse)
