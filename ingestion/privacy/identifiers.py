"""Erasure identifiers: how a request names a person, normalized and hashed with a secret salt.

Only the salted hash of an identifier is ever stored. The salt is a secret (dlt secret
``privacy.erasure_salt``, environment ``PRIVACY__ERASURE_SALT``), never in the repository, and the same
digest is computed in DuckDB (``sha256(salt || '|' || kind || '|' || value)``, the salt bound as a query
parameter, never written into SQL text) and in Python, so the warehouse can be searched for a person
without keeping their plain identifiers anywhere.

Kinds: ``email`` (trimmed, lower case), ``phone`` (E.164: ``+`` and digits), ``record`` (a source record
key ``<source_system>|<source_record_id>``, as ``int_identity__source_records.record_key`` writes it) and
``customer`` (a ``customer_id``).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestion.errors import UserError

SALT_KEY = "privacy.erasure_salt"
SALT_ENV = "PRIVACY__ERASURE_SALT"
MIN_SALT_LENGTH = 16
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# The same patterns in SQL (ingestion.privacy.erasure) find identifiers inside any text value.
SQL_EMAIL_TOKEN = r"[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+"
SQL_PHONE_TOKEN = r"\+[0-9][0-9 ().\-]{5,20}[0-9]"


def erasure_salt(required: bool = True) -> str | None:
    """The secret salt, from dlt's secrets (env ``PRIVACY__ERASURE_SALT`` or a secrets.toml outside the repo)."""
    from ingestion.dlt_config import dlt_setting

    value = dlt_setting(SALT_KEY, secret=True)
    salt = str(value) if value is not None else ""
    if not salt:
        if required:
            raise UserError(
                f"erasure needs a secret salt: set {SALT_ENV} (at least {MIN_SALT_LENGTH} characters, kept in "
                "your secret store; the same value on every run, or earlier requests can no longer be matched)"
            )
        return None
    if len(salt) < MIN_SALT_LENGTH:
        raise UserError(f"{SALT_ENV} is too short: use at least {MIN_SALT_LENGTH} random characters")
    return salt


def normalize_email(value: str) -> str:
    email = value.strip().lower()
    if not EMAIL_PATTERN.match(email):
        raise UserError(f"not an email address: {_mask(value)}")
    return email


def normalize_phone(value: str) -> str:
    """E.164 only: a number without its country code could be anyone's in another country."""
    text = value.strip()
    digits = re.sub(r"[^0-9]", "", text)
    if text.startswith("00"):
        digits = digits[2:]
    elif not text.startswith("+"):
        raise UserError(f"a phone must be given in international form (+<country code> ...): {_mask(value)}")
    if not 7 <= len(digits) <= 15:
        raise UserError(f"not a phone number (7 to 15 digits after the +): {_mask(value)}")
    return "+" + digits


def _mask(value: str) -> str:
    """An identifier in an error message: enough to find the line, not the person."""
    text = value.strip()
    return f"{text[:2]}… ({len(text)} characters)" if text else "(blank)"


def identifier_hash(salt: str, kind: str, value: str) -> str:
    return hashlib.sha256(f"{salt}|{kind}|{value}".encode()).hexdigest()


@dataclass
class ErasureRequest:
    """One person to forget, as plain identifiers (in memory only) with why and through which channel."""

    channel: str
    reason: str
    identifiers: list[tuple[str, str]] = field(default_factory=list)  # (kind, normalized value)

    def hashes(self, salt: str) -> list[tuple[str, str]]:
        return sorted({(kind, identifier_hash(salt, kind, value)) for kind, value in self.identifiers})


def from_cli(email: str | None, phone: str | None, reason: str) -> ErasureRequest:
    request = ErasureRequest(channel="cli", reason=reason)
    if email:
        request.identifiers.append(("email", normalize_email(email)))
    if phone:
        request.identifiers.append(("phone", normalize_phone(phone)))
    return request


