"""A local stand-in for HubSpot's CRM v3 contacts API, serving a generated data folder.

Wire contract (checked against HubSpot's developer docs):

* ``Authorization: Bearer <private app token>``; a missing or wrong token gets 401 with HubSpot's error
  body (``status``, ``message``, ``correlationId``, ``category: INVALID_AUTHENTICATION``).
* ``GET /crm/v3/properties/contacts`` -> ``{"results": [property definitions]}``.
* ``GET /crm/v3/objects/contacts?limit=&after=&properties=a,b&archived=`` -> ``{"results": [...],
  "paging": {"next": {"after", "link"}}}``, no ``paging`` on the last page. ``limit`` defaults to 10,
  at most 100. Only the requested properties come back, plus HubSpot's defaults. ``archived=true``
  lists only archived (merged-away) contacts.
* ``POST /crm/v3/objects/contacts/search`` with ``filterGroups``, ``sorts``, ``properties``, ``limit``
  (at most 200) and ``after`` (an offset) -> ``{"total", "results", "paging"}``. Like HubSpot, a search
  cannot page past its first 10,000 results (``search_result_cap``).
* ``POST /crm/v3/objects/contacts/batch/read`` with ``properties`` and up to 100 ``inputs`` (``{"id"}``)
  -> ``{"status": "COMPLETE", "results"}`` (207 with ``errors`` for ids that do not exist).
* Real portals' limits: a request URL longer than ``max_url_length`` (8,192 characters) gets 414; a
  search body over 3,000 characters gets 400. A token without ``crm.objects.contacts.read`` gets 403
  ``MISSING_SCOPES`` naming the scope. The search index lags writes by ``search_index_lag`` seconds.
* Optionally HubSpot's rolling rate limit: ``rate_limit_budget`` requests per ``rate_limit_window``
  seconds, then 429 with the ``TEN_SECONDLY_ROLLING`` error body.

The contacts live in an in-memory ``ContactStore`` that tests (and the demo) mutate between loads.
"""

from __future__ import annotations

import bisect
import collections
import json
import math
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ingestion.demo_kit.servers.common import Fault, Request, Response, SourceServer, bearer_token
from ingestion.errors import UserError

CONTACTS_PATH = "/crm/v3/objects/contacts"
SEARCH_PATH = "/crm/v3/objects/contacts/search"
PROPERTIES_PATH = "/crm/v3/properties/contacts"
BATCH_READ_PATH = "/crm/v3/objects/contacts/batch/read"
CONTACTS_READ_SCOPE = "crm.objects.contacts.read"
MAX_URL_LENGTH = 8_192  # HubSpot answers 414 past roughly 8-16k characters; the strict end
MAX_SEARCH_BODY = 3_000  # characters of a search request body
BATCH_READ_MAX = 100

# What HubSpot returns for a contact when no `properties` are asked for (and always, on top of them).
DEFAULT_PROPERTIES = ("createdate", "email", "firstname", "lastname", "hs_object_id", "lastmodifieddate")
LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX = 10, 100
SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX = 10, 200
SEARCH_RESULT_CAP = 10_000
# HubSpot accepts up to five filter groups of up to six filters each.
MAX_FILTER_GROUPS, MAX_FILTERS_PER_GROUP = 5, 6
TIMESTAMP_PROPERTIES = ("lastmodifieddate", "createdate")
RANGE_OPERATORS = ("GT", "GTE", "LT", "LTE", "EQ", "NEQ")


# -- timestamps ---------------------------------------------------------------------------------------
def format_timestamp(epoch_ms: int) -> str:
    """HubSpot's wire format: ISO-8601, UTC, milliseconds, ``Z``."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def parse_timestamp_ms(value: Any) -> int | None:
    """Epoch milliseconds from an epoch-ms string/number, an ISO timestamp or an ISO date; else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        return None
    return round(moment.timestamp() * 1000)


