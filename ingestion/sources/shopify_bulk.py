"""First loads of Shopify through the GraphQL Admin API's bulk operations (issue 16).

A first load (a resource with no incremental cursor yet) does not page the REST list 250 records at a
time under the leaky bucket: it asks Shopify to export the whole connection (``bulkOperationRunQuery``),
polls the operation by id with back-off until it ends, downloads the JSONL file from its ``url`` and
turns every line back into the record the REST list would have sent, so the raw tables, their columns
and their values are the REST path's exactly (staging does not know which path ran).

The file has one line per node; the nodes of a nested connection (an order's line items, a refund's
refund line items and transactions, a product's variants) are lines of their own that name their parent in
``__parentId``: right after it when asked ``groupObjects: true``, anywhere otherwise (the default from API
2026-01); ``read_file`` regroups them in DuckDB, so the order of the lines does not matter.
Ids are global ids (``gid://shopify/Order/1``) and become the REST
integers again; GraphQL field names are the REST names in camelCase, or the paths API 2026-10 renamed them to
(``QUERY_FIELDS`` lists them all: a field missing there would be missing from the raw tables, which
``test_shopify_bulk`` proves it is not).

The incremental cursor is dlt's, as on the REST path: the records go through the same resource and
its ``updated_at`` incremental, so the next run pages REST from the latest ``updated_at`` seen. A record
changed while the operation ran may be exported in its old version or not at all; so, before the file
is read, the records updated since the operation's ``createdAt`` are fetched from REST and replace
theirs in the file: nothing changed during the export is missed, and nothing is loaded twice.

Every failure is one ``UserError`` raised while extracting, so nothing reaches the warehouse (the
all-or-nothing guarantee of every load): an operation FAILED, CANCELED or EXPIRED (with its
``errorCode``; a ``partialDataUrl`` is never loaded, a part of a table is not a load), an operation
still running after ``bulk_timeout_seconds`` (it is cancelled), a download URL that expired twice, a
file that cannot be read back. An operation of the same app already running (``OPERATION_IN_PROGRESS``) or
the app's operations at their limit (``LIMIT_REACHED``) are waited for, then the export is asked for again.

Every first-load export is asked for before the first file is read (from API 2026-01 an app runs up to five
bulk queries per shop at once), so the shop builds the files side by side. A run that fails cancels the
exports it asked for that are still running, including one whose start it never heard back from (found by
its query among the app's running operations).

Settings: ``SOURCES__SHOPIFY__BULK_FIRST_LOAD`` (default ``true``; ``false`` forces REST paging for first
loads too) and ``SOURCES__SHOPIFY__BULK_TIMEOUT_SECONDS`` (default 3600).
"""

from __future__ import annotations

import functools
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import requests

from ingestion.errors import UserError
from ingestion.settings import DUCKDB_MEMORY_LIMIT_ENV

BULK_FIRST_LOAD_ENV = "SOURCES__SHOPIFY__BULK_FIRST_LOAD"
BULK_TIMEOUT_ENV = "SOURCES__SHOPIFY__BULK_TIMEOUT_SECONDS"
DEFAULT_TIMEOUT_SECONDS = 3600.0
POLL_FIRST_SECONDS = 0.1  # the first poll; each next waits twice as long, up to POLL_MAX_SECONDS
POLL_MAX_SECONDS = 10.0
BATCH = 1000  # records per yielded list
DOWNLOAD_CHUNK = 1 << 20
DOWNLOAD_ATTEMPTS = 3
TERMINAL_FAILURES = ("FAILED", "CANCELED", "EXPIRED")
RUNNING = ("CREATED", "RUNNING", "CANCELING")

# -- the fields exported: every field the REST path lands ------------------------------------------
# A field is a name (a scalar, the REST name in camelCase), or (name, kind, fields) with kind "object"
# (flattened by dlt), "list" (an inline list of objects: a child table), "connection" (an inline list too, but
# exported as lines of their own with __parentId), or "renamed" / "enum" / "id": the REST field ``name`` is, in
# the GraphQL Admin API 2026-10, the path ``fields`` (``("total_spent", "renamed", ("amountSpent", "amount"))``);
# an "enum" value is upper-case there and lower-cased back (``PARTIALLY_REFUNDED`` -> ``partially_refunded``, or
# through ``ENUM_VALUES``); an "id" is a global id there and the REST integer again.
Field = str | tuple[str, str, tuple[Any, ...]]

_ADDRESS = (
    "first_name", "last_name", "company", "address1", "address2", "city", "province", "province_code",
    "country", "country_code", "country_name", "zip", "phone", "name",
)  # fmt: skip
_CUSTOMER_ADDRESS = ("id", "customer_id", *_ADDRESS, "default")
_CONSENT = (
    ("state", "enum", ("marketingState",)),
    ("opt_in_level", "enum", ("marketingOptInLevel",)),
    "consent_updated_at",
)
_MONEY = ("amount", "currency_code")

