"""A local Shopify Admin REST API (version 2026-10) over the generated ``shopify/*.jsonl`` files.

It follows the wire contract a real shop serves, so the loader is proven against it:

* ``X-Shopify-Access-Token`` authentication; a missing or wrong token gets Shopify's 401 body.
* ``GET /admin/api/2026-10/{customers,orders,products}.json`` -> ``{"customers": [...]}`` ... with
  ``limit`` (default 50, at most 250), ``updated_at_min/max``, ``created_at_min/max``, ``since_id``,
  ``fields`` and, for orders, ``status`` (default ``open``, as in Shopify; ``any`` for all).
* Cursor pagination through the ``Link`` header (``rel="next"`` / ``rel="previous"``). The filters of
  the first request travel inside ``page_info``; a request carrying ``page_info`` may add only ``limit``
  and ``fields``, anything else is a 400, as in Shopify. Results are ordered by id.
* The REST leaky bucket: ``bucket_size`` calls (40) leaking ``leak_rate`` per second (2), reported in
  ``X-Shopify-Shop-Api-Call-Limit`` on every response; an overflowing call gets 429 with
  ``Retry-After: 2.0`` and Shopify's message.

* The GraphQL Admin API's bulk operations at ``POST /admin/api/2026-10/graphql.json`` over the same
  records (``servers/shopify_bulk.py``), with their own faults (``server.bulk_faults``).

Records are kept as their JSON text and sent as such, so memory stays close to the files' size and a
page costs no JSON encoding.
Tests change records between loads with :meth:`ShopifyServer.update` and :meth:`ShopifyServer.add`,
which bump ``updated_at`` like Shopify does on every write.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import contextlib
import hmac
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson  # a dependency of dlt; ~4x faster than json for the start-up parse

from ingestion.demo_kit.servers.common import Fault, Request, Response, SourceServer
from ingestion.demo_kit.servers.shopify_bulk import GRAPHQL_PATH_SUFFIX, BulkEndpoint
from ingestion.errors import UserError

API_VERSION = "2026-10"
RESOURCES = ("customers", "orders", "products")
# The Admin API scope each list needs; a token without it gets 403 (events need their subject's scope).
RESOURCE_SCOPES = {"customers": "read_customers", "orders": "read_orders", "products": "read_products"}
ALL_SCOPES = frozenset({*RESOURCE_SCOPES.values(), "read_all_orders"})
ORDERS_WINDOW_DAYS = 60  # without read_all_orders only orders created in the last 60 days are served
ACCESS_SCOPES_PATH = "/admin/oauth/access_scopes.json"
EVENT_SUBJECTS = {"Customer": "customers", "Order": "orders"}
DEFAULT_LIMIT = 50
MAX_LIMIT = 250
PAGINATION_DOCS = "https://shopify.dev/api/usage/pagination-rest"
INVALID_TOKEN_BODY = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
THROTTLED_BODY = {
    "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
}
# Filters a first request may carry; they are frozen into page_info for the following pages.
FILTER_PARAMS = ("updated_at_min", "updated_at_max", "created_at_min", "created_at_max", "since_id", "status")
ORDER_STATUSES = ("open", "closed", "cancelled", "any")
_PATH = re.compile(r"/admin/api/(?P<version>[^/]+)/(?P<resource>[a-z_]+)\.json")


def parse_timestamp(text: str) -> datetime:
    """An ISO-8601 timestamp as an aware datetime; one without an offset is taken as UTC."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _epoch(value: Any) -> float:
    """Seconds since the epoch of a record's timestamp field; -inf when absent or unparseable, so
    such a record is served by unfiltered lists but never matches a time filter."""
    if not isinstance(value, str):
        return -math.inf
    try:
        return parse_timestamp(value).timestamp()
    except ValueError:
        return -math.inf


@dataclass
class _Meta:
    """What the filters need to know of a record without parsing its JSON again."""

    updated: float
    created: float
    cancelled: bool
    closed: bool


def _meta(record: dict[str, Any]) -> _Meta:
    return _Meta(
        updated=_epoch(record.get("updated_at")),
        created=_epoch(record.get("created_at")),
        cancelled=record.get("cancelled_at") is not None,
        closed=record.get("closed_at") is not None,
    )


@dataclass
class _Collection:
    """One resource's records: ids kept sorted (Shopify lists order by id), JSON text per id."""

    name: str
    ids: list[int] = field(default_factory=list)
    raw: dict[int, str] = field(default_factory=dict)
    meta: dict[int, _Meta] = field(default_factory=dict)

    def put(self, record: dict[str, Any]) -> None:
        record_id = int(record["id"])
        if record_id not in self.raw:
            bisect.insort(self.ids, record_id)
        self.raw[record_id] = json.dumps(record, separators=(",", ":"))
        self.meta[record_id] = _meta(record)


