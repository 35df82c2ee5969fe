"""dlt source for HubSpot CRM v3 contacts -> ``raw_hubspot.contacts``.

How a load works:

* The contact property definitions are read first (``/crm/v3/properties/contacts``). List and search
  requests ask only for the properties the dbt models read (``MODEL_PROPERTIES``): real portals have
  hundreds of properties, and asking for all of them passes HubSpot's URL length (414) and search body
  (3,000 characters, 400) limits. Properties a user names in ``sources.hubspot.properties`` (or ``all``)
  are fetched for each page through the batch-read endpoint (a POST body, 100 contacts a call) and
  arrive as ``properties__<name>`` columns (with ``all``, a property added in HubSpot arrives as a new
  column on the next load).
* First run: the full list of live contacts, then the archived (merged-away) ones.
* Later runs: only what changed, through the search API: ``lastmodifieddate >= cursor`` sorted
  ascending, where the cursor is the highest ``updatedAt`` loaded so far (kept in dlt state, advanced
  only when a load commits). ``>=`` rather than ``>`` because two contacts can change in the same
  millisecond; dlt's incremental drops the ones already loaded at exactly the cursor. HubSpot's search
  cannot page past 10,000 results, so the search is re-issued from the last seen ``lastmodifieddate``
  (and, when more than a whole window shares one timestamp, windowed on ``hs_object_id``).
  Archived contacts never appear in search, so the (small) archived list is re-read and the cursor
  keeps only contacts archived since the last load.
* Look-back: HubSpot's search index lags writes by seconds, so each incremental run re-reads
  ``lookback_seconds`` (default 600) before the cursor (dlt's incremental ``lag``; the merge makes it
  idempotent). Each search window's ``total`` is checked against the rows received: a window that comes
  back short fails the load instead of silently losing contacts.
* Deletions: archived contacts that no live contact lists in ``hs_merged_object_ids`` were deleted
  (staging drops them). A permanently deleted (GDPR) contact leaves both lists, so every
  ``reconcile_hours`` (default 24) the run lists every live and archived id and records the ids the
  warehouse holds but HubSpot no longer has in ``raw_hubspot.deleted_contacts``.
* Pages are collected into Arrow tables (bulk rows must go through Arrow to load at speed) and merged
  on ``id``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa
import requests
from dlt.common import jsonpath
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.client import Request
from dlt.sources.helpers.rest_client.paginators import BasePaginator, JSONResponseCursorPaginator

from ingestion.dlt_config import dlt_setting
from ingestion.errors import UserError, exception_chain
from ingestion.pipeline import (
    LoadSummary,
    exclusive_run,
    extract_then_load,
    finish_interrupted,
    make_pipeline,
    rows_loaded,
    user_errors,
    warehouse_turn,
)
from ingestion.privacy.erasure import refuse_load_without_salt
from ingestion.progress import Ticker, say
from ingestion.settings import Settings, resolve
from ingestion.sources.http import PacedSession, hubspot_pacer, runtime_config

SOURCE_SYSTEM = "hubspot"
DEFAULT_BASE_URL = "https://api.hubapi.com"
BASE_URL_ENV = "SOURCES__HUBSPOT__BASE_URL"
TOKEN_ENV = "SOURCES__HUBSPOT__ACCESS_TOKEN"

CONTACTS_PATH = "/crm/v3/objects/contacts"
SEARCH_PATH = "/crm/v3/objects/contacts/search"
PROPERTIES_PATH = "/crm/v3/properties/contacts"
BATCH_READ_PATH = "/crm/v3/objects/contacts/batch/read"
BATCH_READ_SIZE = 100  # HubSpot's maximum inputs per batch read
CONTACTS_READ_SCOPE = "crm.objects.contacts.read"
# The properties the dbt models read (staging and the suppression guard): always requested, few enough
# that a list URL and a search body stay far inside HubSpot's limits.
MODEL_PROPERTIES = (
    "hs_object_id", "email", "firstname", "lastname", "phone", "company", "jobtitle", "lifecyclestage",
    "hs_email_optout", "address", "city", "zip", "state", "country", "date_of_birth", "createdate",
    "lastmodifieddate", "hs_merged_object_ids",
)  # fmt: skip
LOOKBACK_SECONDS = 600.0
RECONCILE_HOURS = 24.0
LIST_PAGE_SIZE = 100  # HubSpot's maximum for the list endpoint
SEARCH_PAGE_SIZE = 200  # HubSpot's maximum for the search endpoint
SEARCH_RESULT_CAP = 10_000  # HubSpot refuses a search page starting at or beyond this offset
# A compiled path, so dlt does not parse the string selector on every page.
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


class SearchPaginator(BasePaginator):
    """HubSpot search paging (the ``after`` offset in the POST body) that stops at the result cap instead
    of asking for a page HubSpot refuses, and keeps the window's ``total`` and the rows received so the
    caller can check the window came back whole. Subclasses dlt's public ``BasePaginator``."""

    def __init__(self, result_cap: int) -> None:
        super().__init__()
        self.result_cap = result_cap
        self.after: str | None = None
        self.hit_cap = False
        self.total = 0
        self.received = 0

    def update_state(self, response: requests.Response, data: list[Any] | None = None) -> None:
        payload = response.json()
        self.total = int(payload.get("total") or 0)  # the last page's: writes during paging move it
        self.received += len(data or [])
        after = ((payload.get("paging") or {}).get("next") or {}).get("after")
        if after is None:
            self._has_next_page = False  # BasePaginator's documented contract for subclasses
        elif int(str(after)) >= self.result_cap:
            self._has_next_page, self.hit_cap = False, True
        else:
            self.after = str(after)

    def update_request(self, request: Request) -> None:
        request.json = {**(request.json or {}), "after": self.after}

    def check_whole(self, what: str) -> None:
        """Fail loudly when a window returned fewer rows than its ``total`` promised (up to the cap)."""
        expected = min(self.total, self.result_cap)
        if self.received != expected:
            raise HubSpotDataError(
                f"hubspot search {what} reported {self.total:,} contacts but returned {self.received:,}; "
                "nothing was committed, rerun the load"
            )


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


