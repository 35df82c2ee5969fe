"""The GraphQL Admin API's bulk operations on the local Shopify server (issue 16).

What a shop serves at ``POST /admin/api/2026-10/graphql.json``, for the documents a bulk export needs:

* ``mutation { bulkOperationRunQuery(query: "...", groupObjects: true) { bulkOperation { id status ... }
  userErrors { ... } } }`` starts an operation over one top-level connection (``customers``, ``orders``,
  ``products``) selected as ``edges { node { ... } }``. Up to five operations of the app run at once (API
  2026-01 and later); a sixth answers the ``LIMIT_REACHED`` user error. ``groupObjects`` defaults to false, as
  from API 2026-01.
* ``currentBulkOperation { ... }``, ``node(id:) { ... on BulkOperation { ... } }``, ``bulkOperation(id:)``
  and ``bulkOperations(first:, query: "status:running operation_type:query")`` (a list, newest first) report
  ``status`` (CREATED, RUNNING, COMPLETED, FAILED, CANCELING, CANCELED, EXPIRED), ``errorCode`` (ACCESS_DENIED,
  INTERNAL_SERVER_ERROR, TIMEOUT), ``objectCount``, ``rootObjectCount``, ``fileSize``, ``url`` (null when the
  operation found no data), ``partialDataUrl`` and ``query``; ``bulkOperationCancel(id:)`` cancels.
* The result is a JSONL file: one line per node; a node of a nested connection (an order's
  ``lineItems``, a refund's ``refundLineItems``) is a line of its own carrying ``__parentId``: right after
  its parent with ``groupObjects: true``; otherwise (the default) every child line comes first, shuffled,
  then the records, shuffled, so no child follows its parent (Shopify promises no order then).
  Ids are global ids (``gid://shopify/Order/5200000001``). The download URL is signed and
  expires; it needs no access token.

Field names are the REST names in camelCase (``first_name`` -> ``firstName``) and values are the REST
values, except the fields API 2026-10 names otherwise (``GRAPHQL_FIELDS``: ``numberOfOrders``, ``amountSpent
{ amount }``, ``totalPriceSet { shopMoney { amount } }``, ``displayFinancialStatus`` upper-cased, ...), whose
REST names the server refuses, as Shopify does ("Field 'ordersCount' doesn't exist on type 'Customer'"). Other
differences of the schema (money formatting, other enums, fields without a GraphQL counterpart) are not
reproduced (docs/decisions.md). The file is written when the operation completes (a snapshot, as Shopify's
is; an ungrouped one is shuffled in memory first) and streamed from disk in chunks.

Faults, armed like the REST ones (``server.bulk_faults.arm(kind, ...)`` or ``POST /_control/bulk_faults``); with
``resource=`` set, a fault waits for an operation exporting that resource:

* ``fail``         -> the next operation ends FAILED (or ``status=CANCELED``/``EXPIRED``) with ``error_code``,
                      with a partial file when ``partial`` is set
* ``slow``         -> the next operation takes ``seconds`` to complete
* ``expired_url``  -> the next ``count`` status answers carry a download URL that has already expired
* ``in_progress``  -> another operation of the app is running for ``seconds`` when the next one is asked for,
                      and answers ``OPERATION_IN_PROGRESS`` while it runs
* ``limit``        -> five other operations of the app are running for ``seconds`` when the next one is asked
                      for: ``LIMIT_REACHED`` until they end
* ``ungrouped``    -> the next ``count`` operations write the ungrouped file even when ``groupObjects`` is true
                      (what a version where the argument does not exist yet, or is ignored, answers)
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import itertools
import random
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from graphql import (
    FieldNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    value_from_ast_untyped,
)

from ingestion.demo_kit.servers.common import Request, Response, Stream

GRAPHQL_PATH_SUFFIX = "/graphql.json"
DOWNLOAD_PREFIX = "/_bulk/"
BULK_ROOTS = {"customers": "Customer", "orders": "Order", "products": "Product"}
# The GraphQL type of the objects under a REST key, for their global ids.
NESTED_TYPES = {
    "addresses": "MailingAddress",
    "default_address": "MailingAddress",
    "customer": "Customer",
    "line_items": "LineItem",
    "refunds": "Refund",
    "refund_line_items": "RefundLineItem",
    "transactions": "OrderTransaction",
    "variants": "ProductVariant",
    "product": "Product",
    "variant": "ProductVariant",
    "line_item": "LineItem",
    "email_marketing_consent": "CustomerEmailMarketingConsentState",
    "sms_marketing_consent": "CustomerSmsMarketingConsentState",
}


def _money(amount: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A ``MoneyBag`` (``totalPriceSet { shopMoney { amount currencyCode } presentmentMoney { ... } }``)."""

    def bag(record: dict[str, Any]) -> dict[str, Any]:
        presentment = record.get("presentment_currency") or record.get("currency")
        return {
            "shop_money": {"amount": record.get(amount), "currency_code": record.get("currency")},
            "presentment_money": {"amount": record.get(amount), "currency_code": presentment},
        }

    return bag


