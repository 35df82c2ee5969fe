"""`customer360 sync`: reverse-ETL of the sendable audience and the cart-abandonment triggers to Mailchimp.

One run, in order:

1. **Feedback in** (skipped by ``--dry-run``): the platform's member statuses changed since the last
   run are loaded into ``raw_mailchimp.members`` (``ingestion.sources.mailchimp``), so unsubscribes,
   cleaned (bounced) addresses and complaints reach the suppression guard, which reads raw tables live,
   before anything is pushed.
2. **Members out**: ``marts.email_audience`` (one row per sendable customer, with personalization tokens)
   is diffed against the last synced state, kept in the warehouse (``activation_sync.mailchimp_members``):
   new addresses are created and changed ones updated (``PUT .../members/{subscriber_hash}`` with merge
   fields, then the segment tags), unchanged ones are not sent, and addresses that left the audience are
   archived (``DELETE``). A PUT sends ``status_if_new`` only, so it never resubscribes an unsubscribed or
   cleaned member. The state row of a member is written only after the platform accepted it.
3. **Triggers out, exactly once**: each row of ``marts.cart_abandonment_triggers`` (a view that
   re-checks consent and the guard when read) becomes one ``cart_abandoned`` event with the idempotency
   key ``customer360:cart_abandoned:<trigger_id>`` in its properties. Mailchimp's events endpoint does
   not deduplicate, so delivery is recorded around the call (``activation_sync.mailchimp_trigger_deliveries``):
   ``sending`` is committed before the POST and ``delivered`` after its 2xx. A run that finds a
   ``sending`` row (the previous one died between the two) reads the member's events back and resends
   only if the key is not there. A trigger goes only to a member this sync holds as active whose last
   platform status is not unsubscribed or cleaned; others are held (and retried by later runs).

One sync at a time (an OS lock, and DuckDB's single writer): two concurrent runs could both send a trigger.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import duckdb

from ingestion.activation.mailchimp import MailchimpClient, MailchimpSettings, mailchimp_settings, subscriber_hash
from ingestion.activation.triggers import deliver_triggers
from ingestion.activation.warehouse import (
    MEMBERS_STATE,
    STATE_DDL,
    STATE_SCHEMA,
    as_text,
    connect,
    fetch_rows,
    relation_exists,
)
from ingestion.errors import UserError
from ingestion.pipeline import exclusive_run
from ingestion.settings import Settings, resolve

AUDIENCE = "marts.email_audience"
MANAGED_TAG = "customer360"
COMMIT_EVERY = 100
DRY_RUN_LINES = 100
# Merge field tag -> (its name in Mailchimp, the email_audience column it carries).
MERGE_FIELDS = {
    "FNAME": ("First Name", "first_name"),
    "LTIER": ("Loyalty Tier", "loyalty_tier"),
    "RECCAT": ("Recommended Category", "recommended_category"),
    "LASTPROD": ("Last Viewed Product", "last_viewed_product_title"),
    "LASTCAT": ("Last Viewed Category", "last_viewed_category"),
    "C360ID": ("customer360 Customer Id", "customer_id"),
}
# Segment tags: prefix -> email_audience column (a tag "rfm:champions", "tier:gold"), plus MANAGED_TAG.
TAG_COLUMNS = {"rfm": "rfm_segment", "tier": "loyalty_tier"}


@dataclass(frozen=True)
class DesiredMember:
    subscriber_hash: str
    email: str
    customer_id: str
    merge_fields: dict[str, str]
    tags: tuple[str, ...]

    @property
    def payload_hash(self) -> str:
        payload = json.dumps(
            {"email": self.email, "merge_fields": self.merge_fields, "tags": self.tags}, sort_keys=True
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SyncedMember:
    subscriber_hash: str
    email: str
    payload_hash: str
    merge_fields: dict[str, str]
    tags: tuple[str, ...]
    sync_status: str


@dataclass(frozen=True)
class MemberChange:
    kind: str  # created | updated | archived
    subscriber_hash: str
    email: str
    desired: DesiredMember | None
    previous: SyncedMember | None


@dataclass
class SyncResult:
    """What a sync did (or, with ``dry_run``, would do): the figures the CLI and the DAG print."""

    dry_run: bool = False
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    archived: int = 0
    triggers_sent: int = 0
    triggers_recovered: int = 0  # found delivered by reading the platform back after a crash
    triggers_already_sent: int = 0
    triggers_held: int = 0
    feedback_rows: int | None = None
    seconds: float = 0.0
    changes: list[MemberChange] = field(default_factory=list)

    def line(self) -> str:
        verb = "would sync" if self.dry_run else "synced"
        triggers = (
            f"triggers {'to send' if self.dry_run else 'sent'} {self.triggers_sent:,}"
            + ("" if self.dry_run else f", recovered {self.triggers_recovered:,}")
            + f", already sent {self.triggers_already_sent:,}, held {self.triggers_held:,}"
        )
        feedback = "" if self.feedback_rows is None else f"; feedback: {self.feedback_rows:,} member changes loaded"
        return (
            f"mailchimp: {verb} members: created {self.created:,}, updated {self.updated:,}, "
            f"unchanged {self.unchanged:,}, archived {self.archived:,}; {triggers}{feedback} ({self.seconds:.1f}s)"
        )


# -- reading the warehouse ------------------------------------------------------------------------
def desired_members(con: duckdb.DuckDBPyConnection) -> list[DesiredMember]:
    """The audience as Mailchimp members, one per address (the lowest customer id wins a shared address)."""
    if not relation_exists(con, "marts", "email_audience"):
        raise UserError(f"{AUDIENCE} does not exist; run `customer360 build` first")
    columns = sorted({column for _, column in MERGE_FIELDS.values()} | set(TAG_COLUMNS.values()) | {"email"})
    rows = fetch_rows(con, f"select {', '.join(columns)} from {AUDIENCE} where email is not null order by customer_id")
    members: dict[str, DesiredMember] = {}
    for row in rows:
        digest = subscriber_hash(row["email"])
        if digest in members:
            continue
        merge_fields = {tag: as_text(row[column]) for tag, (_, column) in MERGE_FIELDS.items()}
        tags = {MANAGED_TAG, *(f"{prefix}:{row[column]}" for prefix, column in TAG_COLUMNS.items() if row[column])}
        members[digest] = DesiredMember(
            digest, row["email"], as_text(row["customer_id"]), merge_fields, tuple(sorted(tags))
        )
    return list(members.values())


def synced_members(con: duckdb.DuckDBPyConnection, list_id: str) -> dict[str, SyncedMember]:
    rows = fetch_rows(
        con,
        f"select subscriber_hash, email, payload_hash, merge_fields, tags, sync_status from {MEMBERS_STATE} "
        "where list_id = ?",
        [list_id],
    )
    return {
        row["subscriber_hash"]: SyncedMember(
            row["subscriber_hash"],
            row["email"],
            row["payload_hash"],
            json.loads(row["merge_fields"] or "{}"),
            tuple(json.loads(row["tags"] or "[]")),
            row["sync_status"],
        )
        for row in rows
    }


def platform_suppressed(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Subscriber hashes whose latest status loaded from the platform is unsubscribed or cleaned."""
    if not relation_exists(con, "raw_mailchimp", "members"):
        return set()
    rows = con.execute(
        """
        select id from raw_mailchimp.members
        qualify row_number() over (partition by id order by last_changed desc) = 1
            and status in ('unsubscribed', 'cleaned')
        """
    ).fetchall()
    return {row[0] for row in rows}


