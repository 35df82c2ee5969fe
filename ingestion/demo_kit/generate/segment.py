"""Segment: identify / page / track messages of the last ``events_days`` days before as_of.

Each Segment-visible person browses on 1-3 devices (one ``anonymousId`` each). A device that logs in
sends an ``identify`` linking its anonymousId to the Shopify customer id (``userId``) and traits; people
without an account may identify with an email only. Orders placed inside the window produce
``Order Completed`` (from the browser, or from the backend with the userId only); other sessions view,
add to cart and sometimes start a checkout they abandon. Anonymous-only visitors (entity ``V...``) only
browse. The truth lists a device only once it carries an identity signal (``carries_identity_signal``):
a device that only browsed describes no person, so visitors have no source record at all. Files are
``<day received>/events-<chunk>.jsonl``; some messages arrive the next day and some are delivered twice
(same messageId).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingestion.demo_kit.generate import config, noise, rng
from ingestion.demo_kit.generate.catalogue import Product
from ingestion.demo_kit.generate.context import RunContext
from ingestion.demo_kit.generate.population import Person
from ingestion.demo_kit.generate.reference import (
    CAMPAIGNS,
    COUNTRIES,
    COUNTRY_CUM_WEIGHTS,
    CURRENCY_RATE,
    REFERRERS,
    USER_AGENTS,
)
from ingestion.demo_kit.generate.shopify import ShopifyRenderer, WindowOrder
from ingestion.demo_kit.generate.writers import SegmentWriter, dumps

SHOP_URL = "https://shop.example.com"
_WEB_LIBRARY = {"name": "analytics.js", "version": "2.11.1"}
_SERVER_LIBRARY = {"name": "analytics-node", "version": "6.2.0"}
_DEVICE_COUNT_CUM = (0.5, 0.85, 1.0)
_DEVICE_TYPES = ("desktop", "desktop", "mobile", "mobile", "mobile", "tablet")
# Segment's reserved traits that describe a person (what staging maps to person columns).
IDENTITY_TRAITS = ("email", "phone", "first_name", "firstName", "last_name", "lastName", "birthday", "address")


@dataclass
class Device:
    anonymous_id: str
    type_written: str  # desktop / mobile / tablet, in this device's own capitalization
    user_agent: str
    ip: str
    identifies: bool
    user_id: str | None = None  # set once the device identified as a logged-in customer
    identified: bool = False


def carries_identity_signal(message: dict[str, Any]) -> bool:
    """Whether a message ties its device to a person (docs/data_contracts.md, section Truth).

    The one definition of a Segment device that is a *source record*: the truth lists a device
    (anonymousId) only when at least one of its messages carries a userId, is an ``identify`` with a
    non-empty identity trait (``IDENTITY_TRAITS``, Segment's reserved person traits), is an ``Order
    Completed`` with an ``order_id``, or is an email event (``Email Unsubscribed`` / ``Email Bounced``)
    with an ``email_address``. A device with none of these only browsed: nothing in the data says whose it
    is, so it describes no person and its sessions stay anonymous. ``int_identity__segment_observations``
    applies the same rule to the loaded events.
    """
    if message.get("userId"):
        return True
    if message.get("type") == "identify":
        traits = message.get("traits") or {}
        return any(traits.get(key) not in (None, "", {}) for key in IDENTITY_TRAITS)
    properties = message.get("properties") or {}
    event = message.get("event")
    if event == "Order Completed":
        return bool(properties.get("order_id"))
    if event in ("Email Unsubscribed", "Email Bounced"):
        return bool(properties.get("email_address"))
    return False


@dataclass
class _PersonState:
    """What the truth needs to know about one entity's Segment footprint."""

    anonymous_ids: dict[str, None]  # ordered set of anonymousIds with an identity signal (carries_identity_signal)
    user_ids: dict[str, None]  # every userId written
    user_ids_with_anonymous: set[str]


class SegmentRenderer:
    def __init__(self, ctx: RunContext, root: Path, products: tuple[Product, ...], shopify: ShopifyRenderer) -> None:
        self.ctx = ctx
        self.root = root
        self.products = products
        self.shopify = shopify  # renders each person first: their account and orders drive the events
        self.writer: SegmentWriter | None = None
        self.rows = 0

    # -- chunks ------------------------------------------------------------------------------------------
    def start_chunk(self, chunk: int) -> None:
        self.writer = SegmentWriter(self.root, chunk)

    def end_chunk(self) -> None:
        if self.writer is not None:
            self.rows += self.writer.rows
            self.writer.close()
            self.writer = None

    def close(self) -> dict[str, int]:
        self.end_chunk()
        return {"segment": self.rows}

    # -- people ------------------------------------------------------------------------------------------
    def render(self, person: Person) -> None:
        if not person.in_segment:
            return
        shopper = self.shopify.shopper_of(person)
        ctx, timeline = self.ctx, self.ctx.timeline
        r = rng.derive(ctx.seed, rng.SEGMENT, person.index)
        identifies_p = (
            config.P_DEVICE_IDENTIFIES_ACCOUNT if shopper.customer_id else config.P_DEVICE_IDENTIFIES_NO_ACCOUNT
        )
        devices = [
            self._device(r, r.random() < identifies_p)
            for _ in range(r.choices((1, 2, 3), cum_weights=_DEVICE_COUNT_CUM)[0])
        ]
        state = _PersonState({}, {}, set())
        user_id = str(shopper.customer_id) if shopper.customer_id else None

        # Sessions as (start, kind, payload); generated first, then written in time order.
        sessions: list[tuple[int, str, Any]] = []
        last_start = timeline.end_ms - 3 * rng.HOUR_MS
        for _ in range(r.randint(2, 4)):
            sessions.append((rng.between(r, timeline.events_start_ms, last_start), "browse", None))
        for order in shopper.window_orders:
            sessions.append((order.created_ms, "order", order))
        sessions.sort(key=lambda item: item[0])

        messages: list[tuple[int, dict[str, Any]]] = []
        for number, (start, kind, payload) in enumerate(sessions):
            device = devices[0] if number == 0 else r.choice(devices)
            if kind == "order":
                messages.extend(self._order_session(r, person, device, payload))
            else:
                messages.extend(self._browse_session(r, person, device, start, user_id))
        for moment, event in ((person.unsubscribed_ms, "Email Unsubscribed"), (person.bounced_ms, "Email Bounced")):
            if moment is not None and timeline.events_start_ms <= moment < last_start:
                identity = (
                    {"anonymousId": None, "userId": user_id}
                    if user_id
                    else {"anonymousId": devices[0].anonymous_id, "userId": None}
                )
                # A bounce hits the address the person abandoned, when there is one.
                address = person.old_email if event == "Email Bounced" and person.old_email else person.email_at(moment)
                properties = {"email_address": address, "list_id": "newsletter"}
                messages.append((moment, self._track(r, event, identity, properties, {"library": _SERVER_LIBRARY})))
        messages.sort(key=lambda item: item[0])
        self._plant_and_write(r, person, messages, state)

        for anonymous_id in state.anonymous_ids:
            ctx.truth.record("segment", f"anonymous:{anonymous_id}", person.entity_id)
        for written_user in state.user_ids:
            if written_user not in state.user_ids_with_anonymous:
                ctx.truth.record("segment", f"user:{written_user}", person.entity_id)

    def render_visitor(self, visitor_index: int) -> None:
        """An anonymous-only visitor: browses, never identifies, is in no other system."""
        ctx = self.ctx
        r = rng.derive(ctx.seed, rng.VISITOR, visitor_index)
        entity_id = f"V{visitor_index + 1:07d}"
        country = r.choices(COUNTRIES, cum_weights=COUNTRY_CUM_WEIGHTS)[0]
        ctx.truth.visitor(entity_id, country.iso2)
        devices = [self._device(r, False) for _ in range(r.choice((1, 1, 1, 2)))]
        state = _PersonState({}, {}, set())
        messages: list[tuple[int, dict[str, Any]]] = []
        last_start = ctx.timeline.end_ms - 3 * rng.HOUR_MS
        for number in range(r.randint(1, 3)):
            device = devices[0] if number == 0 else r.choice(devices)
            start = rng.between(r, ctx.timeline.events_start_ms, last_start)
            messages.extend(self._browse_session(r, None, device, start, None, currency=country.currency))
        messages.sort(key=lambda item: item[0])
        self._plant_and_write(r, None, messages, state)
        for anonymous_id in state.anonymous_ids:
            ctx.truth.record("segment", f"anonymous:{anonymous_id}", entity_id)

    # -- sessions ----------------------------------------------------------------------------------------
    def _device(self, r: random.Random, identifies: bool) -> Device:
        kind = r.choice(_DEVICE_TYPES)
        roll = r.random()
        written = kind.capitalize() if roll < 0.2 else kind.upper() if roll < 0.25 else kind
        ip = f"{r.randrange(11, 223)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"
        return Device(rng.uuid4_text(r), written, r.choice(USER_AGENTS[kind]), ip, identifies)

    def _context(self, device: Device, page: dict[str, str] | None, campaign: dict[str, str] | None) -> dict[str, Any]:
        context: dict[str, Any] = {"ip": device.ip, "userAgent": device.user_agent}
        if page is not None:
            context["page"] = page
        if campaign is not None:
            context["campaign"] = campaign
        context["device"] = {"type": device.type_written}
        context["library"] = _WEB_LIBRARY
        return context

    @staticmethod
    def _page_info(path: str, title: str, referrer: str, search: str = "") -> dict[str, str]:
        return {
            "url": f"{SHOP_URL}{path}{search}",
            "path": path,
            "referrer": referrer,
            "title": title,
            "search": search,
        }

    def _identity(self, device: Device) -> dict[str, str | None]:
        return {"anonymousId": device.anonymous_id, "userId": device.user_id}

    def _track(
        self,
        r: random.Random,
        event: str,
        identity: dict[str, str | None],
        properties: dict[str, Any],
        context: dict[str, Any],
    ) -> dict[str, Any]:
        return {
            "messageId": rng.uuid4_text(r),
            "type": "track",
            "event": event,
            **identity,
            "properties": properties,
            "context": context,
        }

    def _page(
        self, r: random.Random, device: Device, name: str, page: dict[str, str], campaign: dict[str, str] | None
    ) -> dict[str, Any]:
        properties = dict(page)
        return {
            "messageId": rng.uuid4_text(r),
            "type": "page",
            "name": name,
            **self._identity(device),
            "properties": properties,
            "context": self._context(device, page, campaign),
        }

    def _identify(
        self, r: random.Random, person: Person, device: Device, user_id: str | None, moment: int, page: dict[str, str]
    ) -> dict[str, Any]:
        traits: dict[str, Any] = {"email": noise.email(r, person.email_at(moment), mailto=False)}
        if user_id is not None or r.random() < 0.5:
            traits["first_name"] = noise.given_name(r, person.first_name)
            traits["last_name"] = noise.surname(r, person.last_name)
        if user_id is not None and r.random() < 0.4:
            traits["phone"] = noise.phone(r, person.mobile, None)
        device.user_id = user_id
        device.identified = True
        return {
            "messageId": rng.uuid4_text(r),
            "type": "identify",
            **self._identity(device),
            "traits": traits,
            "context": self._context(device, page, None),
        }

    def _product_properties(
        self, product: Product, r: random.Random, currency: str, cart_id: str | None = None, quantity: int | None = None
    ) -> dict[str, Any]:
        variant = r.choice(product.variants)
        properties: dict[str, Any] = {
            "product_id": str(product.id),
            "sku": variant.sku,
            "category": product.category,
            "name": product.title,
            "price": round(variant.price_cents * CURRENCY_RATE[currency]) / 100,
            "currency": currency,
        }
        if cart_id is not None:
            properties["cart_id"] = cart_id
        if quantity is not None:
            properties["quantity"] = quantity
        return properties

    def _browse_session(
        self,
        r: random.Random,
        person: Person | None,
        device: Device,
        start: int,
        user_id: str | None,
        currency: str | None = None,
    ) -> list[tuple[int, dict[str, Any]]]:
        currency = currency or (person.country.currency if person else "USD")
        out: list[tuple[int, dict[str, Any]]] = []
        moment = start
        campaign = None
        search = ""
        if r.random() < config.P_CAMPAIGN_SESSION:
            source, medium, name = r.choice(CAMPAIGNS)
            campaign = {"source": source, "medium": medium, "name": name}
            search = f"?utm_source={source}&utm_medium={medium}&utm_campaign={name}"
        landing = self._page_info("/", "Northfield Shop", r.choice(REFERRERS), search)
        out.append((moment, self._page(r, device, "Home", landing, campaign)))
        if person is not None and device.identifies and (not device.identified or r.random() < 0.2):
            moment += r.randrange(5_000, 60_000)
            out.append((moment, self._identify(r, person, device, user_id, moment, landing)))
        viewed: list[Product] = []
        for _ in range(r.randint(1, 4)):
            product = r.choice(self.products)
            viewed.append(product)
            page = self._page_info(f"/products/{product.handle}", product.title, landing["url"])
            moment += r.randrange(15_000, 120_000)
            out.append((moment, self._page(r, device, "Product", page, campaign)))
            moment += r.randrange(1_000, 5_000)
            out.append(
                (
                    moment,
                    self._track(
                        r,
                        "Product Viewed",
                        self._identity(device),
                        self._product_properties(product, r, currency),
                        self._context(device, page, campaign),
                    ),
                )
            )
        if r.random() < config.P_CHECKOUT_ABANDONED_SESSION + 0.15:
            cart_id = f"cart_{r.getrandbits(48):012x}"
            product = viewed[-1]
            page = self._page_info(f"/products/{product.handle}", product.title, landing["url"])
            moment += r.randrange(10_000, 90_000)
            added = self._product_properties(product, r, currency, cart_id, 1)
            out.append(
                (
                    moment,
                    self._track(
                        r, "Product Added", self._identity(device), added, self._context(device, page, campaign)
                    ),
                )
            )
            if r.random() < config.P_CHECKOUT_ABANDONED_SESSION / (config.P_CHECKOUT_ABANDONED_SESSION + 0.15):
                moment += r.randrange(20_000, 180_000)
                checkout_page = self._page_info("/checkout", "Checkout", f"{SHOP_URL}/cart")
                properties = dict(added)
                properties["value"] = added["price"]
                properties["products"] = [dict(added)]
                out.append(
                    (
                        moment,
                        self._track(
                            r,
                            "Checkout Started",
                            self._identity(device),
                            properties,
                            self._context(device, checkout_page, campaign),
                        ),
                    )
                )
        return out

    def _order_session(
        self, r: random.Random, person: Person, device: Device, order: WindowOrder
    ) -> list[tuple[int, dict[str, Any]]]:
        out: list[tuple[int, dict[str, Any]]] = []
        moment = order.created_ms  # provisional; shifted at the end
        landing = self._page_info("/", "Northfield Shop", r.choice(REFERRERS))
        out.append((moment, self._page(r, device, "Home", landing, None)))
        server_side = order.customer_id is not None and r.random() < config.P_SERVER_SIDE_ORDER
        if (
            order.customer_id is not None
            and not server_side
            and device.identifies
            and device.user_id != str(order.customer_id)
        ):
            # Logging in to check out with the account: the identify that links this device.
            moment += r.randrange(5_000, 60_000)
            out.append((moment, self._identify(r, person, device, str(order.customer_id), moment, landing)))
        cart_id = f"cart_{r.getrandbits(48):012x}"
        products = []
        for product, variant, quantity, price in order.lines:
            page = self._page_info(f"/products/{product.handle}", product.title, landing["url"])
            item = {
                "product_id": str(product.id),
                "sku": variant.sku,
                "category": product.category,
                "name": product.title,
                "price": price / 100,
                "quantity": quantity,
                "currency": order.currency,
                "cart_id": cart_id,
            }
            products.append({k: v for k, v in item.items() if k not in ("cart_id", "currency")})
            moment += r.randrange(15_000, 90_000)
            out.append((moment, self._page(r, device, "Product", page, None)))
            moment += r.randrange(1_000, 4_000)
            viewed = {k: v for k, v in item.items() if k not in ("cart_id", "quantity")}
            out.append(
                (
                    moment,
                    self._track(r, "Product Viewed", self._identity(device), viewed, self._context(device, page, None)),
                )
            )
            moment += r.randrange(5_000, 40_000)
            out.append(
                (
                    moment,
                    self._track(r, "Product Added", self._identity(device), item, self._context(device, page, None)),
                )
            )
        checkout_page = self._page_info("/checkout", "Checkout", f"{SHOP_URL}/cart")
        first = products[0]
        checkout = {
            "cart_id": cart_id,
            "product_id": first["product_id"],
            "sku": first["sku"],
            "category": first["category"],
            "price": first["price"],
            "value": order.total_cents / 100,
            "currency": order.currency,
            "products": products,
        }
        moment = max(moment + 10_000, order.created_ms - r.randrange(60_000, 300_000))
        out.append(
            (
                moment,
                self._track(
                    r, "Checkout Started", self._identity(device), checkout, self._context(device, checkout_page, None)
                ),
            )
        )
        completed = {
            "order_id": str(order.order_id),
            "checkout_id": cart_id,
            "total": order.total_cents / 100,
            "revenue": order.total_cents / 100,
            "currency": order.currency,
            "products": products,
        }
        done_at = moment + r.randrange(20_000, 120_000)
        if server_side:
            identity: dict[str, str | None] = {"anonymousId": None, "userId": str(order.customer_id)}
            out.append((done_at, self._track(r, "Order Completed", identity, completed, {"library": _SERVER_LIBRARY})))
        else:
            out.append(
                (
                    done_at,
                    self._track(
                        r,
                        "Order Completed",
                        self._identity(device),
                        completed,
                        self._context(device, checkout_page, None),
                    ),
                )
            )
        # Shift the session so Order Completed happens when Shopify created the order; drop whatever
        # would fall before the window.
        shift = order.created_ms - done_at
        window_start = self.ctx.timeline.events_start_ms
        return [(moment + shift, message) for moment, message in out if moment + shift >= window_start]

    # -- writing -----------------------------------------------------------------------------------------
    def _plant_and_write(
        self, r: random.Random, person: Person | None, messages: list[tuple[int, dict[str, Any]]], state: _PersonState
    ) -> None:
        defect = person.defect if person is not None and person.defect and person.defect.source == "segment" else None
        broken_target = None
        if defect is not None:
            dr = rng.derive(self.ctx.seed, rng.DEFECT, person.index if person else 0)
            if defect.rule == "missing_required_key":
                target = next(m for _, m in messages if m["type"] == "track" and m["event"] == "Product Viewed")
                del target["event"]
                self.ctx.defects.plant(defect, target["messageId"], "")
            elif defect.rule == "missing_identity":
                moment, source = messages[0]
                orphan = {**source, "messageId": rng.uuid4_text(dr), "anonymousId": None, "userId": None}
                messages.insert(1, (moment + 1, orphan))
                self.ctx.defects.plant(defect, orphan["messageId"], "")
            else:  # broken_json: a truncated copy of the first message, written right after it
                broken_target = messages[0][1]["messageId"]
        assert self.writer is not None, "start_chunk() first"
        for moment, message in messages:
            self._note_identity(message, state)
            key, line = self._emit(r, message, moment)
            if broken_target is not None and message["messageId"] == broken_target and defect is not None:
                truncated = line[: len(line) // 2]
                broken_key = self.writer.write_line(key.split("/", 1)[0], truncated)
                self.ctx.defects.plant(defect, broken_key, truncated)
                broken_target = None

    @staticmethod
    def _note_identity(message: dict[str, Any], state: _PersonState) -> None:
        anonymous_id, user_id = message["anonymousId"], message["userId"]
        if anonymous_id is not None and carries_identity_signal(message):
            state.anonymous_ids[anonymous_id] = None
        if user_id is not None:
            state.user_ids[user_id] = None
            if anonymous_id is not None:
                state.user_ids_with_anonymous.add(user_id)

    def _emit(self, r: random.Random, message: dict[str, Any], moment: int) -> tuple[str, str]:
        """Stamp timestamp/sentAt/receivedAt, write to the folder of the day received; maybe deliver twice."""
        end = self.ctx.timeline.end_ms
        sent = moment + r.randrange(0, 1_500)
        received = sent + r.randrange(30, 900)
        next_midnight = (moment // rng.DAY_MS + 1) * rng.DAY_MS
        if r.random() < config.P_LATE_EVENT and next_midnight + 8 * rng.HOUR_MS < end:
            # Queued offline on a phone: sent and received after midnight, in the next day's folder.
            received = next_midnight + r.randrange(0, 8 * rng.HOUR_MS)
            sent = received - r.randrange(100, 900)
        if received >= end:  # an order placed in the last seconds before as_of
            received = end - 1
            sent = min(sent, received)
        message["timestamp"] = rng.iso_z_ms(moment)
        message["sentAt"] = rng.iso_z_ms(sent)
        message["receivedAt"] = rng.iso_z_ms(received)
        line = dumps(message)
        assert self.writer is not None
        key = self.writer.write_line(rng.day_text(received), line)
        if r.random() < config.P_REDELIVERED:
            again = received + r.randrange(rng.MINUTE_MS, 20 * rng.HOUR_MS)
            if again < end:
                message["receivedAt"] = rng.iso_z_ms(again)
                self.writer.write_line(rng.day_text(again), dumps(message))
        return key, line
