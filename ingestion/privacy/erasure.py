"""Erasure requests end to end: record (hashes only), resolve the person's whole identity cluster, remove
them from every table and local load package, and keep them out of later loads.

Tables (schema ``privacy`` in the warehouse, written only here):

- ``erasure_requests``: one row per request: id, when received, why, channel, status (``pending`` →
  ``applied``), when applied, how many source records the person had. No identifier in any form.
- ``erased_identifiers``: salted hashes (``identifiers.identifier_hash``) of the identifiers to keep out:
  those requested and those learnt from the person's cluster (``origin``).
- ``erasure_blocks``: what each run removed, per table: ``phase`` ``apply`` (the erasure itself),
  ``load`` / ``build`` (a record of an erased person that came back, quarantined as ``erased``).

A row belongs to an erased person when one of its values hashes to an erased identifier: an email or
``+``-phone anywhere in a text value, a phone column, a source record key (per-table rules below), a
``customer_id``. dlt child tables go with their root row. Plain identifiers exist only in this process's
memory while a run resolves a cluster; the salt is bound as a query parameter and never written.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from ingestion.errors import UserError, duckdb_locked, is_duckdb_lock_error
from ingestion.privacy.identifiers import (
    SALT_ENV,
    SQL_EMAIL_TOKEN,
    SQL_PHONE_TOKEN,
    ErasureRequest,
    erasure_salt,
    identifier_hash,
    normalize_email,
    shopify_redact_request,
)
from ingestion.settings import Settings
from ingestion.settings import resolve as resolve_settings

if TYPE_CHECKING:
    import dlt

SCHEMA = "privacy"
DDL = f"""
create schema if not exists {SCHEMA};
create table if not exists {SCHEMA}.erasure_requests (
    request_id varchar not null,
    received_at timestamp with time zone not null,
    reason varchar not null,
    channel varchar not null,
    identifiers_requested integer not null,
    status varchar not null,
    applied_at timestamp with time zone,
    apply_run_id varchar,
    source_records_erased integer
);
create table if not exists {SCHEMA}.erased_identifiers (
    identifier_hash varchar not null,
    identifier_kind varchar not null,
    request_id varchar not null,
    origin varchar not null,
    added_at timestamp with time zone not null
);
create table if not exists {SCHEMA}.erasure_salt_check (
    check_value varchar not null,
    recorded_at timestamp with time zone not null
);
create table if not exists {SCHEMA}.erasure_blocks (
    run_id varchar not null,
    blocked_at timestamp with time zone not null,
    phase varchar not null,
    schema_name varchar not null,
    table_name varchar not null,
    rows_removed bigint not null
);
"""
# Never scrubbed row by row: seeds, the audit itself, dbt's analyst views (views hold no rows).
HISTORY_TABLES = (("intermediate", "int_identity__customer_id_history"), ("marts", "customer_id_history"))
SKIPPED_SCHEMAS = ("reference", SCHEMA, "information_schema", "pg_catalog")
TEXT_TYPES = ("VARCHAR", "JSON")
MAX_RESOLVE_PASSES = 5


def now() -> datetime:
    return datetime.now(tz=UTC)


@contextmanager
def warehouse(target: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    target.parent.mkdir(parents=True, exist_ok=True)  # as the loaders do: a fresh clone has no warehouse/ yet
    try:
        con = duckdb.connect(str(target))
    except duckdb.Error as error:
        if is_duckdb_lock_error(error):
            raise duckdb_locked(target) from error
        raise
    try:
        yield con
    finally:
        con.close()


SALT_VARIABLE = "customer360_erasure_salt"
WRONG_SALT = (
    f"{SALT_ENV} is not the salt this warehouse's erasure requests were recorded with: with another salt, erased "
    "people would not be recognised"
)


def salt_check_value(salt: str) -> str:
    """A keyed check of the salt (HMAC-SHA256 of a fixed text under it): it tells the salt the requests were
    recorded with from any other, and matches no identifier hash (those are sha256 of salt and value)."""
    return hmac.new(salt.encode(), b"customer360 erasure salt check", hashlib.sha256).hexdigest()


def _stored_salt_check(con: Any) -> str | None:
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [SCHEMA, "erasure_salt_check"],
    ).fetchall()[0][0]
    if not exists:
        return None
    rows = con.execute(f"select check_value from {SCHEMA}.erasure_salt_check").fetchall()
    return str(rows[0][0]) if rows else None


def _check_salt(stored: str | None, salt: str) -> None:
    if stored is not None and not hmac.compare_digest(stored, salt_check_value(salt)):
        raise UserError(WRONG_SALT)


def verify_salt(con: Any, salt: str) -> None:
    """Fail on a salt other than the one this warehouse's requests were recorded with. A wrong salt would
    pass everything else: no returning record would match, and the activation views' erasure guard would
    let an erased address through."""
    _check_salt(_stored_salt_check(con), salt)


def _record_salt_check(con: duckdb.DuckDBPyConnection, salt: str) -> None:
    """Verify the salt, and record its check with the first request (or, for requests recorded before
    checks existed, at the first run with a salt: the salt of that run is taken as theirs)."""
    stored = _stored_salt_check(con)
    _check_salt(stored, salt)
    if stored is None:
        con.execute(f"insert into {SCHEMA}.erasure_salt_check values (?, ?)", [salt_check_value(salt), now()])


def set_session_salt(con: Any) -> None:
    """Give a DuckDB session the salt (variable ``customer360_erasure_salt``) when one is configured: the
    activation views then check addresses against erased hashes at read time (a session without it
    reads them only while no erasure was ever recorded; afterwards the views fail closed). A salt other
    than the requests' is refused (``verify_salt``)."""
    salt = erasure_salt(required=False)
    if salt:
        verify_salt(con, salt)
        con.execute(f"set variable {SALT_VARIABLE} = ?", [salt])