def from_csv(path: Path, reason: str) -> list[ErasureRequest]:
    """``email,phone[,reason]`` rows (header required), one person per row; any bad row fails the whole file."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = {(name or "").strip().lower() for name in reader.fieldnames or []}
            if not columns & {"email", "phone"}:
                raise UserError(f"{path}: the header needs an email and/or a phone column")
            requests = []
            for line, row in enumerate(reader, start=2):
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
                try:
                    request = from_cli(row.get("email"), row.get("phone"), row.get("reason") or reason)
                except UserError as error:
                    raise UserError(f"{path}, line {line}: {error}") from None
                if not request.identifiers:
                    raise UserError(f"{path}, line {line}: neither an email nor a phone")
                request.channel = "file"
                requests.append(request)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"cannot read {path}: {type(error).__name__}: {error}") from error
    if not requests:
        raise UserError(f"{path} holds no requests")
    return requests


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UserError(f"cannot read {path} as JSON: {type(error).__name__}: {error}") from error


def _json_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(path.glob("*.json"))
    if path.is_file():
        return [path]
    raise UserError(f"{path} is neither a file nor a folder")


def from_hubspot(path: Path, reason: str) -> list[ErasureRequest]:
    """HubSpot's own shapes: the body of ``POST /crm/v3/objects/contacts/gdpr-delete``
    (``{"objectId": ..., "idProperty": "email"}``; without ``idProperty`` the objectId is a contact id), a
    list of them, or webhook events with ``subscriptionType`` ``contact.privacyDeletion``."""
    requests = []
    for file in _json_files(path):
        document = _read_json(file)
        items = document if isinstance(document, list) else [document]
        for item in items:
            if not isinstance(item, dict) or "objectId" not in item:
                raise UserError(f"{file}: not a HubSpot gdpr-delete body or privacyDeletion event (no objectId)")
            object_id = str(item["objectId"]).strip()
            if item.get("subscriptionType") not in (None, "contact.privacyDeletion"):
                raise UserError(f"{file}: a {item['subscriptionType']!r} event is not a privacy deletion")
            channel = "hubspot_privacy_deletion" if "subscriptionType" in item else "hubspot_gdpr_delete"
            request = ErasureRequest(channel=channel, reason=reason)
            id_property = str(item.get("idProperty") or "hs_object_id")
            if id_property == "email":
                request.identifiers.append(("email", normalize_email(object_id)))
            elif id_property in ("hs_object_id", "id") and object_id.isdigit():
                request.identifiers.append(("record", f"hubspot|{object_id}"))
            else:
                raise UserError(
                    f"{file}: idProperty {id_property!r} with objectId of {len(object_id)} characters "
                    "is neither an email nor a contact id"
                )
            requests.append(request)
    return requests


def shopify_redact_request(payload: dict[str, Any], reason: str) -> ErasureRequest:
    """Shopify's ``customers/redact`` payload: the customer (id, email, phone) and the orders to redact."""
    customer = payload.get("customer")
    if not isinstance(customer, dict) or customer.get("id") is None:
        raise UserError("a customers/redact payload needs customer.id")
    request = ErasureRequest(channel="shopify_customers_redact", reason=reason)
    request.identifiers.append(("record", f"shopify|customer:{int(customer['id'])}"))
    if customer.get("email"):
        request.identifiers.append(("email", normalize_email(str(customer["email"]))))
    if customer.get("phone"):
        # a national number cannot be normalized: the customer id and email still name the person
        with contextlib.suppress(UserError):
            request.identifiers.append(("phone", normalize_phone(str(customer["phone"]))))
    for order_id in payload.get("orders_to_redact") or []:
        request.identifiers.append(("record", f"shopify|order:{int(order_id)}"))
    return request


def from_shopify(path: Path, reason: str) -> list[ErasureRequest]:
    """``customers/redact`` payloads, bare or as stored deliveries ``{"topic", "payload"}``."""
    requests = []
    for file in _json_files(path):
        document = _read_json(file)
        if isinstance(document, dict) and "topic" in document:
            if document["topic"] != "customers/redact":
                raise UserError(f"{file}: a {document['topic']!r} webhook is not customers/redact")
            document = document.get("payload")
        if not isinstance(document, dict):
            raise UserError(f"{file}: not a customers/redact payload")
        try:
            requests.append(shopify_redact_request(document, reason))
        except (UserError, TypeError, ValueError) as error:
            raise UserError(f"{file}: {error}") from None
    return requests