QUERY_FIELDS: dict[str, tuple[Field, ...]] = {
    "customers": (
        "id", "email", "first_name", "last_name", "phone", "created_at", "updated_at",
        ("state", "enum", ("state",)),
        "verified_email", "currency", "tags", "note", "tax_exempt",
        ("orders_count", "renamed", ("numberOfOrders",)),
        ("total_spent", "renamed", ("amountSpent", "amount")),
        ("addresses", "list", _CUSTOMER_ADDRESS),
        ("default_address", "object", _CUSTOMER_ADDRESS),
        ("email_marketing_consent", "object", _CONSENT),
        ("sms_marketing_consent", "object", (*_CONSENT, "consent_collected_from")),
    ),
    "orders": (
        "id", "name", "order_number", "email", "phone", "created_at", "updated_at", "processed_at",
        "cancelled_at", "total_line_items_price",
        ("fulfillment_status", "enum", ("displayFulfillmentStatus",)),
        ("currency", "renamed", ("currencyCode",)),
        ("presentment_currency", "renamed", ("presentmentCurrencyCode",)),
        ("financial_status", "enum", ("displayFinancialStatus",)),
        ("subtotal_price", "renamed", ("subtotalPriceSet", "shopMoney", "amount")),
        ("total_tax", "renamed", ("totalTaxSet", "shopMoney", "amount")),
        ("total_discounts", "renamed", ("totalDiscountsSet", "shopMoney", "amount")),
        ("total_price", "renamed", ("totalPriceSet", "shopMoney", "amount")),
        ("total_shipping_price_set", "object", (("shop_money", "object", _MONEY),
                                                ("presentment_money", "object", _MONEY))),
        ("discount_codes", "list", ("code", "amount", "type")),
        ("buyer_accepts_marketing", "renamed", ("customerAcceptsMarketing",)),
        "landing_site", "source_name",
        ("customer", "object", ("id", "email", "first_name", "last_name", "phone", ("state", "enum", ("state",)),
                                "currency", "created_at")),
        ("line_items", "connection", (
            "id", "title", "variant_title", "sku", "quantity", "vendor",
            ("product_id", "id", ("product", "id")),
            ("variant_id", "id", ("variant", "id")),
            ("price", "renamed", ("originalUnitPriceSet", "shopMoney", "amount")),
            ("total_discount", "renamed", ("totalDiscountSet", "shopMoney", "amount")),
            ("product_type", "renamed", ("product", "productType")),
        )),
        ("shipping_address", "object", _ADDRESS),
        ("billing_address", "object", _ADDRESS),
        ("refunds", "list", (
            "id", "created_at", "note",
            ("refund_line_items", "connection", (
                "id", "quantity",
                ("line_item_id", "id", ("lineItem", "id")),
                ("subtotal", "renamed", ("subtotalSet", "shopMoney", "amount")),
            )),
            ("transactions", "connection", (
                "id",
                ("amount", "renamed", ("amountSet", "shopMoney", "amount")),
                ("currency", "renamed", ("amountSet", "shopMoney", "currencyCode")),
                ("kind", "enum", ("kind",)),
                ("status", "enum", ("status",)),
            )),
        )),
    ),
    "products": (
        "id", "title", "handle", "product_type", "vendor", ("status", "enum", ("status",)), "tags", "created_at",
        "updated_at",
        ("variants", "connection", ("id", "product_id", "title", "sku", "price", "created_at", "updated_at")),
    ),
}  # fmt: skip


@functools.cache
def camel(name: str) -> str:
    """``first_name`` -> ``firstName``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


RENAMED = ("renamed", "enum", "id")
# Enum values that are not the REST value upper-cased; others are lower-cased. displayFulfillmentStatus has more
# states than REST's fulfillment_status (null, partial, fulfilled, restocked): the rest are REST's null.
ENUM_VALUES: dict[str, dict[str, str | None]] = {
    "displayFulfillmentStatus": {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial", "RESTOCKED": "restocked"},
}


def _selection(fields: tuple[Field, ...]) -> str:
    """The GraphQL selection of ``fields``; renamed paths sharing a head are merged (``totalPriceSet { shopMoney
    { amount } }`` once, whatever number of fields read it)."""
    tree: dict[str, Any] = {}  # GraphQL name -> None (a scalar), a rendered body, or a subtree of paths
    for item in fields:
        if isinstance(item, str):
            tree[camel(item)] = None
            continue
        name, kind, inner = item
        if kind in RENAMED:
            node = tree
            for part in inner[:-1]:
                node = node.setdefault(part, {})
            node[inner[-1]] = None
        elif kind == "connection":
            tree[camel(name)] = f"{{ edges {{ node {{ {_selection(inner)} }} }} }}"
        else:
            tree[camel(name)] = f"{{ {_selection(inner)} }}"
    return _render(tree)


def _render(tree: dict[str, Any]) -> str:
    return " ".join(
        key if body is None else f"{key} {body}" if isinstance(body, str) else f"{key} {{ {_render(body)} }}"
        for key, body in tree.items()
    )


def _enum_value(values: dict[str, str | None] | None) -> Callable[[Any], Any]:
    """An enum field's value as REST sends it: lower-cased, or through ``values`` (``ENUM_VALUES``)."""

    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return value.lower() if values is None else values.get(value)

    return convert


