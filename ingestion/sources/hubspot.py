"""dlt source for HubSpot CRM v3 contacts -> ``raw_hubspot.contacts``.

How a load works:

* The contact property definitions are read first (``/crm/v3/properties/contacts``) and every one of
  them is requested, so a property added in HubSpot arrives as a new ``properties__<name>`` column on the
  next load (the schema-drift path) instead of being silently left behind.
* First run: the full list of live contacts, then the archived (merged-away) ones.
* Later runs: only what changed, through the search API: ``lastmodifieddate >= cursor`` sorted
  ascending, where the cursor is the highest ``updatedAt`` loaded so far (kept in dlt state, advanced
  only when a load commits). ``>=`` rather than ``>`` because two contacts can change in the same
  millisecond; dlt's incremental drops the ones already loaded at exactly the cursor. HubSpot's search
  cannot page past 10,000 results, so the search is re-issued from the last seen ``lastmodifieddate``
  (and, when more than a whole window shares one timestamp, windowed on ``hs_object_id``).
  Archived contacts never appear in search, so the (small) archived list is re-read and the cursor
  keeps only contacts archived since the last load.
* Pages are collected into Arrow tables (bulk rows must go through Arrow to load at speed) and merged
  on ``id``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa
import requests
from dlt.common import jsonpath
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

from ingestion.errors import UserError
from ingestion.pipeline import (
    LoadSummary,
    exclusive_run,
    finish_interrupted,
    make_pipeline,
    rows_loaded,
    user_errors,
)

SOURCE_SYSTEM = "hubspot"
DEFAULT_BASE_URL = "https://api.hubapi.com"
BASE_URL_ENV = "SOURCES__HUBSPOT__BASE_URL"
TOKEN_ENV = "SOURCES__HUBSPOT__ACCESS_TOKEN"

CONTACTS_PATH = "/crm/v3/objects/contacts"
SEARCH_PATH = "/crm/v3/objects/contacts/search"
PROPERTIES_PATH = "/crm/v3/properties/contacts"
LIST_PAGE_SIZE = 100  # HubSpot's maximum for the list endpoint
SEARCH_PAGE_SIZE = 200  # HubSpot's maximum for the search endpoint
SEARCH_RESULT_CAP = 10_000  # HubSpot refuses a search page starting at or beyond this offset
# dlt re-parses a string JSONPath on every page (~25 ms each with jsonpath-ng): compile it once.
RESULTS = jsonpath.compile_path("results")
CHUNK_ROWS = 5_000  # rows per Arrow table handed to dlt
PROGRESS_EVERY = 10_000  # print a progress line every this many contacts

TIMESTAMP = pa.timestamp("us", tz="UTC")
BASE_COLUMNS: dict[str, dict[str, Any]] = {
    "id": {"data_type": "text", "nullable": False, "primary_key": True},
    "created_at": {"data_type": "timestamp", "nullable": True},
    "updated_at": {"data_type": "timestamp", "nullable": True},
    "archived": {"data_type": "bool", "nullable": True},
    "archived_at": {"data_type": "timestamp", "nullable": True},
}


class HubSpotDataError(UserError):
    """HubSpot sent something this loader cannot store faithfully (named, never dropped)."""


def property_column(name: str) -> str:
    """The raw column of a contact property, as dlt flattens ``properties.<name>``."""
    return f"properties__{name}"


def contact_columns(property_names: list[str]) -> dict[str, dict[str, Any]]:
    """Column hints for every contract field, so a column exists even while every value is null."""
    hints = dict(BASE_COLUMNS)
    for name in property_names:
        hints[property_column(name)] = {"data_type": "text", "nullable": True}
    return hints


def _epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _parse_ts(value: Any, contact_id: str, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as error:
        raise HubSpotDataError(f"hubspot contact {contact_id} has an unreadable {field}: {value!r}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(value: Any) -> str | None:
    # HubSpot property values are strings; anything else is kept verbatim as its JSON text.
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


class ContactBatcher:
    """Turns HubSpot contact objects into Arrow tables of ``CHUNK_ROWS`` rows with a fixed schema."""

    def __init__(self, property_names: list[str], chunk_rows: int = CHUNK_ROWS) -> None:
        self.property_names = property_names
        self.chunk_rows = chunk_rows
        fields = [
            pa.field("id", pa.string(), nullable=False),
            pa.field("created_at", TIMESTAMP),
            pa.field("updated_at", TIMESTAMP),
            pa.field("archived", pa.bool_()),
            pa.field("archived_at", TIMESTAMP),
        ]
        fields += [pa.field(property_column(name), pa.string()) for name in property_names]
        self.schema = pa.schema(fields)
        self._reset()

    def _reset(self) -> None:
        self._columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}

    def __len__(self) -> int:
        return len(self._columns["id"])

    def add(self, contact: dict) -> pa.Table | None:
        contact_id = str(contact["id"])
        columns = self._columns
        columns["id"].append(contact_id)
        columns["created_at"].append(_parse_ts(contact.get("createdAt"), contact_id, "createdAt"))
        columns["updated_at"].append(_parse_ts(contact.get("updatedAt"), contact_id, "updatedAt"))
        columns["archived"].append(bool(contact.get("archived", False)))
        columns["archived_at"].append(_parse_ts(contact.get("archivedAt"), contact_id, "archivedAt"))
        values = contact.get("properties") or {}
        for name in self.property_names:
            columns[property_column(name)].append(_text(values.get(name)))
        return self.flush() if len(self) >= self.chunk_rows else None

    def flush(self) -> pa.Table | None:
        if not len(self):
            return None
        table = pa.Table.from_pydict(self._columns, schema=self.schema)
        self._reset()
        return table


class CappedSearchPaginator(JSONResponseCursorPaginator):
    """HubSpot search paging that stops at the 10k cap instead of asking for a page HubSpot refuses."""

    def __init__(self, result_cap: int) -> None:
        super().__init__(cursor_path="paging.next.after", cursor_body_path="after")
        self.result_cap = result_cap
        self.hit_cap = False

    def update_state(self, response: requests.Response, data: list[Any] | None = None) -> None:
        super().update_state(response, data)
        if self.has_next_page and int(str(self._next_reference)) >= self.result_cap:
            self._has_next_page = False
            self.hit_cap = True


class Progress:
    """One short line on stderr every ``every`` contacts, so a long load shows it is alive."""

    def __init__(self, every: int = PROGRESS_EVERY) -> None:
        self.every, self.count, self.started = every, 0, time.monotonic()

    def tick(self, n: int, what: str) -> None:
        before, self.count = self.count, self.count + n
        if self.count // self.every > before // self.every:
            rate = self.count / max(time.monotonic() - self.started, 1e-6)
            print(f"hubspot: {self.count:,} contacts fetched ({what}, {rate:,.0f}/s)", file=sys.stderr)


def discover_properties(client: RESTClient) -> list[str]:
    """Every contact property name, in HubSpot's order."""
    response = client.get(PROPERTIES_PATH)
    response.raise_for_status()
    try:
        names = [str(p["name"]) for p in response.json()["results"]]
    except (ValueError, KeyError, TypeError) as error:
        raise HubSpotDataError(f"hubspot {PROPERTIES_PATH} did not return property definitions: {error}") from error
    if not names:
        raise HubSpotDataError(f"hubspot {PROPERTIES_PATH} returned no contact properties")
    return names


