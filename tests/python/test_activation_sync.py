"""`customer360 sync` against the local Mailchimp server: diff and re-run, faults, triggers exactly once across
a killed run, and the platform's unsubscribes flowing back into the ledger and the guard.

Each test works on a copy of the session's `built_warehouse` (the sync writes its state into the warehouse).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from conftest import PROJECT_ROOT, BuiltWarehouse

from ingestion.activation.sync import sync
from ingestion.activation.triggers import idempotency_key
from ingestion.activation.warehouse import MEMBERS_STATE
from ingestion.demo_kit.servers.mailchimp import MailchimpServer, mailchimp_environment, new_api_key, subscriber_hash


def _copy_warehouse(built: BuiltWarehouse, folder: Path) -> Path:
    """A private copy of the built warehouse (same file name: its views name the catalog)."""
    con = duckdb.connect(str(built.path))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / built.path.name
    shutil.copy2(built.path, copy)
    return copy


def _query(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def platform(
    built_warehouse: BuiltWarehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[MailchimpServer, Path]]:
    """A fresh local Mailchimp audience and a private warehouse copy, wired through the environment."""
    path = _copy_warehouse(built_warehouse, tmp_path / "wh")
    monkeypatch.setenv("CUSTOMER360_DUCKDB_PATH", str(path))
    monkeypatch.setenv("CUSTOMER360_PIPELINES_DIR", str(tmp_path / "dlt_pipelines"))
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_data"))
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.05")
    with MailchimpServer(new_api_key()) as server:
        for name, value in mailchimp_environment(server).items():
            monkeypatch.setenv(name, value)
        yield server, path


def _writes(server: MailchimpServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.request_log if r.method != "GET" and r.status < 400]


def test_sync_sends_the_diff_and_a_rerun_sends_nothing(
    platform: tuple[MailchimpServer, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, path = platform
    audience = _query(
        path, "select email, first_name, loyalty_tier, recommended_category, rfm_segment from marts.email_audience"
    )
    triggers = _query(path, "select trigger_id from marts.cart_abandonment_triggers")
    assert len(audience) > 100 and len(triggers) >= 3

    preview = sync(dry_run=True)
    assert (preview.created, preview.updated, preview.archived) == (len(audience), 0, 0)
    assert preview.triggers_sent == len(triggers)
    assert "+ create" in capsys.readouterr().out
    # a dry run only reads (the platform's subscribed members, to know whom a sync would archive)
    assert all(r.method == "GET" for r in server.request_log) and not _query(
        path, "select * from information_schema.schemata where schema_name = 'activation_sync'"
    ), "a dry run writes nothing anywhere"

    # transient faults on the way: the retries of the loaders' session absorb them
    server.faults.arm("rate_limit", count=2, path_contains="/members/", retry_after=0.1)
    server.faults.arm("server_error", count=1, path_contains="/events")
    first = sync()
    assert (first.created, first.updated, first.unchanged, first.archived) == (len(audience), 0, 0, 0)
    assert first.triggers_sent == len(triggers)
    assert {r.fault for r in server.request_log} >= {"rate_limit", "server_error"}
    email, first_name, tier, category, rfm = audience[0]
    member = server.member(email)
    assert member is not None and member.status == "subscribed"
    assert (member.merge_fields["FNAME"], member.merge_fields["LTIER"], member.merge_fields["RECCAT"]) == (
        first_name or "",
        tier,
        category,
    )
    assert member.tags == {"customer360", f"tier:{tier}", f"rfm:{rfm}"}
    assert len(server.events_received) == len(triggers)

    server.clear_log()
    again = sync()
    assert (again.created, again.updated, again.unchanged, again.archived, again.triggers_sent) == (
        0,
        0,
        len(audience),
        0,
        0,
    )
    assert again.triggers_already_sent == len(triggers)
    assert _writes(server) == [], "a re-run sends no change"

    # one personalization token changes in the warehouse: exactly that member is updated
    con = duckdb.connect(str(path))
    try:
        con.execute(f"update {MEMBERS_STATE} set payload_hash = 'stale' where lower(email) = lower(?)", [email])
    finally:
        con.close()
    server.clear_log()
    third = sync()
    assert (third.updated, third.unchanged) == (1, len(audience) - 1)
    assert _writes(server) == [f"PUT /3.0/lists/{server.list_id}/members/{subscriber_hash(email)}"]
    # the previous run's feedback load saw members, so this one asked only for changes since then
    # (the sync's own listing of subscribed members, to archive the ones nobody wants, reads by status)
    listed = [
        r
        for r in server.request_log
        if r.method == "GET" and r.path.endswith("/members") and r.query.get("status") != ["subscribed"]
    ]
    assert listed and all("since_last_changed" in r.query for r in listed), "the feedback load is incremental"

    # the API key is masked: never in the output, dlt's working folder or the warehouse
    key = server.api_key
    assert key not in capsys.readouterr().out
    for file in (tmp_path / "dlt_pipelines").rglob("*"):
        if file.is_file():
            assert key.encode() not in file.read_bytes(), file
    assert key.encode() not in path.read_bytes()


def test_wrong_api_key_is_one_line(
    platform: tuple[MailchimpServer, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ingestion.cli import main

    server, _ = platform
    wrong = new_api_key("us9")
    monkeypatch.setenv("SOURCES__MAILCHIMP__API_KEY", wrong)
    assert main(["sync"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("customer360: error: mailchimp rejected the API key (401)") and "\n" not in err
    assert wrong not in err
    assert not _writes(server)


def test_triggers_go_out_once_across_a_killed_sync(platform: tuple[MailchimpServer, Path]) -> None:
    """kill -9 while a trigger's POST is in flight (the platform gets it, the sync never hears back), rerun:
    every trigger arrived exactly once."""
    server, path = platform
    triggers = _query(
        path, "select trigger_id, email from marts.cart_abandonment_triggers order by triggered_at, trigger_id"
    )
    assert len(triggers) >= 3
    stalled_email = triggers[2][1]
    # the platform holds the third trigger's answer for 6 s, then records the event
    server.faults.arm("slow", count=1, delay=6, path_contains=f"{subscriber_hash(stalled_email)}/events")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "ingestion.cli", "sync"], env=env, cwd=PROJECT_ROOT, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while len(server.events_received) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(1.0)  # the third POST is now held by the server
    assert process.poll() is None, process.stderr.read() if process.stderr else ""
    process.send_signal(signal.SIGKILL)
    process.wait()
    while len(server.events_received) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(server.events_received) == 3, "the stalled event reached the platform after the crash"

    rerun = sync()
    assert rerun.triggers_recovered == 1, "the in-flight trigger was found on the platform, not resent"
    assert rerun.triggers_sent == len(triggers) - 3
    keys = Counter(event.properties["idempotency_key"] for event in server.events_received)
    assert keys == Counter({idempotency_key(trigger_id): 1 for trigger_id, _ in triggers})


def test_platform_unsubscribe_flows_back_and_is_never_mailed(platform: tuple[MailchimpServer, Path]) -> None:
    from ingestion.dbt_runner import run_dbt
    from ingestion.sources.mailchimp import load_mailchimp

    server, path = platform
    audience = {row[0] for row in _query(path, "select email from marts.email_audience")}
    triggered = [row[0] for row in _query(path, "select email from marts.cart_abandonment_triggers order by 1")]
    person = next(email for email in triggered if email in audience)
    sync(triggers=False)  # the audience reaches the platform; no trigger goes yet
    assert server.member(person).status == "subscribed"

    server.unsubscribe(person)  # the person clicks "unsubscribe" in a campaign
    bounced, complained = sorted(audience - {person})[:2]
    server.clean(bounced)  # a hard bounce
    server.complain(complained)  # a spam report (Mailchimp unsubscribes the complainer)
    load_mailchimp()
    outcome = run_dbt(
        ["build", "--select", "stg_mailchimp__members", "int_engagement__consent_signals",
         "int_customers__email_consent", "int_engagement__suppression_evidence"]
    )  # fmt: skip
    assert outcome.success, outcome.failures

    # the ledger and the guard each suppress the addresses, independently
    for email, kind in ((person, "opt_out"), (bounced, "undeliverable"), (complained, "opt_out")):
        sendable = _query(
            path, f"select is_email_sendable from intermediate.int_customers__email_consent where email = '{email}'"
        )
        assert sendable and not any(row[0] for row in sendable), email
        guard = _query(
            path,
            "select evidence_kind from intermediate.int_engagement__suppression_evidence "
            f"where evidence_origin = 'mailchimp_member' and source_record_id = '{subscriber_hash(email)}'",
        )
        assert guard == [(kind,)], email
    assert _query(path, f"select is_complaint from staging.stg_mailchimp__members where email = '{complained}'") == [
        (True,)
    ]
    gone = {person, bounced, complained}
    assert not gone & {row[0] for row in _query(path, "select email from marts.email_audience")}
    assert person not in {row[0] for row in _query(path, "select email from marts.cart_abandonment_triggers")}

    after = sync()
    assert after.archived == 3 and after.created == 0
    member = server.member(person)
    assert member is not None and member.status == "archived" and member.status_before_archive == "unsubscribed"
    assert server.events_for(person) == [], "no trigger ever went to the unsubscribed person"
    assert after.triggers_sent == len(triggers_now := _query(path, "select 1 from marts.cart_abandonment_triggers"))
    assert len(server.events_received) == len(triggers_now)


def test_local_platform_refuses_an_eleventh_simultaneous_connection() -> None:
    """Mailchimp's one limit: 10 simultaneous connections per key; the 11th call gets 429 (no Retry-After)."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    with MailchimpServer(new_api_key()) as server:
        server.faults.arm("slow", count=10, delay=3, path_contains="/ping")
        auth = ("any", server.api_key)
        with ThreadPoolExecutor(max_workers=10) as pool:
            held = [pool.submit(requests.get, f"{server.api_url}/ping", auth=auth, timeout=30) for _ in range(10)]
            deadline = time.monotonic() + 20
            while server.in_flight < 10 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert server.in_flight == 10
            refused = requests.get(f"{server.api_url}/lists/{server.list_id}/members", auth=auth, timeout=10)
            assert [f.result().status_code for f in held] == [200] * 10
        assert refused.status_code == 429 and "Retry-After" not in refused.headers
        assert requests.get(f"{server.api_url}/ping", auth=auth, timeout=10).status_code == 200
        assert requests.get(f"{server.api_url}/ping", auth=("any", "wrong-us1"), timeout=10).status_code == 401