def _id_key(contact_id: str) -> tuple[int, str]:
    # HubSpot object ids are numeric and lists come back in id order; non-numeric ids sort after them.
    return (int(contact_id), "") if contact_id.isdigit() else (1 << 62, contact_id)


# -- the store ----------------------------------------------------------------------------------------
class ContactStore:
    """Contacts, archived contacts and property definitions, shared by the request threads and tests."""

    def __init__(self, contacts: Iterable[dict], archived: Iterable[dict], properties: list[dict]) -> None:
        self._lock = threading.RLock()
        self.properties: list[dict] = list(properties)
        self.live: dict[str, dict] = {}
        self.archived: dict[str, dict] = {}
        self._live_keys: list[tuple[tuple[int, str], str]] = []
        self._archived_keys: list[tuple[tuple[int, str], str]] = []
        # Bumped on every change so cached search results are never served stale.
        self.version = 0
        self._max_modified_ms = 0
        # The search index lags writes: a contact written now is searchable only `index_lag` seconds later.
        self.index_lag = 0.0
        self.indexed_at: dict[str, float] = {}
        self._all_indexed_at = 0.0  # when the last pending write becomes searchable
        for contact in contacts:
            self._put(self.live, self._live_keys, contact)
        for contact in archived:
            contact = dict(contact, archived=True)
            # HubSpot reports when an object was archived; older exports may lack it.
            contact.setdefault("archivedAt", contact.get("updatedAt"))
            self._put(self.archived, self._archived_keys, contact)

    @classmethod
    def from_folder(cls, data_dir: Path) -> ContactStore:
        folder = data_dir / "hubspot"
        contacts_file, properties_file = folder / "contacts.jsonl", folder / "properties.json"
        for needed in (contacts_file, properties_file):
            if not needed.is_file():
                raise UserError(f"{needed} is missing; run `customer360 generate --out {data_dir}` first")
        try:
            properties = json.loads(properties_file.read_text())["results"]
        except (ValueError, KeyError, TypeError) as error:
            raise UserError(f"{properties_file} is not a HubSpot properties response: {error}") from error
        archived_file = folder / "contacts_archived.jsonl"  # optional: only when contacts were merged
        # `generate --delta` adds contacts.delta-NNNN.jsonl files: read after the base, a later version
        # of a contact replaces the earlier one
        contacts = [record for path in _with_deltas(contacts_file) for record in _read_jsonl(path)]
        archived = [record for path in _with_deltas(archived_file) for record in _read_jsonl(path)]
        return cls(contacts, archived, properties)

    # -- internals ------------------------------------------------------------------------------------
    def _put(self, table: dict[str, dict], keys: list[tuple[tuple[int, str], str]], contact: dict) -> None:
        contact_id = str(contact["id"])
        if contact_id not in table:
            bisect.insort(keys, (_id_key(contact_id), contact_id))
        table[contact_id] = contact
        if self.index_lag > 0:
            self.indexed_at[contact_id] = time.monotonic() + self.index_lag
            self._all_indexed_at = max(self._all_indexed_at, self.indexed_at[contact_id])
        modified = parse_timestamp_ms(contact.get("updatedAt"))
        if modified is not None:
            self._max_modified_ms = max(self._max_modified_ms, modified)
        self.version += 1

    def _drop(self, table: dict[str, dict], keys: list[tuple[tuple[int, str], str]], contact_id: str) -> dict:
        contact = table.pop(contact_id)
        keys.pop(bisect.bisect_left(keys, (_id_key(contact_id), contact_id)))
        self.version += 1
        return contact

    def next_timestamp_ms(self) -> int:
        """A modification time later than every stored one.

        Generated history may end in the future relative to this machine's clock (``--as-of``), so "now"
        alone could sort before existing data and an incremental load would rightly never see it.
        """
        with self._lock:
            stamp = max(int(time.time() * 1000), self._max_modified_ms + 1)
            self._max_modified_ms = stamp
            return stamp

    # -- reading (under the lock; callers get snapshots) ---------------------------------------------
    def page_after(self, archived: bool, after: str | None, limit: int) -> tuple[list[dict], str | None]:
        """One page in id order starting at id ``after``; returns (contacts, next cursor or None)."""
        with self._lock:
            table, keys = (self.archived, self._archived_keys) if archived else (self.live, self._live_keys)
            start = bisect.bisect_left(keys, (_id_key(after), after)) if after else 0
            chosen = keys[start : start + limit]
            following = keys[start + limit] if start + limit < len(keys) else None
            return [table[cid] for _, cid in chosen], following[1] if following else None

    def snapshot_live(self) -> tuple[int, list[dict]]:
        with self._lock:
            return self.version, [self.live[cid] for _, cid in self._live_keys]

    def snapshot_searchable(self) -> tuple[Any, list[dict]]:
        """The live contacts the search index holds now, with a key that changes when that set changes."""
        with self._lock:
            now = time.monotonic()
            if now >= self._all_indexed_at:
                self.indexed_at.clear()
            pending = frozenset(cid for cid, at in self.indexed_at.items() if at > now)
            contacts = [self.live[cid] for _, cid in self._live_keys if cid not in pending]
            return (self.version, pending), contacts

    def catch_up_index(self) -> None:
        """The search index catches up now: every pending write becomes searchable (a test's "later", with no
        sleep that a busy machine could outlast)."""
        with self._lock:
            self.indexed_at.clear()
            self._all_indexed_at = 0.0

    def delete_permanently(self, contact_id: str) -> dict:
        """A GDPR delete: the contact leaves the live and the archived list alike, with no trace."""
        with self._lock:
            if contact_id in self.live:
                return self._drop(self.live, self._live_keys, contact_id)
            return self._drop(self.archived, self._archived_keys, contact_id)

    def property_names(self) -> list[str]:
        with self._lock:
            return [p["name"] for p in self.properties]

    def get(self, contact_id: str) -> dict:
        with self._lock:
            return self.live.get(contact_id) or self.archived[contact_id]

    # -- mutations (what a CRM user does between two loads) ------------------------------------------
    def update_contact(self, contact_id: str, changes: dict[str, str | None], at_ms: int | None = None) -> dict:
        """Set properties on a live contact and bump ``updatedAt``/``lastmodifieddate`` like HubSpot."""
        with self._lock:
            if contact_id not in self.live:
                raise KeyError(f"no live contact {contact_id}")
            stamp = format_timestamp(at_ms if at_ms is not None else self.next_timestamp_ms())
            contact = json.loads(json.dumps(self.live[contact_id]))
            contact["properties"].update(changes)
            contact["properties"]["lastmodifieddate"] = stamp
            contact["updatedAt"] = stamp
            self._put(self.live, self._live_keys, contact)
            return contact

    def add_contact(self, properties: dict[str, str | None], contact_id: str | None = None) -> dict:
        with self._lock:
            if contact_id is None:
                numeric = [k[0][0] for k in self._live_keys + self._archived_keys if k[0][0] < (1 << 62)]
                contact_id = str(max(numeric, default=1000) + 1)
            if contact_id in self.live or contact_id in self.archived:
                raise KeyError(f"contact {contact_id} already exists")
            stamp = format_timestamp(self.next_timestamp_ms())
            contact = {
                "id": contact_id,
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": False,
                "properties": {
                    **properties,
                    "hs_object_id": contact_id,
                    "createdate": stamp,
                    "lastmodifieddate": stamp,
                },
            }
            self._put(self.live, self._live_keys, contact)
            return contact

    def merge_contacts(self, survivor_id: str, merged_id: str) -> tuple[dict, dict]:
        """Merge ``merged_id`` into ``survivor_id``: the loser is archived, the survivor remembers it."""
        with self._lock:
            survivor = self.live[survivor_id]
            previous = survivor["properties"].get("hs_merged_object_ids") or ""
            merged_ids = ";".join(filter(None, [*previous.split(";"), merged_id]))
            loser = json.loads(json.dumps(self._drop(self.live, self._live_keys, merged_id)))
            stamp = format_timestamp(self.next_timestamp_ms())
            loser.update(archived=True, archivedAt=stamp, updatedAt=stamp)
            loser["properties"]["lastmodifieddate"] = stamp
            self._put(self.archived, self._archived_keys, loser)
            return self.update_contact(survivor_id, {"hs_merged_object_ids": merged_ids}), loser

    def add_property(
        self, name: str, label: str | None = None, type_: str = "string", field_type: str = "text"
    ) -> dict:
        """Define a new contact property (the schema-drift path: it must arrive as a new column)."""
        with self._lock:
            if name in self.property_names():
                raise KeyError(f"property {name} already exists")
            definition = {
                "name": name,
                "label": label or name.replace("_", " ").title(),
                "type": type_,
                "fieldType": field_type,
                "groupName": "contactinformation",
                "description": "",
            }
            self.properties.append(definition)
            self.version += 1
            return definition


