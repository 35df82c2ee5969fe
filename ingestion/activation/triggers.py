"""Cart-abandonment triggers to the email platform, each exactly once (see ``ingestion.activation.sync``).

Mailchimp's events endpoint takes no idempotency key and does not deduplicate, so the key travels in the
event's properties and delivery is recorded around the call in ``activation_sync.mailchimp_trigger_deliveries``:
``sending`` is committed before the POST and ``delivered`` after its 2xx. A run that finds ``sending`` reads
the member's events back and resends only if the key is not there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from ingestion.activation.mailchimp import MailchimpClient, MailchimpSettings, subscriber_hash
from ingestion.activation.warehouse import DELIVERIES_STATE, STATE_SCHEMA, as_text, fetch_rows, relation_exists
from ingestion.errors import UserError

TRIGGERS = "marts.cart_abandonment_triggers"
TRIGGER_EVENT = "cart_abandoned"


@dataclass
class TriggerCounts:
    sent: int = 0  # with a dry run: would be sent
    recovered: int = 0  # found delivered by reading the platform back after a crash
    already_sent: int = 0
    held: int = 0  # the address is not an active member the platform may mail; retried by later runs


def idempotency_key(trigger_id: str) -> str:
    return f"customer360:{TRIGGER_EVENT}:{trigger_id}"


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat(timespec="seconds")
    return None


def pending_triggers(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    if not relation_exists(con, "marts", "cart_abandonment_triggers"):
        raise UserError(f"{TRIGGERS} does not exist; run `customer360 build` first")
    return fetch_rows(
        con,
        f"""
        select trigger_id, cart_id, email, cart_value, items_added, reached_checkout, last_added_product_title,
            last_added_category, recommended_category, abandoned_at
        from {TRIGGERS}
        order by triggered_at, trigger_id
        """,
    )


def _event_properties(trigger: dict[str, Any]) -> dict[str, str]:
    return {
        "idempotency_key": idempotency_key(trigger["trigger_id"]),
        "trigger_id": as_text(trigger["trigger_id"]),
        "cart_id": as_text(trigger["cart_id"]),
        "cart_value": as_text(trigger["cart_value"]),
        "items_added": as_text(trigger["items_added"]),
        "reached_checkout": "true" if trigger["reached_checkout"] else "false",
        "last_added_product": as_text(trigger["last_added_product_title"]),
        "last_added_category": as_text(trigger["last_added_category"]),
        "recommended_category": as_text(trigger["recommended_category"]),
    }


def deliver_triggers(
    con: duckdb.DuckDBPyConnection,
    config: MailchimpSettings,
    sendable: set[str],
    dry_run: bool,
) -> TriggerCounts:
    """Each trigger once (module docstring). ``sendable``: hashes this sync holds as active members that the
    platform has not unsubscribed or cleaned. With ``dry_run`` nothing is sent: ``sent`` counts what would be."""
    counts = TriggerCounts()
    has_state = relation_exists(con, STATE_SCHEMA, "mailchimp_trigger_deliveries")  # not before a first real run
    deliveries = (
        {
            row[0]: row[1]
            for row in con.execute(
                f"select trigger_id, delivery_state from {DELIVERIES_STATE} where list_id = ?", [config.list_id]
            ).fetchall()
        }
        if has_state
        else {}
    )
    client = None if dry_run else MailchimpClient(config)
    try:
        for trigger in pending_triggers(con):
            trigger_id = trigger["trigger_id"]
            state = deliveries.get(trigger_id)
            if state == "delivered":
                counts.already_sent += 1
                continue
            digest = subscriber_hash(trigger["email"])
            if digest not in sendable:
                counts.held += 1
                continue
            if client is None:
                counts.sent += 1
                continue
            key = idempotency_key(trigger_id)
            if state == "sending" and any(
                (event.get("properties") or {}).get("idempotency_key") == key for event in client.member_events(digest)
            ):
                _mark_delivered(con, config.list_id, trigger_id)
                counts.recovered += 1
                continue
            now = datetime.now(UTC).replace(tzinfo=None)
            con.execute(
                f"""
                insert or replace into {DELIVERIES_STATE}
                    (list_id, trigger_id, idempotency_key, subscriber_hash, event_name, delivery_state, attempted_at)
                values (?, ?, ?, ?, ?, 'sending', ?)
                """,
                [config.list_id, trigger_id, key, digest, TRIGGER_EVENT, now],
            )  # autocommit: durable before the POST
            client.post_event(digest, TRIGGER_EVENT, _event_properties(trigger), _iso(trigger["abandoned_at"]))
            _mark_delivered(con, config.list_id, trigger_id)
            counts.sent += 1
    finally:
        if client is not None:
            client.close()
    return counts


def _mark_delivered(con: duckdb.DuckDBPyConnection, list_id: str, trigger_id: str) -> None:
    con.execute(
        f"update {DELIVERIES_STATE} set delivery_state = 'delivered', delivered_at = ? "
        "where list_id = ? and trigger_id = ?",
        [datetime.now(UTC).replace(tzinfo=None), list_id, trigger_id],
    )
