"""dlt source for the Shopify Admin REST API (2026-10): customers, orders and products into ``raw_shopify``.

A resource's first load (no cursor yet) is a GraphQL Admin bulk export (``shopify_bulk``: one JSONL file
instead of thousands of rate-limited pages; ``SOURCES__SHOPIFY__BULK_FIRST_LOAD=false`` turns it off).
Otherwise each resource lists ``/admin/api/2026-10/<resource>.json`` 250 at a time, following the ``Link``
header, and merges on ``id``. Incremental runs pass the stored cursor as ``updated_at_min`` (inclusive, so the
boundary records come back and dlt drops the ones it already has). Orders are asked for with
``status=any`` because Shopify returns only open orders by default.

Nested lists become child tables (``orders__line_items``, ``orders__refunds``, ...) linked through
``_dlt_parent_id``; ``_dlt_root_id`` lets a merge replace all child rows of a changed order. Nested
objects flatten (``shipping_address__city``, ``customer__id``).

Money stays **text**, exactly the decimal string Shopify sends (``"19.99"``): no float rounding, and a
malformed amount is kept for staging's quarantine instead of failing the load. Staging casts it to a
decimal.

Configuration (dlt config or environment): ``SOURCES__SHOPIFY__SHOP_URL`` (``https://<shop>.myshopify.com``
or a local server) and ``SOURCES__SHOPIFY__ACCESS_TOKEN``. Retries follow dlt's runtime settings
(``RUNTIME__REQUEST_MAX_ATTEMPTS``, ``RUNTIME__REQUEST_BACKOFF_FACTOR``, ``RUNTIME__REQUEST_MAX_RETRY_DELAY``,
``RUNTIME__REQUEST_TIMEOUT``).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dlt
import requests
from dlt.common.configuration.specs import RuntimeConfiguration
from dlt.common.jsonpath import JSONPathFields
from dlt.common.typing import TSecretStrValue
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import APIKeyAuth
from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator
from dlt.sources.helpers.rest_client.redaction import SENSITIVE_PARAMS, sanitize_url

from ingestion.dlt_config import dlt_setting
from ingestion.errors import UserError, exception_chain, root_cause
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
from ingestion.progress import say
from ingestion.settings import Settings, resolve
from ingestion.sources.http import RETRY_STATUS, PacedSession, runtime_config, shopify_pacer
from ingestion.sources.shopify_bulk import (
    BULK_FIRST_LOAD_ENV,
    BULK_TIMEOUT_ENV,
    DEFAULT_TIMEOUT_SECONDS,
    BulkAccessDenied,
    BulkExport,
    BulkSettings,
    export,
    start_export,
)

API_VERSION = "2026-10"
PAGE_SIZE = 250  # Shopify's maximum
PROGRESS_EVERY_PAGES = 20
SHOP_URL_ENV = "SOURCES__SHOPIFY__SHOP_URL"
ACCESS_TOKEN_ENV = "SOURCES__SHOPIFY__ACCESS_TOKEN"
WEBHOOKS_DIR_ENV = "SOURCES__SHOPIFY__WEBHOOKS_DIR"
ACCESS_SCOPES_PATH = "/admin/oauth/access_scopes.json"
LEAK_RATE = 2.0  # REST calls per second a standard plan's bucket drains (Shopify Plus: 20)
# The Admin API scope each resource needs (README, "Scopes").
RESOURCE_SCOPES = {"customers": "read_customers", "orders": "read_orders", "products": "read_products"}
ALL_ORDERS_SCOPE = "read_all_orders"
ORDERS_WINDOW_DAYS = 60  # without read_all_orders Shopify serves only orders of the last 60 days
DELETION_TOPICS = ("customers/delete", "orders/delete", "customers/redact")

# -- column hints ---------------------------------------------------------------------------------
# Every contract field is declared, so a column exists even while all its values are null (dlt
# creates no column for an all-null field: a load of guest orders only would lose customer__id).
TColumns = dict[str, dict[str, Any]]


def _cols(data_type: str, *names: str) -> TColumns:
    return {name: {"name": name, "data_type": data_type, "nullable": True} for name in names}


def _key() -> TColumns:
    return {"id": {"name": "id", "data_type": "bigint", "nullable": False, "primary_key": True}}


_ADDRESS_TEXT = (
    "first_name", "last_name", "company", "address1", "address2", "city", "province", "province_code",
    "country", "country_code", "country_name", "zip", "phone", "name",
)  # fmt: skip


def _address(prefix: str) -> TColumns:
    return _cols("text", *(f"{prefix}{name}" for name in _ADDRESS_TEXT))


def _consent(prefix: str) -> TColumns:
    return {
        **_cols("text", f"{prefix}__state", f"{prefix}__opt_in_level", f"{prefix}__consent_collected_from"),
        **_cols("timestamp", f"{prefix}__consent_updated_at"),
    }


CUSTOMER_COLUMNS: TColumns = {
    **_key(),
    **_cols("text", "email", "first_name", "last_name", "phone", "state", "currency", "tags", "note"),
    **_cols("text", "total_spent"),  # money
    **_cols("timestamp", "created_at", "updated_at"),
    **_cols("bool", "verified_email"),
    **_cols("bigint", "orders_count", "default_address__id", "default_address__customer_id"),
    **_address("default_address__"),
    **_cols("bool", "default_address__default"),
    **_consent("email_marketing_consent"),
    **_consent("sms_marketing_consent"),
}
CUSTOMER_NESTED = {
    "addresses": {
        "columns": {
            **_cols("bigint", "id", "customer_id"),
            **_address(""),
            **_cols("bool", "default"),
        }
    }
}

ORDER_COLUMNS: TColumns = {
    **_key(),
    **_cols("text", "name", "email", "phone", "currency", "financial_status", "fulfillment_status", "landing_site"),
    **_cols("text", "subtotal_price", "total_tax", "total_discounts", "total_price"),  # money
    **_cols("text", "total_shipping_price_set__shop_money__amount"),  # money
    **_cols("text", "total_shipping_price_set__shop_money__currency_code"),
    **_cols("timestamp", "created_at", "updated_at", "processed_at", "cancelled_at"),
    **_cols("bool", "buyer_accepts_marketing"),
    **_cols("bigint", "customer__id"),
    **_cols("text", "customer__email", "customer__first_name", "customer__last_name", "customer__phone"),
    **_address("shipping_address__"),
    **_address("billing_address__"),
}
ORDER_NESTED = {
    "line_items": {
        "columns": {
            **_cols("bigint", "id", "product_id", "variant_id", "quantity"),
            **_cols("text", "title", "sku", "vendor"),
            **_cols("text", "price", "total_discount"),  # money
        }
    },
    "refunds": {"columns": {**_cols("bigint", "id"), **_cols("timestamp", "created_at"), **_cols("text", "note")}},
    ("refunds", "refund_line_items"): {
        "columns": {**_cols("bigint", "id", "line_item_id", "quantity"), **_cols("text", "subtotal")}
    },
    ("refunds", "transactions"): {"columns": {**_cols("bigint", "id"), **_cols("text", "amount", "kind", "status")}},
}

PRODUCT_COLUMNS: TColumns = {
    **_key(),
    **_cols("text", "title", "product_type", "vendor"),
    **_cols("timestamp", "created_at", "updated_at"),
}
PRODUCT_NESTED = {"variants": {"columns": {**_cols("bigint", "id"), **_cols("text", "sku"), **_cols("text", "price")}}}

RESOURCE_HINTS: dict[str, tuple[TColumns, dict[Any, Any], dict[str, str]]] = {
    "customers": (CUSTOMER_COLUMNS, CUSTOMER_NESTED, {}),
    "orders": (ORDER_COLUMNS, ORDER_NESTED, {"status": "any"}),  # Shopify's default is status=open
    "products": (PRODUCT_COLUMNS, PRODUCT_NESTED, {}),
}
# Objects that Shopify sends as null when absent (a guest order's customer). Their flattened columns are
# declared above; a bare null key would only make dlt warn about an untyped column on every load.
NULLABLE_OBJECTS = {
    "customers": ("default_address", "email_marketing_consent", "sms_marketing_consent"),
    "orders": ("customer", "shipping_address", "billing_address", "total_shipping_price_set"),
    "products": (),
}


def drop_null_objects(resource: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for record in records:
        for key in NULLABLE_OBJECTS[resource]:
            if key in record and record[key] is None:
                del record[key]
    return records


# -- incremental cursor ---------------------------------------------------------------------------
def _instant(value: Any) -> datetime:
    """Sort key for ``updated_at``. Shopify writes the shop's UTC offset, which changes with daylight
    saving time, so the strings do not sort as text; compare instants instead. A value that is not a
    timestamp sorts first, so it can never move the cursor."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return datetime.min.replace(tzinfo=UTC)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.min.replace(tzinfo=UTC)


