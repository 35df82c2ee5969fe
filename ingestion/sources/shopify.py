"""dlt source for the Shopify Admin REST API (2024-07): customers, orders and products into ``raw_shopify``.

Each resource lists ``/admin/api/2024-07/<resource>.json`` 250 at a time, following the ``Link`` header,
and merges on ``id``. Incremental runs pass the stored cursor as ``updated_at_min`` (inclusive, so the
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

import functools
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import dlt
import requests
from dlt.common import jsonpath as dlt_jsonpath
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.specs import RuntimeConfiguration
from dlt.common.jsonpath import JSONPathFields
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.sources.helpers.requests.retry import (
    DEFAULT_RETRY_EXCEPTIONS,
    DEFAULT_RETRY_STATUS,
    Client,
    retry_if_status,
    wait_exponential_retry_after,
)
from dlt.sources.helpers.requests.session import Session
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import APIKeyAuth
from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator
from dlt.sources.helpers.rest_client.redaction import sanitize_url
from tenacity import Retrying, retry_any, retry_if_exception_type, stop_after_attempt

from ingestion.errors import UserError
from ingestion.pipeline import (
    LoadSummary,
    exclusive_run,
    finish_interrupted,
    make_pipeline,
    rows_loaded,
    user_errors,
)

API_VERSION = "2024-07"
PAGE_SIZE = 250  # Shopify's maximum
PROGRESS_EVERY_PAGES = 20
SHOP_URL_ENV = "SOURCES__SHOPIFY__SHOP_URL"
ACCESS_TOKEN_ENV = "SOURCES__SHOPIFY__ACCESS_TOKEN"

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
class _RetryAfterSeconds(wait_exponential_retry_after):
    """Shopify sends ``Retry-After: 2.0``; dlt's parser only accepts whole seconds or HTTP dates and would
    fall back to its own backoff, so accept decimal seconds too."""

    def _parse_retry_after(self, retry_after: str) -> float | None:
        try:
            seconds = float(retry_after)
        except ValueError:
            return super()._parse_retry_after(retry_after)
        return max(self.min, min(self.max, seconds)) if seconds > 0 else None


class _ShopifyHttp(Client):
    """dlt's retrying HTTP client (429 and 5xx, dropped connections, timeouts) with the wait above."""

    def _make_session(self) -> Session:
        session = Session(**self._session_kwargs)  # type: ignore[arg-type]
        session.mount("http://", self._adapter)
        session.mount("https://", self._adapter)
        kwargs = self._retry_kwargs
        retrying = Retrying(
            wait=_RetryAfterSeconds(multiplier=kwargs["backoff_factor"], max=kwargs["max_delay"]),
            retry=retry_any(retry_if_status(kwargs["status_codes"]), retry_if_exception_type(kwargs["exceptions"])),
            stop=stop_after_attempt(kwargs["max_attempts"]),
            reraise=True,
            # Out of attempts: hand back the last response, or re-raise its error, as dlt's own client does.
            retry_error_callback=lambda state: state.outcome.result(),
        )
        session.send = retrying.wraps(session.send)  # type: ignore[method-assign]
        return session


def runtime_config() -> RuntimeConfiguration:
    """dlt's runtime settings (retries, backoff, timeout), read from its config and ``RUNTIME__*`` variables."""
    return resolve_configuration(RuntimeConfiguration())


def make_client(shop_url: str, access_token: str, config: RuntimeConfiguration | None = None) -> RESTClient:
    config = config or runtime_config()
    http = _ShopifyHttp(
        request_timeout=config.request_timeout,
        raise_for_status=False,  # RESTClient raises itself, after the retries
        status_codes=DEFAULT_RETRY_STATUS,
        exceptions=tuple(DEFAULT_RETRY_EXCEPTIONS),
        request_max_attempts=config.request_max_attempts,
        request_backoff_factor=config.request_backoff_factor,
        request_max_retry_delay=config.request_max_retry_delay,
    )
    return RESTClient(
        base_url=f"{shop_url.rstrip('/')}/admin/api/{API_VERSION}/",
        auth=APIKeyAuth(name="X-Shopify-Access-Token", api_key=access_token, location="header"),
        paginator=HeaderLinkPaginator(),
        session=http.session,
    )


def memoize_jsonpath_parser() -> None:
    """dlt compiles the incremental cursor path (``updated_at``) with jsonpath-ng's parser generator five
    times per resource and run, ~70 ms each: over a second of every load. The parse of a given string
    never changes, so cache it. Guarded: if dlt moves its private ``_parse``, loads only get slower."""
    parse = getattr(dlt_jsonpath, "_parse", None)
    if callable(parse) and not hasattr(parse, "cache_info"):
        dlt_jsonpath._parse = functools.lru_cache(maxsize=256)(parse)