@dataclass
class _Filters:
    updated_at_min: float = -math.inf
    updated_at_max: float = math.inf
    created_at_min: float = -math.inf
    created_at_max: float = math.inf
    since_id: int = 0
    status: str = "any"

    def matches(self, record_id: int, meta: _Meta) -> bool:
        if record_id <= self.since_id:
            return False
        if not (self.updated_at_min <= meta.updated <= self.updated_at_max):
            return False
        if not (self.created_at_min <= meta.created <= self.created_at_max):
            return False
        if self.status == "open":
            return not meta.cancelled and not meta.closed
        if self.status == "closed":
            return meta.closed
        if self.status == "cancelled":
            return meta.cancelled
        return True


@dataclass
class ServedPage:
    """One successful list response: what a test needs to prove which records a load fetched."""

    resource: str
    query: dict[str, str]
    ids: list[int]


class _BadRequest(Exception):
    def __init__(self, errors: Any) -> None:
        super().__init__(str(errors))
        self.errors = errors


class LeakyBucket:
    """Shopify's REST throttle: each call adds one marble; the bucket drains ``leak_rate`` per second."""

    def __init__(self, size: int, leak_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if size < 1 or leak_rate <= 0:
            raise ValueError("bucket size must be >= 1 and leak rate > 0")
        self.size = size
        self.leak_rate = leak_rate
        self._clock = clock
        self._level = 0.0
        self._at = clock()
        self._lock = threading.Lock()

    def _drain(self) -> None:
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._at) * self.leak_rate)
        self._at = now

    def try_add(self) -> bool:
        """Count one call; False (and nothing counted) when the bucket is full."""
        with self._lock:
            self._drain()
            if self._level + 1 > self.size:
                return False
            self._level += 1
            return True

    def used(self) -> int:
        with self._lock:
            self._drain()
            return min(self.size, math.ceil(self._level - 1e-9))