def latest_timestamp(values: Sequence[Any]) -> Any:
    """dlt ``last_value_func``: the latest of ``values`` by instant, returned as it was (a raw string)."""
    return max(values, key=_instant)


# -- HTTP -----------------------------------------------------------------------------------------
def make_client(
    shop_url: str, access_token: str, config: RuntimeConfiguration | None = None, leak_rate: float = LEAK_RATE
) -> RESTClient:
    """dlt's RESTClient over a retrying session that paces itself by ``X-Shopify-Shop-Api-Call-Limit``."""
    session = PacedSession(config or runtime_config(), pacer=shopify_pacer(leak_rate))
    return RESTClient(
        base_url=f"{shop_url.rstrip('/')}/admin/api/{API_VERSION}/",
        auth=APIKeyAuth(name="X-Shopify-Access-Token", api_key=access_token, location="header"),
        paginator=HeaderLinkPaginator(),
        session=session,
    )


def granted_scopes(client: RESTClient, shop_url: str) -> set[str] | None:
    """The token's scopes from ``/admin/oauth/access_scopes.json`` (None when the shop will not say).
    A ``write_`` scope implies its ``read_`` scope, as in Shopify."""
    response = client.get(f"{shop_url.rstrip('/')}{ACCESS_SCOPES_PATH}")
    if response.status_code == 401:
        raise UserError(f"shopify rejected the access token (401) at {shop_url}; check {ACCESS_TOKEN_ENV}")
    if response.status_code != 200:
        return None
    try:
        handles = {str(item["handle"]) for item in response.json()["access_scopes"]}
    except (ValueError, KeyError, TypeError):
        return None
    return handles | {"read_" + h.removeprefix("write_") for h in handles if h.startswith("write_")}