def _progress(message: str) -> None:
    print(f"shopify: {message}", file=sys.stderr, flush=True)


# -- the source -----------------------------------------------------------------------------------
@dlt.source(name="shopify")
def shopify_source(
    shop_url: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    page_size: int = PAGE_SIZE,
    progress_every: int = PROGRESS_EVERY_PAGES,
) -> list[Any]:
    """Shopify customers, orders and products, merged on ``id`` and loaded incrementally on ``updated_at``."""
    client = make_client(shop_url, access_token)

    def list_resource(name: str) -> Any:
        columns, nested, fixed_params = RESOURCE_HINTS[name]
        # A ready-made path: dlt compiles a string selector with a parser generator on every page (~70 ms).
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
        ) -> Iterator[list[dict[str, Any]]]:
            params: dict[str, Any] = {"limit": page_size, **fixed_params}
            if updated_at.start_value is not None:
                params["updated_at_min"] = updated_at.start_value
            pages = rows = 0
            for page in client.paginate(f"{name}.json", params=params, data_selector=selector):
                pages += 1
                rows += len(page)
                if progress_every and pages % progress_every == 0:
                    _progress(f"{name}: {rows:,} rows in {pages} pages")
                yield drop_null_objects(name, page)
            since = f" updated since {updated_at.start_value}" if updated_at.start_value else ""
            _progress(f"{name}: fetched {rows:,} rows{since} in {pages} page(s)")

        return fetch

    return [list_resource(name) for name in RESOURCE_HINTS]


# -- failures in plain words ----------------------------------------------------------------------
def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _request_url(error: BaseException) -> str | None:
    request = getattr(error, "request", None)
    url = getattr(request, "url", None)
    return sanitize_url(url) if isinstance(url, str) else None


def http_failure(error: BaseException, shop_url: str, config: RuntimeConfiguration) -> UserError | None:
    """A one-line UserError for an HTTP failure anywhere in ``error``'s chain, or None if there is none."""
    attempts = config.request_max_attempts
    for cause in _chain(error):
        if isinstance(cause, requests.HTTPError) and cause.response is not None:
            status, url = cause.response.status_code, sanitize_url(cause.response.url)
            if status == 401:
                return UserError(f"shopify rejected the access token (401) at {shop_url}; check {ACCESS_TOKEN_ENV}")
            if status == 403:
                return UserError(f"shopify refused access (403) to {url}; the app token lacks a read scope")
            if status in DEFAULT_RETRY_STATUS:
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
            reason = str(list(_chain(cause))[-1]) or type(cause).__name__
            return UserError(f"cannot reach shopify at {shop_url}: {reason}")
        if isinstance(cause, requests.exceptions.ChunkedEncodingError):
            return UserError(
                f"shopify kept cutting responses short at {where} after {attempts} attempts; nothing was committed"
            )
    return None


def _setting(value: str | None, key: str, env: str, example: str, secret: bool = False) -> str:
    """An explicit argument, else dlt's config (environment, .dlt/config.toml, or secrets.toml for secrets)."""
    accessor = dlt.secrets if secret else dlt.config
    resolved = value if value is not None else accessor.get(key, str)
    if not resolved:
        raise UserError(f"no {key.rsplit('.', 1)[-1]} for shopify: set {env} ({example})")
    return str(resolved)


def load_shopify(shop_url: str | None = None, access_token: str | None = None) -> LoadSummary:
    """`customer360 load shopify`: one run of the shopify source into ``raw_shopify``."""
    url = _setting(shop_url, "sources.shopify.shop_url", SHOP_URL_ENV, "https://<shop>.myshopify.com")
    token = _setting(
        access_token, "sources.shopify.access_token", ACCESS_TOKEN_ENV, "an Admin API access token", secret=True
    )
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise UserError(f"{SHOP_URL_ENV} must be an http(s) URL such as https://<shop>.myshopify.com, got {url!r}")
    config = runtime_config()
    memoize_jsonpath_parser()
    started = time.monotonic()
    pipeline = make_pipeline("shopify")
    with user_errors("shopify"), exclusive_run(pipeline.pipeline_name, "shopify"):
        try:
            finish_interrupted(pipeline)
            info = pipeline.run(shopify_source(shop_url=url, access_token=token), loader_file_format="parquet")
        except PipelineStepFailed as error:
            failure = http_failure(error, url, config)
            if failure is not None:
                raise failure from error
            raise
    rows = rows_loaded(info, pipeline)
    summary = LoadSummary("shopify", rows_by_table=rows, seconds=time.monotonic() - started)
    if not any(rows.values()):
        summary.skipped = "no records changed since the last load"
    return summary
