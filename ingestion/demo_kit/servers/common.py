"""Building blocks shared by the local source servers: threads, auth, request log, fault injection.

The servers stand in for SaaS APIs that are unreachable here. They serve generated data with the real
wire contracts, and they misbehave on demand so the loaders' retry and failure paths can be proven:

* ``rate_limit``   -> 429 with a ``Retry-After`` header
* ``server_error`` -> 500/503
* ``slow``         -> the response is delayed by ``delay`` seconds
* ``truncate``     -> a ``Content-Length`` larger than the body actually sent (a cut connection)

A fault is armed for the next ``count`` requests that match ``path_contains`` (all paths if empty),
either from Python (``server.faults.arm(...)``) or over HTTP (``POST /_control/faults``). Every request
is written to a log (``server.request_log`` or ``GET /_control/requests``) so tests can assert what a
loader actually fetched.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FAULT_KINDS = ("rate_limit", "server_error", "slow", "truncate")


@dataclass
class Fault:
    kind: str
    count: int = 1
    path_contains: str = ""
    retry_after: float = 1.0
    delay: float = 2.0
    status: int = 503

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")


class FaultPlan:
    """Thread-safe queue of armed faults; each matching request consumes one shot."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def arm(self, kind: str, count: int = 1, **options: Any) -> None:
        with self._lock:
            self._faults.append(Fault(kind=kind, count=count, **options))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path_contains in path and fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
        return None


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    at: float
    body: Any = None
    fault: str | None = None


@dataclass
class Request:
    """What a route handler sees."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None
    target: str = ""  # the request-target as sent (path and query), for URL length limits
    body_length: int = 0  # bytes of the body as sent, for body size limits

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Stream:
    """A body sent chunk by chunk as it is read (``Transfer-Encoding: chunked``): a large download never
    sits in memory whole."""

    chunks: Iterable[bytes]
    content_type: str = "application/jsonl"


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-serializable, bytes of JSON sent as they are, or a Stream
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[Request], Response]


class _QuietHTTPServer(ThreadingHTTPServer):
    """A client that hangs up (a loader process exiting with a keep-alive connection open, or giving up
    on a slow answer) is normal here: do not print a traceback for it on the serving terminal."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            return
        super().handle_error(request, client_address)


class SourceServer:
    """A ThreadingHTTPServer on 127.0.0.1 that dispatches to ``routes`` after auth and fault checks.

    Subclasses set ``name`` and implement ``authorize`` and ``route``.
    """

    name = "source"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.faults = FaultPlan()
        self.request_log: list[LoggedRequest] = []
        self._log_lock = threading.Lock()
        self._httpd = _QuietHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- to implement -------------------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        """Return an error response when the request is not authorized, else None."""
        raise NotImplementedError

    def route(self, request: Request) -> Response:
        raise NotImplementedError

    def before_route(self, request: Request) -> Response | None:
        """Hook for per-server throttling (Shopify's leaky bucket); None lets the request through."""
        return None

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SourceServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"{self.name}-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SourceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request log ----------------------------------------------------------------------------
    def requests_to(self, path_contains: str) -> list[LoggedRequest]:
        with self._log_lock:
            return [r for r in self.request_log if path_contains in r.path]

    def clear_log(self) -> None:
        with self._log_lock:
            self.request_log.clear()

    def _log(self, entry: LoggedRequest) -> None:
        with self._log_lock:
            self.request_log.append(entry)

    # -- plumbing -------------------------------------------------------------------------------
    def _control(self, request: Request) -> Response:
        if request.path == "/_control/faults" and request.method == "POST":
            spec = request.body or {}
            self.faults.arm(**spec)
            return Response(200, {"armed": spec})
        if request.path == "/_control/faults" and request.method == "DELETE":
            self.faults.clear()
            return Response(200, {"cleared": True})
        if request.path == "/_control/requests" and request.method == "GET":
            with self._log_lock:
                return Response(200, [asdict(r) for r in self.request_log])
        if request.path == "/_control/requests" and request.method == "DELETE":
            self.clear_log()
            return Response(200, {"cleared": True})
        return Response(404, {"message": f"unknown control endpoint {request.method} {request.path}"})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle on, the body waits for the client's
            # delayed ACK (~40 ms per response on keep-alive connections): 30x slower paging.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw_body = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw_body) if raw_body else None
                except json.JSONDecodeError:
                    body = None
                request = Request(
                    method=method,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    target=self.path,
                    body_length=len(raw_body),
                )
                if request.path.startswith("/_control/"):
                    self._send(server._control(request))
                    return
                fault = server.faults.take(request.path)
                response, truncate = server._respond(request, fault)
                server._log(
                    LoggedRequest(
                        method=method,
                        path=request.path,
                        query=request.query,
                        status=response.status,
                        at=time.time(),
                        body=body,
                        fault=fault.kind if fault else None,
                    )
                )
                try:
                    self._send(response, truncate=truncate)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up (e.g. timed out on a `slow` fault) and will retry: not a server error.
                    self.close_connection = True

            def _send(self, response: Response, truncate: bool = False) -> None:
                if isinstance(response.body, Stream):
                    self._send_stream(response, response.body, truncate)
                    return
                if isinstance(response.body, bytes):  # already-encoded JSON (a server keeping records as text)
                    payload = response.body
                else:
                    payload = b"" if response.body is None else json.dumps(response.body).encode()
                self.send_response(response.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                if truncate:
                    self.send_header("Connection", "close")
                self.end_headers()
                if truncate:
                    # Promise the full length, deliver half, hang up: what a dropped connection looks like.
                    self.wfile.write(payload[: max(1, len(payload) // 2)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

            def _send_stream(self, response: Response, stream: Stream, truncate: bool) -> None:
                self.send_response(response.status)
                self.send_header("Content-Type", stream.content_type)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Transfer-Encoding", "chunked")
                if truncate:
                    self.send_header("Connection", "close")
                self.end_headers()
                for chunk in stream.chunks:
                    if chunk and truncate:  # announce the chunk, send half of it, hang up
                        self.wfile.write(b"%x\r\n%s" % (len(chunk), chunk[: max(1, len(chunk) // 2)]))
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    if chunk:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

        return Handler

    def _respond(self, request: Request, fault: Fault | None) -> tuple[Response, bool]:
        denied = self.authorize(request)
        if denied is not None:
            return denied, False
        if fault is not None and fault.kind == "rate_limit":
            return (
                Response(
                    HTTPStatus.TOO_MANY_REQUESTS,
                    {"errors": "Exceeded request rate limit (injected fault)"},
                    {"Retry-After": f"{fault.retry_after:g}"},
                ),
                False,
            )
        if fault is not None and fault.kind == "server_error":
            return Response(fault.status, {"errors": "Internal server error (injected fault)"}), False
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        throttled = self.before_route(request)
        if throttled is not None:
            return throttled, False
        try:
            response = self.route(request)
        except Exception as error:  # a server bug must surface as a 500, not a hung client
            response = Response(500, {"errors": f"{type(error).__name__}: {error}"})
        return response, fault is not None and fault.kind == "truncate"


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else None