def _progress(message: str) -> None:
    say(f"shopify: {message}")


# -- deletions ------------------------------------------------------------------------------------
DELETION_COLUMNS: TColumns = {
    "record_type": {"name": "record_type", "data_type": "text", "nullable": False, "primary_key": True},
    "record_id": {"name": "record_id", "data_type": "bigint", "nullable": False, "primary_key": True},
    "topic": {"name": "topic", "data_type": "text", "nullable": False, "primary_key": True},
    **_cols("timestamp", "deleted_at"),
    **_cols("text", "via", "email"),
}


def _deletion(record_type: str, record_id: Any, topic: str, deleted_at: Any, via: str, email: Any = None) -> dict:
    return {
        "record_type": record_type,
        "record_id": int(record_id),
        "topic": topic,
        "deleted_at": deleted_at,
        "via": via,
        "email": email,
    }


def webhook_deletions(path: Path) -> list[dict[str, Any]]:
    """Rows of ``deleted_records`` from one stored webhook delivery: ``{"topic", "payload"[, "triggered_at"]}``
    as a receiver writes it (``X-Shopify-Topic`` header, the body, ``X-Shopify-Triggered-At``)."""
    try:
        delivery = json.loads(path.read_text(encoding="utf-8"))
        topic, payload = str(delivery["topic"]), delivery["payload"]
        at = delivery.get("triggered_at") or datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).isoformat()
        if topic == "customers/delete":
            return [_deletion("customer", payload["id"], topic, at, "webhook")]
        if topic == "orders/delete":
            return [_deletion("order", payload["id"], topic, at, "webhook")]
        if topic == "customers/redact":
            customer = payload["customer"]
            rows = [_deletion("customer", customer["id"], topic, at, "webhook", customer.get("email"))]
            return rows + [_deletion("order", o, topic, at, "webhook") for o in payload.get("orders_to_redact") or []]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path} is not a stored Shopify webhook delivery: {type(error).__name__}: {error}") from error
    raise UserError(f"{path} holds a {topic!r} webhook; {WEBHOOKS_DIR_ENV} takes only {', '.join(DELETION_TOPICS)}")


def _topic(event: dict[str, Any]) -> str:
    return f"{str(event['subject_type']).lower()}s/delete"


def _warn(message: str) -> None:
    say(f"shopify: warning: {message}")