def erased_count(con: duckdb.DuckDBPyConnection) -> int:
    if not _exists(con, SCHEMA, "erased_identifiers"):
        return 0
    return int(con.execute(f"select count(*) from {SCHEMA}.erased_identifiers").fetchone()[0])


# -- recording requests ---------------------------------------------------------------------------------
def record_requests(
    requests: list[ErasureRequest], path: Path | None = None, settings: Settings | None = None
) -> list[str]:
    """Store each request as hashes, with when and why; returns the request ids. Nothing is removed yet."""
    salt = erasure_salt()
    assert salt is not None
    ids = []
    settings = resolve_settings(settings)
    path = path or settings.duckdb_path
    with warehouse(path) as con:
        con.execute(DDL)
        con.execute("begin")
        _record_salt_check(con, salt)
        for request in requests:
            ids.append(_insert_request(con, salt, request))
        con.execute("commit")
    return ids


def _insert_rows(con: duckdb.DuckDBPyConnection, sql: str, rows: list[list[Any]]) -> None:
    """executemany, which DuckDB refuses for an empty list (a request that matched nobody, or asked twice)."""
    if rows:
        con.executemany(sql, rows)


def _insert_request(con: duckdb.DuckDBPyConnection, salt: str, request: ErasureRequest) -> str:
    request_id = str(uuid.uuid4())
    at = now()
    hashes = request.hashes(salt)
    con.execute(
        f"insert into {SCHEMA}.erasure_requests values (?, ?, ?, ?, ?, 'pending', null, null, null)",
        [request_id, at, request.reason, request.channel, len(hashes)],
    )
    _insert_rows(
        con,
        f"insert into {SCHEMA}.erased_identifiers values (?, ?, ?, 'requested', ?)",
        [[digest, kind, request_id, at] for kind, digest in hashes],
    )
    return request_id