def _answered_suppressed(con: duckdb.DuckDBPyConnection, list_id: str) -> set[str]:
    """Hashes whose last PUT answer said unsubscribed or cleaned (before the feedback load has seen it)."""
    if not relation_exists(con, STATE_SCHEMA, "mailchimp_members"):
        return set()
    rows = con.execute(
        f"select subscriber_hash from {MEMBERS_STATE} "
        "where list_id = ? and platform_status in ('unsubscribed', 'cleaned')",
        [list_id],
    ).fetchall()
    return {row[0] for row in rows}


def require_guard_covers_every_drop(con: duckdb.DuckDBPyConnection) -> None:
    """Fail closed when a CSV drop was loaded after the last build: the suppression guard is a view whose list
    of drop tables is fixed when dbt builds it, so a new drop's opt-outs are not in it yet."""
    evidence = con.execute(
        "select sql from duckdb_views() where view_name = 'int_engagement__suppression_evidence'"
    ).fetchone()
    # the drop names macro csv_contact_drop_relations accepts (dlt's own _dlt_* tables are not drops)
    drops = [
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'raw_csv_contacts' and table_name <> 'rejected_rows'"
        ).fetchall()
        if re.fullmatch(r"[a-z][a-z0-9_]{0,39}", row[0])
    ]
    view_sql = evidence[0] if evidence else ""
    unseen = [d for d in drops if not re.search(rf'raw_csv_contacts"?\."?{re.escape(d)}\b', view_sql)]
    if unseen:
        raise UserError(
            f"CSV drop(s) {', '.join(unseen)} loaded after the last build: their opt-outs are not in the suppression "
            "guard yet; run `customer360 build`, then sync"
        )


