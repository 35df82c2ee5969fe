"""Talking to a Mailchimp Marketing API v3.0 audience: settings, authentication, calls, errors.

Settings (dlt config or environment): ``SOURCES__MAILCHIMP__API_KEY`` (secret; the key ends in its data
center, ``...-us21``), ``SOURCES__MAILCHIMP__LIST_ID`` (the audience) and, optionally,
``SOURCES__MAILCHIMP__BASE_URL`` (default ``https://<dc>.api.mailchimp.com/3.0``; the local server's
URL in the demo). The same settings serve the sync (out) and the feedback source (in).

Calls go through :class:`ingestion.sources.http.PacedSession`: 429 and 5xx answers, dropped connections
and cut bodies are retried with the server's ``Retry-After`` or exponential backoff, as for the loaders.
Mailchimp publishes no request quota, only 10 simultaneous connections per key; the sync's worker pool
stays at or below ``max_connections``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from dlt.common.typing import TSecretStrValue
from dlt.sources.helpers.rest_client.redaction import sanitize_url

from ingestion.dlt_config import dlt_setting
from ingestion.errors import UserError
from ingestion.sources.http import RETRY_STATUS, PacedSession, runtime_config

API_KEY_ENV = "SOURCES__MAILCHIMP__API_KEY"
LIST_ID_ENV = "SOURCES__MAILCHIMP__LIST_ID"
BASE_URL_ENV = "SOURCES__MAILCHIMP__BASE_URL"
MAX_CONNECTIONS_ENV = "SOURCES__MAILCHIMP__MAX_CONNECTIONS"
MAILCHIMP_MAX_CONNECTIONS = 10


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 hex digest of the lower-cased address (its contract, not security)."""
    return hashlib.md5(email.lower().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class MailchimpSettings:
    api_key: TSecretStrValue
    list_id: str
    base_url: str
    max_connections: int = MAILCHIMP_MAX_CONNECTIONS

    def __repr__(self) -> str:  # never print the key
        return f"MailchimpSettings(list_id={self.list_id!r}, base_url={self.base_url!r}, api_key=***)"


def mailchimp_settings() -> MailchimpSettings:
    """The audience to sync with, from dlt's config; a missing or malformed setting is a one-line error."""
    api_key = dlt_setting("sources.mailchimp.api_key", secret=True)
    if not api_key:
        raise UserError(f"no Mailchimp API key: set {API_KEY_ENV} (the key ends in its data center, e.g. ...-us21)")
    key = str(api_key)
    data_center = key.rsplit("-", 1)[1] if "-" in key else ""
    if not data_center.isalnum():
        raise UserError(f"{API_KEY_ENV} does not end in a data center (e.g. ...-us21); check the key")
    list_id = dlt_setting("sources.mailchimp.list_id")
    if not list_id:
        raise UserError(f"no Mailchimp audience: set {LIST_ID_ENV} (Audience > Settings > Audience ID)")
    base_url = dlt_setting("sources.mailchimp.base_url") or f"https://{data_center}.api.mailchimp.com/3.0"
    if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
        raise UserError(f"{BASE_URL_ENV} must be an http(s) URL, got {base_url!r}")
    connections = dlt_setting("sources.mailchimp.max_connections", int) or MAILCHIMP_MAX_CONNECTIONS
    if not 1 <= int(connections) <= MAILCHIMP_MAX_CONNECTIONS:
        raise UserError(f"{MAX_CONNECTIONS_ENV} must be 1..{MAILCHIMP_MAX_CONNECTIONS} (Mailchimp's limit per key)")
    return MailchimpSettings(TSecretStrValue(key), str(list_id), base_url.rstrip("/"), int(connections))


class MailchimpError(UserError):
    """A call Mailchimp refused or kept failing, in one line (never the key)."""


def http_failure(response: requests.Response, settings: MailchimpSettings) -> MailchimpError:
    """A refused or failed call in one line: status, URL (no credentials), Mailchimp's title and detail."""
    status, url = response.status_code, sanitize_url(response.url)
    try:
        body = response.json()
        detail = f"{body.get('title', '')}: {body.get('detail', '')}".strip(": ")
    except ValueError:
        detail = " ".join(response.text.split())[:200]
    if status == 401:
        return MailchimpError(f"mailchimp rejected the API key (401) at {settings.base_url}; check {API_KEY_ENV}")
    if status == 403:
        return MailchimpError(f"mailchimp refused access (403) at {url}: {detail}")
    if status in RETRY_STATUS:
        attempts = runtime_config().request_max_attempts
        return MailchimpError(f"mailchimp kept answering HTTP {status} at {url} after {attempts} attempts: {detail}")
    return MailchimpError(f"mailchimp answered HTTP {status} at {url}: {detail}")


class MailchimpClient:
    """One connection's worth of calls (a ``requests`` session is not shared between threads)."""

    def __init__(self, settings: MailchimpSettings) -> None:
        self.settings = settings
        self.session = PacedSession(runtime_config())
        self.session.auth = ("customer360", str(settings.api_key))
        self.list_url = f"{settings.base_url}/lists/{settings.list_id}"

    def close(self) -> None:
        self.session.close()

    def _call(self, method: str, url: str, expect: tuple[int, ...] = (200, 204), **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.Timeout as error:
            raise MailchimpError(f"mailchimp did not answer at {sanitize_url(url)}: {type(error).__name__}") from error
        except requests.ConnectionError as error:
            raise MailchimpError(
                f"cannot reach mailchimp at {self.settings.base_url}: {type(error).__name__}"
            ) from error
        if response.status_code in expect:
            return response
        raise http_failure(response, self.settings)

    # -- calls -----------------------------------------------------------------------------------
    def merge_field_tags(self) -> set[str]:
        body = self._call("GET", f"{self.list_url}/merge-fields", params={"count": 1000}).json()
        return {str(field["tag"]) for field in body.get("merge_fields", [])}

    def create_merge_field(self, tag: str, name: str) -> None:
        self._call("POST", f"{self.list_url}/merge-fields", json={"tag": tag, "name": name, "type": "text"})

    def upsert_member(self, email: str, merge_fields: dict[str, str]) -> dict[str, Any]:
        """Add or update; ``status_if_new`` only, so an unsubscribed or cleaned member stays so."""
        body = {"email_address": email, "status_if_new": "subscribed", "merge_fields": merge_fields}
        answer: dict[str, Any] = self._call(
            "PUT", f"{self.list_url}/members/{subscriber_hash(email)}", json=body
        ).json()
        return answer

    def set_tags(self, digest: str, active: list[str], inactive: list[str]) -> None:
        tags = [{"name": n, "status": "active"} for n in active] + [{"name": n, "status": "inactive"} for n in inactive]
        if tags:
            self._call("POST", f"{self.list_url}/members/{digest}/tags", json={"tags": tags})

    def archive_member(self, digest: str) -> None:
        """``DELETE`` archives in Mailchimp; a member that is already gone counts as archived."""
        self._call("DELETE", f"{self.list_url}/members/{digest}", expect=(200, 204, 404))

    def subscribed_member_hashes(self, tag: str) -> set[str]:
        """The subscriber hashes of the members the platform holds as subscribed and tagged ``tag`` (the ones
        this project put there), paged 1000 at a time."""
        hashes: set[str] = set()
        offset = 0
        while True:
            body = self._call(
                "GET",
                f"{self.list_url}/members",
                params={
                    "status": "subscribed",
                    "count": 1000,
                    "offset": offset,
                    "fields": "members.id,members.tags,total_items",
                },
            ).json()
            page = body.get("members", [])
            hashes.update(
                str(member["id"]) for member in page if any(t.get("name") == tag for t in member.get("tags", []))
            )
            offset += len(page)
            if not page or offset >= int(body.get("total_items", 0)):
                return hashes

    def post_event(self, digest: str, name: str, properties: dict[str, str], occurred_at: str | None) -> None:
        body: dict[str, Any] = {"name": name, "properties": properties}
        if occurred_at:
            body["occurred_at"] = occurred_at
        self._call("POST", f"{self.list_url}/members/{digest}/events", json=body)

    def member_events(self, digest: str) -> list[dict[str, Any]]:
        """Every event the platform holds for a member (paged 1000 at a time); [] for an unknown member."""
        events: list[dict[str, Any]] = []
        offset = 0
        while True:
            response = self._call(
                "GET",
                f"{self.list_url}/members/{digest}/events",
                expect=(200, 404),
                params={"count": 1000, "offset": offset},
            )
            if response.status_code == 404:
                return events
            body = response.json()
            page = body.get("events", [])
            events.extend(page)
            offset += len(page)
            if not page or offset >= int(body.get("total_items", 0)):
                return events