def select_properties(discovered: list[str], wanted: str | None) -> tuple[list[str], list[str]]:
    """(properties asked for in list/search requests, extra properties read through batch read).

    ``wanted`` is ``sources.hubspot.properties``: empty for only the models' properties, ``all``, or a
    comma-separated list of property names (each must exist in the portal).
    """
    core = list(MODEL_PROPERTIES)
    text = (wanted or "").strip()
    if not text:
        return core, []
    if text.lower() == "all":
        return core, [name for name in discovered if name not in core]
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in discovered]
    if unknown:
        raise UserError(f"hubspot has no contact property {', '.join(unknown)} (sources.hubspot.properties)")
    return core, [name for name in dict.fromkeys(names) if name not in core]


def with_extra_properties(
    client: RESTClient, pages: Iterator[list[dict]], extra: list[str], archived: bool
) -> Iterator[list[dict]]:
    """Each page with the ``extra`` properties filled in through the batch-read endpoint (a POST body, so
    no URL limit), 100 contacts a call. A contact deleted meanwhile keeps only its listed properties."""
    for page in pages:
        if extra and page:
            values: dict[str, dict] = {}
            for start in range(0, len(page), BATCH_READ_SIZE):
                inputs = [{"id": str(c["id"])} for c in page[start : start + BATCH_READ_SIZE]]
                body = {"properties": extra, "inputs": inputs, "archived": archived}
                response = client.post(BATCH_READ_PATH, json=body)
                if response.status_code not in (200, 207):  # 207: some ids no longer exist
                    response.raise_for_status()
                for found in response.json().get("results") or []:
                    values[str(found["id"])] = found.get("properties") or {}
            for contact in page:
                contact["properties"] = {**values.get(str(contact["id"]), {}), **(contact.get("properties") or {})}
        yield page


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
        paginator = SearchPaginator(result_cap)
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
        paginator.check_whole(f"window lastmodifieddate {'>=' if inclusive else '>'} {lower}")
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
        paginator = SearchPaginator(result_cap)
        for page in client.paginate(SEARCH_PATH, method="POST", json=body, paginator=paginator, data_selector=RESULTS):
            fresh = [c for c in page if str(c["id"]) not in seen]
            if page:
                after_id = max(int(c["id"]) for c in page)
            if fresh:
                yield fresh
        paginator.check_whole(f"window lastmodifieddate = {instant_ms}")
        if not paginator.hit_cap:
            return


def _modified_ms(contact: dict) -> int:
    value = (contact.get("properties") or {}).get("lastmodifieddate") or contact.get("updatedAt")
    moment = _parse_ts(value, str(contact.get("id")), "lastmodifieddate")
    if moment is None:
        raise HubSpotDataError(f"hubspot contact {contact.get('id')} came back from search with no lastmodifieddate")
    return _epoch_ms(moment)