def missing_scope_warning(resource: str) -> str:
    scope = RESOURCE_SCOPES[resource]
    return f"skipped {resource}: the access token lacks the {scope} scope (grant {scope} to the app to load them)"


# -- the source -----------------------------------------------------------------------------------
@dlt.source(name="shopify")
def shopify_source(
    shop_url: str = dlt.config.value,
    access_token: TSecretStrValue = dlt.secrets.value,
    page_size: int = PAGE_SIZE,
    progress_every: int = PROGRESS_EVERY_PAGES,
    webhooks_dir: str | None = None,
    leak_rate: float = LEAK_RATE,
    bulk_first_load: bool = True,
    bulk_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    bulk_work_dir: str | None = None,
    reassembly_duckdb: dict[str, str] | None = None,
) -> list[Any]:
    """Shopify customers, orders and products, merged on ``id`` and loaded incrementally on ``updated_at``,
    plus ``deleted_records``: deletions learnt from the events API and stored webhook deliveries.

    A first load of a resource (no cursor yet) is a GraphQL bulk export (``shopify_bulk``) unless
    ``bulk_first_load`` is false (``SOURCES__SHOPIFY__BULK_FIRST_LOAD=false``); later loads page REST.

    A resource whose scope the token lacks is skipped with a one-line warning (its table is created
    empty), so the others still load. Without ``read_all_orders`` Shopify serves only the last 60 days of
    orders: that is warned about too.
    """
    config = runtime_config()
    client = make_client(shop_url, access_token, config=config, leak_rate=leak_rate)
    bulk = BulkExport(
        f"{shop_url.rstrip('/')}/admin/api/{API_VERSION}/graphql.json",
        client.session,
        access_token,
        BulkSettings(
            timeout_seconds=bulk_timeout_seconds,
            work_dir=Path(bulk_work_dir) if bulk_work_dir else None,
            duckdb_config=reassembly_duckdb,
        ),
        timeout=config.request_timeout,
        download_session=PacedSession(config),  # retries 429/5xx; never carries the token
    )
    scopes = granted_scopes(client, shop_url)
    if scopes is not None and RESOURCE_SCOPES["orders"] in scopes and ALL_ORDERS_SCOPE not in scopes:
        _warn(
            f"the access token lacks the {ALL_ORDERS_SCOPE} scope: Shopify serves only orders created in the last "
            f"{ORDERS_WINDOW_DAYS} days, older orders are missing (grant {ALL_ORDERS_SCOPE}; README, Scopes)"
        )

    def allowed(name: str) -> bool:
        return scopes is None or RESOURCE_SCOPES[name] in scopes

    def list_resource(name: str) -> Any:
        columns, nested, fixed_params = RESOURCE_HINTS[name]
        # A ready-made path: dlt compiles a string selector with a parser generator on every page.
        selector = JSONPathFields(name)

        @dlt.resource(
            name=name,
            primary_key="id",
            write_disposition="merge",
            columns=columns,
            nested_hints=nested,
        )
        def fetch(
            # dlt binds the cursor through this default argument (its documented idiom), hence the noqa.
            updated_at: dlt.sources.incremental[str] = dlt.sources.incremental(  # noqa: B008
                "updated_at", last_value_func=latest_timestamp, on_cursor_value_missing="include"
            ),
        ) -> Iterator[Any]:
            if not allowed(name):
                _warn(missing_scope_warning(name))
                yield dlt.mark.materialize_table_schema()  # an empty typed table, so staging still builds
                return
            if bulk_first_load and updated_at.start_value is None:

                def changed_since(since: str) -> dict[int, dict[str, Any]]:
                    """REST records updated since ``since``: what a running bulk export may have missed."""
                    params = {"limit": page_size, **fixed_params, "updated_at_min": since}
                    pages = client.paginate(f"{name}.json", params=params, data_selector=selector)
                    return {int(r["id"]): r for page in pages for r in drop_null_objects(name, page)}

                try:
                    started = start_export(name, bulk)  # inside: a start that fails still cleans up after itself
                    # dlt visits the resources round robin: an empty batch hands over to the next one, which asks
                    # for its export too, so the shop builds the files side by side (API 2026-01 and later run up
                    # to five bulk queries per shop at once) while this one's file is read
                    yield []
                    for batch in export(started, bulk, changed_since):
                        yield drop_null_objects(name, batch)
                except BulkAccessDenied:
                    if scopes is not None:  # the token has the scope: a real failure
                        raise
                    _warn(missing_scope_warning(name))  # the shop would not list its scopes; the export says it
                    yield dlt.mark.materialize_table_schema()
                except BaseException:
                    # a failure here, or in another resource (dlt then closes this generator), ends the run: no
                    # export it asked for stays running on the shop
                    bulk.cancel_running()
                    raise
                return
            params: dict[str, Any] = {"limit": page_size, **fixed_params}
            if updated_at.start_value is not None:
                params["updated_at_min"] = updated_at.start_value
            pages = rows = 0
            try:
                for page in client.paginate(f"{name}.json", params=params, data_selector=selector):
                    pages += 1
                    rows += len(page)
                    if progress_every and pages % progress_every == 0:
                        _progress(f"{name}: {rows:,} rows in {pages} pages")
                    yield drop_null_objects(name, page)
            except requests.HTTPError as error:
                if pages or error.response is None or error.response.status_code != 403:
                    raise
                _warn(missing_scope_warning(name))  # the shop would not list its scopes; the 403 says it
                yield dlt.mark.materialize_table_schema()
                return
            since = f" updated since {updated_at.start_value}" if updated_at.start_value else ""
            _progress(f"{name}: fetched {rows:,} rows{since} in {pages} page(s)")

        return fetch

    @dlt.resource(name="deleted_records", primary_key=("record_type", "record_id", "topic"), write_disposition="merge",
                  columns=DELETION_COLUMNS)  # fmt: skip
    def deleted_records(
        deleted_at: dlt.sources.incremental[str] = dlt.sources.incremental(  # noqa: B008
            "deleted_at", last_value_func=latest_timestamp
        ),
    ) -> Iterator[Any]:
        """Customers and orders deleted in the shop: Shopify's ``destroy`` events (kept ~90 days)."""
        yield dlt.mark.materialize_table_schema()  # the table exists (empty) from the first load on
        kinds = [kind for kind, name in (("Customer", "customers"), ("Order", "orders")) if allowed(name)]
        if not kinds:
            return
        params: dict[str, Any] = {"limit": page_size, "verb": "destroy", "filter": ",".join(kinds)}
        if deleted_at.start_value is not None:
            params["created_at_min"] = deleted_at.start_value
        for page in client.paginate("events.json", params=params, data_selector=JSONPathFields("events")):
            yield [
                _deletion(e["subject_type"].lower(), e["subject_id"], _topic(e), e["created_at"], "events")
                for e in page
                if e.get("verb") == "destroy" and e.get("subject_type") in kinds
            ]

    @dlt.resource(name="deleted_records_webhooks", table_name="deleted_records",
                  primary_key=("record_type", "record_id", "topic"), write_disposition="merge",
                  columns=DELETION_COLUMNS)  # fmt: skip
    def deleted_records_webhooks() -> Iterator[list[dict[str, Any]]]:
        """``customers/delete``, ``orders/delete`` and ``customers/redact`` (GDPR: webhook only) deliveries."""
        folder = Path(webhooks_dir) if webhooks_dir else None
        if folder is None:
            return
        if not folder.is_dir():
            raise UserError(f"{WEBHOOKS_DIR_ENV} is {folder}, which is not a folder")
        for path in sorted(folder.glob("*.json")):
            yield webhook_deletions(path)

    return [*(list_resource(name) for name in RESOURCE_HINTS), deleted_records, deleted_records_webhooks]