def diff_members(
    desired: Iterable[DesiredMember],
    synced: dict[str, SyncedMember],
    full: bool = False,
    platform_subscribed: Iterable[str] = (),
) -> tuple[list[MemberChange], int]:
    """Changes to send and the number of unchanged members. ``full`` resends every desired member.

    Every member this project tagged that the platform holds as subscribed but the audience does not want is
    archived, whether or not
    the sync state remembers sending it: the state can lose a row (an erasure removes the person's rows
    everywhere, the state table included), and a member nobody here wants must not stay subscribed."""
    changes: list[MemberChange] = []
    unchanged = 0
    wanted = {member.subscriber_hash: member for member in desired}
    for digest, member in wanted.items():
        previous = synced.get(digest)
        if previous is None or previous.sync_status != "active":
            changes.append(MemberChange("created", digest, member.email, member, previous))
        elif full or previous.payload_hash != member.payload_hash:
            changes.append(MemberChange("updated", digest, member.email, member, previous))
        else:
            unchanged += 1
    for digest, previous in synced.items():
        if previous.sync_status == "active" and digest not in wanted:
            changes.append(MemberChange("archived", digest, previous.email, None, previous))
    archived = {change.subscriber_hash for change in changes if change.kind == "archived"}
    for digest in sorted(set(platform_subscribed) - set(wanted) - archived):
        changes.append(MemberChange("archived", digest, "", None, None))  # address unknown here: hash only
    return changes, unchanged


# -- pushing --------------------------------------------------------------------------------------
class _Clients:
    """One Mailchimp client (one HTTP connection) per worker thread."""

    def __init__(self, config: MailchimpSettings) -> None:
        self.config = config
        self._local = threading.local()
        self._all: list[MailchimpClient] = []
        self._lock = threading.Lock()

    def get(self) -> MailchimpClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = MailchimpClient(self.config)
            self._local.client = client
            with self._lock:
                self._all.append(client)
        return client

    def close(self) -> None:
        for client in self._all:
            client.close()


def _apply(clients: _Clients, change: MemberChange) -> str | None:
    """Send one change; returns the member's platform status (None for an archive)."""
    client = clients.get()
    if change.kind == "archived":
        client.archive_member(change.subscriber_hash)
        return None
    assert change.desired is not None
    answer = client.upsert_member(change.email, change.desired.merge_fields)
    before = set(change.previous.tags) if change.previous and change.previous.sync_status == "active" else set()
    wanted = set(change.desired.tags)
    client.set_tags(change.subscriber_hash, sorted(wanted - before), sorted(before - wanted))
    return str(answer.get("status") or "")


def _record(con: duckdb.DuckDBPyConnection, list_id: str, change: MemberChange, platform_status: str | None) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    if change.kind == "archived":
        con.execute(
            f"update {MEMBERS_STATE} set sync_status = 'archived', synced_at = ? "
            "where list_id = ? and subscriber_hash = ?",
            [now, list_id, change.subscriber_hash],
        )
        return
    member = change.desired
    assert member is not None
    con.execute(
        f"""
        insert or replace into {MEMBERS_STATE}
            (list_id, subscriber_hash, email, customer_id, payload_hash, merge_fields, tags, sync_status,
             platform_status, synced_at)
        values (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)
        """,
        [
            list_id,
            member.subscriber_hash,
            member.email,
            member.customer_id,
            member.payload_hash,
            json.dumps(member.merge_fields, sort_keys=True),
            json.dumps(list(member.tags)),
            platform_status,
            now,
        ],
    )


def push_members(con: duckdb.DuckDBPyConnection, config: MailchimpSettings, changes: list[MemberChange]) -> None:
    """Send the changes with up to ``max_connections`` in flight; each accepted change is recorded (and
    committed every ``COMMIT_EVERY``), so a failure or a crash keeps what the platform already has."""
    if not changes:
        return
    clients = _Clients(config)
    try:
        ensure_merge_fields(clients.get())
        with ThreadPoolExecutor(max_workers=config.max_connections, thread_name_prefix="mailchimp") as pool:
            futures = [(change, pool.submit(_apply, clients, change)) for change in changes]
            con.execute("begin")
            try:
                for done, (change, future) in enumerate(futures, start=1):
                    _record(con, config.list_id, change, future.result())
                    if done % COMMIT_EVERY == 0:
                        con.execute("commit")
                        con.execute("begin")
            except BaseException:
                for _, future in futures:
                    future.cancel()
                con.execute("commit")  # keep every change the platform accepted before the failure
                raise
            con.execute("commit")
    finally:
        clients.close()


