"""Planted defects: which person carries which invalid value, and how invalid values look.

The staging layer's quarantine is tested against ``truth/planted_defects.csv``: it must catch exactly
these and nothing else. So defects are planted on a fixed schedule (config.DEFECT_*), never by a coin
flip inside the noise, and each value made here is invalid under the shared conventions while the noise
in noise.py never is. One person carries at most one defect kind, on one record.

Where each rule is planted (source / raw table the staging quarantine reads: field):

* invalid_email: hubspot contacts email; shopify customers email; legacy_crm / signup_forms email
* invalid_phone: hubspot contacts phone; legacy_crm / signup_forms phone
* invalid_date: hubspot contacts date_of_birth; legacy_crm / signup_forms date_of_birth
* future_date: hubspot contacts date_of_birth or createdate; shopify customers created_at;
  legacy_crm / signup_forms date_of_birth
* date_before_1900: hubspot contacts date_of_birth; legacy_crm date_of_birth
* unknown_enum: hubspot contacts lifecyclestage; shopify orders financial_status
* negative_amount: shopify orders__line_items price (the order's totals stay consistent and positive)
* order_total_mismatch: shopify orders total_price
* missing_required_key: segment events (a track without ``event``); legacy_crm / signup_forms contact_id
* missing_identity: segment events (neither anonymousId nor userId)
* broken_json: segment rejected_events (a truncated copy of a line, keyed ``<day>/<file>:<line>``)
* broken_csv_row: legacy_crm / signup_forms rejected_rows (a copy of a row with an unquoted comma or cut
  short, keyed ``<file>:<data row>``)
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import IO

from ingestion.demo_kit.generate import config


@dataclass(frozen=True)
class DefectKind:
    source: str  # hubspot | shopify | segment | legacy_crm | signup_forms (the drop name for CSV)
    table: str
    rule: str
    field: str


KINDS: tuple[DefectKind, ...] = (
    DefectKind("hubspot", "contacts", "invalid_email", "email"),
    DefectKind("shopify", "orders", "order_total_mismatch", "total_price"),
    DefectKind("segment", "events", "missing_required_key", "event"),
    DefectKind("legacy_crm", "legacy_crm", "invalid_phone", "phone"),
    DefectKind("hubspot", "contacts", "invalid_phone", "phone"),
    DefectKind("signup_forms", "signup_forms", "invalid_email", "email"),
    DefectKind("shopify", "orders__line_items", "negative_amount", "price"),
    DefectKind("segment", "events", "missing_identity", "anonymousId"),
    DefectKind("hubspot", "contacts", "invalid_date", "date_of_birth"),
    DefectKind("legacy_crm", "legacy_crm", "invalid_email", "email"),
    DefectKind("shopify", "customers", "invalid_email", "email"),
    DefectKind("segment", "rejected_events", "broken_json", "line"),
    DefectKind("hubspot", "contacts", "future_date", "date_of_birth"),
    DefectKind("legacy_crm", "legacy_crm", "invalid_date", "date_of_birth"),
    DefectKind("signup_forms", "signup_forms", "invalid_phone", "phone"),
    DefectKind("shopify", "orders", "unknown_enum", "financial_status"),
    DefectKind("hubspot", "contacts", "date_before_1900", "date_of_birth"),
    DefectKind("legacy_crm", "legacy_crm", "missing_required_key", "contact_id"),
    DefectKind("shopify", "customers", "future_date", "created_at"),
    DefectKind("hubspot", "contacts", "unknown_enum", "lifecyclestage"),
    DefectKind("signup_forms", "signup_forms", "future_date", "date_of_birth"),
    DefectKind("legacy_crm", "rejected_rows", "broken_csv_row", "line"),
    DefectKind("hubspot", "contacts", "future_date", "createdate"),
    DefectKind("signup_forms", "signup_forms", "missing_required_key", "contact_id"),
    DefectKind("legacy_crm", "legacy_crm", "date_before_1900", "date_of_birth"),
    DefectKind("signup_forms", "rejected_rows", "broken_csv_row", "line"),
    DefectKind("signup_forms", "signup_forms", "invalid_date", "date_of_birth"),
)
assert config.DEFECT_PHASE + (len(KINDS) - 1) * config.DEFECT_STEP < config.DEFECT_PERIOD

RULES = (
    "invalid_email",
    "invalid_phone",
    "invalid_date",
    "future_date",
    "date_before_1900",
    "negative_amount",
    "order_total_mismatch",
    "missing_required_key",
    "unknown_enum",
    "missing_identity",
    "broken_json",
    "broken_csv_row",
)


def defect_for(index: int) -> DefectKind | None:
    slot = index % config.DEFECT_PERIOD - config.DEFECT_PHASE
    if slot < 0 or slot % config.DEFECT_STEP:
        return None
    position = slot // config.DEFECT_STEP
    return KINDS[position] if position < len(KINDS) else None


class DefectLog:
    """Streams ``truth/planted_defects.csv``."""

    HEADER = ("source_system", "table", "record_key", "rule", "offending_value")

    def __init__(self, handle: IO[str]) -> None:
        self._writer = csv.writer(handle, lineterminator="\n")
        self._writer.writerow(self.HEADER)
        self.count = 0

    def plant(self, kind: DefectKind, record_key: str, offending_value: str) -> None:
        self._writer.writerow((kind.source, kind.table, record_key, kind.rule, offending_value))
        self.count += 1


# -- invalid values ---------------------------------------------------------------------------------------
def invalid_email(r: random.Random, email: str) -> str:
    local, _, domain = email.partition("@")
    choice = r.randrange(4)
    if choice == 0:
        return f"{local}{domain}"  # no @
    if choice == 1:
        return f"{local}@{domain.replace('.', '')}"  # no dot in the domain
    if choice == 2:
        cut = max(1, len(local) // 2)
        return f"{local[:cut]} {local[cut:]}@{domain}"  # a space inside
    return f"{local}@@{domain}"  # two @


def invalid_phone(r: random.Random, calling_code: str, nsn: str) -> str:
    """Letters, fewer than 7 digits, or 8 digits (a wrong length in every country we write)."""
    choice = r.randrange(3)
    if choice == 0:
        return r.choice(("555-CALL-NOW", "CALL ME", "1-800-FLOWERS", "n/a - ask"))
    if choice == 1:
        return r.choice(("12345", "555-12", "0000", "911"))
    return f"+{calling_code} {nsn[:4]} {nsn[4:8]}"


_IMPOSSIBLE_DAYS = ((2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31))


def impossible_date(r: random.Random, year: int) -> tuple[int, int, int]:
    month, day = r.choice(_IMPOSSIBLE_DAYS)
    return year, month, day


def future_date(r: random.Random, as_of: date) -> date:
    """At least two years after as_of."""
    return as_of + timedelta(days=r.randrange(800, 2500))


def date_before_1900(r: random.Random) -> date:
    return date(r.randrange(1850, 1900), r.randrange(1, 13), r.randrange(1, 29))


UNKNOWN_LIFECYCLE_STAGES = ("prospect", "vip", "churned", "partner")
UNKNOWN_FINANCIAL_STATUSES = ("chargeback", "disputed", "on_hold")
