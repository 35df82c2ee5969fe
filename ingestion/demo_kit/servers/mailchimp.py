"""A local Mailchimp Marketing API (v3.0) holding one audience (list) in memory.

It follows the parts of the wire contract the sync and the feedback loader use, so both are proven
against it:

* HTTP Basic authentication with any user name and the API key as password; the key ends in its data
  center (``...-us21``). A wrong key gets Mailchimp's 401 problem document ("API Key Invalid").
* Members are addressed by ``subscriber_hash``, the MD5 of the lower-cased address:
  ``PUT /3.0/lists/{list_id}/members/{hash}`` adds or updates (``status_if_new`` for a new member,
  ``status`` only when sent, so an update never resubscribes an unsubscribed member),
  ``PATCH`` updates, ``DELETE`` archives, ``GET`` reads one member, and
  ``GET /3.0/lists/{list_id}/members`` lists them with ``count`` (at most 1000), ``offset``, ``status``,
  ``since_last_changed`` (strictly after) and ``sort_field=last_changed``, answering ``total_items``.
* Merge fields must exist in the list (``GET``/``POST /3.0/lists/{list_id}/merge-fields``); a member
  carrying an unknown one gets 400, as in Mailchimp.
* Tags: ``POST .../members/{hash}/tags`` with ``{"tags": [{"name", "status": "active"|"inactive"}]}``.
* Events: ``POST .../members/{hash}/events`` (``name``, ``properties``, ``occurred_at``) and
  ``GET .../members/{hash}/events``. Like Mailchimp, the server does not deduplicate: every POST is an
  event, so a client that sends twice is caught (:attr:`MailchimpServer.events_received`).
* Mailchimp limits each key to 10 simultaneous connections: an 11th concurrent request gets 429 (with
  no ``Retry-After``, as Mailchimp sends none). The common faults (429 with ``Retry-After``, 5xx,
  slow answers, cut bodies) can be armed as for the other servers.

Tests play the subscriber's side with :meth:`unsubscribe`, :meth:`clean` (a hard bounce) and
:meth:`complain` (an abuse report, which unsubscribes), each of which bumps ``last_changed``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dlt.common.typing import TSecretStrValue

from ingestion.activation.mailchimp import MailchimpSettings
from ingestion.demo_kit.servers.common import Fault, Request, Response, SourceServer

API_ROOT = "/3.0"
MAX_COUNT = 1000
DEFAULT_COUNT = 10
MAX_CONNECTIONS = 10
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EVENT_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{2,30}$")
_MEMBER_PATH = re.compile(r"^/3\.0/lists/(?P<list_id>[^/]+)/members(?:/(?P<hash>[^/]+)(?:/(?P<sub>tags|events))?)?$")
_MERGE_FIELDS_PATH = re.compile(r"^/3\.0/lists/(?P<list_id>[^/]+)/merge-fields$")


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 hex digest of the lower-cased address."""
    return hashlib.md5(email.lower().encode("utf-8")).hexdigest()