def _with_deltas(path: Path) -> list[Path]:
    """A base file (if present) and its ``<stem>.delta-NNNN.jsonl`` files, in order."""
    return [p for p in [path, *sorted(path.parent.glob(f"{path.stem}.delta-*.jsonl"))] if p.is_file()]


def _read_jsonl(path: Path) -> list[dict]:
    records = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise UserError(f"{path}:{number} is not valid JSON: {error.msg}") from error
    return records


# -- search -------------------------------------------------------------------------------------------
class SearchError(ValueError):
    """A search request HubSpot would reject with 400 VALIDATION_ERROR."""


@dataclass(frozen=True)
class Filter:
    property_name: str
    operator: str
    value: Any

    def matches(self, contact: dict) -> bool:
        raw = contact["properties"].get(self.property_name)
        if self.operator == "HAS_PROPERTY":
            return raw not in (None, "")
        if self.operator == "NOT_HAS_PROPERTY":
            return raw in (None, "")
        actual = _comparable(self.property_name, raw)
        if actual is None:
            return self.operator == "NEQ"
        wanted = self.value
        return {
            "EQ": actual == wanted,
            "NEQ": actual != wanted,
            "GT": actual > wanted,
            "GTE": actual >= wanted,
            "LT": actual < wanted,
            "LTE": actual <= wanted,
        }[self.operator]