# -- failures in plain words ----------------------------------------------------------------------
# dlt's list plus the signatures of the signed URLs a bulk export file is downloaded from (Google Cloud
# Storage, S3): such a URL reads the whole export for days, so it is a secret too.
_SIGNED_URL_PARAMS = {"signature", "x-goog-signature", "x-amz-signature", "x-goog-credential", "x-amz-credential"}
SENSITIVE_URL_PARAMS = {*SENSITIVE_PARAMS, *_SIGNED_URL_PARAMS}


def _safe_url(url: str) -> str:
    return sanitize_url(url, SENSITIVE_URL_PARAMS)


def _request_url(error: BaseException) -> str | None:
    request = getattr(error, "request", None)
    url = getattr(request, "url", None)
    return _safe_url(url) if isinstance(url, str) else None


def http_failure(error: BaseException, shop_url: str, config: RuntimeConfiguration) -> UserError | None:
    """A one-line UserError for an HTTP failure anywhere in ``error``'s chain, or None if there is none."""
    attempts = config.request_max_attempts
    for cause in exception_chain(error):
        if isinstance(cause, requests.HTTPError) and cause.response is not None:
            status, url = cause.response.status_code, _safe_url(cause.response.url)
            if status == 401:
                return UserError(f"shopify rejected the access token (401) at {shop_url}; check {ACCESS_TOKEN_ENV}")
            if status == 403:
                return UserError(f"shopify refused access (403) to {url}; the access token lacks {_scope_of(url)}")
            if status in RETRY_STATUS:
                return UserError(
                    f"shopify kept answering HTTP {status} at {url} after {attempts} attempts; nothing was "
                    "committed, retry later"
                )
            body = " ".join(cause.response.text.split())[:200]
            return UserError(f"shopify answered HTTP {status} at {url}: {body}")
        where = _request_url(cause) or shop_url
        if isinstance(cause, requests.Timeout):
            return UserError(
                f"shopify did not answer within {config.request_timeout:g}s at {where} after {attempts} "
                "attempts; nothing was committed"
            )
        if isinstance(cause, requests.ConnectionError):
            reason = str(root_cause(cause)) or type(cause).__name__
            return UserError(f"cannot reach shopify at {shop_url}: {reason}")
        if isinstance(cause, requests.exceptions.ChunkedEncodingError):
            return UserError(
                f"shopify kept cutting responses short at {where} after {attempts} attempts; nothing was committed"
            )
    return None