def _landed_redactions(con: duckdb.DuckDBPyConnection, salt: str) -> int:
    """Shopify ``customers/redact`` webhooks the Shopify loader landed in ``raw_shopify.deleted_records``
    become erasure requests (their row, email included, is then removed like every other row)."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw_shopify' "
        "and table_name = 'deleted_records'"
    ).fetchone()[0]
    if not exists:
        return 0
    known = {
        row[0]
        for row in con.execute(
            f"select identifier_hash from {SCHEMA}.erased_identifiers where identifier_kind = 'record'"
        ).fetchall()
    }
    rows = con.execute(
        "select record_id, email from raw_shopify.deleted_records "
        "where topic = 'customers/redact' and record_type = 'customer'"
    ).fetchall()
    added = 0
    for record_id, email in rows:
        if identifier_hash(salt, "record", f"shopify|customer:{record_id}") in known:
            continue
        payload = {"customer": {"id": record_id}}
        try:
            if email:
                payload["customer"]["email"] = normalize_email(str(email))
        except UserError:
            pass
        request = shopify_redact_request(payload, "Shopify customers/redact webhook (landed by the Shopify loader)")
        request.channel = "shopify_customers_redact_webhook"
        _insert_request(con, salt, request)
        added += 1
    return added


# -- matching rows ------------------------------------------------------------------------------------------
@dataclass
class Column:
    name: str
    data_type: str

    @property
    def sql(self) -> str:
        return '"' + self.name.replace('"', '""') + '"'

    @property
    def is_text(self) -> bool:
        kind = self.data_type.upper()
        return kind in TEXT_TYPES or kind.endswith("[]") or kind.startswith(("STRUCT", "MAP"))

    @property
    def text(self) -> str:
        return self.sql if self.data_type.upper() == "VARCHAR" else f"cast({self.sql} as varchar)"


@dataclass
class Table:
    schema: str
    name: str
    columns: list[Column] = field(default_factory=list)

    @property
    def sql(self) -> str:
        return f'"{self.schema}"."{self.name}"'

    def has(self, name: str) -> bool:
        return any(c.name == name for c in self.columns)

    def record_keys(self) -> list[str]:
        """SQL expressions giving the ``<source_system>|<source_record_id>`` keys a row is a record of."""
        keys: list[str] = []
        names = {c.name: c for c in self.columns}
        raw_system = self.schema.removeprefix("raw_") if self.schema.startswith("raw_") else None
        if raw_system == "hubspot" and "id" in names:
            keys.append("'hubspot|' || cast(\"id\" as varchar)")
        if raw_system == "shopify":
            if self.name == "customers":
                keys.append("'shopify|customer:' || cast(\"id\" as varchar)")
            if self.name == "orders":
                keys.append("'shopify|order:' || cast(\"id\" as varchar)")
            if "customer__id" in names:
                keys.append("'shopify|customer:' || cast(\"customer__id\" as varchar)")
            if self.name == "deleted_records":
                keys.append("'shopify|' || record_type || ':' || cast(record_id as varchar)")
        if raw_system == "csv_contacts" and "contact_id" in names:
            keys.append(f"'{self.name}|' || cast(\"contact_id\" as varchar)")
        for column in self.columns:
            if "record_key" in column.name:
                keys.append(column.text)
            elif column.name in ("anonymous_id", "anonymousid"):
                keys.append(f"'segment|anonymous:' || {column.text}")
            elif column.name in ("user_id", "userid"):
                keys.append(f"'segment|user:' || {column.text}")
            elif column.name == "order_id" or column.name.endswith("_order_id"):
                keys.append(f"'shopify|order:' || cast({column.sql} as varchar)")
            elif column.name == "customer_id" or column.name.endswith("_customer_id"):
                keys.append(f"'shopify|customer:' || cast({column.sql} as varchar)")
        if "source_system" in names and "source_record_id" in names:
            keys.append("source_system || '|' || source_record_id")
        return keys

    def customer_columns(self) -> list[Column]:
        return [c for c in self.columns if c.name == "customer_id" or c.name.endswith("_customer_id")]

    def text_columns(self) -> list[Column]:
        return [c for c in self.columns if c.is_text and not c.name.startswith("_dlt")]

    def phone_columns(self) -> list[Column]:
        return [c for c in self.text_columns() if "phone" in c.name.lower() or "mobile" in c.name.lower()]

    def root(self) -> str | None:
        """The dlt root table of a child table (``orders__line_items`` → ``orders``)."""
        return self.name.split("__", 1)[0] if "__" in self.name and self.has("_dlt_root_id") else None


def _hash_sql(kind: str, value_sql: str) -> str:
    return f"sha256($salt || '|{kind}|' || {value_sql})"


def match_condition(table: Table) -> str | None:
    """True for a row carrying an erased identifier; parameters ``$salt``, ``$email``, ``$phone``,
    ``$record``, ``$customer`` (lists of hashes)."""
    parts = []
    for column in table.text_columns():
        text = column.text
        parts.append(
            f"(contains({text}, '@') and list_has_any(list_transform(regexp_extract_all(lower({text}), "
            f"'{SQL_EMAIL_TOKEN}'), lambda t: {_hash_sql('email', 't')}), $email))"
        )
        phone_hash = _hash_sql("phone", "'+' || regexp_replace(t, '[^0-9]', '', 'g')")
        parts.append(
            f"(contains({text}, '+') and list_has_any(list_transform(regexp_extract_all({text}, "
            f"'{SQL_PHONE_TOKEN}'), lambda t: {phone_hash}), $phone))"
        )
    for column in table.phone_columns():  # 00-prefixed international numbers
        digits = f"regexp_replace({column.sql}, '[^0-9]', '', 'g')"
        phone_hash = _hash_sql("phone", f"'+' || substr({digits}, 3)")
        parts.append(f"(starts_with(trim({column.sql}), '00') and list_contains($phone, {phone_hash}))")
    for key in table.record_keys():
        parts.append(f"list_contains($record, {_hash_sql('record', key)})")
    for column in table.customer_columns():
        parts.append(f"list_contains($customer, {_hash_sql('customer', f'cast({column.sql} as varchar)')})")
    return "(" + "\n or ".join(parts) + ")" if parts else None


def tables(con: duckdb.DuckDBPyConnection, schemas: list[str] | None = None) -> list[Table]:
    rows = con.execute(
        "select c.table_schema, c.table_name, c.column_name, c.data_type from information_schema.columns c "
        "join information_schema.tables t using (table_schema, table_name) "
        "where t.table_type = 'BASE TABLE' order by c.table_schema, c.table_name, c.ordinal_position"
    ).fetchall()
    found: dict[tuple[str, str], Table] = {}
    for schema, name, column, data_type in rows:
        if schema in SKIPPED_SCHEMAS or name.startswith("_dlt_") or (schemas is not None and schema not in schemas):
            continue
        found.setdefault((schema, name), Table(schema, name)).columns.append(Column(column, data_type))
    return list(found.values())


def _parameters(con: duckdb.DuckDBPyConnection, salt: str) -> dict[str, object]:
    params: dict[str, object] = {"salt": salt}
    for kind in ("email", "phone", "record", "customer"):
        params[kind] = [
            row[0]
            for row in con.execute(
                f"select distinct identifier_hash from {SCHEMA}.erased_identifiers where identifier_kind = ?", [kind]
            ).fetchall()
        ]
    return params


def _execute(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> duckdb.DuckDBPyConnection:
    used = {name: value for name, value in params.items() if f"${name}" in sql}
    return con.execute(sql, used)


def remove_matching_rows(
    con: duckdb.DuckDBPyConnection, salt: str, targets: list[Table], run_id: str, phase: str
) -> dict[str, int]:
    """Delete every row of ``targets`` that carries an erased identifier (child rows with their root row);
    log the counts per table in ``erasure_blocks``. Returns rows removed per ``schema.table``."""
    params = _parameters(con, salt)
    removed: dict[str, int] = {}
    for table in sorted(targets, key=lambda t: t.root() is not None):  # roots first
        condition = match_condition(table)
        if condition is None:
            continue
        count = 0
        children = [t for t in targets if t.schema == table.schema and t.root() == table.name]
        if children and table.has("_dlt_id"):
            _execute(
                con, f"create or replace temp table doomed as select _dlt_id from {table.sql} where {condition}", params
            )
            for child in children:
                deleted = con.execute(
                    f"delete from {child.sql} where _dlt_root_id in (select _dlt_id from doomed)"
                ).fetchone()
                removed[f"{child.schema}.{child.name}"] = removed.get(f"{child.schema}.{child.name}", 0) + int(
                    deleted[0] if deleted else 0
                )
            count = int(
                con.execute(f"delete from {table.sql} where _dlt_id in (select _dlt_id from doomed)").fetchone()[0]
            )
        else:
            count = int(_execute(con, f"delete from {table.sql} where {condition}", params).fetchone()[0])
        removed[f"{table.schema}.{table.name}"] = removed.get(f"{table.schema}.{table.name}", 0) + count
    at = now()
    for qualified, count in sorted(removed.items()):
        if count:
            schema, name = qualified.split(".", 1)
            con.execute(
                f"insert into {SCHEMA}.erasure_blocks values (?, ?, ?, ?, ?, ?)",
                [run_id, at, phase, schema, name, count],
            )
    return {k: v for k, v in removed.items() if v}


# -- resolving a person's whole cluster -----------------------------------------------------------------
def _exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(con.execute("select count(*) from information_schema.tables where table_schema = ? and "
                            "table_name = ?", [schema, name]).fetchone()[0])  # fmt: skip


def _raw_tables(con: duckdb.DuckDBPyConnection) -> list[Table]:
    return [t for t in tables(con) if t.schema.startswith("raw_") and not t.schema.endswith("_staging")]


@dataclass
class Person:
    """One request's identifiers in plain text, in memory only, growing as the cluster is found."""

    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    records: set[str] = field(default_factory=set)
    customers: set[str] = field(default_factory=set)

    def hashes(self, salt: str) -> set[tuple[str, str]]:
        return {
            *(("email", identifier_hash(salt, "email", v)) for v in self.emails),
            *(("phone", identifier_hash(salt, "phone", v)) for v in self.phones),
            *(("record", identifier_hash(salt, "record", v)) for v in self.records),
            *(("customer", identifier_hash(salt, "customer", v)) for v in self.customers),
        }