def list_contacts(client: RESTClient, properties: list[str], archived: bool) -> Iterator[list[dict]]:
    """Pages of the full contact list (live or archived), in HubSpot's id order."""
    params = {"limit": LIST_PAGE_SIZE, "archived": str(archived).lower(), "properties": ",".join(properties)}
    paginator = JSONResponseCursorPaginator(cursor_path="paging.next.after", cursor_param="after")
    yield from client.paginate(CONTACTS_PATH, params=params, paginator=paginator, data_selector=RESULTS)


def _ts_filter(operator: str, epoch_ms: int) -> dict[str, str]:
    return {"propertyName": "lastmodifieddate", "operator": operator, "value": str(epoch_ms)}


def search_changed(
    client: RESTClient,
    properties: list[str],
    since_ms: int,
    result_cap: int = SEARCH_RESULT_CAP,
    page_size: int = SEARCH_PAGE_SIZE,
) -> Iterator[list[dict]]:
    """Pages of live contacts with ``lastmodifieddate >= since_ms``, ascending, past HubSpot's 10k cap.

    Each search window is paged until the cap, then a new window starts at the last seen
    ``lastmodifieddate`` (inclusive, skipping the contacts already seen at that instant). If a whole
    window is one single timestamp, that instant is drained in ``hs_object_id`` order first.
    """
    lower, inclusive, seen_at_lower = since_ms, True, set[str]()
    page_size = min(page_size, result_cap)
    while True:
        body = {
            "filterGroups": [{"filters": [_ts_filter("GTE" if inclusive else "GT", lower)]}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": properties,
            "limit": page_size,
            "after": "0",
        }
        paginator = CappedSearchPaginator(result_cap)
        last_ms, ids_at_last = lower, set(seen_at_lower)
        for page in client.paginate(SEARCH_PATH, method="POST", json=body, paginator=paginator, data_selector=RESULTS):
            fresh = []
            for contact in page:
                stamp = _modified_ms(contact)
                if stamp == lower and str(contact["id"]) in seen_at_lower:
                    continue  # already yielded by the previous window
                if stamp != last_ms:
                    last_ms, ids_at_last = stamp, set()
                ids_at_last.add(str(contact["id"]))
                fresh.append(contact)
            if fresh:
                yield fresh
        if not paginator.hit_cap:
            return
        if last_ms == lower:
            # A full window without leaving one instant: drain it by id, then move strictly past it.
            yield from _drain_instant(client, properties, lower, ids_at_last, result_cap, page_size)
            inclusive, seen_at_lower = False, set()
        else:
            inclusive, seen_at_lower = True, ids_at_last
        lower = last_ms


def _drain_instant(
    client: RESTClient, properties: list[str], instant_ms: int, seen: set[str], result_cap: int, page_size: int
) -> Iterator[list[dict]]:
    """Every contact modified exactly at ``instant_ms`` not in ``seen``, windowed on ``hs_object_id``."""
    after_id: int | None = None
    while True:
        filters = [_ts_filter("EQ", instant_ms)]
        if after_id is not None:
            filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)})
        body = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": properties,
            "limit": page_size,
            "after": "0",
        }
        paginator = CappedSearchPaginator(result_cap)
        for page in client.paginate(SEARCH_PATH, method="POST", json=body, paginator=paginator, data_selector=RESULTS):
            fresh = [c for c in page if str(c["id"]) not in seen]
            if page:
                after_id = max(int(c["id"]) for c in page)
            if fresh:
                yield fresh
        if not paginator.hit_cap:
            return