def _scope_of(url: str) -> str:
    """The Admin API scope a refused URL needs, named for the error message."""
    for resource, scope in RESOURCE_SCOPES.items():
        if f"/{resource}.json" in url:
            return f"the {scope} scope"
    if "/events.json" in url:
        return "the read_customers or read_orders scope"
    return "a read scope (README, Scopes)"


def _setting(value: str | None, key: str, env: str, example: str, secret: bool = False) -> str:
    """An explicit argument, else dlt's config (environment, .dlt/config.toml, or secrets.toml for secrets)."""
    resolved = value if value is not None else dlt_setting(key, secret=secret)
    if not resolved:
        raise UserError(f"no {key.rsplit('.', 1)[-1]} for shopify: set {env} ({example})")
    return str(resolved)


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def bulk_options() -> tuple[bool, float]:
    """``SOURCES__SHOPIFY__BULK_FIRST_LOAD`` and ``..._BULK_TIMEOUT_SECONDS``, checked here so a bad value is
    one clear line (dlt's own coercion failure is a traceback from inside the source)."""
    flag = dlt_setting("sources.shopify.bulk_first_load")
    text = str(flag).strip().lower() if flag is not None else "true"
    if text not in _TRUE + _FALSE:
        raise UserError(f"{BULK_FIRST_LOAD_ENV} must be true or false, got {flag!r}")
    seconds = dlt_setting("sources.shopify.bulk_timeout_seconds")
    try:
        timeout = DEFAULT_TIMEOUT_SECONDS if seconds is None else float(str(seconds).strip())
    except ValueError:
        timeout = float("nan")
    if not 0 < timeout < float("inf"):
        raise UserError(f"{BULK_TIMEOUT_ENV} must be a positive number of seconds, got {seconds!r}")
    return text in _TRUE, timeout


def reassembly_duckdb_config(settings: Settings) -> dict[str, str]:
    """The loaders' DuckDB memory limit and threads for the database a bulk file is regrouped in (it spills
    next to itself, in the bulk folder that each run empties)."""
    config = settings.duckdb_config()
    return {key: config[key] for key in ("memory_limit", "threads")}


# Bytes per extracted file: what dlt's normalize workers share out. dlt hands each worker an equal count of files,
# in name order, so files of equal size (not of equal rows: an order's record is twice a customer's) give each
# worker an equal share; at most one file's work apart.
NORMALIZE_FILE_BYTES = 16 * 1024 * 1024