class ShopifyServer(SourceServer):
    name = "shopify"

    def __init__(
        self,
        data_dir: Path,
        access_token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        bucket_size: int = 40,
        leak_rate: float = 2.0,
        retry_after: float = 2.0,
        scopes: Iterable[str] = ALL_SCOPES,
        now: datetime | None = None,
    ) -> None:
        self.access_token = access_token
        # The token's granted scopes: a list whose scope is missing answers 403 as Shopify does, and
        # without read_all_orders orders created before `now` - 60 days are silently left out.
        self.scopes = set(scopes)
        self.now = now
        self.events: list[dict[str, Any]] = []  # destroy events, as GET events.json lists them
        self.bucket = LeakyBucket(bucket_size, leak_rate)
        self.retry_after = retry_after
        self.served: list[ServedPage] = []
        self._store_lock = threading.RLock()
        self._collections = {name: self._load(Path(data_dir) / "shopify" / f"{name}.jsonl", name) for name in RESOURCES}
        self._latest_update = max(
            (m.updated for c in self._collections.values() for m in c.meta.values() if math.isfinite(m.updated)),
            default=-math.inf,
        )
        super().__init__(host=host, port=port)
        # GraphQL Admin bulk operations over the same records (servers/shopify_bulk.py).
        self.bulk = BulkEndpoint(self._bulk_snapshot, lambda: self.url, lambda: self.scopes)
        self.bulk_faults = self.bulk.faults

    def stop(self) -> None:
        super().stop()
        self.bulk.close()

    def _bulk_snapshot(self, resource: str) -> list[str]:
        """What a bulk export of ``resource`` reads: every record, in id order, under the same scope rule as
        the REST list (without read_all_orders, only orders of the last 60 days)."""
        floor = -math.inf
        if resource == "orders" and "read_all_orders" not in self.scopes:
            floor = (self.now or datetime.now(tz=UTC)).timestamp() - ORDERS_WINDOW_DAYS * 86400
        with self._store_lock:
            collection = self._collection(resource)
            return [collection.raw[i] for i in collection.ids if collection.meta[i].created >= floor]

    def __enter__(self) -> ShopifyServer:
        self.start()
        return self

    # -- data ----------------------------------------------------------------------------------
    @staticmethod
    def _load(path: Path, name: str) -> _Collection:
        """The base file, then its deltas (``<name>.delta-NNNN.jsonl``, `generate --delta`) in order: a
        record in a later file replaces the one with its id, as an update in the shop would."""
        if not path.is_file():
            raise UserError(f"missing {path}; run `customer360 generate` to create the Shopify demo data")
        collection = _Collection(name)
        for file in [path, *sorted(path.parent.glob(f"{path.stem}.delta-*.jsonl"))]:
            seen: set[int] = set()
            with file.open(encoding="utf-8") as lines:
                for number, line in enumerate(lines, start=1):
                    text = line.strip()
                    if not text:
                        continue
                    try:
                        record = orjson.loads(text)
                        record_id = int(record["id"])
                    except (KeyError, TypeError, ValueError) as error:
                        raise UserError(f"{file}:{number}: not a Shopify {name[:-1]} with an id ({error})") from error
                    if record_id in seen:
                        raise UserError(f"{file}:{number}: duplicate {name[:-1]} id {record_id}")
                    seen.add(record_id)
                    # The line itself is what gets served: no re-encoding, and one sort at the end.
                    collection.raw[record_id] = text
                    collection.meta[record_id] = _meta(record)
        collection.ids = sorted(collection.raw)
        return collection

    def _collection(self, resource: str) -> _Collection:
        if resource not in self._collections:
            raise KeyError(f"unknown Shopify resource {resource!r}; expected one of {', '.join(RESOURCES)}")
        return self._collections[resource]

    def ids(self, resource: str) -> list[int]:
        with self._store_lock:
            return list(self._collection(resource).ids)

    def get(self, resource: str, record_id: int) -> dict[str, Any]:
        with self._store_lock:
            return json.loads(self._collection(resource).raw[record_id])

    def _next_timestamp(self, like: Any) -> str:
        """A write time later than every ``updated_at`` in the store (the demo data may run ahead of the
        wall clock), in the offset of the value it replaces, as Shopify writes the shop's offset."""
        stamp = math.floor(max(time.time(), self._latest_update + 1))
        self._latest_update = stamp
        offset = timedelta(0)
        if isinstance(like, str):
            with contextlib.suppress(ValueError):
                offset = parse_timestamp(like).utcoffset() or timedelta(0)
        return datetime.fromtimestamp(stamp, tz=UTC).astimezone(timezone(offset)).isoformat()

    def update(
        self,
        resource: str,
        record_id: int,
        changes: dict[str, Any] | None = None,
        mutate: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Change a record as a shop admin would: set top-level ``changes`` and/or let ``mutate`` edit the
        record in place (nested lists such as refunds), then bump ``updated_at``. Returns the new record."""
        with self._store_lock:
            record = self.get(resource, record_id)
            record.update(changes or {})
            if mutate is not None:
                mutate(record)
            record["id"] = record_id
            record["updated_at"] = self._next_timestamp(record.get("updated_at"))
            self._collection(resource).put(record)
            return record

    def add(self, resource: str, record: dict[str, Any]) -> dict[str, Any]:
        """Create a record (its ``id`` must be new); ``created_at``/``updated_at`` default to a fresh write time."""
        with self._store_lock:
            collection = self._collection(resource)
            record_id = int(record["id"])
            if record_id in collection.raw:
                raise ValueError(f"{resource} id {record_id} exists already; use update()")
            record = dict(record)
            stamp = self._next_timestamp(record.get("updated_at") or record.get("created_at"))
            record.setdefault("created_at", stamp)
            record["updated_at"] = stamp
            collection.put(record)
            return record

    def delete(self, resource: str, record_id: int) -> dict[str, Any]:
        """Delete a customer or order as a shop admin would; Shopify records a ``destroy`` event."""
        subject = {v: k for k, v in EVENT_SUBJECTS.items()}[resource]
        with self._store_lock:
            collection = self._collection(resource)
            del collection.raw[record_id], collection.meta[record_id]
            collection.ids.remove(record_id)
            event = {
                "id": len(self.events) + 1,
                "subject_id": record_id,
                "created_at": self._next_timestamp(None),
                "subject_type": subject,
                "verb": "destroy",
                "arguments": [],
                "body": None,
                "message": f"{subject} was deleted.",
                "author": "Shop admin",
                "description": f"{subject} was deleted.",
                "path": f"/admin/{resource}/{record_id}",
            }
            self.events.append(event)
            return event

    # -- HTTP ----------------------------------------------------------------------------------
    def _control(self, request: Request) -> Response:
        if request.path == "/_control/bulk_faults" and request.method == "POST":
            spec = request.body or {}
            self.bulk_faults.arm(**spec)
            return Response(200, {"armed": spec})
        if request.path == "/_control/bulk_faults" and request.method == "DELETE":
            self.bulk_faults.clear()
            return Response(200, {"cleared": True})
        return super()._control(request)

    def authorize(self, request: Request) -> Response | None:
        if self.bulk.is_download(request.path):
            return None  # a signed URL: the signature is the authorization, as on a cloud bucket
        token = request.headers.get("x-shopify-access-token", "")
        if not token or not hmac.compare_digest(token.encode(), self.access_token.encode()):
            return Response(401, INVALID_TOKEN_BODY)
        return None

    def before_route(self, request: Request) -> Response | None:
        # GraphQL is throttled by query cost, not by the REST bucket; a download is not an API call.
        if request.path.endswith(GRAPHQL_PATH_SUFFIX) or self.bulk.is_download(request.path):
            return None
        if self.bucket.try_add():
            return None
        return Response(429, THROTTLED_BODY, {"Retry-After": f"{self.retry_after:.1f}"})

    def _respond(self, request: Request, fault: Fault | None) -> tuple[Response, bool]:
        response, truncate = super()._respond(request, fault)
        if response.status != 401:  # Shopify reports the bucket on every call it accounted for
            response.headers.setdefault("X-Shopify-Shop-Api-Call-Limit", f"{self.bucket.used()}/{self.bucket.size}")
        return response, truncate

    def route(self, request: Request) -> Response:
        if self.bulk.is_download(request.path) and request.method == "GET":
            return self.bulk.download(request)
        if request.path == f"/admin/api/{API_VERSION}{GRAPHQL_PATH_SUFFIX}":
            return self.bulk.graphql(request)
        if request.path == ACCESS_SCOPES_PATH and request.method == "GET":
            return Response(200, {"access_scopes": [{"handle": h} for h in sorted(self.scopes)]})
        match = _PATH.fullmatch(request.path)
        known = (*RESOURCES, "events")
        if match is None or match["version"] != API_VERSION or match["resource"] not in known:
            return Response(404, {"errors": "Not Found"})
        if request.method != "GET":
            return Response(406, {"errors": "Not Acceptable"})
        resource = match["resource"]
        needed = [RESOURCE_SCOPES[resource]] if resource in RESOURCE_SCOPES else []
        missing = [scope for scope in needed if scope not in self.scopes]
        if missing:
            # Shopify's answer to a token without the scope.
            return Response(403, {"errors": f"[API] This action requires merchant approval for {missing[0]} scope."})
        try:
            if resource == "events":
                return self._events(request)
            return self._list(resource, request)
        except _BadRequest as error:
            return Response(400, {"errors": error.errors})

    def _list(self, resource: str, request: Request) -> Response:
        query = {name: values[0] for name, values in request.query.items() if values}
        limit = _limit(query.get("limit"))
        fields = [f for f in (query.get("fields") or "").split(",") if f.strip()]
        if "page_info" in query:
            extra = sorted(set(query) - {"page_info", "limit", "fields"})
            if extra:
                name = extra[0]
                raise _BadRequest(
                    {
                        name: f"{name} cannot be passed when page_info is present. See {PAGINATION_DOCS} for "
                        "more information."
                    }
                )
            direction, boundary, frozen = _decode_page_info(query["page_info"])
        else:
            direction, boundary, frozen = "next", None, {k: query[k] for k in FILTER_PARAMS if k in query}
        filters = _filters(resource, frozen)
        if resource == "orders" and "read_all_orders" not in self.scopes:
            now = (self.now or datetime.now(tz=UTC)).timestamp()
            filters.created_at_min = max(filters.created_at_min, now - ORDERS_WINDOW_DAYS * 86400)

        with self._store_lock:
            collection = self._collections[resource]
            page, has_before, has_after = _select(collection, filters, direction, boundary, limit)
            texts = [collection.raw[i] for i in page]
        body: Any
        if fields:
            records = [json.loads(text) for text in texts]
            body = {resource: [{k: r[k] for k in fields if k in r} for r in records]}
        else:  # the stored JSON text goes out as is: no parse and re-encode per record
            body = f'{{"{resource}":[{",".join(texts)}]}}'.encode()

        links = []
        base = f"http://{request.headers.get('host') or f'127.0.0.1:{self.port}'}{request.path}"
        extra_params = f"&fields={','.join(fields)}" if fields else ""
        if page and has_before:
            token = _encode_page_info("prev", page[0], frozen)
            links.append(f'<{base}?limit={limit}{extra_params}&page_info={token}>; rel="previous"')
        if page and has_after:
            token = _encode_page_info("next", page[-1], frozen)
            links.append(f'<{base}?limit={limit}{extra_params}&page_info={token}>; rel="next"')
        with self._log_lock:
            self.served.append(ServedPage(resource, query, list(page)))
        return Response(200, body, {"Link": ", ".join(links)} if links else {})

    def _events(self, request: Request) -> Response:
        """``GET events.json?verb=&filter=&created_at_min=`` (one page: the demo never has many)."""
        verb, kinds = request.arg("verb"), request.arg("filter")
        allowed = {k for k, name in EVENT_SUBJECTS.items() if RESOURCE_SCOPES[name] in self.scopes}
        wanted = set(kinds.split(",")) & allowed if kinds else allowed
        since = request.arg("created_at_min")
        try:
            floor = parse_timestamp(since).timestamp() if since else -math.inf
        except ValueError:
            raise _BadRequest({"created_at_min": "Invalid value."}) from None
        with self._store_lock:
            events = [
                e
                for e in self.events
                if e["subject_type"] in wanted
                and (verb is None or e["verb"] == verb)
                and parse_timestamp(e["created_at"]).timestamp() >= floor
            ]
        return Response(200, {"events": events})

    def served_ids(self, resource: str) -> list[int]:
        """Ids of every record served for ``resource`` since the log was last cleared."""
        with self._log_lock:
            return [i for page in self.served if page.resource == resource for i in page.ids]

    def clear_log(self) -> None:
        super().clear_log()
        with self._log_lock:
            self.served.clear()


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    try:
        value = int(text)
    except ValueError:
        raise _BadRequest({"limit": "Invalid value."}) from None
    if not 1 <= value <= MAX_LIMIT:
        raise _BadRequest({"limit": f"must be between 1 and {MAX_LIMIT}"})
    return value


def _filters(resource: str, params: dict[str, str]) -> _Filters:
    filters = _Filters(status="open" if resource == "orders" else "any")
    for name in ("updated_at_min", "updated_at_max", "created_at_min", "created_at_max"):
        if name in params:
            try:
                setattr(filters, name, parse_timestamp(params[name]).timestamp())
            except ValueError:
                raise _BadRequest({name: f"Invalid value: {params[name]!r} is not an ISO-8601 time"}) from None
    if "since_id" in params:
        try:
            filters.since_id = int(params["since_id"])
        except ValueError:
            raise _BadRequest({"since_id": "Invalid value."}) from None
    if "status" in params and resource == "orders":
        if params["status"] not in ORDER_STATUSES:
            raise _BadRequest({"status": f"must be one of {', '.join(ORDER_STATUSES)}"})
        filters.status = params["status"]
    return filters


def _encode_page_info(direction: str, boundary: int, filters: dict[str, str]) -> str:
    payload = json.dumps({"direction": direction, "last_id": boundary, "filters": filters}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode_page_info(token: str) -> tuple[str, int, dict[str, str]]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        direction, boundary, filters = payload["direction"], int(payload["last_id"]), dict(payload["filters"])
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise _BadRequest({"page_info": "Invalid value."}) from None
    if direction not in ("next", "prev") or not set(filters) <= set(FILTER_PARAMS):
        raise _BadRequest({"page_info": "Invalid value."})
    return direction, boundary, filters


def _select(
    collection: _Collection, filters: _Filters, direction: str, boundary: int | None, limit: int
) -> tuple[list[int], bool, bool]:
    """The page of matching ids after (or before) ``boundary``, and whether matches exist before/after it."""
    ids, meta = collection.ids, collection.meta

    def matching(indexes: Iterable[int]) -> Iterable[int]:
        return (ids[i] for i in indexes if filters.matches(ids[i], meta[ids[i]]))

    if direction == "next":
        start = 0 if boundary is None else bisect.bisect_right(ids, boundary)
        found: list[int] = []
        for record_id in matching(range(start, len(ids))):
            found.append(record_id)
            if len(found) > limit:
                break
        page = found[:limit]
        has_after = len(found) > limit
        first = bisect.bisect_left(ids, page[0]) if page else start
        has_before = next(iter(matching(range(first - 1, -1, -1))), None) is not None
        return page, has_before, has_after
    end = bisect.bisect_left(ids, boundary) if boundary is not None else len(ids)
    found = []
    for record_id in matching(range(end - 1, -1, -1)):
        found.append(record_id)
        if len(found) > limit:
            break
    page = sorted(found[:limit])
    last = bisect.bisect_right(ids, page[-1]) if page else end
    has_after = next(iter(matching(range(last, len(ids)))), None) is not None
    return page, len(found) > limit, has_after