def _comparable(property_name: str, raw: Any) -> Any:
    if property_name in TIMESTAMP_PROPERTIES:
        return parse_timestamp_ms(raw)
    if property_name == "hs_object_id":
        return int(raw) if raw is not None and str(raw).isdigit() else None
    return None if raw is None else str(raw)


def parse_filters(body: dict) -> list[list[Filter]]:
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list) or len(groups) > MAX_FILTER_GROUPS:
        raise SearchError(f"filterGroups must be a list of at most {MAX_FILTER_GROUPS} groups")
    parsed: list[list[Filter]] = []
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list) or len(filters) > MAX_FILTERS_PER_GROUP:
            raise SearchError(f"each filter group needs a list of at most {MAX_FILTERS_PER_GROUP} filters")
        parsed.append([_parse_filter(f) for f in filters])
    return parsed


def _parse_filter(spec: Any) -> Filter:
    if not isinstance(spec, dict) or "propertyName" not in spec or "operator" not in spec:
        raise SearchError(f"a filter needs propertyName and operator, got {spec!r}")
    name, operator = str(spec["propertyName"]), str(spec["operator"])
    if operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return Filter(name, operator, None)
    if operator not in RANGE_OPERATORS:
        raise SearchError(f"operator {operator} is not supported by this server")
    if "value" not in spec:
        raise SearchError(f"filter on {name} with {operator} needs a value")
    value = _comparable(name, spec["value"])
    if value is None:
        raise SearchError(f"{spec['value']!r} is not a valid value for {name}")
    if name not in (*TIMESTAMP_PROPERTIES, "hs_object_id") and operator not in ("EQ", "NEQ"):
        raise SearchError(f"{operator} is only supported on {', '.join(TIMESTAMP_PROPERTIES)} and hs_object_id")
    return Filter(name, operator, value)