def reconcile_ids(client: RESTClient, known_ids: set[str]) -> set[str]:
    """The ``known_ids`` HubSpot no longer has, live or archived: permanently deleted contacts."""
    present: set[str] = set()
    for archived in (False, True):
        for page in list_contacts(client, ["hs_object_id"], archived):
            present.update(str(c["id"]) for c in page)
    return known_ids - present


DELETED_COLUMNS: dict[str, dict[str, Any]] = {
    "id": {"data_type": "text", "nullable": False, "primary_key": True},
    "detected_at": {"data_type": "timestamp", "nullable": False},
}


def make_client(base_url: str, access_token: str) -> RESTClient:
    """dlt's RESTClient over a retrying session that paces itself by ``X-HubSpot-RateLimit-*``."""
    session = PacedSession(runtime_config(), pacer=hubspot_pacer)
    return RESTClient(base_url=base_url.rstrip("/"), auth=BearerTokenAuth(access_token), session=session)


@dlt.source(name="hubspot")
def hubspot_source(
    base_url: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    search_result_cap: int = SEARCH_RESULT_CAP,
    chunk_rows: int = CHUNK_ROWS,
    properties: str | None = None,
    lookback_seconds: float = LOOKBACK_SECONDS,
    reconcile_hours: float = RECONCILE_HOURS,
    known_ids: list[str] | None = None,
) -> Any:
    """HubSpot contacts (and ids deleted for good). Reads ``sources.hubspot.*`` from dlt config.

    ``known_ids``: the contact ids the warehouse holds, for the periodic id reconciliation.
    """
    client = make_client(base_url, access_token)
    requested, extra = select_properties(discover_properties(client), properties)
    loaded = requested + extra

    def contacts(
        # dlt binds the cursor through this default argument (its documented idiom), hence the noqa. `lag`
        # re-reads the look-back window before the cursor on every incremental run.
        updated_at: dlt.sources.incremental[datetime] = dlt.sources.incremental(  # noqa: B008
            "updated_at", lag=lookback_seconds or None
        ),
    ) -> Iterator[pa.Table]:
        batcher, progress = (
            ContactBatcher(loaded, chunk_rows),
            Ticker(SOURCE_SYSTEM, "contacts fetched", PROGRESS_EVERY),
        )
        if updated_at.start_value is None:
            live = list_contacts(client, requested, archived=False)
            phases = [("list", with_extra_properties(client, live, extra, archived=False))]
        else:
            since = _epoch_ms(updated_at.start_value)
            found = search_changed(client, requested, since, result_cap=search_result_cap)
            phases = [("search", with_extra_properties(client, found, extra, archived=False))]
        # Archived contacts are never returned by search, so every run re-reads that (small) list and
        # the cursor keeps only the ones archived since the last load.
        archived = list_contacts(client, requested, archived=True)
        phases.append(("archived", with_extra_properties(client, archived, extra, archived=True)))
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

    def deleted_contacts() -> Iterator[Any]:
        yield dlt.mark.materialize_table_schema()  # the table exists (empty) from the first load on
        state = dlt.current.resource_state()
        now = datetime.now(tz=UTC)
        last = state.get("reconciled_at")
        due = last is None or (now - datetime.fromisoformat(last)).total_seconds() >= reconcile_hours * 3600
        if known_ids is None or not due:
            return
        if not known_ids:  # the first load: nothing to reconcile yet, the clock starts now
            state["reconciled_at"] = now.isoformat()
            return
        gone = reconcile_ids(client, set(known_ids))
        state["reconciled_at"] = now.isoformat()  # committed with the load, like the cursor
        say(f"hubspot: id reconciliation: {len(gone):,} contact(s) deleted for good")
        if gone:
            yield [{"id": contact_id, "detected_at": now} for contact_id in sorted(gone)]

    return [
        dlt.resource(
            contacts,
            name="contacts",
            primary_key="id",
            write_disposition="merge",
            columns=contact_columns(loaded),
        ),
        dlt.resource(
            deleted_contacts,
            name="deleted_contacts",
            primary_key="id",
            write_disposition="merge",
            columns=DELETED_COLUMNS,
        ),
    ]


# -- the CLI's entry point ----------------------------------------------------------------------------
def http_user_error(error: BaseException, base_url: str) -> UserError | None:
    """The first HTTP-level problem in an exception chain, in plain words (None if there is none)."""
    for current in exception_chain(error):
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
    if response.status_code == 403:
        scopes = _required_scopes(response) or [CONTACTS_READ_SCOPE]
        return UserError(
            f"hubspot refused {where} (403): the private app lacks the scope {', '.join(scopes)}; grant it in "
            "HubSpot (Settings > Integrations > Private apps > Scopes) and rerun"
        )
    retried = " (after retries)" if response.status_code == 429 or response.status_code >= 500 else ""
    return UserError(f"hubspot answered {response.status_code} for {where}{retried}: {message}")


