"""Alerts: one message per failure or anomaly, handed to every configured callback.

An alert names its subject (a source system, a dbt node, a step), the error's first line and the run's
quarantine counts per rule, so the person paged knows where to look without reading logs.

Callbacks are configured with ``CUSTOMER360_ALERTS`` (comma-separated; default ``log``):

* ``log``     - one line on stderr (and in the Airflow task log);
* ``webhook`` - a JSON POST to ``CUSTOMER360_ALERT_WEBHOOK_URL`` (Slack/Teams/any incoming webhook);
* ``email``   - SMTP to ``CUSTOMER360_ALERT_EMAIL_TO`` via ``CUSTOMER360_ALERT_SMTP_HOST``/``_PORT``
  (STARTTLS when ``_SMTP_STARTTLS=true``; ``_SMTP_USER``/``_SMTP_PASSWORD`` from the environment only);
* ``package.module:function`` - any callable taking one ``Alert`` (pluggable).

A callback that fails is reported on stderr and never stops the run or the other callbacks.
"""

from __future__ import annotations

import importlib
import json
import os
import smtplib
import sys
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage

from ingestion.errors import UserError

ALERTS_ENV = "CUSTOMER360_ALERTS"
WEBHOOK_URL_ENV = "CUSTOMER360_ALERT_WEBHOOK_URL"
SMTP_HOST_ENV = "CUSTOMER360_ALERT_SMTP_HOST"
SMTP_PORT_ENV = "CUSTOMER360_ALERT_SMTP_PORT"
SMTP_STARTTLS_ENV = "CUSTOMER360_ALERT_SMTP_STARTTLS"
SMTP_USER_ENV = "CUSTOMER360_ALERT_SMTP_USER"
SMTP_PASSWORD_ENV = "CUSTOMER360_ALERT_SMTP_PASSWORD"
EMAIL_FROM_ENV = "CUSTOMER360_ALERT_EMAIL_FROM"
EMAIL_TO_ENV = "CUSTOMER360_ALERT_EMAIL_TO"

KINDS = ("failure", "anomaly")


def first_line(text: str | BaseException) -> str:
    """The first non-empty line of an error message (a traceback's last words are elsewhere)."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()[:500]
    return type(text).__name__ if isinstance(text, BaseException) else ""


@dataclass(frozen=True)
class Alert:
    kind: str  # failure | anomaly
    run_id: str
    subject: str  # the source system, dbt node or step that failed or looks wrong
    step: str  # load | freshness | build | gates | monitor | publish ...
    message: str  # the error's first line, or the anomalous figures
    quarantine_by_rule: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"alert kind must be one of {KINDS}, got {self.kind!r}")

    def title(self) -> str:
        return f"customer360 {self.kind}: {self.subject} ({self.step}, run {self.run_id})"

    def text(self) -> str:
        quarantine = ", ".join(f"{rule} {n:,}" for rule, n in sorted(self.quarantine_by_rule.items())) or "none"
        return f"{self.title()}: {self.message} | quarantine this run: {quarantine}"

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "title": self.title(), "text": self.text()}


AlertCallback = Callable[[Alert], None]


def log_callback(alert: Alert) -> None:
    print(f"ALERT {alert.text()}", file=sys.stderr, flush=True)


def webhook_callback(url: str, timeout: float = 10.0) -> AlertCallback:
    """POST the alert as JSON (``text`` carries the one-line form chat webhooks display)."""

    def send(alert: Alert) -> None:
        body = json.dumps(alert.as_dict()).encode()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.status >= 300:
                raise RuntimeError(f"webhook answered {response.status}")

    return send


def email_callback(
    host: str, port: int, sender: str, recipients: list[str], starttls: bool, user: str | None, password: str | None
) -> AlertCallback:
    def send(alert: Alert) -> None:
        message = EmailMessage()
        message["Subject"] = alert.title()
        message["From"] = sender
        message["To"] = ", ".join(recipients)
        message.set_content(alert.text() + "\n\n" + json.dumps(alert.as_dict(), indent=2))
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            if starttls:
                smtp.starttls()
            if user:
                smtp.login(user, password or "")
            smtp.send_message(message)

    return send


def _required(name: str, callback: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise UserError(f"alert callback {callback!r} needs {name}")
    return value


def callbacks_from_env(spec: str | None = None) -> list[AlertCallback]:
    """The callbacks named in ``CUSTOMER360_ALERTS`` (or ``spec``); a wrong name is a one-line UserError."""
    names = [n.strip() for n in (spec if spec is not None else os.environ.get(ALERTS_ENV, "log")).split(",")]
    callbacks: list[AlertCallback] = []
    for name in filter(None, names):
        if name == "log":
            callbacks.append(log_callback)
        elif name == "webhook":
            callbacks.append(webhook_callback(_required(WEBHOOK_URL_ENV, name)))
        elif name == "email":
            callbacks.append(
                email_callback(
                    host=_required(SMTP_HOST_ENV, name),
                    port=int(os.environ.get(SMTP_PORT_ENV, "25")),
                    sender=os.environ.get(EMAIL_FROM_ENV, "customer360@localhost"),
                    recipients=[r.strip() for r in _required(EMAIL_TO_ENV, name).split(",") if r.strip()],
                    starttls=os.environ.get(SMTP_STARTTLS_ENV, "").lower() in ("1", "true", "yes"),
                    user=os.environ.get(SMTP_USER_ENV) or None,
                    password=os.environ.get(SMTP_PASSWORD_ENV) or None,
                )
            )
        elif ":" in name:
            module, _, attribute = name.partition(":")
            try:
                callback = getattr(importlib.import_module(module), attribute)
            except (ImportError, AttributeError) as error:
                raise UserError(f"alert callback {name!r} cannot be imported: {first_line(error)}") from error
            callbacks.append(callback)
        else:
            raise UserError(
                f"unknown alert callback {name!r} in {ALERTS_ENV}: use log, webhook, email or module:function"
            )
    return callbacks


class Alerter:
    """Sends each alert to every callback; remembers what it sent (the run's summary lists them)."""

    def __init__(self, callbacks: Iterable[AlertCallback] | None = None) -> None:
        self.callbacks = list(callbacks) if callbacks is not None else callbacks_from_env()
        self.sent: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.sent.append(alert)
        for callback in self.callbacks:
            try:
                callback(alert)
            except Exception as error:  # an alert channel that is down must not hide the alert or stop the run
                print(
                    f"customer360: alert callback failed: {first_line(error)}; alert was: {alert.text()}",
                    file=sys.stderr,
                )
