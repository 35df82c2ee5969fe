"""The HTTP session both API loaders hand to dlt's ``RESTClient(session=...)``: retries and pacing.

Only public APIs: a ``requests.Session`` whose ``send`` is wrapped by a tenacity ``Retrying``
(dlt's documented way to bring your own session), so a dlt upgrade cannot silently change it.

* Retries: 429 and 5xx answers, dropped connections, timeouts and bodies cut short, up to
  ``request_max_attempts`` (dlt's runtime settings). The wait is the server's ``Retry-After`` when it
  sends one (decimal seconds too: Shopify sends ``2.0``), else exponential backoff, capped by
  ``request_max_retry_delay``.
* Pacing: after every answer a ``pacer`` reads the vendor's rate-limit headers and returns how long to
  wait before the next request, so a load slows down *before* the vendor answers 429.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
from dlt.common.configuration import resolve_configuration
from dlt.common.configuration.specs import RuntimeConfiguration
from tenacity import RetryCallState, Retrying, stop_after_attempt

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
RETRY_EXCEPTIONS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

Pacer = Callable[[requests.Response], float]


def _int_header(response: requests.Response, name: str) -> int | None:
    try:
        return int(str(response.headers[name]).strip())
    except (KeyError, ValueError):
        return None


def hubspot_pacer(response: requests.Response) -> float:
    """HubSpot's rolling window: when ``X-HubSpot-RateLimit-Remaining`` reaches 0, wait one whole
    ``-Interval-Milliseconds`` (every call of the window has then aged out) instead of meeting the 429."""
    remaining = _int_header(response, "X-HubSpot-RateLimit-Remaining")
    interval_ms = _int_header(response, "X-HubSpot-RateLimit-Interval-Milliseconds")
    if remaining is None or interval_ms is None or response.status_code == 429:
        return 0.0  # a 429 is waited out by the retry's Retry-After
    return interval_ms / 1000 if remaining <= 0 else 0.0


def shopify_pacer(leak_rate: float, reserve: int = 2) -> Pacer:
    """Shopify's leaky bucket: ``X-Shopify-Shop-Api-Call-Limit: used/size``. Keep ``reserve`` calls free:
    above that level wait for the surplus to leak out at ``leak_rate`` calls/s (2 on standard plans)."""

    def pace(response: requests.Response) -> float:
        value = response.headers.get("X-Shopify-Shop-Api-Call-Limit", "")
        used, _, size = value.partition("/")
        if not used.strip().isdigit() or not size.strip().isdigit() or response.status_code == 429:
            return 0.0
        surplus = int(used) - (int(size) - reserve)
        return max(0, surplus) / leak_rate

    return pace


def runtime_config() -> RuntimeConfiguration:
    """dlt's runtime settings (retries, backoff, timeout), read from its config and ``RUNTIME__*`` variables."""
    return resolve_configuration(RuntimeConfiguration())


def retry_after_seconds(response: requests.Response) -> float | None:
    """``Retry-After`` in seconds (whole or decimal); None when absent or not a number of seconds."""
    value = response.headers.get("Retry-After")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def _answer(state: RetryCallState) -> requests.Response | None:
    """The HTTP answer of an attempt: its result, or the response of the HTTPError a response hook raised
    (``RESTClient.paginate`` raises for status inside ``send``)."""
    outcome = state.outcome
    if outcome is None:
        return None
    if not outcome.failed:
        return outcome.result()
    error = outcome.exception()
    return error.response if isinstance(error, requests.HTTPError) else None


def _retryable(state: RetryCallState) -> bool:
    outcome = state.outcome
    if outcome is not None and outcome.failed and isinstance(outcome.exception(), RETRY_EXCEPTIONS):
        return True
    response = _answer(state)
    return response is not None and response.status_code in RETRY_STATUS


class _Wait:
    """tenacity wait: the server's Retry-After, else ``backoff * 2**(attempt-1)``, at most ``cap``."""

    def __init__(self, backoff: float, cap: float) -> None:
        self.backoff, self.cap = backoff, cap

    def __call__(self, state: RetryCallState) -> float:
        response = _answer(state)
        told = retry_after_seconds(response) if response is not None else None
        if told is not None:
            return min(self.cap, told)
        return min(self.cap, self.backoff * 2 ** (state.attempt_number - 1))


class PacedSession(requests.Session):
    """A session that retries transient failures and waits as the ``pacer`` says after each answer."""

    def __init__(self, config: RuntimeConfiguration, pacer: Pacer | None = None) -> None:
        super().__init__()
        self.timeout = config.request_timeout
        self.pacer = pacer
        self.paced_seconds = 0.0  # total time spent waiting for the rate limit (for tests and progress)
        self._retrying = Retrying(
            wait=_Wait(config.request_backoff_factor, config.request_max_retry_delay),
            retry=_retryable,
            stop=stop_after_attempt(config.request_max_attempts),
            reraise=True,
            # Out of attempts: hand back the last answer (RESTClient raises on its status) or its error.
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        # a fresh copy per call, as tenacity's own `wraps` does: a Retrying keeps per-call state
        response: requests.Response = self._retrying.copy()(super().send, request, **kwargs)
        if self.pacer is not None:
            wait = self.pacer(response)
            if wait > 0:
                self.paced_seconds += wait
                time.sleep(wait)
        return response