def _modified_ms(contact: dict) -> int:
    value = (contact.get("properties") or {}).get("lastmodifieddate") or contact.get("updatedAt")
    moment = _parse_ts(value, str(contact.get("id")), "lastmodifieddate")
    if moment is None:
        raise HubSpotDataError(f"hubspot contact {contact.get('id')} came back from search with no lastmodifieddate")
    return _epoch_ms(moment)


@dlt.source(name="hubspot")
def hubspot_source(
    base_url: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    search_result_cap: int = SEARCH_RESULT_CAP,
    chunk_rows: int = CHUNK_ROWS,
) -> Any:
    """HubSpot contacts. Reads ``sources.hubspot.base_url`` / ``access_token`` from dlt config."""
    client = RESTClient(base_url=base_url.rstrip("/"), auth=BearerTokenAuth(access_token))
    properties = discover_properties(client)

    def contacts(
        # dlt binds the cursor through this default argument (its documented idiom), hence the noqa.
        updated_at: dlt.sources.incremental[datetime] = dlt.sources.incremental("updated_at"),  # noqa: B008
    ) -> Iterator[pa.Table]:
        batcher, progress = ContactBatcher(properties, chunk_rows), Progress()
        if updated_at.start_value is None:
            phases = [("list", list_contacts(client, properties, archived=False))]
        else:
            since = _epoch_ms(updated_at.start_value)
            phases = [("search", search_changed(client, properties, since, result_cap=search_result_cap))]
        # Archived contacts are never returned by search, so every run re-reads that (small) list and
        # the cursor keeps only the ones archived since the last load.
        phases.append(("archived", list_contacts(client, properties, archived=True)))
        for what, pages in phases:
            for page in pages:
                progress.tick(len(page), what)
                for contact in page:
                    table = batcher.add(contact)
                    if table is not None:
                        yield table
        table = batcher.flush()
        if table is not None:
            yield table

    return dlt.resource(
        contacts,
        name="contacts",
        primary_key="id",
        write_disposition="merge",
        columns=contact_columns(properties),
    )