def _values(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | list[object]) -> set[str]:
    if isinstance(params, dict):
        params = {name: value for name, value in params.items() if f"${name}" in sql}
    return {str(row[0]) for row in con.execute(sql, params).fetchall() if row[0] is not None}


def resolve(con: duckdb.DuckDBPyConnection, salt: str, request_hashes: set[tuple[str, str]]) -> Person:
    """Every source record, customer id, email and phone of the person the hashes name.

    Seed records are those carrying a requested identifier (in the identity models or in raw); the cluster
    is every record any of their customer ids ever held (``customer_id_history``); the emails and phones
    of the cluster's records (normalized by the identity models, and as written in raw) join the person
    unless a record outside the cluster also carries them (a shared family or role address is not
    erased for its other owners). Repeated until nothing new is found.
    """
    person = Person()
    wanted = {kind: [h for k, h in request_hashes if k == kind] for kind in ("email", "phone", "record", "customer")}
    identity = _exists(con, "intermediate", "int_identity__source_records")
    # the id history's state (a warehouse built before issue 12 holds it in the mart only, until its next build)
    history = next((f"{schema}.{name}" for schema, name in HISTORY_TABLES if _exists(con, schema, name)), None)
    raw = _raw_tables(con)
    for _ in range(MAX_RESOLVE_PASSES):
        before = (len(person.records), len(person.emails), len(person.phones), len(person.customers))
        hashes = person.hashes(salt) | {(k, h) for k, hs in wanted.items() for h in hs}
        params = {"salt": salt, **{k: sorted(h for kk, h in hashes if kk == k) for k in wanted}}
        seeds: set[str] = set()
        if identity:
            seeds |= _values(
                con,
                (
                    "select record_key from intermediate.int_identity__source_records where "
                    f"list_contains($email, {_hash_sql('email', 'email')}) "
                    f"or list_contains($phone, {_hash_sql('phone', 'phone_e164')}) "
                    f"or list_contains($record, {_hash_sql('record', 'record_key')})"
                ),
                params,
            )
        for table in raw:
            condition = match_condition(table)
            for key in table.record_keys():
                if condition:
                    seeds |= _values(
                        con,
                        f"select distinct {key} from {table.sql} where {condition}",
                        {n: v for n, v in params.items() if f"${n}" in condition},
                    )
        person.records |= seeds
        if history and person.records:
            keys = sorted(person.records)
            person.customers |= _values(
                con, f"select customer_id from {history} where list_contains(?, record_key)", [keys]
            )
            person.customers |= _values(
                con,
                f"select customer_id from {history} where list_contains(?, previous_customer_id)",
                [sorted(person.customers)],
            )
            person.records |= _values(
                con,
                f"select record_key from {history} where list_contains(?, customer_id)",
                [sorted(person.customers)],
            )
        if identity and person.records:
            keys = sorted(person.records)
            inside = con.execute(
                "select email, phone_e164 from intermediate.int_identity__source_records "
                "where list_contains(?, record_key)",
                [keys],
            ).fetchall()
            outside = con.execute(
                "select email, phone_e164 from intermediate.int_identity__source_records "
                "where not list_contains(?, record_key)",
                [keys],
            ).fetchall()
            shared_emails = {e for e, _ in outside if e}
            shared_phones = {p for _, p in outside if p}
            person.emails |= {e for e, _ in inside if e and e not in shared_emails}
            person.phones |= {p for _, p in inside if p and p not in shared_phones}
            person.emails |= _raw_emails(con, raw, keys) - shared_emails
        if (len(person.records), len(person.emails), len(person.phones), len(person.customers)) == before:
            break
    return person