def _upper(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda record: record[key].upper() if isinstance(record.get(key), str) else record.get(key)


# The fields of the GraphQL Admin API 2026-10 that are not the REST name in camelCase, by type: their value
# from the REST record. The REST names they replace do not exist on the type (REST_ONLY).
_CONSENT_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "marketingState": _upper("state"),
    "marketingOptInLevel": _upper("opt_in_level"),
}
FULFILLMENT_STATUS = {"fulfilled": "FULFILLED", "partial": "PARTIALLY_FULFILLED", "restocked": "RESTOCKED"}
GRAPHQL_FIELDS: dict[str, dict[str, Callable[[dict[str, Any]], Any]]] = {
    "LineItem": {
        "product": lambda r: {"id": r.get("product_id"), "product_type": r.get("product_type")},
        "variant": lambda r: {"id": r.get("variant_id")},
        "originalUnitPriceSet": _money("price"),
        "totalDiscountSet": _money("total_discount"),
    },
    "RefundLineItem": {"lineItem": lambda r: {"id": r.get("line_item_id")}, "subtotalSet": _money("subtotal")},
    "OrderTransaction": {"amountSet": _money("amount"), "kind": _upper("kind"), "status": _upper("status")},
    "CustomerEmailMarketingConsentState": _CONSENT_FIELDS,
    "CustomerSmsMarketingConsentState": _CONSENT_FIELDS,
    "Product": {"status": _upper("status")},
    "Customer": {
        "state": _upper("state"),
        "numberOfOrders": lambda r: r.get("orders_count"),
        "amountSpent": lambda r: {"amount": r.get("total_spent"), "currency_code": r.get("currency")},
    },
    "Order": {
        "currencyCode": lambda r: r.get("currency"),
        "presentmentCurrencyCode": lambda r: r.get("presentment_currency"),
        "displayFinancialStatus": _upper("financial_status"),
        "displayFulfillmentStatus": lambda r: FULFILLMENT_STATUS.get(r.get("fulfillment_status"), "UNFULFILLED"),
        "customerAcceptsMarketing": lambda r: r.get("buyer_accepts_marketing"),
        "subtotalPriceSet": _money("subtotal_price"),
        "totalTaxSet": _money("total_tax"),
        "totalDiscountsSet": _money("total_discounts"),
        "totalPriceSet": _money("total_price"),
    },
}
REST_ONLY = {
    "LineItem": {"productId", "variantId", "price", "totalDiscount", "productType"},
    "RefundLineItem": {"lineItemId", "subtotal"},
    "OrderTransaction": {"amount", "currency"},
    "CustomerEmailMarketingConsentState": {"state", "optInLevel"},
    "CustomerSmsMarketingConsentState": {"state", "optInLevel"},
    "Customer": {"ordersCount", "totalSpent"},
    "Order": {
        "currency", "presentmentCurrency", "financialStatus", "fulfillmentStatus", "buyerAcceptsMarketing",
        "subtotalPrice", "totalTax", "totalDiscounts", "totalPrice",
    },
}  # fmt: skip
BULK_FAULT_KINDS = ("fail", "slow", "expired_url", "in_progress", "limit", "ungrouped")
ERROR_CODES = ("ACCESS_DENIED", "INTERNAL_SERVER_ERROR", "TIMEOUT")
URL_LIFETIME_SECONDS = 7 * 86400  # Shopify: url and partialDataUrl expire seven days after completion
CONCURRENT_OPERATIONS = 5  # bulk query operations of one app per shop at once, from API 2026-01
MAX_CONNECTION_DEPTH = 2  # "up to five connections with a maximum nesting depth of two levels"
CHUNK_BYTES = 64 * 1024


