"""dlt source for what the email platform learnt: Mailchimp audience members' statuses -> ``raw_mailchimp.members``.

The feedback half of the activation loop. ``GET /3.0/lists/{list_id}/members`` with
``since_last_changed`` (the cursor: the highest ``last_changed`` loaded, re-read ``lookback_seconds``
before it because Mailchimp's timestamps have whole-second precision), sorted by ``last_changed``,
1000 per page (Mailchimp's maximum) by ``offset`` until ``total_items``.

Rows merge on (``id``, ``last_changed``): each status a member passed through is kept, so an
unsubscribe stays on record after the sync archives that member (``status`` then reads ``archived``).
Staging maps ``unsubscribed`` (complaints included: Mailchimp unsubscribes the complainer and says so
in ``unsubscribe_reason``) to an opt-out and ``cleaned`` to an undeliverable address; ``subscribed``
says nothing, since it is the echo of our own sync.

Settings: ``ingestion.activation.mailchimp`` (``SOURCES__MAILCHIMP__API_KEY``, ``__LIST_ID``, ``__BASE_URL``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
import requests
from dlt.common.typing import TSecretStrValue
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import HttpBasicAuth
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator

from ingestion.activation.mailchimp import MailchimpError, MailchimpSettings, http_failure, mailchimp_settings
from ingestion.errors import exception_chain
from ingestion.pipeline import LoadSummary, exclusive_run, finish_interrupted, make_pipeline, rows_loaded, user_errors
from ingestion.privacy.erasure import refuse_load_without_salt
from ingestion.progress import say
from ingestion.settings import Settings, resolve
from ingestion.sources.http import PacedSession, runtime_config

PAGE_SIZE = 1000  # Mailchimp's maximum `count`
LOOKBACK_SECONDS = 60
MEMBER_FIELDS = ("id", "email_address", "status", "unsubscribe_reason", "last_changed", "timestamp_signup", "list_id")

MEMBER_COLUMNS: dict[str, dict[str, Any]] = {
    "id": {"name": "id", "data_type": "text", "nullable": False, "primary_key": True},
    "last_changed": {"name": "last_changed", "data_type": "timestamp", "nullable": False, "primary_key": True},
    "email_address": {"name": "email_address", "data_type": "text", "nullable": True},
    "status": {"name": "status", "data_type": "text", "nullable": True},
    "unsubscribe_reason": {"name": "unsubscribe_reason", "data_type": "text", "nullable": True},
    "timestamp_signup": {"name": "timestamp_signup", "data_type": "timestamp", "nullable": True},
    "list_id": {"name": "list_id", "data_type": "text", "nullable": True},
    "last_changed_raw": {"name": "last_changed_raw", "data_type": "text", "nullable": True},
}


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def _row(member: dict[str, Any], loaded_at: datetime) -> dict[str, Any]:
    """One member version. A missing or unreadable ``last_changed`` (part of the key) is dated by the load, so a
    status change is never dropped and an opt-out counts from when we learnt it; the text is kept verbatim in
    ``last_changed_raw``."""
    row = {name: member.get(name) for name in MEMBER_FIELDS}
    changed = _parse(member.get("last_changed"))
    row["last_changed"] = changed or loaded_at
    row["last_changed_raw"] = None if changed else str(member.get("last_changed"))
    row["timestamp_signup"] = _parse(member.get("timestamp_signup"))
    return row


@dlt.source(name="mailchimp")
def mailchimp_source(
    base_url: str = dlt.config.value,
    list_id: str = dlt.config.value,
    api_key: TSecretStrValue = dlt.secrets.value,
    lookback_seconds: int = LOOKBACK_SECONDS,
    page_size: int = PAGE_SIZE,
) -> Any:
    client = RESTClient(
        base_url=base_url.rstrip("/"),
        auth=HttpBasicAuth("customer360", api_key),
        session=PacedSession(runtime_config()),
        paginator=OffsetPaginator(
            limit=page_size, offset_param="offset", limit_param="count", total_path="total_items"
        ),
    )

    @dlt.resource(name="members", primary_key=("id", "last_changed"), write_disposition="merge", columns=MEMBER_COLUMNS)
    def members(
        # dlt binds the cursor through this default argument (its documented idiom), hence the noqa.
        last_changed: dlt.sources.incremental[datetime] = dlt.sources.incremental(  # noqa: B008
            "last_changed", lag=lookback_seconds or None
        ),
    ) -> Iterator[Any]:
        yield dlt.mark.materialize_table_schema()  # the table exists (empty) from the first load on
        params: dict[str, Any] = {
            "sort_field": "last_changed",
            "sort_dir": "ASC",
            "fields": ",".join(f"members.{name}" for name in MEMBER_FIELDS) + ",total_items",
        }
        if last_changed.start_value is not None:
            params["since_last_changed"] = last_changed.start_value.isoformat()
        loaded_at = datetime.now(UTC)
        for page in client.paginate(f"/lists/{list_id}/members", params=params, data_selector="members"):
            yield [_row(member, loaded_at) for member in page]

    return members


def load_mailchimp(config: MailchimpSettings | None = None, settings: Settings | None = None) -> LoadSummary:
    """`customer360 load mailchimp` (and the first step of `customer360 sync`): member statuses changed
    since the last load into ``raw_mailchimp.members``."""
    platform = config or mailchimp_settings()
    settings = resolve(settings)
    started = time.monotonic()
    pipeline = make_pipeline("mailchimp", settings)
    with (
        user_errors("mailchimp", settings.duckdb_path),
        exclusive_run(pipeline.pipeline_name, "mailchimp", settings.pipelines_dir),
    ):
        refuse_load_without_salt(pipeline)
        try:
            finish_interrupted(pipeline, settings)
            source = mailchimp_source(base_url=platform.base_url, list_id=platform.list_id, api_key=platform.api_key)
            info = pipeline.run(source)
        except Exception as error:
            failure = _http_failure(error, platform)
            if failure is not None:
                raise failure from error
            raise
    rows = {table: n for table, n in rows_loaded(info, pipeline).items() if n}
    summary = LoadSummary("mailchimp", rows_by_table=rows, seconds=time.monotonic() - started)
    if not rows:
        summary.skipped = "no member changed since the last load"
    say(f"mailchimp: {summary.rows:,} member changes loaded")
    return summary


def _http_failure(error: BaseException, settings: MailchimpSettings) -> MailchimpError | None:
    for current in exception_chain(error):
        if isinstance(current, requests.HTTPError) and current.response is not None:
            return http_failure(current.response, settings)
        if isinstance(current, requests.ConnectionError):
            return MailchimpError(f"cannot reach mailchimp at {settings.base_url}: {type(current).__name__}")
    return None