def _raw_emails(con: duckdb.DuckDBPyConnection, raw: list[Table], keys: list[str]) -> set[str]:
    """Email addresses as written in the raw rows of these records (a typo the identity models corrected
    is still the person's, and still in raw)."""
    found: set[str] = set()
    for table in raw:
        record_keys = table.record_keys()
        if not record_keys:
            continue
        owned = " or ".join(f"list_contains($keys, {key})" for key in record_keys)
        for column in table.text_columns():
            found |= _values(
                con,
                (
                    f"select distinct unnest(regexp_extract_all(lower({column.text}), '{SQL_EMAIL_TOKEN}')) "
                    f"from {table.sql} where ({owned}) and contains({column.text}, '@')"
                ),
                {"keys": keys},
            )
    return found


# -- local load packages ----------------------------------------------------------------------------------
def scrub_load_packages(pipelines_dir: Path) -> tuple[int, list[str]]:
    """Delete the data files of load packages dlt has finished loading (``load/loaded/*/completed_jobs``
    and ``failed_jobs``): the rows are in the warehouse, the copies would keep an erased person on disk.
    Returns files deleted and the pipelines with packages not yet loaded (left alone: the next load
    completes them and the erasure check after it removes the person's rows)."""
    root = pipelines_dir
    deleted = 0
    pending: list[str] = []
    if not root.is_dir():
        return 0, pending
    for pipeline in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for jobs in (*pipeline.glob("load/loaded/*/completed_jobs"), *pipeline.glob("load/loaded/*/failed_jobs")):
            for file in jobs.iterdir():
                if file.is_file():
                    file.unlink()
                    deleted += 1
        if any(p.is_dir() and any(p.iterdir()) for p in pipeline.glob("load/normalized/*")) or any(
            any(p.iterdir()) for p in pipeline.glob("normalize/extracted/*") if p.is_dir()
        ):
            pending.append(pipeline.name)
    return deleted, pending