def _at(node: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a GraphQL path of a line (None where any step is null)."""
    value: Any = node
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def bulk_query(resource: str) -> str:
    """The bulk query document exporting ``resource`` with every field of ``QUERY_FIELDS``."""
    return f"{{ {camel(resource)} {{ edges {{ node {{ {_selection(QUERY_FIELDS[resource])} }} }} }} }}"


def gid_number(value: Any) -> Any:
    """``gid://shopify/Order/5200000001`` -> 5200000001 (the REST id)."""
    if isinstance(value, str) and value.startswith("gid://"):
        tail = value.rsplit("/", 1)[-1].split("?", 1)[0]
        return int(tail) if tail.isdigit() else tail
    return value


# How one object of a line becomes its REST record, compiled once per object type from QUERY_FIELDS: walking the
# field tuples for every record (camel-casing names, hashing nested tuples in caches) was most of the read's CPU.
_SCALAR, _ID, _PATH, _CONVERTED, _CONNECTION, _OBJECT, _LIST = range(7)


@dataclass(frozen=True)
class _Plan:
    # (REST name, step kind, GraphQL key or path, the inner object's plan or a value converter)
    steps: tuple[tuple[str, int, Any, Any], ...]
    connections: tuple[tuple[str, _Plan], ...]  # (REST name, the plan of its nodes): this object owns child lines
    owner_paths: tuple[tuple[str, _Plan], ...]  # (GraphQL key, plan) of objects and lists that may hold an owner


@functools.cache
def _plan(fields: tuple[Field, ...]) -> _Plan:
    steps: list[tuple[str, int, Any, Any]] = []
    connections: list[tuple[str, _Plan]] = []
    owner_paths: list[tuple[str, _Plan]] = []
    for item in fields:
        if isinstance(item, str):
            steps.append((item, _ID if item == "id" else _SCALAR, camel(item), None))
            continue
        name, kind, inner = item
        if kind == "renamed":
            steps.append((name, _PATH, inner, None))
        elif kind == "id":
            steps.append((name, _CONVERTED, inner, gid_number))
        elif kind == "enum":
            steps.append((name, _CONVERTED, inner, _enum_value(ENUM_VALUES.get(inner[-1]))))
        elif kind == "connection":
            steps.append((name, _CONNECTION, None, None))
            connections.append((name, _plan(inner)))
        else:
            inner_plan = _plan(inner)
            steps.append((name, _OBJECT if kind == "object" else _LIST, camel(name), inner_plan))
            if inner_plan.connections or inner_plan.owner_paths:
                owner_paths.append((camel(name), inner_plan))
    return _Plan(tuple(steps), tuple(connections), tuple(owner_paths))


class Reassembler:
    """Turns JSONL lines back into REST records: a root line opens a record, its children's lines (which
    follow it: ``read_file`` hands them over in that order, whatever the file's) are appended to the list they
    belong to, found by the ``__parentId`` of the line."""

    def __init__(self, resource: str) -> None:
        self.plan = _plan(QUERY_FIELDS[resource])
        self.current: dict[str, Any] | None = None
        # gid of every object of the current record that owns a connection -> (plan of the object, object)
        self._owners: dict[str, tuple[_Plan, dict[str, Any]]] = {}

    def _rest(self, node: dict[str, Any], plan: _Plan) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for name, kind, key, inner in plan.steps:
            if kind == _SCALAR:
                record[name] = node.get(key)
            elif kind == _ID:
                record[name] = gid_number(node.get(key))
            elif kind == _PATH:
                record[name] = _at(node, key)
            elif kind == _CONVERTED:
                record[name] = inner(_at(node, key))
            elif kind == _CONNECTION:
                record[name] = []
            else:
                value = node.get(key)
                if value is None:
                    record[name] = None
                elif kind == _OBJECT:
                    record[name] = self._rest(value, inner)
                else:
                    record[name] = [self._rest(v, inner) for v in value]
        if plan.connections and "id" in node:
            self._owners[str(node["id"])] = (plan, record)
        return record

    def add(self, line: dict[str, Any]) -> dict[str, Any] | None:
        """Take one line; returns the previous record when ``line`` opens the next one."""
        parent = line.pop("__parentId", None)
        if parent is None:
            finished = self.current
            self._owners = {}
            self.current = self._rest(line, self.plan)
            return finished
        owner = self._owners.get(str(parent))
        if owner is None:
            raise ValueError(f"a line names the parent {parent}, which owns no connection of the record")
        plan, record = owner
        connection = _connection_for(plan, line)
        if connection is None:
            raise ValueError(f"a child line of {parent} matches none of its connections")
        name, inner = connection
        record[name].append(self._rest(line, inner))
        return None

    def finish(self) -> dict[str, Any] | None:
        finished, self.current, self._owners = self.current, None, {}
        return finished


def _connection_for(plan: _Plan, line: dict[str, Any]) -> tuple[str, _Plan] | None:
    """Which connection of an owner a child line belongs to. Shopify writes no field name, only the node:
    an owner with one connection owns it; otherwise the type in its global id tells (``gid://shopify/LineItem/..``)."""
    if len(plan.connections) == 1:
        return plan.connections[0]
    type_name = str(line.get("id", "")).removeprefix("gid://shopify/").split("/", 1)[0]
    for name, inner in plan.connections:
        if CONNECTION_TYPES.get(name) == type_name:
            return name, inner
    return None


CONNECTION_TYPES = {
    "line_items": "LineItem",
    "refund_line_items": "RefundLineItem",
    "transactions": "OrderTransaction",
    "variants": "ProductVariant",
}


class BulkAccessDenied(UserError):
    """The export failed with ACCESS_DENIED: the token lacks the resource's scope (as a REST 403 says)."""


@dataclass
class BulkSettings:
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    poll_first_seconds: float = POLL_FIRST_SECONDS
    poll_max_seconds: float = POLL_MAX_SECONDS
    work_dir: Path | None = None  # where the file is downloaded to (None: the system's temporary folder)
    duckdb_config: dict[str, str] | None = None  # memory limit and threads of the reassembly database


_STATUS_FIELDS = "id status errorCode createdAt completedAt objectCount rootObjectCount fileSize url partialDataUrl"
# The app's operations with a status (API 2026-01): what cancel_running looks for after a failure.
LIST_QUERY = (
    "query Listed($q: String!) { bulkOperations(first: 25, query: $q) { nodes { id status query createdAt } } }"
)
CLEANUP_TIMEOUT_SECONDS = 10.0
CLOCK_SKEW = timedelta(minutes=5)  # between this machine's clock and the shop's createdAt
RUN_MUTATION = (
    "mutation RunBulkQuery($query: String!) { bulkOperationRunQuery(query: $query, groupObjects: true) { "
    f"bulkOperation {{ {_STATUS_FIELDS} }} userErrors {{ field message code }} }} }}"
)
NODE_QUERY = f"query BulkOperation($id: ID!) {{ node(id: $id) {{ ... on BulkOperation {{ {_STATUS_FIELDS} }} }} }}"
CURRENT_QUERY = f"{{ currentBulkOperation {{ {_STATUS_FIELDS} }} }}"
CANCEL_MUTATION = "mutation Cancel($id: ID!) { bulkOperationCancel(id: $id) { bulkOperation { id status } } }"


def _progress(message: str) -> None:
    print(f"shopify: {message}", file=sys.stderr, flush=True)


class BulkExport:
    """Run, wait for and download a resource's export. GraphQL calls carry the access token; the download
    goes through ``download_session`` without it (the URL is signed, and may be another host's)."""

    def __init__(
        self,
        graphql_url: str,
        session: requests.Session,
        access_token: str,
        settings: BulkSettings,
        timeout: float,
        download_session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.graphql_url = graphql_url
        self.session = session
        self.headers = {"X-Shopify-Access-Token": access_token, "Content-Type": "application/json"}
        self.settings = settings
        self.request_timeout = timeout
        self.download_session = download_session or requests.Session()  # no token: the URL is signed
        self.clock = clock
        self.sleep = sleep
        self.running: dict[str, str] = {}  # id -> resource of the operations this run started and not seen end
        self.asked: dict[str, str] = {}  # query text -> resource of every export this run asked for
        self.first_asked_at: datetime | None = None  # when it first asked (UTC, this machine's clock)
        self.cleanup_session = requests.Session()  # one attempt per call: see cancel_running

    def cancel_running(self) -> None:
        """Cancel the exports this run asked for that have not ended, so a failed run leaves none running on the
        shop (each holds one of the app's five places): those it knows of, and any running operation of the app
        with one of its queries created since it first asked (the answer to a start that the session retried
        may have been lost: that export exists, and the run never heard of it). Best effort, one attempt per
        call with a short timeout: the run is failing already, and a hanging shop must not hold the failure up."""
        ids = dict(self.running)
        self.running.clear()
        if self.first_asked_at is not None:
            since = self.first_asked_at - CLOCK_SKEW
            try:
                for status in ("running", "created"):
                    listed = self.call(LIST_QUERY, {"q": f"status:{status} operation_type:query"}, cleanup=True)
                    for node in (listed.get("bulkOperations") or {}).get("nodes") or []:
                        resource = self.asked.get(str(node.get("query")))
                        if resource is not None and _created_since(node.get("createdAt"), since):
                            ids.setdefault(str(node["id"]), resource)
            except (UserError, requests.RequestException) as error:
                _progress(f"could not list this app's running bulk operations ({type(error).__name__})")
        for operation_id, resource in ids.items():
            try:
                self.call(CANCEL_MUTATION, {"id": operation_id}, cleanup=True)
            except (UserError, requests.RequestException) as error:
                _progress(f"{resource}: could not cancel bulk operation {operation_id} ({type(error).__name__})")

    def call(self, query: str, variables: dict[str, Any] | None = None, cleanup: bool = False) -> dict[str, Any]:
        """One GraphQL call: through the run's session (which paces and retries), or, to clean up after a
        failure, once with a short timeout."""
        session, timeout = (
            (self.cleanup_session, min(self.request_timeout, CLEANUP_TIMEOUT_SECONDS))
            if cleanup
            else (self.session, self.request_timeout)
        )
        response = session.post(
            self.graphql_url,
            data=orjson.dumps({"query": query, "variables": variables or {}}),
            headers=self.headers,
            timeout=timeout,
        )
        response.raise_for_status()  # 401/403/5xx: the loader's HTTP failure messages name them
        try:
            body = response.json()
        except ValueError as error:
            raise UserError(f"shopify's GraphQL endpoint answered no JSON at {self.graphql_url}") from error
        errors = body.get("errors")
        if errors:
            message = "; ".join(str(e.get("message", e)) for e in errors)[:300]
            raise UserError(f"shopify's GraphQL endpoint refused a bulk export request: {message}")
        return dict(body.get("data") or {})

    def start(self, resource: str, deadline: float) -> dict[str, Any]:
        """Run the bulk query; an operation of the app already running (``OPERATION_IN_PROGRESS``) or the app's
        bulk operations at their limit (``LIMIT_REACHED``: five at a time per shop from API 2026-01) is waited
        for, then the export is asked for again."""
        pause = self.settings.poll_first_seconds
        query = bulk_query(resource)
        self.asked[query] = resource
        if self.first_asked_at is None:
            self.first_asked_at = datetime.now(UTC)
        told = False
        while True:
            payload = self.call(RUN_MUTATION, {"query": query})["bulkOperationRunQuery"] or {}
            errors = payload.get("userErrors") or []
            if not errors:
                operation = dict(payload["bulkOperation"])
                self.running[str(operation["id"])] = resource
                return operation
            if any(e.get("code") == "LIMIT_REACHED" for e in errors):
                if self.clock() >= deadline:
                    raise UserError(
                        f"this app's bulk operations stayed at Shopify's limit for {self.settings.timeout_seconds:g}s, "
                        f"so shopify would not export {resource}; nothing was committed. Retry later, raise "
                        f"{BULK_TIMEOUT_ENV} or set {BULK_FIRST_LOAD_ENV}=false to page REST"
                    )
                if not told:  # once: the wait may last until the timeout
                    _progress(f"{resource}: this app's bulk operations are at Shopify's limit; waiting for places")
                    told = True
                self.sleep(min(pause, max(0.0, deadline - self.clock())))
                pause = min(pause * 2, self.settings.poll_max_seconds)
                continue
            if any(e.get("code") == "OPERATION_IN_PROGRESS" for e in errors):
                if self.clock() >= deadline:
                    raise UserError(
                        f"another bulk operation of this app still ran after {self.settings.timeout_seconds:g}s, "
                        f"so shopify would not export {resource}; nothing was committed"
                    )
                current = self.call(CURRENT_QUERY).get("currentBulkOperation") or {}
                _progress(f"{resource}: bulk operation {current.get('id')} of this app is still running; waiting")
                if current.get("id") and current.get("status") in RUNNING:
                    self.wait(resource, dict(current), deadline, cancel=False)
                else:  # it ended between the two calls
                    self.sleep(self.settings.poll_first_seconds)
                continue
            messages = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
            raise UserError(f"shopify refused the bulk export of {resource}: {messages}")

    def poll(self, operation_id: str) -> dict[str, Any]:
        node = self.call(NODE_QUERY, {"id": operation_id}).get("node")
        if not node:
            raise UserError(f"shopify does not know bulk operation {operation_id}")
        return dict(node)

    def wait(self, resource: str, operation: dict[str, Any], deadline: float, cancel: bool = True) -> dict[str, Any]:
        """Poll until the operation leaves CREATED/RUNNING, doubling the pause; cancel it at the deadline."""
        pause = self.settings.poll_first_seconds
        while operation.get("status") in RUNNING:
            if self.clock() >= deadline:
                if cancel:
                    self.running.pop(str(operation["id"]), None)
                    self.call(CANCEL_MUTATION, {"id": operation["id"]})
                raise UserError(
                    f"shopify's bulk export of {resource} was still {operation.get('status')} after "
                    f"{self.settings.timeout_seconds:g}s (operation {operation['id']}"
                    f"{', cancelled' if cancel else ''}); nothing was committed. Raise {BULK_TIMEOUT_ENV} or "
                    f"set {BULK_FIRST_LOAD_ENV}=false to page REST"
                )
            self.sleep(min(pause, max(0.0, deadline - self.clock())))
            pause = min(pause * 2, self.settings.poll_max_seconds)
            operation = self.poll(str(operation["id"]))
        self.running.pop(str(operation["id"]), None)
        return operation

    def download(self, resource: str, operation: dict[str, Any], folder: Path) -> Path:
        """The operation's file on disk. A refused URL (expired: 400/403/410) is asked for again once; a
        download cut short starts again, up to ``DOWNLOAD_ATTEMPTS`` times."""
        path = folder / f"{resource}.jsonl"
        refreshed, cuts = False, 0
        while True:
            url = operation.get("url")
            if not url:
                raise UserError(f"shopify's bulk export of {resource} has no file any more; nothing was committed")
            try:
                with self.download_session.get(str(url), stream=True, timeout=self.request_timeout) as response:
                    status = response.status_code
                    if status in (400, 403, 410) and not refreshed:
                        _progress(f"{resource}: the download URL was refused (HTTP {status}); asking for a fresh one")
                        operation, refreshed = self.poll(str(operation["id"])), True
                        continue
                    if status != 200:
                        why = "a fresh URL was refused too" if refreshed else "after retries"
                        raise UserError(
                            f"shopify's bulk export file for {resource} could not be downloaded (HTTP {status}, "
                            f"{why}); nothing was committed"
                        )
                    with path.open("wb") as out:
                        for chunk in response.iter_content(DOWNLOAD_CHUNK):
                            out.write(chunk)
                    return path
            except requests.Timeout as error:  # the error's own text would carry the signed URL
                raise UserError(
                    f"shopify's bulk export file for {resource} did not arrive within {self.request_timeout:g}s; "
                    "nothing was committed"
                ) from error
            except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError) as error:
                cuts += 1
                if cuts >= DOWNLOAD_ATTEMPTS:
                    raise UserError(
                        f"shopify's bulk export file for {resource} kept being cut short ({type(error).__name__}, "
                        f"{cuts} attempts); nothing was committed"
                    ) from error
                _progress(f"{resource}: the download was cut short; starting it again")


@dataclass
class StartedExport:
    """A bulk operation asked for: ``export`` waits for it and reads its file."""

    resource: str
    operation: dict[str, Any]
    started: float  # the bulk clock when it was asked for
    deadline: float


def start_export(resource: str, bulk: BulkExport) -> StartedExport:
    """Ask Shopify to export ``resource``; returns once the operation exists, not when it ends."""
    started = bulk.clock()
    deadline = started + bulk.settings.timeout_seconds
    operation = bulk.start(resource, deadline)
    _progress(f"{resource}: bulk operation {operation['id']} started")
    return StartedExport(resource, operation, started, deadline)


def export(
    started_export: StartedExport,
    bulk: BulkExport,
    changed_since: Callable[[str], dict[int, dict[str, Any]]],
) -> Iterator[list[dict[str, Any]]]:
    """All records of the started export's resource in REST form, in lists of ``BATCH``: the bulk file's, with
    those changed since the operation started replaced by their REST version (``changed_since(createdAt)``)."""
    resource, started = started_export.resource, started_export.started
    operation = bulk.wait(resource, started_export.operation, started_export.deadline)
    status = operation.get("status")
    if status != "COMPLETED":
        partial = " (a partial file exists; it is not loaded)" if operation.get("partialDataUrl") else ""
        denied = status == "FAILED" and operation.get("errorCode") == "ACCESS_DENIED"
        raise (BulkAccessDenied if denied else UserError)(
            f"shopify's bulk export of {resource} ended {status} with error {operation.get('errorCode') or 'none'}"
            f"{partial} (operation {operation['id']}); nothing was committed. Retry later, or set "
            f"{BULK_FIRST_LOAD_ENV}=false to page REST"
        )
    changed = changed_since(_whole_second(str(operation["createdAt"])))
    batch: list[dict[str, Any]] = []
    count = 0
    expected = _expected_lines(operation)
    if not operation.get("url") and expected:
        raise UserError(
            f"shopify's bulk export of {resource} reported {expected:,} objects but no file (operation "
            f"{operation['id']}); nothing was committed"
        )
    if operation.get("url"):  # null: the shop has no such records
        with tempfile.TemporaryDirectory(prefix="shopify-bulk-", dir=bulk.settings.work_dir) as folder:
            path = bulk.download(resource, operation, Path(folder))
            for record in read_file(resource, path, expected, bulk.settings.duckdb_config):
                count += 1
                if record.get("id") in changed:
                    continue
                batch.append(record)
                if len(batch) >= BATCH:
                    yield batch
                    batch = []
    batch.extend(changed.values())
    if batch:
        yield batch
    _progress(
        f"{resource}: bulk export of {count:,} records in {bulk.clock() - started:.1f}s, "
        f"{len(changed):,} changed meanwhile taken from REST"
    )


def _created_since(created_at: Any, since: datetime) -> bool:
    """Whether an operation's ``createdAt`` is at or after ``since`` (an unreadable one is not)."""
    try:
        created = datetime.fromisoformat(str(created_at))
    except ValueError:
        return False
    return (created if created.tzinfo else created.replace(tzinfo=UTC)) >= since


def _whole_second(timestamp: str) -> str:
    """``createdAt`` floored to its second: ``updated_at`` has whole seconds, so a record written in the
    same second as the operation started must still count as changed since then."""
    try:
        return datetime.fromisoformat(timestamp).replace(microsecond=0).isoformat()
    except ValueError as error:
        raise UserError(f"shopify's bulk operation has an unreadable createdAt {timestamp!r}") from error


def _expected_lines(operation: dict[str, Any]) -> int:
    """The lines the file must have: ``objectCount`` counts every object written, children included."""
    value = operation.get("objectCount")
    try:
        return int(str(value))
    except ValueError as error:
        raise UserError(
            f"shopify's bulk operation {operation.get('id')} has an unreadable objectCount {value!r}; "
            "nothing was committed"
        ) from error


def read_file(
    resource: str, path: Path, expected_lines: int | None = None, duckdb_config: dict[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """The records of a bulk export file, one at a time, whatever the order of its lines.

    Shopify writes a child line (``__parentId``) right after its parent only when asked ``groupObjects: true``;
    from API 2026-01 the default is false, and a child may come before or after its parent, interleaved with
    other records. So each line's keys (its global id, its parent, where it sits in the file) are spooled, in
    Arrow batches, into a DuckDB database beside the file (roots, the objects that own connections, children);
    a join on ``__parentId`` then orders them as each record followed by its children, the order the
    ``Reassembler`` reads, and each line is read back from the file at its offset. Neither Python nor DuckDB
    holds the lines' text: memory follows the number of lines, not their size.

    Refused with one ``UserError`` before the first record is yielded (so before the extract ends): a line that
    is not JSON, a file with other than ``expected_lines`` object lines (the operation's ``objectCount``; a
    download that stopped cleanly at a line boundary would otherwise load part of a table), a child whose
    parent no object of the file has (an orphan is never dropped), an object listed twice."""
    plan = _plan(QUERY_FIELDS[resource])
    # a database file in the private folder each run empties (removed below): the keys of a very large file
    # can leave memory too
    database = path.with_name(f"{path.name}.regroup.duckdb")
    spill = path.with_name(f"{path.name}.spill")
    try:
        # the spool's inserts and the joins need no insertion order (the regroup sorts): less to hold in memory
        settings = {**(duckdb_config or {}), "temp_directory": str(spill), "preserve_insertion_order": "false"}
        with duckdb.connect(str(database), config=settings) as con:
            objects = _spool(resource, path, plan, con)
            if expected_lines is not None and objects != expected_lines:
                raise UserError(
                    f"shopify's bulk export file for {resource} has {objects:,} objects where the operation "
                    f"reported {expected_lines:,} (a download cut short?); nothing was committed"
                )
            _check_parents(resource, con)
            yield from _regrouped(resource, path, con)
    except duckdb.Error as error:  # out of memory or of disk while regrouping: the machine, not the file
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(
            f"shopify's bulk export file for {resource} could not be regrouped by parent in DuckDB ({first_line}); "
            f"nothing was committed. Raise {DUCKDB_MEMORY_LIMIT_ENV} or free disk space, or set "
            f"{BULK_FIRST_LOAD_ENV}=false to page REST"
        ) from error
    finally:
        shutil.rmtree(spill, ignore_errors=True)
        for leftover in (database, database.with_name(f"{database.name}.wal")):
            leftover.unlink(missing_ok=True)


SPOOL_LINES = 20_000  # lines per Arrow batch written to the reassembly database
# Lines are kept in the file and found again by byte offset: the database holds only narrow keys, so the sort
# that regroups them stays small whatever the file's size (with the lines' text in it, a 1M-people shop's orders,
# 3.8 GB, ran out of a 4 GB memory limit).
_SPOOL_SCHEMAS = {
    "roots": pa.schema([("line", pa.int64()), ("byte_offset", pa.int64()), ("byte_length", pa.int64())]),
    "owners": pa.schema([("gid", pa.string()), ("root", pa.int64())]),
    "ids": pa.schema([("gid", pa.string()), ("line", pa.int64())]),
    "children": pa.schema(
        [
            ("line", pa.int64()),
            ("parent", pa.string()),
            ("sort_id", pa.int64()),
            ("byte_offset", pa.int64()),
            ("byte_length", pa.int64()),
        ]
    ),
}


def _unreadable(resource: str, number: int, error: Exception) -> UserError:
    return UserError(
        f"shopify's bulk export file for {resource} is unreadable at line {number}: {error}; "
        f"nothing was committed. Set {BULK_FIRST_LOAD_ENV}=false to page REST"
    )


def _owner_ids(node: dict[str, Any], plan: _Plan) -> Iterator[str]:
    """The global ids, in a root line, of the objects that own a connection (the record itself, an order's
    refunds): the parents its child lines may name. The same rule as ``Reassembler._rest`` registers owners."""
    if plan.connections and node.get("id") is not None:
        yield str(node["id"])
    for key, inner_plan in plan.owner_paths:
        value = node.get(key)
        for inner in value if isinstance(value, list) else [value]:
            if isinstance(inner, dict):
                yield from _owner_ids(inner, inner_plan)


def _sort_id(gid: Any) -> int | None:
    """A child's place among its siblings: its numeric id (an ungrouped file keeps no order; id order is the REST
    list's); the line number breaks ties (ids missing)."""
    number = gid_number(gid)
    return number if isinstance(number, int) and -(1 << 63) <= number < (1 << 63) else None


def _spool(resource: str, path: Path, plan: _Plan, con: duckdb.DuckDBPyConnection) -> int:
    """Every object line of the file into the tables ``roots``, ``owners``, ``children`` and ``ids`` (every
    line's global id, for the listed-twice check); the number of object lines."""
    sql_types = {pa.int64(): "bigint", pa.string(): "varchar"}
    for table, schema in _SPOOL_SCHEMAS.items():
        columns = ", ".join(f"{f.name} {sql_types[f.type]}" for f in schema)
        con.execute(f"create or replace table {table} ({columns})").fetchall()
    buffers: dict[str, dict[str, list[Any]]] = {t: {n: [] for n in s.names} for t, s in _SPOOL_SCHEMAS.items()}

    def flush() -> None:
        for table, columns in buffers.items():
            if next(iter(columns.values())):
                batch = pa.Table.from_pydict(columns, schema=_SPOOL_SCHEMAS[table])
                con.register("spool_batch", batch)
                con.execute(f"insert into {table} select * from spool_batch").fetchall()
                con.unregister("spool_batch")
                for values in columns.values():
                    values.clear()

    roots, owners, children, ids = buffers["roots"], buffers["owners"], buffers["children"], buffers["ids"]
    objects = pending = position = 0
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            offset, position = position, position + len(raw)
            if not raw.strip():
                continue
            objects += 1
            try:
                line = orjson.loads(raw)
                if not isinstance(line, dict):
                    raise ValueError("a line is not a JSON object")
                parent = line.get("__parentId")
                if line.get("id") is not None:
                    ids["gid"].append(str(line["id"]))
                    ids["line"].append(number)
                if parent is None:
                    roots["line"].append(number)
                    roots["byte_offset"].append(offset)
                    roots["byte_length"].append(len(raw))
                    for gid in _owner_ids(line, plan):
                        owners["gid"].append(gid)
                        owners["root"].append(number)
                else:
                    children["line"].append(number)
                    children["parent"].append(str(parent))
                    children["sort_id"].append(_sort_id(line.get("id")))
                    children["byte_offset"].append(offset)
                    children["byte_length"].append(len(raw))
            except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError) as error:
                raise _unreadable(resource, number, error) from error
            pending += 1
            if pending >= SPOOL_LINES:
                flush()
                pending = 0
    flush()
    return objects


def _check_parents(resource: str, con: duckdb.DuckDBPyConnection) -> None:
    """Every child names a parent the file has, and no object is listed twice (a record would land twice, or
    a parent's children be attached twice)."""
    twice = "select gid, count(*) from {table} group by gid having count(*) > 1 order by min({order}), gid limit 1"
    for table, order in (("ids", "line"), ("owners", "root")):
        for gid, times in con.execute(twice.format(table=table, order=order)).fetchall():
            raise UserError(
                f"shopify's bulk export file for {resource} lists the object {gid} {times} times; "
                f"nothing was committed. Set {BULK_FIRST_LOAD_ENV}=false to page REST"
            )
    orphans = con.execute(
        "select count(*), min(line) from children as c "
        "where not exists (select 1 from owners as o where o.gid = c.parent)"
    ).fetchall()[0]
    if orphans[0]:
        count, first = orphans
        ((parent,),) = con.execute("select parent from children where line = ?", [first]).fetchall()
        raise _unreadable(
            resource,
            first,
            ValueError(f"a line names the parent {parent}, which no object of the file is ({count:,} such lines)"),
        )


REGROUPED = """
select r.line as root, 0 as kind, null::bigint as sort_id, r.line, r.byte_offset, r.byte_length from roots as r
union all
select o.root, 1, c.sort_id, c.line, c.byte_offset, c.byte_length
from children as c inner join owners as o on o.gid = c.parent
order by root, kind, sort_id nulls last, line
"""


def _regrouped(resource: str, path: Path, con: duckdb.DuckDBPyConnection) -> Iterator[dict[str, Any]]:
    """The records, each built from its root line followed by its children's lines (the grouped order), the lines
    read back from the file by offset (in file order when it was grouped, so the reads are sequential)."""
    reassembler = Reassembler(resource)
    with path.open("rb") as file:
        for batch in con.sql(REGROUPED).to_arrow_reader(BATCH):
            for number, offset, length in zip(
                batch.column("line").to_pylist(),
                batch.column("byte_offset").to_pylist(),
                batch.column("byte_length").to_pylist(),
                strict=True,
            ):
                file.seek(offset)
                body = file.read(length)
                try:
                    finished = reassembler.add(orjson.loads(body))
                except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError) as error:
                    raise _unreadable(resource, number, error) from error
                if finished is not None:
                    yield finished
    last = reassembler.finish()
    if last is not None:
        yield last