@dataclass
class BulkFault:
    kind: str
    count: int = 1
    error_code: str = "INTERNAL_SERVER_ERROR"
    status: str = "FAILED"
    partial: bool = True
    seconds: float = 2.0
    resource: str | None = None  # only an operation exporting this resource takes it (None: the next one)

    def __post_init__(self) -> None:
        if self.kind not in BULK_FAULT_KINDS:
            raise ValueError(f"unknown bulk fault {self.kind!r}; expected one of {', '.join(BULK_FAULT_KINDS)}")
        if self.resource is not None and self.resource not in BULK_ROOTS:
            raise ValueError(f"a bulk fault's resource is one of {', '.join(BULK_ROOTS)}, got {self.resource!r}")
        if self.error_code not in ERROR_CODES or self.status not in ("FAILED", "CANCELED", "EXPIRED"):
            raise ValueError(f"a bulk fault ends FAILED/CANCELED/EXPIRED with one of {', '.join(ERROR_CODES)}")


class BulkFaultPlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[BulkFault] = []

    def arm(self, kind: str, count: int = 1, **options: Any) -> None:
        with self._lock:
            self._faults.append(BulkFault(kind=kind, count=count, **options))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, kind: str, resource: str | None = None) -> BulkFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and fault.count > 0 and fault.resource in (None, resource):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
        return None


@dataclass
class BulkOperation:
    number: int
    query: str
    resource: str | None  # None: another operation of the app that exports nothing (in_progress, limit faults)
    node: SelectionSetNode | None
    created_at: datetime
    status: str = "CREATED"
    error_code: str | None = None
    completed_at: datetime | None = None
    object_count: int = 0
    root_object_count: int = 0
    file_size: int | None = None
    path: Path | None = None
    partial_path: Path | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    cpu_seconds: float = 0.0  # CPU the server spent writing the file (benchmarks report it apart)
    grouped: bool = False  # children right after their parent (groupObjects: true)
    exclusive: bool = False  # no other operation may start while it runs (the in_progress fault)

    @property
    def gid(self) -> str:
        return f"gid://shopify/BulkOperation/{self.number}"

    @property
    def running(self) -> bool:
        return self.status in ("CREATED", "RUNNING", "CANCELING")


class _Invalid(Exception):
    pass