# -- runs -------------------------------------------------------------------------------------------------
@dataclass
class ErasureRun:
    requests_applied: int = 0
    source_records: int = 0
    rows_removed: dict[str, int] = field(default_factory=dict)
    files_deleted: int = 0
    pending_packages: list[str] = field(default_factory=list)

    def line(self) -> str:
        tables = len(self.rows_removed)
        rows = sum(self.rows_removed.values())
        if self.requests_applied:
            text = (
                f"erasure: {self.requests_applied} request(s) applied ({self.source_records} source records), "
                f"{rows:,} rows removed from {tables} table(s), {self.files_deleted} load-package file(s) deleted"
            )
        else:
            text = f"erasure check: {rows:,} returning row(s) of erased people removed from {tables} raw table(s)"
        if self.pending_packages:
            text += f"; unfinished load packages left for their next load: {', '.join(self.pending_packages)}"
        return text


def apply_pending(
    path: Path | None = None, phase: str = "build", settings: Settings | None = None
) -> ErasureRun | None:
    """Before a build: turn landed Shopify redactions into requests, apply pending requests (cluster,
    every table, staging datasets, load packages) and remove any returning erased record from raw.
    Does nothing (and needs no salt) on a warehouse that never received an erasure request."""
    settings = resolve_settings(settings)
    path = path or settings.duckdb_path
    with warehouse(path) as con:
        has_redactions = (
            _exists(con, "raw_shopify", "deleted_records")
            and con.execute(
                "select count(*) from raw_shopify.deleted_records where topic = 'customers/redact'"
            ).fetchone()[0]
        )
        pending_requests = (
            _exists(con, SCHEMA, "erasure_requests")
            and con.execute(f"select count(*) from {SCHEMA}.erasure_requests where status = 'pending'").fetchone()[0]
        )
        if not (has_redactions or pending_requests or erased_count(con)):
            return None
        salt = erasure_salt()
        assert salt is not None
        con.execute(DDL)
        run = ErasureRun()
        run_id = str(uuid.uuid4())
        con.execute("begin")
        _record_salt_check(con, salt)
        _landed_redactions(con, salt)
        pending = con.execute(
            f"select request_id from {SCHEMA}.erasure_requests where status = 'pending' order by received_at"
        ).fetchall()
        for (request_id,) in pending:
            requested = {
                (k, h)
                for k, h in con.execute(
                    f"select identifier_kind, identifier_hash from {SCHEMA}.erased_identifiers where request_id = ?",
                    [request_id],
                ).fetchall()
            }
            person = resolve(con, salt, requested)
            learnt = person.hashes(salt) - requested
            known = {
                (k, h)
                for k, h in con.execute(
                    f"select identifier_kind, identifier_hash from {SCHEMA}.erased_identifiers"
                ).fetchall()
            }
            _insert_rows(
                con,
                f"insert into {SCHEMA}.erased_identifiers values (?, ?, ?, 'cluster', ?)",
                [[h, k, request_id, now()] for k, h in sorted(learnt - known)],
            )
            con.execute(
                f"update {SCHEMA}.erasure_requests set status = 'applied', applied_at = ?, apply_run_id = ?, "
                "source_records_erased = ? where request_id = ?",
                [now(), run_id, len(person.records), request_id],
            )
            run.requests_applied += 1
            run.source_records += len(person.records)
        if pending:
            run.rows_removed = remove_matching_rows(con, salt, tables(con), run_id, "apply")
        else:
            run.rows_removed = remove_matching_rows(con, salt, _raw_tables(con), run_id, phase)
        _truncate_staging_datasets(con)
        con.execute("commit")
    run.files_deleted, run.pending_packages = scrub_load_packages(settings.pipelines_dir)
    return run