def parse_sort(body: dict) -> tuple[str, bool]:
    sorts = body.get("sorts") or []
    if not sorts:
        return "hs_object_id", False
    first = sorts[0]
    if isinstance(first, str):  # HubSpot also takes "-createdate" shorthand
        return first.lstrip("-"), first.startswith("-")
    if not isinstance(first, dict) or "propertyName" not in first:
        raise SearchError(f"a sort needs propertyName, got {first!r}")
    direction = str(first.get("direction", "ASCENDING")).upper()
    if direction not in ("ASCENDING", "DESCENDING"):
        raise SearchError(f"sort direction must be ASCENDING or DESCENDING, got {direction}")
    return str(first["propertyName"]), direction == "DESCENDING"


def sort_contacts(contacts: list[dict], property_name: str, descending: bool) -> list[dict]:
    """Sorted by one property; contacts without a value go last and ties keep id order, so paging by
    offset is deterministic."""
    keyed = [(_comparable(property_name, c["properties"].get(property_name)), c) for c in contacts]
    present = [(v, c) for v, c in keyed if v is not None]
    present.sort(key=lambda pair: _id_key(pair[1]["id"]))
    present.sort(key=lambda pair: pair[0], reverse=descending)  # stable: ties stay in id order
    return [c for _, c in present] + [c for v, c in keyed if v is None]


# -- the server ---------------------------------------------------------------------------------------
def _error_body(message: str, category: str, **extra: Any) -> dict:
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **extra}