@functools.cache
def snake(name: str) -> str:
    """``firstName`` -> ``first_name``; ``address1`` stays."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _fields(selection: SelectionSetNode | None) -> list[FieldNode]:
    """The fields of a selection set, inline fragments (``... on BulkOperation``) merged in."""
    found: list[FieldNode] = []
    for item in selection.selections if selection else ():
        if isinstance(item, FieldNode):
            found.append(item)
        elif isinstance(item, InlineFragmentNode):
            found.extend(_fields(item.selection_set))
    return found


def _connection_node(item: FieldNode) -> SelectionSetNode | None:
    """The ``node { ... }`` selection of a connection selected as ``edges { node { ... } }``, else None."""
    for edges in _fields(item.selection_set):
        if edges.name.value == "edges":
            for node in _fields(edges.selection_set):
                if node.name.value == "node":
                    return node.selection_set
    return None


def project(value: Any, selection: SelectionSetNode | None) -> Any:
    """A GraphQL answer: ``value`` (a dict keyed by field name) cut to the selection, aliases applied."""
    if selection is None or value is None:
        return value
    if isinstance(value, list):
        return [project(v, selection) for v in value]
    return {(f.alias or f.name).value: project(value.get(f.name.value), f.selection_set) for f in _fields(selection)}


def _validate(node: SelectionSetNode, type_name: str, depth: int = 0) -> None:
    for item in _fields(node):
        if item.name.value in REST_ONLY.get(type_name, ()):
            raise _Invalid(f"Field '{item.name.value}' doesn't exist on type '{type_name}'")
        inner = _connection_node(item)
        nested_type = NESTED_TYPES.get(snake(item.name.value), "Node")
        if inner is not None:
            if depth + 1 > MAX_CONNECTION_DEPTH:
                raise _Invalid(
                    f"Bulk queries cannot contain connections with a nesting depth greater than {MAX_CONNECTION_DEPTH}."
                )
            _validate(inner, nested_type, depth + 1)
        elif item.selection_set is not None:
            _validate(item.selection_set, nested_type, depth)


@dataclass(frozen=True)
class _Step:
    """How one selected field of a type is rendered (worked out once per selection, not once per record)."""

    key: str  # the answer's key (the alias, or the field's name)
    name: str  # the REST record's key
    computed: Callable[[dict[str, Any]], Any] | None  # a field API 2026-10 names otherwise (GRAPHQL_FIELDS)
    connection: SelectionSetNode | None  # the ``node { ... }`` of a nested connection
    selection: SelectionSetNode | None
    nested_type: str


_PLANS: dict[tuple[int, str], tuple[SelectionSetNode, tuple[_Step, ...]]] = {}
MAX_PLANS = 256


def _plan(selection: SelectionSetNode, own_type: str) -> tuple[_Step, ...]:
    """The steps rendering ``selection`` on ``own_type``, cached by the selection's identity: a 1M-people export
    walks the same few selections millions of times (the node is kept in the cache, so its id is not reused)."""
    cached = _PLANS.get((id(selection), own_type))
    if cached is not None and cached[0] is selection:
        return cached[1]
    steps = tuple(
        _Step(
            key=(item.alias or item.name).value,
            name=snake(item.name.value),
            computed=GRAPHQL_FIELDS.get(own_type, {}).get(item.name.value),
            connection=_connection_node(item),
            selection=item.selection_set,
            nested_type=NESTED_TYPES.get(snake(item.name.value), "Node"),
        )
        for item in _fields(selection)
    )
    if len(_PLANS) >= MAX_PLANS:  # every operation parses its own document: forget the old ones' selections
        _PLANS.clear()
    _PLANS[(id(selection), own_type)] = (selection, steps)
    return steps


def render(record: dict[str, Any], type_name: str, node: SelectionSetNode, parent: str | None) -> Iterator[bytes]:
    """The JSONL lines of one record: its own line, then one line per node of its nested connections."""
    children: list[bytes] = []
    gid = f"gid://shopify/{type_name}/{record.get('id')}"

    def fill(source: dict[str, Any], own_type: str, selection: SelectionSetNode, owner: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        own_gid = f"gid://shopify/{own_type}/{source.get('id')}" if "id" in source else owner
        for step in _plan(selection, own_type):
            value = step.computed(source) if step.computed is not None else source.get(step.name)
            if step.connection is not None:  # a nested connection: its nodes are lines of their own
                for child in value or ():
                    children.extend(render(child, step.nested_type, step.connection, own_gid))
                continue
            if step.name == "id" and value is not None:
                out[step.key] = f"gid://shopify/{own_type}/{value}"
            elif step.selection is not None and isinstance(value, dict):
                out[step.key] = fill(value, step.nested_type, step.selection, own_gid)
            elif step.selection is not None and isinstance(value, list):
                out[step.key] = [
                    fill(v, step.nested_type, step.selection, own_gid) if isinstance(v, dict) else v for v in value
                ]
            else:
                out[step.key] = value
        return out

    line = fill(record, type_name, node, gid)
    if parent is not None:
        line["__parentId"] = parent
    yield orjson.dumps(line) + b"\n"
    yield from children


class BulkEndpoint:
    """The bulk-operation half of the Shopify server. ``snapshot(resource)`` lists the JSON texts an
    operation exports (the REST server's records, after its scope rules); ``secret`` signs download URLs."""

    def __init__(
        self,
        snapshot: Callable[[str], list[str]],
        base_url: Callable[[], str],
        scopes: Callable[[], set[str]],
        seconds: float = 0.05,
    ) -> None:
        self.snapshot = snapshot
        self.base_url = base_url
        self.scopes = scopes
        self.seconds = seconds  # how long an operation runs at least
        self.faults = BulkFaultPlan()
        self.operations: list[BulkOperation] = []
        self._lock = threading.Lock()
        self._secret = hashlib.sha256(str(time.time_ns()).encode()).hexdigest()
        self._folder = Path(tempfile.mkdtemp(prefix="shopify-bulk-"))
        self._numbers = itertools.count(1)

    def close(self) -> None:
        for operation in self.operations:
            operation.cancel.set()
        shutil.rmtree(self._folder, ignore_errors=True)

    # -- GraphQL --------------------------------------------------------------------------------
    def graphql(self, request: Request) -> Response:
        if (
            request.method != "POST"
            or not isinstance(request.body, dict)
            or not isinstance(request.body.get("query"), str)
        ):
            return Response(400, {"errors": [{"message": "Bad Request: a JSON body with a query is required"}]})
        variables = request.body.get("variables") or {}
        try:
            document = parse(request.body["query"])
        except GraphQLError as error:
            return Response(200, {"errors": [{"message": error.message, "extensions": {"code": "PARSE_ERROR"}}]})
        operation = next((d for d in document.definitions if isinstance(d, OperationDefinitionNode)), None)
        if operation is None:
            return Response(200, {"errors": [{"message": "No operation in the document"}]})
        data: dict[str, Any] = {}
        for item in _fields(operation.selection_set):
            args = {a.name.value: value_from_ast_untyped(a.value, variables) for a in item.arguments}
            name = item.name.value
            if name == "bulkOperationRunQuery":
                value: Any = self._run_query(str(args.get("query") or ""), args.get("groupObjects") is True)
            elif name == "bulkOperationCancel":
                value = self._cancel(str(args.get("id") or ""))
            elif name == "currentBulkOperation":
                value = self._status(self.operations[-1]) if self.operations else None
            elif name in ("node", "bulkOperation"):
                found = self._find(str(args.get("id") or ""))
                value = self._status(found) if found else None
            elif name == "bulkOperations":
                value = self._list(int(args.get("first") or 10), str(args.get("query") or ""))
            else:
                return Response(
                    200,
                    {"errors": [{"message": f"Field '{name}' doesn't exist on the {operation.operation.value} root"}]},
                )
            data[(item.alias or item.name).value] = project(value, item.selection_set)
        return Response(200, {"data": data, "extensions": {"cost": {"requestedQueryCost": 10, "actualQueryCost": 10}}})

    def _list(self, first: int, search: str) -> dict[str, Any]:
        """``bulkOperations(first:, query:)`` (API 2026-01): the app's operations, newest first, filtered by the
        search terms ``status:<status>`` and ``operation_type:<query|mutation>`` (others are not served)."""
        terms = dict(term.partition(":")[::2] for term in search.lower().split() if ":" in term)
        with self._lock:
            found = [
                o
                for o in reversed(self.operations)
                if terms.get("status", o.status.lower()) == o.status.lower()
                and terms.get("operation_type", "query") == "query"
            ]
        nodes = [self._status(o) for o in found[:first]]
        return {
            "nodes": nodes,
            "edges": [{"node": node} for node in nodes],
            "pageInfo": {"hasNextPage": len(found) > first, "hasPreviousPage": False},
        }

    def _find(self, gid: str) -> BulkOperation | None:
        with self._lock:
            return next((o for o in self.operations if o.gid == gid), None)

    def _run_query(self, text: str, group_objects: bool = False) -> dict[str, Any]:
        def user_error(message: str, code: str) -> dict[str, Any]:
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": message, "code": code}]}

        try:
            document = parse(text)
            definition = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
            roots = _fields(definition.selection_set)
            if len(roots) != 1 or roots[0].name.value not in BULK_ROOTS:
                raise _Invalid(f"Bulk queries must select exactly one of the connections {', '.join(BULK_ROOTS)}.")
            node = _connection_node(roots[0])
            if node is None:
                raise _Invalid("Bulk queries must contain at least one connection selected as edges { node { ... } }.")
            _validate(node, BULK_ROOTS[roots[0].name.value])
        except (GraphQLError, StopIteration, _Invalid) as error:
            return user_error(f"Invalid bulk query: {getattr(error, 'message', error)}", "INVALID")
        resource = roots[0].name.value
        in_progress, limit = self.faults.take("in_progress", resource), self.faults.take("limit", resource)
        with self._lock:
            # other jobs of the app got there first: one that blocks the rest, or enough to fill the limit
            running = sum(o.running for o in self.operations)
            for fault, count in ((in_progress, 1), (limit, CONCURRENT_OPERATIONS - running)):
                if fault is None:
                    continue
                for _ in range(count):
                    other = BulkOperation(next(self._numbers), "{ shop { id } }", None, None, datetime.now(tz=UTC))
                    other.exclusive = fault is in_progress
                    self._start(other, None, fault.seconds)
            if any(o.running and o.exclusive for o in self.operations):
                return user_error(
                    "A bulk query operation for this app and shop is already in progress.", "OPERATION_IN_PROGRESS"
                )
            if sum(o.running for o in self.operations) >= CONCURRENT_OPERATIONS:
                return user_error("Bulk operations limit reached. Please try again later.", "LIMIT_REACHED")
            operation = BulkOperation(next(self._numbers), text, resource, node, datetime.now(tz=UTC))
            operation.grouped = group_objects and self.faults.take("ungrouped", resource) is None
            slow = self.faults.take("slow", resource)
            self._start(operation, self.faults.take("fail", resource), slow.seconds if slow else self.seconds)
        return {"bulkOperation": self._status(operation), "userErrors": []}

    def _start(self, operation: BulkOperation, fail: BulkFault | None, seconds: float) -> None:
        self.operations.append(operation)
        threading.Thread(
            target=self._execute, args=(operation, fail, seconds), daemon=True, name=f"bulk-{operation.number}"
        ).start()

    def _cancel(self, gid: str) -> dict[str, Any]:
        operation = self._find(gid)
        if operation is None or not operation.running:
            return {
                "bulkOperation": None,
                "userErrors": [{"field": ["id"], "message": "not running", "code": None}],
            }
        operation.status = "CANCELING"
        operation.cancel.set()
        return {"bulkOperation": self._status(operation), "userErrors": []}

    def _execute(self, operation: BulkOperation, fail: BulkFault | None, seconds: float) -> None:
        started, cpu = time.monotonic(), time.thread_time()
        operation.status = "RUNNING"
        path = self._folder / f"{operation.number}.jsonl"
        if operation.resource is not None and operation.node is not None:
            if RESOURCE_SCOPE[operation.resource] not in self.scopes():
                fail = BulkFault("fail", error_code="ACCESS_DENIED", partial=False)
            texts = [] if fail and fail.error_code == "ACCESS_DENIED" else self.snapshot(operation.resource)
            type_name = BULK_ROOTS[operation.resource]
            cut = len(texts) // 2 if fail else len(texts)
            roots: list[bytes] = []
            children: list[bytes] = []
            with path.open("wb") as out:
                for text in texts[:cut]:
                    if operation.cancel.is_set():
                        break
                    root, *nested = render(orjson.loads(text), type_name, operation.node, None)
                    if operation.grouped:
                        out.write(root + b"".join(nested))
                    else:  # held until every record is rendered, then written children first, shuffled
                        roots.append(root)
                        children.extend(nested)
                    operation.object_count += 1 + len(nested)
                    operation.root_object_count += 1
                shuffle = random.Random(operation.number).shuffle
                for lines in (children, roots):
                    shuffle(lines)
                    out.writelines(lines)
        operation.cpu_seconds = time.thread_time() - cpu
        operation.cancel.wait(max(0.0, seconds - (time.monotonic() - started)))
        if operation.cancel.is_set():
            operation.status = "CANCELED"
            return
        if fail is not None:
            operation.status, operation.error_code = fail.status, fail.error_code
            if fail.partial and operation.object_count:
                operation.partial_path = path
            return
        operation.completed_at = datetime.now(tz=UTC)
        if operation.object_count:
            operation.path, operation.file_size = path, path.stat().st_size
        operation.status = "COMPLETED"

    def _status(self, operation: BulkOperation) -> dict[str, Any]:
        has_file = operation.path is not None or operation.partial_path is not None
        expired = has_file and self.faults.take("expired_url", operation.resource) is not None
        return {
            "__typename": "BulkOperation",
            "id": operation.gid,
            "status": operation.status,
            "errorCode": operation.error_code,
            "createdAt": _iso(operation.created_at),
            "completedAt": _iso(operation.completed_at) if operation.completed_at else None,
            "objectCount": str(operation.object_count),  # UnsignedInt64 is a string in JSON
            "rootObjectCount": str(operation.root_object_count),
            "fileSize": str(operation.file_size) if operation.file_size is not None else None,
            "url": self._signed(operation.number, "url", expired) if operation.path else None,
            "partialDataUrl": self._signed(operation.number, "partial", expired) if operation.partial_path else None,
            "query": operation.query,
            "type": "QUERY",
        }

    # -- the download ---------------------------------------------------------------------------
    def _signature(self, name: str, expires: int) -> str:
        return hmac.new(self._secret.encode(), f"{name}:{expires}".encode(), hashlib.sha256).hexdigest()

    def _signed(self, number: int, kind: str, expired: bool) -> str:
        expires = int(time.time()) + (-60 if expired else URL_LIFETIME_SECONDS)
        name = f"{number}-{kind}"
        signature = self._signature(name, expires)
        return f"{self.base_url()}{DOWNLOAD_PREFIX}{name}.jsonl?Expires={expires}&Signature={signature}"

    def download(self, request: Request) -> Response:
        """``GET /_bulk/<n>-<url|partial>.jsonl?Expires=&Signature=``: a signed URL, as a cloud bucket serves it."""
        name = request.path.removeprefix(DOWNLOAD_PREFIX).removesuffix(".jsonl")
        try:
            expires = int(request.arg("Expires") or "")
        except ValueError:
            return Response(400, {"Error": {"Code": "MissingSecurityHeader"}})
        if not hmac.compare_digest(self._signature(name, expires), request.arg("Signature") or ""):
            return Response(403, {"Error": {"Code": "SignatureDoesNotMatch"}})
        if expires < time.time():
            return Response(403, {"Error": {"Code": "AccessDenied", "Message": "Request has expired"}})
        number, _, kind = name.partition("-")
        operation = next((o for o in self.operations if str(o.number) == number), None)
        path = None if operation is None else operation.path if kind == "url" else operation.partial_path
        if path is None or not path.is_file():
            return Response(404, {"Error": {"Code": "NoSuchKey"}})
        return Response(200, Stream(_chunks(path)))

    def is_download(self, path: str) -> bool:
        return path.startswith(DOWNLOAD_PREFIX)


RESOURCE_SCOPE = {"customers": "read_customers", "orders": "read_orders", "products": "read_products"}


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            yield chunk


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