def _required_scopes(response: requests.Response) -> list[str]:
    """The scopes HubSpot's 403 ``MISSING_SCOPES`` body names (``errors[].context.requiredScopes``)."""
    try:
        errors = response.json().get("errors") or []
        return [str(scope) for e in errors for scope in (e.get("context") or {}).get("requiredScopes") or []]
    except (ValueError, AttributeError, TypeError):
        return []


def _short(error: BaseException) -> str:
    text = str(error)
    # urllib3 buries the reason ("[Errno 111] Connection refused") in a long repr: lead with it.
    reason = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    if reason:
        return reason.group(0).strip()
    return text if len(text) <= 200 else text[:200] + "..."


def reconciliation_due(pipeline: dlt.Pipeline) -> bool:
    """Whether this run lists every id (``sources.hubspot.reconcile_hours`` since the last one)."""
    hours = dlt_setting("sources.hubspot.reconcile_hours", float)
    hours = RECONCILE_HOURS if hours is None else hours
    resources = pipeline.state.get("sources", {}).get(SOURCE_SYSTEM, {}).get("resources", {})
    last = resources.get("deleted_contacts", {}).get("reconciled_at")
    return last is None or (datetime.now(tz=UTC) - datetime.fromisoformat(last)).total_seconds() >= hours * 3600


def known_contact_ids(pipeline: dlt.Pipeline) -> list[str]:
    """The contact ids the warehouse holds and has not yet marked deleted (none before the first load)."""
    queries = (
        "select id from contacts where id not in (select id from deleted_contacts)",
        "select id from contacts",  # loaded before deleted_contacts existed
    )
    for sql in queries:
        try:
            with pipeline.sql_client() as client:
                return [str(row[0]) for row in client.execute_sql(sql) or []]
        except Exception as error:  # a missing table is the only expected failure here
            if "does not exist" not in str(error) and "not found" not in str(error).lower():
                raise
    return []


def load_hubspot(
    base_url: str | None = None, access_token: str | None = None, settings: Settings | None = None
) -> LoadSummary:
    """Load HubSpot contacts into ``raw_hubspot.contacts``; first run full, later runs incremental."""
    base_url = base_url or dlt_setting("sources.hubspot.base_url") or DEFAULT_BASE_URL
    access_token = access_token or dlt_setting("sources.hubspot.access_token", secret=True)
    if not access_token:
        raise UserError(
            f"no HubSpot access token: set {TOKEN_ENV} (a private app token with crm.objects.contacts.read)"
        )
    settings = resolve(settings)
    pipeline = make_pipeline(SOURCE_SYSTEM, settings)
    # Arrow tables get no dlt columns by default; staging reads `_dlt_load_id` as loaded-at.
    prefix = f"{pipeline.pipeline_name.upper()}__NORMALIZE__PARQUET_NORMALIZER__"
    os.environ.setdefault(prefix + "ADD_DLT_LOAD_ID", "true")
    os.environ.setdefault(prefix + "ADD_DLT_ID", "true")
    started = time.monotonic()
    with (
        user_errors(SOURCE_SYSTEM, settings.duckdb_path),
        exclusive_run(pipeline.pipeline_name, SOURCE_SYSTEM, settings.pipelines_dir),
    ):
        # the warehouse is held for these and for the load step only (warehouse_turn), so `load all` runs
        # another source's load beside this one's requests
        with warehouse_turn(settings, "hubspot: checks"):
            refuse_load_without_salt(pipeline)
        finish_interrupted(pipeline, settings)  # takes its own turn to load (a turn is not taken twice)
        with warehouse_turn(settings, "hubspot: state"):
            pipeline.sync_destination()
            known = known_contact_ids(pipeline) if reconciliation_due(pipeline) else None
        try:
            source = hubspot_source(base_url=base_url, access_token=access_token, known_ids=known)
            info = extract_then_load(pipeline, source, settings, SOURCE_SYSTEM)
        except Exception as error:  # dlt wraps failures; name the HTTP problem underneath if there is one
            translated = http_user_error(error, base_url)
            if translated is not None and translated is not error:
                raise translated from error
            raise
    rows = {table: n for table, n in rows_loaded(info, pipeline).items() if n}  # not the empty tables
    summary = LoadSummary(SOURCE_SYSTEM, rows_by_table=rows)
    summary.seconds = time.monotonic() - started
    if summary.rows == 0:
        summary.skipped = "no contacts changed since the last load"
    return summary