def ensure_merge_fields(client: MailchimpClient) -> None:
    """Create the merge fields the sync fills, once per audience (Mailchimp rejects unknown ones)."""
    existing = client.merge_field_tags()
    for tag, (name, _) in MERGE_FIELDS.items():
        if tag not in existing:
            client.create_merge_field(tag, name)


# -- the command ----------------------------------------------------------------------------------
def _masked(email: str) -> str:
    if not email:
        return "(address not kept here)"
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def print_diff(changes: list[MemberChange], out: TextIO, limit: int = DRY_RUN_LINES) -> None:
    """One line per change (addresses masked), at most ``limit`` lines."""
    for change in changes[:limit]:
        who = f"{_masked(change.email)} ({change.subscriber_hash[:10]})"
        if change.kind == "archived":
            print(f"  - archive {who}", file=out)
            continue
        assert change.desired is not None
        if change.kind == "created":
            fields = ", ".join(f"{k}={v!r}" for k, v in change.desired.merge_fields.items() if v and k != "C360ID")
            print(f"  + create  {who} {fields} tags={list(change.desired.tags)}", file=out)
            continue
        before = change.previous
        assert before is not None
        moved = [
            f"{k}: {before.merge_fields.get(k, '')!r} -> {v!r}"
            for k, v in change.desired.merge_fields.items()
            if before.merge_fields.get(k, "") != v
        ]
        added, removed = set(change.desired.tags) - set(before.tags), set(before.tags) - set(change.desired.tags)
        if added or removed:
            moved.append(f"tags +{sorted(added)} -{sorted(removed)}")
        print(f"  ~ update  {who} {'; '.join(moved) or '(resent)'}", file=out)
    if len(changes) > limit:
        print(f"  ... and {len(changes) - limit:,} more changes", file=out)


def sync(
    dry_run: bool = False,
    full: bool = False,
    triggers: bool = True,
    feedback: bool = True,
    duckdb_path: Path | None = None,
    out: TextIO | None = None,
    settings: Settings | None = None,
    platform: MailchimpSettings | None = None,
) -> SyncResult:
    """Feedback in, members out, triggers out (module docstring). The function `customer360 sync` and the
    orchestration DAG call; returns the counts. ``dry_run`` writes nothing anywhere and prints the diff;
    ``feedback=False`` skips the feedback load (a caller that has just run `load mailchimp` itself).
    ``platform``: the audience to sync with (default: from dlt's config and secrets)."""
    started = time.monotonic()
    config = platform or mailchimp_settings()
    settings = resolve(settings)
    path = duckdb_path or settings.duckdb_path
    stream = out or sys.stdout
    result = SyncResult(dry_run=dry_run)
    with exclusive_run("customer360_mailchimp_sync", "mailchimp sync", settings.pipelines_dir):
        if feedback and not dry_run:
            from ingestion.sources.mailchimp import load_mailchimp

            result.feedback_rows = load_mailchimp(config, settings).rows
            # as after `customer360 load mailchimp`: an erased person's member record that came back leaves raw
            from ingestion.privacy.erasure import enforce_after_load, print_run

            print_run(enforce_after_load(settings.duckdb_path, settings))
        con = connect(path)
        try:
            if not dry_run:
                for statement in STATE_DDL:
                    con.execute(statement)
            has_state = relation_exists(con, STATE_SCHEMA, "mailchimp_members")
            synced = synced_members(con, config.list_id) if has_state else {}
            require_guard_covers_every_drop(con)
            suppressed = platform_suppressed(con)
            desired = [m for m in desired_members(con) if m.subscriber_hash not in suppressed]
            listing = MailchimpClient(config)
            try:
                platform_subscribed = listing.subscribed_member_hashes(MANAGED_TAG)
            finally:
                listing.close()
            changes, result.unchanged = diff_members(desired, synced, full, platform_subscribed)
            result.changes = changes
            for change in changes:
                setattr(result, change.kind, getattr(result, change.kind) + 1)
            if dry_run:
                print_diff(changes, stream)
            else:
                push_members(con, config, changes)
            if triggers:
                # members of the audience, minus any the platform answered as unsubscribed or cleaned
                sendable = {m.subscriber_hash for m in desired} - _answered_suppressed(con, config.list_id)
                counts = deliver_triggers(con, config, sendable, dry_run)
                result.triggers_sent, result.triggers_recovered = counts.sent, counts.recovered
                result.triggers_already_sent, result.triggers_held = counts.already_sent, counts.held
        finally:
            con.close()
    result.seconds = time.monotonic() - started
    return result
