"""The warehouse side of `customer360 sync`: its state tables (schema ``activation_sync``) and small readers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from ingestion.errors import UserError, duckdb_locked, is_duckdb_lock_error

STATE_SCHEMA = "activation_sync"
MEMBERS_STATE = f"{STATE_SCHEMA}.mailchimp_members"
DELIVERIES_STATE = f"{STATE_SCHEMA}.mailchimp_trigger_deliveries"

STATE_DDL = (
    f"create schema if not exists {STATE_SCHEMA}",
    f"""create table if not exists {MEMBERS_STATE} (
        list_id varchar not null,
        subscriber_hash varchar not null,
        email varchar not null,
        customer_id varchar,
        payload_hash varchar not null,
        merge_fields json,
        tags json,
        sync_status varchar not null,
        platform_status varchar,
        synced_at timestamp not null,
        primary key (list_id, subscriber_hash)
    )""",
    f"""create table if not exists {DELIVERIES_STATE} (
        list_id varchar not null,
        trigger_id varchar not null,
        idempotency_key varchar not null,
        subscriber_hash varchar not null,
        event_name varchar not null,
        delivery_state varchar not null,
        attempted_at timestamp not null,
        delivered_at timestamp,
        primary key (list_id, trigger_id)
    )""",
)


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    if not path.is_file():
        raise UserError(f"no warehouse at {path}; run `customer360 demo` or `customer360 load all` and `build` first")
    try:
        con = duckdb.connect(str(path))
    except duckdb.Error as error:
        if is_duckdb_lock_error(error):
            raise duckdb_locked(path) from error
        raise
    from ingestion.privacy.erasure import set_session_salt

    set_session_salt(con)  # the audience and trigger views check erased addresses when read
    return con


def relation_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    sql = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    return bool(con.execute(sql, [schema, name]).fetchone()[0])  # type: ignore[index]


def fetch_rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    try:
        cursor = con.execute(sql, params or [])
    except duckdb.InvalidInputException as error:
        # a guard the views apply refused to answer (SQL error(): the erasure salt is missing, the suppression
        # guard's build-time reading is stale): its message says what to do
        message = str(error).splitlines()[0].removeprefix("Invalid Input Error: ")
        raise UserError(message) from error
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def as_text(value: Any) -> str:
    return "" if value is None else str(value)