# -- the CLI's entry point ----------------------------------------------------------------------------
def _configured(key: str, secret: bool) -> str | None:
    try:
        value = (dlt.secrets if secret else dlt.config).get(f"sources.hubspot.{key}")
    except ConfigFieldMissingException:
        return None
    return str(value) if value not in (None, "") else None


def http_user_error(error: BaseException, base_url: str) -> UserError | None:
    """The first HTTP-level problem in an exception chain, in plain words (None if there is none)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, UserError):
            return current
        if isinstance(current, requests.HTTPError) and current.response is not None:
            return _status_error(current.response)
        if isinstance(current, requests.exceptions.ChunkedEncodingError):
            return UserError(f"hubspot at {base_url} kept cutting responses short (after retries): {_short(current)}")
        if isinstance(current, requests.ConnectionError) and not isinstance(current, requests.ConnectTimeout):
            return UserError(f"cannot reach hubspot at {base_url}: {_short(current)}")
        if isinstance(current, requests.Timeout):
            return UserError(f"hubspot at {base_url} did not answer in time (after retries): {_short(current)}")
        current = current.__cause__ or current.__context__
    return None


def _status_error(response: requests.Response) -> UserError:
    request = response.request
    where = f"{request.method} {str(request.url).split('?')[0]}" if request is not None else response.url
    try:
        message = str(response.json().get("message", ""))
    except ValueError:
        message = response.text[:200]
    if response.status_code == 401:
        return UserError(f"hubspot rejected the access token (401) at {where}: {message} — check {TOKEN_ENV}")
    retried = " (after retries)" if response.status_code == 429 or response.status_code >= 500 else ""
    return UserError(f"hubspot answered {response.status_code} for {where}{retried}: {message}")


def _short(error: BaseException) -> str:
    text = str(error)
    # urllib3 buries the reason ("[Errno 111] Connection refused") in a long repr: lead with it.
    reason = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    if reason:
        return reason.group(0).strip()
    return text if len(text) <= 200 else text[:200] + "..."


def load_hubspot(base_url: str | None = None, access_token: str | None = None) -> LoadSummary:
    """Load HubSpot contacts into ``raw_hubspot.contacts``; first run full, later runs incremental."""
    base_url = base_url or _configured("base_url", secret=False) or DEFAULT_BASE_URL
    access_token = access_token or _configured("access_token", secret=True)
    if not access_token:
        raise UserError(
            f"no HubSpot access token: set {TOKEN_ENV} (a private app token with crm.objects.contacts.read)"
        )
    pipeline = make_pipeline(SOURCE_SYSTEM)
    # Arrow tables get no dlt columns by default; staging reads `_dlt_load_id` as loaded-at.
    prefix = f"{pipeline.pipeline_name.upper()}__NORMALIZE__PARQUET_NORMALIZER__"
    os.environ.setdefault(prefix + "ADD_DLT_LOAD_ID", "true")
    os.environ.setdefault(prefix + "ADD_DLT_ID", "true")
    started = time.monotonic()
    with user_errors(SOURCE_SYSTEM), exclusive_run(pipeline.pipeline_name, SOURCE_SYSTEM):
        try:
            finish_interrupted(pipeline)
            source = hubspot_source(base_url=base_url, access_token=access_token)
            info = pipeline.run(source)
        except Exception as error:  # dlt wraps failures; name the HTTP problem underneath if there is one
            translated = http_user_error(error, base_url)
            if translated is not None and translated is not error:
                raise translated from error
            raise
    summary = LoadSummary(SOURCE_SYSTEM, rows_by_table=rows_loaded(info, pipeline))
    summary.seconds = time.monotonic() - started
    if summary.rows == 0:
        summary.skipped = "no contacts changed since the last load"
    return summary
