"""Start the local HubSpot and Shopify servers over a generated data folder."""

from __future__ import annotations

import secrets
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ingestion.demo_kit.servers.hubspot import HubSpotServer
from ingestion.demo_kit.servers.mailchimp import MailchimpServer, mailchimp_environment, new_api_key
from ingestion.demo_kit.servers.shopify import ShopifyServer
from ingestion.errors import UserError
from ingestion.loading import ApiAccess


@dataclass
class RunningServers:
    hubspot: HubSpotServer
    shopify: ShopifyServer
    hubspot_token: str
    shopify_token: str

    def access(self) -> dict[str, ApiAccess]:
        """What the API loaders need to reach these servers, handed to ``load(..., access=...)``."""
        return {
            "hubspot": ApiAccess(self.hubspot.url, self.hubspot_token),
            "shopify": ApiAccess(self.shopify.url, self.shopify_token),
        }

    def loader_environment(self) -> dict[str, str]:
        """The same as dlt configuration variables (printed by `customer360 serve` for another shell)."""
        return {
            "SOURCES__HUBSPOT__BASE_URL": self.hubspot.url,
            "SOURCES__HUBSPOT__ACCESS_TOKEN": self.hubspot_token,
            "SOURCES__SHOPIFY__SHOP_URL": self.shopify.url,
            "SOURCES__SHOPIFY__ACCESS_TOKEN": self.shopify_token,
        }


def _require_data(data_dir: Path) -> None:
    missing = [name for name in ("hubspot", "shopify") if not (data_dir / name).is_dir()]
    if missing:
        raise UserError(
            f"{data_dir} has no {' or '.join(missing)} data; run `customer360 generate --out {data_dir}` first"
        )


@contextmanager
def running_servers(data_dir: Path, hubspot_port: int = 0, shopify_port: int = 0) -> Iterator[RunningServers]:
    """Both servers in background threads, with fresh random tokens (the demo needs no secrets)."""
    _require_data(data_dir)
    hubspot_token, shopify_token = secrets.token_urlsafe(24), "shpat_" + secrets.token_hex(16)
    try:
        hubspot = HubSpotServer(data_dir, hubspot_token, port=hubspot_port)
        shopify = ShopifyServer(data_dir, shopify_token, port=shopify_port)
    except OSError as error:
        raise UserError(f"cannot start the local source servers: {error}") from error
    hubspot.start()
    shopify.start()
    try:
        yield RunningServers(hubspot, shopify, hubspot_token, shopify_token)
    finally:
        hubspot.stop()
        shopify.stop()


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the `with` blocks; 143, the usual exit of a terminated process


def serve(data_dir: Path, hubspot_port: int = 8701, shopify_port: int = 8702, mailchimp_port: int = 8703) -> None:
    """`customer360 serve`: run until interrupted, printing the settings a loader (and `sync`) needs.

    A termination signal (what a script or benchmark sends) unwinds like Ctrl-C: the servers close and the
    Shopify server removes its bulk export files (4 GB for a 1M-people shop), which Python's default handler
    would leave behind in the temporary folder."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        mailchimp = MailchimpServer(new_api_key(), port=mailchimp_port)
    except OSError as error:
        raise UserError(f"cannot start the local Mailchimp server: {error}") from error
    with running_servers(data_dir, hubspot_port, shopify_port) as servers, mailchimp:
        print(f"serving {data_dir}", file=sys.stderr)
        print(f"  HubSpot CRM v3 at {servers.hubspot.url}  (Authorization: Bearer <token>)", file=sys.stderr)
        shopify = f"  Shopify Admin REST + GraphQL bulk at {servers.shopify.url}  (X-Shopify-Access-Token)"
        print(shopify, file=sys.stderr)
        print(f"  Mailchimp Marketing v3 at {mailchimp.api_url}  (Basic auth, API key)", file=sys.stderr)
        print("export these to load from another shell, then press Ctrl-C to stop:", file=sys.stderr)
        for name, value in {**servers.loader_environment(), **mailchimp_environment(mailchimp)}.items():
            print(f"export {name}={value}")
        sys.stdout.flush()
        while True:
            time.sleep(3600)