def normalize_in_parallel(pipeline: dlt.Pipeline) -> None:
    """dlt's normalize of the nested records is most of a Shopify load (53% of it at 100k people; docs/benchmarks.md,
    round 25) and one Python process: two worker processes (one per core, at most two) share it out file by file,
    so the extract is cut into files of ``NORMALIZE_FILE_BYTES`` (dlt's ``normalize.workers`` and
    ``data_writer.file_max_bytes``, for this pipeline only; a deployment's own values win).

    The workers are forked (``normalize.start_method``; dlt would spawn them inside an Airflow task) and share the
    pipeline's run lock (``exclusive_run``). A killed load leaves them blocked for good, holding it; the next run
    stops them before it normalizes the package again (test_load_all, the normalize killed mid-way). Spawned
    workers would hold no lock, and a new run could normalize beside one still writing: where forking is not
    available, or not from this thread (dlt's own rule), the normalize stays in one process."""
    if not hasattr(os, "fork") or threading.current_thread() is not threading.main_thread():
        return
    prefix = f"{pipeline.pipeline_name.upper()}__"
    os.environ.setdefault(prefix + "NORMALIZE__WORKERS", str(min(2, os.cpu_count() or 1)))
    os.environ.setdefault(prefix + "NORMALIZE__START_METHOD", "fork")
    os.environ.setdefault(prefix + "DATA_WRITER__FILE_MAX_BYTES", str(NORMALIZE_FILE_BYTES))


BULK_WORK_DIR = ".shopify_bulk"  # under the pipelines folder


def bulk_work_dir(settings: Settings) -> Path:
    """The folder bulk export files are downloaded to, emptied first: a run killed mid-download or mid-load
    (no ``finally`` runs on ``kill -9``) left its file, every exported person's data, behind; the next run
    removes it. Called under the pipeline's run lock, so no running export's file is removed."""
    folder = settings.pipelines_dir / BULK_WORK_DIR
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def load_shopify(
    shop_url: str | None = None, access_token: str | None = None, settings: Settings | None = None
) -> LoadSummary:
    """`customer360 load shopify`: one run of the shopify source into ``raw_shopify``."""
    url = _setting(shop_url, "sources.shopify.shop_url", SHOP_URL_ENV, "https://<shop>.myshopify.com")
    token = _setting(
        access_token, "sources.shopify.access_token", ACCESS_TOKEN_ENV, "an Admin API access token", secret=True
    )
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise UserError(f"{SHOP_URL_ENV} must be an http(s) URL such as https://<shop>.myshopify.com, got {url!r}")
    webhooks_dir = dlt_setting("sources.shopify.webhooks_dir")
    bulk_first_load, bulk_timeout_seconds = bulk_options()
    config = runtime_config()
    started = time.monotonic()
    settings = resolve(settings)
    pipeline = make_pipeline("shopify", settings)
    normalize_in_parallel(pipeline)
    with (
        user_errors("shopify", settings.duckdb_path),
        exclusive_run(pipeline.pipeline_name, "shopify", settings.pipelines_dir),
    ):
        work_dir = bulk_work_dir(settings)  # first: a killed run's export file goes even when the load is refused
        # the warehouse is held for these and for the load step only (warehouse_turn): `load all` runs the
        # other sources' loads beside this one's extract and normalize, the longest part of it
        with warehouse_turn(settings, "shopify: checks"):
            refuse_load_without_salt(pipeline)
        finish_interrupted(pipeline, settings)  # takes its own turn to load (a turn is not taken twice)
        with warehouse_turn(settings, "shopify: state"):
            pipeline.sync_destination()
        try:
            source = shopify_source(
                shop_url=url,
                access_token=token,
                webhooks_dir=webhooks_dir,
                bulk_first_load=bulk_first_load,
                bulk_timeout_seconds=bulk_timeout_seconds,
                bulk_work_dir=str(work_dir),
                reassembly_duckdb=reassembly_duckdb_config(settings),
            )
            info = extract_then_load(pipeline, source, settings, "shopify", loader_file_format="parquet")
        except Exception as error:  # dlt wraps failures; name the HTTP or input problem underneath
            failure = next((c for c in exception_chain(error) if isinstance(c, UserError)), None) or http_failure(
                error, url, config
            )
            if failure is not None:
                raise failure from error
            raise
    rows = {table: n for table, n in rows_loaded(info, pipeline).items() if n}  # not the empty tables
    summary = LoadSummary("shopify", rows_by_table=rows, seconds=time.monotonic() - started)
    if not any(rows.values()):
        summary.skipped = "no records changed since the last load"
    return summary