class HubSpotServer(SourceServer):
    name = "hubspot"

    def __init__(
        self,
        data_dir: Path,
        access_token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        rate_limit_budget: int | None = None,
        rate_limit_window: float = 10.0,
        search_result_cap: int = SEARCH_RESULT_CAP,
        scopes: Iterable[str] = (CONTACTS_READ_SCOPE,),
        max_url_length: int = MAX_URL_LENGTH,
        search_truncate_after: int | None = None,
    ) -> None:
        self.store = ContactStore.from_folder(Path(data_dir))
        self.scopes = set(scopes)
        self.max_url_length = max_url_length
        # Misbehaviour on demand: a search stops offering further pages after this many results although
        # its `total` says more (a truncated window the loader must notice).
        self.search_truncate_after = search_truncate_after
        self.access_token = access_token
        # HubSpot's TEN_SECONDLY_ROLLING limit; None (the default) lets every request through.
        self.rate_limit_budget = rate_limit_budget
        self.rate_limit_window = rate_limit_window
        self.search_result_cap = search_result_cap
        self._recent: collections.deque[float] = collections.deque()
        self._rate_lock = threading.Lock()
        self._search_cache: tuple[Any, list[dict]] | None = None
        self._search_lock = threading.Lock()
        super().__init__(host, port)

    # -- auth, throttling, faults in HubSpot's own words ---------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        token = bearer_token(request)
        if token is None:
            message = (
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
                "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
            )
        elif token != self.access_token:
            message = "The access token provided is invalid or has been revoked."
        else:
            return None
        return Response(401, _error_body(message, "INVALID_AUTHENTICATION"))

    def before_route(self, request: Request) -> Response | None:
        if self.rate_limit_budget is None:
            return None
        with self._rate_lock:
            now = time.monotonic()
            while self._recent and now - self._recent[0] >= self.rate_limit_window:
                self._recent.popleft()
            if len(self._recent) < self.rate_limit_budget:
                self._recent.append(now)
                return None
            wait = self._recent[0] + self.rate_limit_window - now
        body = _error_body(
            "You have reached your ten_secondly_rolling limit.",
            "RATE_LIMITS",
            errorType="RATE_LIMIT",
            policyName="TEN_SECONDLY_ROLLING",
            requestId=str(uuid.uuid4()),
        )
        headers = self._rate_headers(remaining=0)
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return Response(429, body, headers)

    def _rate_headers(self, remaining: int) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.rate_limit_window * 1000)),
            "X-HubSpot-RateLimit-Max": str(self.rate_limit_budget),
            "X-HubSpot-RateLimit-Remaining": str(max(0, remaining)),
        }

    def _respond(self, request: Request, fault: Fault | None) -> tuple[Response, bool]:
        response, truncate = super()._respond(request, fault)
        # The shared fault injector speaks generically; answer in HubSpot's error shape instead.
        if fault is not None and fault.kind == "rate_limit" and response.status == 429:
            response.body = _error_body(
                "You have reached your ten_secondly_rolling limit.",
                "RATE_LIMITS",
                errorType="RATE_LIMIT",
                policyName="TEN_SECONDLY_ROLLING",
            )
        elif fault is not None and fault.kind == "server_error" and response.status >= 500:
            response.body = _error_body("internal error (injected fault)", "INTERNAL_ERROR")
        return response, truncate

    # -- routes ---------------------------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        response = self._route(request)
        if self.rate_limit_budget is not None:
            with self._rate_lock:
                response.headers.update(self._rate_headers(self.rate_limit_budget - len(self._recent)))
        return response

    def _route(self, request: Request) -> Response:
        if len(request.target) > self.max_url_length:
            return Response(414, _error_body(f"URI Too Long ({len(request.target):,} characters)", "URI_TOO_LONG"))
        if CONTACTS_READ_SCOPE not in self.scopes:
            return Response(
                403,
                _error_body(
                    "This app hasn't been granted all required scopes to make this call. Read more about required "
                    "scopes here: https://developers.hubspot.com/scopes.",
                    "MISSING_SCOPES",
                    errors=[
                        {
                            "message": "One or more of the following scopes are required.",
                            "context": {"requiredScopes": [CONTACTS_READ_SCOPE]},
                        }
                    ],
                ),
            )
        if request.path == BATCH_READ_PATH and request.method == "POST":
            return self._batch_read(request)
        if request.path == PROPERTIES_PATH and request.method == "GET":
            response = Response(200, {"results": list(self.store.properties)})
        elif request.path == CONTACTS_PATH and request.method == "GET":
            response = self._list_contacts(request)
        elif request.path == SEARCH_PATH and request.method == "POST":
            response = self._search(request)
        elif request.path in (PROPERTIES_PATH, CONTACTS_PATH, SEARCH_PATH):
            response = Response(405, _error_body(f"{request.method} is not allowed on {request.path}", "METHOD"))
        else:
            response = Response(404, _error_body(f"no route for {request.method} {request.path}", "OBJECT_NOT_FOUND"))
        return response

    def _batch_read(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= BATCH_READ_MAX:
            return self._invalid(f"inputs must be a list of 1 to {BATCH_READ_MAX} objects with an id")
        archived = bool(body.get("archived", False))
        properties = self._requested_properties(str(p) for p in body.get("properties") or [])
        results, missing = [], []
        with self.store._lock:
            table = self.store.archived if archived else self.store.live
            for item in inputs:
                contact_id = str(item.get("id")) if isinstance(item, dict) else ""
                if contact_id in table:
                    results.append(self._render(table[contact_id], properties))
                else:
                    missing.append(contact_id)
        now = format_timestamp(int(time.time() * 1000))
        reply: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        if missing:
            reply["numErrors"] = 1
            reply["errors"] = [
                {"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Could not get some CONTACT objects",
                 "context": {"ids": missing}}
            ]  # fmt: skip
            return Response(207, reply)
        return Response(200, reply)

    def _requested_properties(self, names: Iterable[str]) -> list[str]:
        wanted = list(DEFAULT_PROPERTIES)
        for name in names:
            if name and name not in wanted:
                wanted.append(name)
        return wanted

    def _render(self, contact: dict, properties: list[str]) -> dict:
        values = contact.get("properties") or {}
        rendered = {k: v for k, v in contact.items() if k != "properties"}
        # HubSpot returns every requested property, null when the contact has no value.
        rendered["properties"] = {name: values.get(name) for name in properties}
        return rendered

    def _list_contacts(self, request: Request) -> Response:
        try:
            limit = int(request.arg("limit", str(LIST_LIMIT_DEFAULT)) or LIST_LIMIT_DEFAULT)
        except ValueError:
            return self._invalid(f"limit must be an integer, got {request.arg('limit')!r}")
        if not 1 <= limit <= LIST_LIMIT_MAX:
            return self._invalid(f"limit must be between 1 and {LIST_LIMIT_MAX}, got {limit}")
        archived = (request.arg("archived", "false") or "false").lower() == "true"
        after = request.arg("after")
        if after is not None and not after.strip():
            after = None
        names = [n.strip() for value in request.query.get("properties", []) for n in value.split(",")]
        properties = self._requested_properties(names)
        contacts, next_after = self.store.page_after(archived, after, limit)
        body: dict[str, Any] = {"results": [self._render(c, properties) for c in contacts]}
        if next_after is not None:
            query = {k: ",".join(v) for k, v in request.query.items() if k != "after"}
            query["after"] = next_after
            body["paging"] = {"next": {"after": next_after, "link": f"{self.url}{CONTACTS_PATH}?{urlencode(query)}"}}
        return Response(200, body)

    def _search(self, request: Request) -> Response:
        if request.body_length > MAX_SEARCH_BODY:
            return self._invalid(
                f"The request body is {request.body_length:,} characters; a search request may have at most "
                f"{MAX_SEARCH_BODY:,}."
            )
        body = request.body if isinstance(request.body, dict) else {}
        try:
            limit = int(body.get("limit", SEARCH_LIMIT_DEFAULT))
            after = int(body.get("after") or 0)
        except (TypeError, ValueError):
            return self._invalid("limit and after must be integers")
        if not 1 <= limit <= SEARCH_LIMIT_MAX:
            return self._invalid(f"limit must be between 1 and {SEARCH_LIMIT_MAX}, got {limit}")
        if after >= self.search_result_cap:
            return self._invalid(
                f"The search API cannot page past the first {self.search_result_cap:,} results "
                f"(after={after}); narrow the filters instead."
            )
        try:
            groups = parse_filters(body)
            sort_property, descending = parse_sort(body)
        except SearchError as error:
            return self._invalid(str(error))
        properties = self._requested_properties(str(p) for p in body.get("properties") or [])
        matches = self._matching(groups, sort_property, descending)
        end = min(after + limit, self.search_result_cap)
        if self.search_truncate_after is not None:
            end = min(end, self.search_truncate_after)
        page = matches[after:end]
        reply: dict[str, Any] = {"total": len(matches), "results": [self._render(c, properties) for c in page]}
        truncated = self.search_truncate_after is not None and after + limit >= self.search_truncate_after
        if after + limit < len(matches) and not truncated:
            # Like HubSpot, the cursor is offered even when following it would cross the cap.
            next_after = str(after + limit)
            reply["paging"] = {"next": {"after": next_after, "link": f"{self.url}{SEARCH_PATH}?after={next_after}"}}
        return Response(200, reply)

    def _matching(self, groups: list[list[Filter]], sort_property: str, descending: bool) -> list[dict]:
        version, contacts = self.store.snapshot_searchable()
        key = (version, repr(groups), sort_property, descending)
        with self._search_lock:
            # Paging re-issues the same search; cache the sorted result until the store changes.
            if self._search_cache is not None and self._search_cache[0] == key:
                return self._search_cache[1]
        if groups:  # groups are ORed, the filters inside a group ANDed
            contacts = [c for c in contacts if any(all(f.matches(c) for f in group) for group in groups)]
        matches = sort_contacts(contacts, sort_property, descending)
        with self._search_lock:
            self._search_cache = (key, matches)
        return matches

    @staticmethod
    def _invalid(message: str) -> Response:
        return Response(400, _error_body(message, "VALIDATION_ERROR"))