def _problem(status: int, title: str, detail: str) -> Response:
    """Mailchimp's error document (RFC 7807 style)."""
    return Response(
        status,
        {
            "type": "https://mailchimp.com/developer/marketing/docs/errors/",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": secrets.token_hex(8),
        },
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


@dataclass
class Member:
    email_address: str
    status: str
    merge_fields: dict[str, Any] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    timestamp_signup: float = 0.0
    last_changed: float = 0.0
    unsubscribe_reason: str | None = None
    status_before_archive: str | None = None

    def as_json(self, list_id: str) -> dict[str, Any]:
        return {
            "id": subscriber_hash(self.email_address),
            "email_address": self.email_address,
            "unique_email_id": subscriber_hash(self.email_address)[:10],
            "status": self.status,
            "merge_fields": dict(self.merge_fields),
            "tags": [{"name": name} for name in sorted(self.tags)],
            "tags_count": len(self.tags),
            "timestamp_signup": _iso(self.timestamp_signup),
            "last_changed": _iso(self.last_changed),
            "unsubscribe_reason": self.unsubscribe_reason,
            "list_id": list_id,
        }


@dataclass
class ReceivedEvent:
    subscriber_hash: str
    name: str
    properties: dict[str, str]
    occurred_at: str | None
    received_at: float


class MailchimpServer(SourceServer):
    name = "mailchimp"

    def __init__(
        self,
        api_key: str,
        list_id: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        if "-" not in api_key:
            raise ValueError("a Mailchimp API key ends in its data center, e.g. '...-us21'")
        self.api_key = api_key
        # a fresh audience id per server: sync state kept for another (vanished) audience never applies to it
        self.list_id = list_id or secrets.token_hex(5)
        self.members: dict[str, Member] = {}
        self.merge_fields: dict[str, dict[str, Any]] = {
            "FNAME": {"tag": "FNAME", "name": "First Name", "type": "text"},
            "LNAME": {"tag": "LNAME", "name": "Last Name", "type": "text"},
        }
        self.events_received: list[ReceivedEvent] = []
        self._state = threading.RLock()
        self._connections = threading.BoundedSemaphore(max_connections)
        self._max_connections = max_connections
        self.in_flight = 0  # calls holding a connection slot now
        self._clock_last = 0.0
        super().__init__(host=host, port=port)

    def __enter__(self) -> MailchimpServer:
        self.start()
        return self

    @property
    def api_url(self) -> str:
        return f"{self.url}{API_ROOT}"

    # -- the subscriber's side (tests and demo) ---------------------------------------------------
    def _now(self) -> float:
        """Whole seconds, as Mailchimp's timestamps, never going backwards."""
        with self._state:
            self._clock_last = max(float(int(time.time())), self._clock_last)
            return self._clock_last

    def _change(self, email: str, status: str, reason: str | None) -> Member:
        with self._state:
            member = self.members[subscriber_hash(email)]
            member.status = status
            member.unsubscribe_reason = reason
            member.last_changed = self._now()
            return member

    def unsubscribe(self, email: str, reason: str = "N/A (Unsubscribed via link)") -> Member:
        """The person clicked 'unsubscribe' in an email."""
        return self._change(email, "unsubscribed", reason)

    def complain(self, email: str) -> Member:
        """The person reported the email as spam: Mailchimp unsubscribes them."""
        return self._change(email, "unsubscribed", "Abuse complaint")

    def clean(self, email: str) -> Member:
        """The address hard-bounced: Mailchimp marks it cleaned."""
        return self._change(email, "cleaned", None)

    def member(self, email: str) -> Member | None:
        with self._state:
            return self.members.get(subscriber_hash(email))

    def events_for(self, email: str) -> list[ReceivedEvent]:
        digest = subscriber_hash(email)
        with self._state:
            return [event for event in self.events_received if event.subscriber_hash == digest]

    # -- protocol ---------------------------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        password = None
        if scheme.lower() == "basic":
            try:
                _, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                password = None
        if password is None or not hmac.compare_digest(password.encode(), self.api_key.encode()):
            return _problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )
        return None

    def _respond(self, request: Request, fault: Fault | None) -> tuple[Response, bool]:
        # Mailchimp counts simultaneous connections per key for the whole call (a slow answer holds its
        # slot); above the limit it refuses with a 429 that carries no Retry-After.
        if not self._connections.acquire(blocking=False):
            refused = _problem(
                429,
                "Too Many Requests",
                f"You have exceeded the limit of {self._max_connections} simultaneous connections.",
            )
            return refused, False
        with self._state:
            self.in_flight += 1
        try:
            return super()._respond(request, fault)
        finally:
            with self._state:
                self.in_flight -= 1
            self._connections.release()

    def route(self, request: Request) -> Response:
        if request.path == f"{API_ROOT}/ping":
            return Response(200, {"health_status": "Everything's Chimpy!"})
        match = _MERGE_FIELDS_PATH.match(request.path)
        if match:
            if match["list_id"] != self.list_id:
                return self._no_list()
            return self._merge_fields(request)
        match = _MEMBER_PATH.match(request.path)
        if not match:
            return _problem(404, "Resource Not Found", "The requested resource could not be found.")
        if match["list_id"] != self.list_id:
            return self._no_list()
        digest, sub = match["hash"], match["sub"]
        if digest is None:
            if request.method == "GET":
                return self._list_members(request)
            return _problem(405, "Method Not Allowed", "The requested method and resource are not compatible.")
        if sub == "tags" and request.method == "POST":
            return self._tags(digest, request)
        if sub == "events" and request.method == "POST":
            return self._post_event(digest, request)
        if sub == "events" and request.method == "GET":
            return self._list_events(digest, request)
        if sub is None and request.method in ("PUT", "PATCH"):
            return self._upsert(digest, request)
        if sub is None and request.method == "GET":
            return self._get_member(digest)
        if sub is None and request.method == "DELETE":
            return self._archive(digest)
        return _problem(405, "Method Not Allowed", "The requested method and resource are not compatible.")

    def _no_list(self) -> Response:
        return _problem(404, "Resource Not Found", "The requested resource could not be found.")

    def _missing_member(self) -> Response:
        return _problem(404, "Resource Not Found", "The requested resource could not be found.")

    # -- merge fields ----------------------------------------------------------------------------
    def _merge_fields(self, request: Request) -> Response:
        with self._state:
            if request.method == "GET":
                fields = list(self.merge_fields.values())
                return Response(200, {"merge_fields": fields, "list_id": self.list_id, "total_items": len(fields)})
            if request.method == "POST":
                body = request.body if isinstance(request.body, dict) else {}
                tag = str(body.get("tag") or "").upper()
                if not tag or len(tag) > 10 or not body.get("name"):
                    return _problem(400, "Invalid Resource", "A merge field needs a name and a tag of at most 10.")
                if tag in self.merge_fields:
                    return _problem(400, "Invalid Resource", f'A Merge Field with the tag "{tag}" already exists.')
                self.merge_fields[tag] = {"tag": tag, "name": body["name"], "type": body.get("type", "text")}
                return Response(200, self.merge_fields[tag])
        return _problem(405, "Method Not Allowed", "The requested method and resource are not compatible.")

    # -- members ---------------------------------------------------------------------------------
    def _list_members(self, request: Request) -> Response:
        try:
            count = min(int(request.arg("count", str(DEFAULT_COUNT)) or DEFAULT_COUNT), MAX_COUNT)
            offset = int(request.arg("offset", "0") or 0)
            since = request.arg("since_last_changed")
            since_epoch = datetime.fromisoformat(since).timestamp() if since else None
        except ValueError as error:
            return _problem(400, "Invalid Resource", f"Invalid query parameter: {error}")
        status = request.arg("status")
        if status is not None and status not in STATUSES:
            return _problem(400, "Invalid Resource", f"Invalid status {status!r}.")
        with self._state:
            members = list(self.members.values())
            if status is not None:
                members = [m for m in members if m.status == status]
            if since_epoch is not None:
                members = [m for m in members if m.last_changed > since_epoch]
            if request.arg("sort_field") == "last_changed":
                descending = (request.arg("sort_dir") or "ASC").upper() == "DESC"
                members.sort(key=lambda m: (m.last_changed, subscriber_hash(m.email_address)), reverse=descending)
            page = [m.as_json(self.list_id) for m in members[offset : offset + count]]
        return Response(200, {"members": page, "list_id": self.list_id, "total_items": len(members)})

    def _get_member(self, digest: str) -> Response:
        with self._state:
            member = self.members.get(digest)
            return self._missing_member() if member is None else Response(200, member.as_json(self.list_id))

    def _upsert(self, digest: str, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        email = body.get("email_address")
        with self._state:
            existing = self.members.get(digest)
            if existing is None and request.method == "PATCH":
                return self._missing_member()
            if existing is None:
                if not isinstance(email, str) or not EMAIL_PATTERN.match(email):
                    return _problem(
                        400, "Invalid Resource", f"{email!r} looks fake or invalid, please enter a real email address."
                    )
                if subscriber_hash(email) != digest:
                    return _problem(400, "Invalid Resource", "The subscriber hash does not match the email address.")
            merge_fields = body.get("merge_fields") or {}
            unknown = sorted(set(merge_fields) - set(self.merge_fields))
            if unknown:
                return _problem(
                    400, "Invalid Resource", f"Your merge fields were invalid: unknown {', '.join(unknown)}."
                )
            status = body.get("status")
            status_if_new = body.get("status_if_new")
            for value in (status, status_if_new):
                if value is not None and value not in STATUSES[:5]:
                    return _problem(400, "Invalid Resource", f"Invalid status {value!r}.")
            now = self._now()
            if existing is None:
                if status is None and status_if_new is None:
                    return _problem(
                        400, "Invalid Resource", "The resource submitted could not be validated: status is required."
                    )
                member = Member(str(email), str(status or status_if_new), timestamp_signup=now, last_changed=now)
                self.members[digest] = member
            else:
                member = existing
                if member.status == "archived":
                    # Unarchiving: an archived unsubscribe or bounce stays what it was.
                    before = member.status_before_archive or "subscribed"
                    member.status = (
                        before if before in ("unsubscribed", "cleaned") else str(status or status_if_new or before)
                    )
                    member.status_before_archive = None
                elif status is not None:
                    member.status = str(status)
                member.last_changed = now
            member.merge_fields.update(merge_fields)
            answer = member.as_json(self.list_id)
        return Response(200, answer)

    def _archive(self, digest: str) -> Response:
        with self._state:
            member = self.members.get(digest)
            if member is None:
                return self._missing_member()
            if member.status != "archived":
                member.status_before_archive = member.status
                member.status = "archived"
                member.last_changed = self._now()
        return Response(204, None)

    def _tags(self, digest: str, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        tags = body.get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, dict) and t.get("name") for t in tags):
            return _problem(400, "Invalid Resource", "tags must be a list of {name, status}.")
        with self._state:
            member = self.members.get(digest)
            if member is None:
                return self._missing_member()
            for tag in tags:
                if tag.get("status", "active") == "inactive":
                    member.tags.discard(str(tag["name"]))
                else:
                    member.tags.add(str(tag["name"]))
        return Response(204, None)

    # -- events ----------------------------------------------------------------------------------
    def _post_event(self, digest: str, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        name = body.get("name")
        if not isinstance(name, str) or not EVENT_NAME_PATTERN.match(name):
            return _problem(400, "Invalid Resource", "An event name is 2-30 letters, digits, '-' or '_'.")
        properties = body.get("properties") or {}
        if not isinstance(properties, dict) or not all(isinstance(v, str) for v in properties.values()):
            return _problem(400, "Invalid Resource", "Event properties must be strings.")
        with self._state:
            if digest not in self.members:
                return self._missing_member()
            self.events_received.append(
                ReceivedEvent(digest, name, dict(properties), body.get("occurred_at"), time.time())
            )
        return Response(204, None)

    def _list_events(self, digest: str, request: Request) -> Response:
        count = min(int(request.arg("count", str(DEFAULT_COUNT)) or DEFAULT_COUNT), MAX_COUNT)
        offset = int(request.arg("offset", "0") or 0)
        with self._state:
            if digest not in self.members:
                return self._missing_member()
            events = [
                {"name": e.name, "properties": e.properties, "occurred_at": e.occurred_at or _iso(e.received_at)}
                for e in self.events_received
                if e.subscriber_hash == digest
            ]
        return Response(200, {"events": events[offset : offset + count], "total_items": len(events)})


def new_api_key(data_center: str = "us21") -> str:
    """A random key in Mailchimp's shape (32 hex characters, a dash, the data center)."""
    return f"{secrets.token_hex(16)}-{data_center}"


def mailchimp_platform(server: MailchimpServer) -> MailchimpSettings:
    """The audience settings the sync and the feedback loader take to reach ``server``."""
    return MailchimpSettings(TSecretStrValue(server.api_key), server.list_id, server.api_url)


def mailchimp_environment(server: MailchimpServer) -> dict[str, str]:
    """The settings the sync and the feedback loader need to reach ``server``."""
    return {
        "SOURCES__MAILCHIMP__BASE_URL": server.api_url,
        "SOURCES__MAILCHIMP__API_KEY": server.api_key,
        "SOURCES__MAILCHIMP__LIST_ID": server.list_id,
    }