def refuse_load_without_salt(pipeline: dlt.Pipeline) -> None:
    """In a loader, once it holds its run lock and before it fetches anything: a warehouse that holds erasure
    requests needs the salt to remove, after the load, the records of erased people that came back
    (``enforce_after_load``), and the very salt they were recorded with (``verify_salt``). Without it the load is
    refused, so no such record lands in raw to wait there for a run that has the salt. Read through the loader's
    own connection (dlt's SQL client of ``pipeline``): a warehouse another process holds fails the loader itself,
    and nothing is loaded."""
    with pipeline.sql_client() as client:
        exists = client.execute_sql(
            "select count(*) from information_schema.tables where table_schema = %s and table_name = %s",
            SCHEMA,
            "erased_identifiers",
        )
        if not exists or not exists[0][0]:
            return
        requests = client.execute_sql(f"select count(*) from {SCHEMA}.erased_identifiers")
        if not requests or not requests[0][0]:
            return
        checks = client.execute_sql(
            "select count(*) from information_schema.tables where table_schema = %s and table_name = %s",
            SCHEMA,
            "erasure_salt_check",
        )
        rows = client.execute_sql(f"select check_value from {SCHEMA}.erasure_salt_check") if checks[0][0] else []
    try:
        salt = erasure_salt()
        assert salt is not None
        _check_salt(str(rows[0][0]) if rows else None, salt)
    except UserError as error:
        raise UserError(f"{error}; this warehouse holds erasure requests, so nothing was loaded") from error


def enforce_after_load(path: Path | None = None, settings: Settings | None = None) -> ErasureRun | None:
    """After a load: records of erased people that came back are removed from raw (logged as ``erased``)."""
    settings = resolve_settings(settings)
    path = path or settings.duckdb_path
    with warehouse(path) as con:
        if not erased_count(con):
            return None
        salt = erasure_salt()
        assert salt is not None
        con.execute(DDL)
        run = ErasureRun()
        con.execute("begin")
        _record_salt_check(con, salt)
        run.rows_removed = remove_matching_rows(con, salt, _raw_tables(con), str(uuid.uuid4()), "load")
        _truncate_staging_datasets(con)
        con.execute("commit")
    run.files_deleted, run.pending_packages = scrub_load_packages(settings.pipelines_dir)
    return run


def _truncate_staging_datasets(con: duckdb.DuckDBPyConnection) -> None:
    """dlt's ``raw_*_staging`` datasets are scratch copies for merges (refilled by every merge load)."""
    for schema, name in con.execute(
        "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' "
        "and table_schema like 'raw\\_%\\_staging' escape '\\' and table_name not like '\\_dlt\\_%' escape '\\'"
    ).fetchall():
        con.execute(f'delete from "{schema}"."{name}"')


def status_lines(path: Path | None = None, settings: Settings | None = None) -> list[str]:
    settings = resolve_settings(settings)
    path = path or settings.duckdb_path
    with warehouse(path) as con:
        if not _exists(con, SCHEMA, "erasure_requests"):
            return ["no erasure requests"]
        rows = con.execute(
            f"select r.request_id, r.received_at, r.channel, r.status, r.applied_at, r.source_records_erased, "
            f"r.reason, count(i.identifier_hash) from {SCHEMA}.erasure_requests r left join "
            f"{SCHEMA}.erased_identifiers i using (request_id) group by all order by r.received_at"
        ).fetchall()
    return [
        f"{rid} {received:%Y-%m-%d %H:%M} {channel} {status}"
        + (f" {applied:%Y-%m-%d %H:%M}, {records} source records" if applied else "")
        + f", {n} hashed identifiers: {reason}"
        for rid, received, channel, status, applied, records, reason, n in rows
    ]


def print_run(run: ErasureRun | None) -> None:
    if run is not None and (run.requests_applied or run.rows_removed or run.files_deleted):
        print(run.line(), file=sys.stderr)
