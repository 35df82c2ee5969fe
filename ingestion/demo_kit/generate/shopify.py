"""Shopify: customer accounts (``shopify/customers.jsonl``) and orders (``shopify/orders.jsonl``).

Money is computed in integer cents and written as 2-decimal strings, so every order satisfies exactly
``subtotal_price = sum(price * quantity) - total_discounts`` and
``total_price = subtotal_price + total_tax + shipping`` (line items carry ``total_discount`` "0.00": the
discount is an order-level code), unless a defect is planted on purpose. Refunds never change totals,
as in Shopify. Guest checkouts are orders with ``customer: null`` and an email.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestion.demo_kit.generate import config, defects, noise, rng
from ingestion.demo_kit.generate.catalogue import Product, Variant
from ingestion.demo_kit.generate.context import RunContext
from ingestion.demo_kit.generate.population import Address, Person
from ingestion.demo_kit.generate.reference import COUNTRY_BY_ISO2, CURRENCY_RATE
from ingestion.demo_kit.generate.writers import JsonlWriter

_LINES_CUM = (0.5, 0.8, 0.95, 1.0)
_QUANTITY_CUM = (0.85, 0.97, 1.0)
_SHIPPING_CENTS = (599, 799, 999)
_DISCOUNT_CODES = (("WELCOME10", 10), ("SPRING15", 15), ("VIP20", 20), ("FRIENDS10", 10))
_TAGS = ("", "", "", "vip", "newsletter", "wholesale", "returning")
_NOTES = (None, None, None, None, "Prefers weekend delivery", "Gift wrap, please", "Called about sizing")


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


@dataclass
class WindowOrder:
    """An order placed inside the Segment window, for its ``Order Completed`` event."""

    order_id: int
    created_ms: int
    currency: str
    total_cents: int
    lines: list[tuple[Product, Variant, int, int]]  # product, variant, quantity, unit price cents
    customer_id: int | None  # None for a guest checkout


@dataclass
class ShopperInfo:
    customer_id: int | None = None  # the person's main account
    window_orders: list[WindowOrder] = field(default_factory=list)


@dataclass
class _Account:
    customer_id: int
    created_ms: int
    email: str  # the account's email (clean) at creation
    follows_email_changes: bool  # a main account gets the new address when the person changes it
    orders: list[int] = field(default_factory=list)  # order times


class ShopifyRenderer:
    def __init__(self, ctx: RunContext, folder: Path, products: tuple[Product, ...]) -> None:
        self.ctx = ctx
        self.products = products
        self.customers = JsonlWriter(folder / "customers.jsonl")
        self.orders = JsonlWriter(folder / "orders.jsonl")
        self._last: tuple[int, ShopperInfo] | None = None  # the person rendered last, for the Segment renderer

    def shopper_of(self, person: Person) -> ShopperInfo:
        """What the Shopify render of ``person`` decided (account, orders), for the renderers that follow it."""
        if self._last is None or self._last[0] != person.index:
            raise RuntimeError(f"person {person.index} was not rendered by Shopify first")
        return self._last[1]

    def close(self) -> dict[str, int]:
        self.customers.close()
        self.orders.close()
        return {"shopify/customers.jsonl": self.customers.rows, "shopify/orders.jsonl": self.orders.rows}

    # -- planning ------------------------------------------------------------------------------------------
    def render(self, person: Person) -> ShopperInfo:
        info = self._render(person)
        self._last = (person.index, info)
        return info

    def _render(self, person: Person) -> ShopperInfo:
        info = ShopperInfo()
        if not (person.has_account or person.guest_only):
            return info
        ctx, timeline = self.ctx, self.ctx.timeline
        r = rng.derive(ctx.seed, rng.SHOPIFY, person.index)
        defect = person.defect if person.defect and person.defect.source == "shopify" else None
        accounts: list[_Account] = []
        guest_orders: list[int] = []
        if person.has_account:
            created = rng.between(r, timeline.start_ms, timeline.end_ms - 2 * rng.DAY_MS)
            main = _Account(ctx.ids.take("shopify_customer"), created, person.email_at(created), True)
            tenure = (timeline.end_ms - created) / (config.HISTORY_DAYS * rng.DAY_MS)
            age = timeline.as_of.year - person.date_of_birth.year
            expected = 0.3 + 4.0 * tenure + (0.8 if age >= 50 else 0.0)
            count = sum(r.random() < min(0.95, expected / config.MAX_ORDERS) for _ in range(config.MAX_ORDERS))
            if defect is not None and defect.table in ("orders", "orders__line_items"):
                count = max(count, 1)
            times = sorted(rng.between(r, created + rng.HOUR_MS, timeline.end_ms) for _ in range(count))
            for index, moment in enumerate(times):
                # A planted order defect lives on the first account order, so it is never a guest order.
                if r.random() < config.P_GUEST_CHECKOUT and not (index == 0 and defect is not None):
                    guest_orders.append(moment)
                else:
                    main.orders.append(moment)
            accounts.append(main)
            info.customer_id = main.customer_id
            if r.random() < config.P_SHOPIFY_SECOND_ACCOUNT:
                second_created = rng.between(r, timeline.start_ms, timeline.end_ms - 2 * rng.DAY_MS)
                second_email = (
                    person.old_email if person.old_email and r.random() < 0.5 else person.alt_email(r.randrange(6))
                )
                second = _Account(ctx.ids.take("shopify_customer"), second_created, second_email, False)
                second.orders = sorted(
                    rng.between(r, second_created + rng.HOUR_MS, timeline.end_ms) for _ in range(r.choice((0, 1, 1, 2)))
                )
                accounts.append(second)
        else:
            guest_orders = sorted(
                rng.between(r, timeline.start_ms, timeline.end_ms) for _ in range(r.choice((1, 1, 2, 3)))
            )

        for account_number, account in enumerate(accounts):
            account_defect = defect if account_number == 0 else None
            self._customer_with_orders(person, r, account, account_defect, info)
        for moment in guest_orders:
            if r.random() < config.P_GUEST_NEW_EMAIL:
                guest_email = person.alt_email(r.randrange(6))
            else:
                guest_email = person.email_at(moment)
            order = self._order(person, r, moment, None, guest_email, None, info)
            self.orders.write(order)
            ctx.truth.record("shopify", f"order:{order['id']}", person.entity_id)
        return info

    # -- customers -----------------------------------------------------------------------------------------
    def _customer_with_orders(
        self, person: Person, r: random.Random, account: _Account, defect: defects.DefectKind | None, info: ShopperInfo
    ) -> None:
        timeline = self.ctx.timeline
        orders: list[dict[str, Any]] = []
        for number, moment in enumerate(account.orders):
            order_defect = defect if number == 0 and defect is not None and defect.table != "customers" else None
            email = self._account_email(person, account, moment)
            orders.append(self._order(person, r, moment, account, email, order_defect, info))
        last_activity = max([account.created_ms, *account.orders])
        updated = rng.between(r, last_activity, timeline.end_ms)
        email_clean = self._account_email(person, account, updated)
        email_written = noise.email(r, email_clean, plus_tag=True, mailto=False).strip()
        created_text = rng.shopify_ts(account.created_ms)
        if defect is not None and defect.table == "customers":
            dr = rng.derive(self.ctx.seed, rng.DEFECT, person.index)
            if defect.rule == "invalid_email":
                email_written = offending = defects.invalid_email(dr, email_clean)
            else:  # future_date on created_at
                future = rng.midnight_ms(defects.future_date(dr, timeline.as_of)) + dr.randrange(rng.DAY_MS)
                created_text = offending = rng.shopify_ts(future)
            self.ctx.defects.plant(defect, str(account.customer_id), offending)

        first = noise.given_name(r, person.first_name)
        last = noise.surname(r, person.last_name)
        default_address = person.address_at(updated)
        # dict.fromkeys keeps first-seen order (a set's order would vary with PYTHONHASHSEED).
        used = dict.fromkeys([default_address, *(person.address_at(moment) for moment in account.orders)])
        addresses = [
            self._customer_address(account.customer_id, address, first, last, address == default_address)
            for address in used
        ]
        phone = person.mobile.e164 if r.random() < 0.55 else None
        opted_out = person.unsubscribed_ms is not None and person.unsubscribed_ms < updated
        state_roll = r.random()
        if opted_out:
            consent = {
                "state": "unsubscribed",
                "opt_in_level": "single_opt_in",
                "consent_updated_at": rng.shopify_ts(max(person.unsubscribed_ms or 0, account.created_ms)),
            }
        elif state_roll < 0.5:
            consent = {
                "state": "subscribed",
                "opt_in_level": r.choice(("single_opt_in", "confirmed_opt_in")),
                "consent_updated_at": created_text,
            }
        elif state_roll < 0.95:
            consent = {"state": "not_subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": None}
        else:
            consent = {"state": "pending", "opt_in_level": "confirmed_opt_in", "consent_updated_at": created_text}
        sms = None
        if phone is not None:
            sms = {
                "state": r.choice(("subscribed", "not_subscribed", "not_subscribed")),
                "opt_in_level": "single_opt_in",
                "consent_updated_at": None,
                "consent_collected_from": "OTHER",
            }
        spent = sum(int(o["_spent_cents"]) for o in orders)
        customer = {
            "id": account.customer_id,
            "email": email_written,
            "first_name": first,
            "last_name": last,
            "phone": phone,
            "created_at": created_text,
            "updated_at": rng.shopify_ts(updated),
            "state": r.choice(("enabled", "enabled", "enabled", "enabled", "disabled", "invited")),
            "verified_email": r.random() < 0.93,
            "currency": person.country.currency,
            "tags": r.choice(_TAGS),
            "note": r.choice(_NOTES),
            "orders_count": len(orders),
            "total_spent": money(spent),
            "tax_exempt": False,
            "addresses": addresses,
            "default_address": addresses[0],
            "email_marketing_consent": consent,
            "sms_marketing_consent": sms,
        }
        self.customers.write(customer)
        self.ctx.truth.record("shopify", f"customer:{account.customer_id}", person.entity_id)
        for order in orders:
            del order["_spent_cents"]
            self.orders.write(order)

    @staticmethod
    def _account_email(person: Person, account: _Account, moment: int) -> str:
        return person.email_at(moment) if account.follows_email_changes else account.email

    def _customer_address(
        self, customer_id: int, address: Address, first: str, last: str, default: bool
    ) -> dict[str, Any]:
        country = COUNTRY_BY_ISO2[address.country]
        return {
            "id": self.ctx.ids.take("shopify_address"),
            "customer_id": customer_id,
            "first_name": first,
            "last_name": last,
            "company": None,
            "address1": address.line1,
            "address2": address.line2 or None,
            "city": address.city,
            "province": address.region_name,
            "country": country.name,
            "zip": address.postal_code,
            "phone": None,
            "name": f"{first} {last}".strip(),
            "province_code": address.region_code,
            "country_code": country.iso2,
            "country_name": country.name,
            "default": default,
        }

    # -- orders --------------------------------------------------------------------------------------------
    def _order(
        self,
        person: Person,
        r: random.Random,
        moment: int,
        account: _Account | None,
        email: str,
        defect: defects.DefectKind | None,
        info: ShopperInfo,
    ) -> dict[str, Any]:
        ctx, timeline = self.ctx, self.ctx.timeline
        order_id = ctx.ids.take("shopify_order")
        number = ctx.ids.take("shopify_order_number")
        address = person.address_at(moment)
        country = COUNTRY_BY_ISO2[address.country]
        currency = country.currency
        rate = CURRENCY_RATE[currency]

        lines: list[tuple[Product, Variant, int, int]] = []
        for _ in range(r.choices((1, 2, 3, 4), cum_weights=_LINES_CUM)[0]):
            product = r.choice(self.products)
            variant = r.choice(product.variants)
            quantity = r.choices((1, 2, 3), cum_weights=_QUANTITY_CUM)[0]
            lines.append((product, variant, quantity, round(variant.price_cents * rate)))
        line_items = [self._line_item(product, variant, quantity, price) for product, variant, quantity, price in lines]
        dr = rng.derive(ctx.seed, rng.DEFECT, person.index) if defect is not None else None
        if dr is not None and defect is not None and defect.rule == "negative_amount":
            # A bogus negative line, smaller than the rest so the order's totals stay positive and consistent.
            gross = sum(price * quantity for _, _, quantity, price in lines)
            negative = -max(1, min(gross // 2, dr.randrange(300, 2000)))
            product = dr.choice(self.products)
            variant = product.variants[0]
            lines.append((product, variant, 1, negative))
            line_items.append(self._line_item(product, variant, 1, negative))
            ctx.defects.plant(defect, str(line_items[-1]["id"]), money(negative))

        gross = sum(price * quantity for _, _, quantity, price in lines)
        discount_codes: list[dict[str, str]] = []
        discount = 0
        if r.random() < config.P_DISCOUNT:
            code, percent = r.choice(_DISCOUNT_CODES)
            discount = gross * percent // 100
            discount_codes.append({"code": code, "amount": money(discount), "type": "percentage"})
        subtotal = gross - discount
        tax = round(subtotal * country.tax_basis_points / 10_000)
        shipping = 0 if subtotal >= config.FREE_SHIPPING_CENTS * rate else r.choice(_SHIPPING_CENTS)
        total = subtotal + tax + shipping

        age_days = (timeline.end_ms - moment) / rng.DAY_MS
        financial = "paid"
        fulfillment: str | None = "fulfilled"
        cancelled_at = None
        cancel_ms = 0
        roll = r.random()
        if age_days < 3 and roll < 0.5:
            financial, fulfillment = r.choice(("pending", "authorized")), None
        elif roll < 0.02:
            financial, fulfillment = "voided", None
            cancel_ms = rng.between(r, moment, min(timeline.end_ms, moment + rng.DAY_MS))
            cancelled_at = rng.shopify_ts(cancel_ms)
        elif roll < 0.05:
            fulfillment = "partial"
        elif roll < 0.07:
            fulfillment = None
        refunds: list[dict[str, Any]] = []
        refunded = 0
        updated = max(moment + r.randrange(rng.MINUTE_MS, 3 * rng.DAY_MS), cancel_ms)
        if (
            financial == "paid"
            and defect is None
            and r.random() < config.P_REFUND
            and timeline.end_ms - moment > 2 * rng.DAY_MS
        ):
            refund_ms = rng.between(r, moment + rng.DAY_MS, min(timeline.end_ms, moment + 30 * rng.DAY_MS))
            refund, refunded, full = self._refund(r, refund_ms, line_items, lines, currency, discount, gross)
            refunds.append(refund)
            financial = "refunded" if full else "partially_refunded"
            if full and r.random() < 0.5:
                fulfillment = "restocked"
            updated = max(updated, refund_ms)
        updated = min(updated, timeline.end_ms - 1)

        total_text = money(total)
        if dr is not None and defect is not None and defect.rule == "order_total_mismatch":
            total_text = money(total + dr.randrange(101, 2500))
            ctx.defects.plant(defect, str(order_id), total_text)
        elif dr is not None and defect is not None and defect.rule == "unknown_enum":
            financial = dr.choice(defects.UNKNOWN_FINANCIAL_STATUSES)
            ctx.defects.plant(defect, str(order_id), financial)

        first = noise.given_name(r, person.first_name, allow_nickname=False)
        last = noise.surname(r, person.last_name, allow_typo=False)
        shipping_address = {
            "first_name": first,
            "last_name": last,
            "address1": address.line1,
            "address2": address.line2 or None,
            "city": address.city,
            "province": address.region_name,
            "province_code": address.region_code,
            "country": country.name,
            "country_code": country.iso2,
            "zip": address.postal_code,
            "phone": noise.phone(r, person.mobile, country.iso2) if r.random() < 0.6 else None,
            "name": f"{first} {last}".strip(),
            "company": None,
        }
        landing = "/"
        if r.random() < 0.4:
            source, medium, campaign = r.choice(
                (
                    ("newsletter", "email", "spring_sale"),
                    ("google", "cpc", "brand_search"),
                    ("facebook", "social", "retargeting"),
                )
            )
            landing = f"/products/{lines[0][0].handle}?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}"
        customer = None
        if account is not None:
            customer = {
                "id": account.customer_id,
                "email": email,
                "first_name": first,
                "last_name": last,
                "state": "enabled",
                "currency": currency,
                "created_at": rng.shopify_ts(account.created_ms),
            }
        created_text = rng.shopify_ts(moment)
        accepts_marketing = (
            not (person.unsubscribed_ms is not None and person.unsubscribed_ms < moment) and r.random() < 0.55
        )
        order = {
            "id": order_id,
            "name": f"#{number}",
            "order_number": number,
            "email": noise.email(r, email, plus_tag=account is None, mailto=False).strip(),
            "phone": None,
            "created_at": created_text,
            "updated_at": rng.shopify_ts(updated),
            "processed_at": created_text,
            "cancelled_at": cancelled_at,
            "currency": currency,
            "presentment_currency": currency,
            "financial_status": financial,
            "fulfillment_status": fulfillment,
            "total_line_items_price": money(gross),
            "subtotal_price": money(subtotal),
            "total_tax": money(tax),
            "total_discounts": money(discount),
            "total_price": total_text,
            "total_shipping_price_set": {
                "shop_money": {"amount": money(shipping), "currency_code": currency},
                "presentment_money": {"amount": money(shipping), "currency_code": currency},
            },
            "discount_codes": discount_codes,
            "buyer_accepts_marketing": accepts_marketing,
            "landing_site": landing,
            "source_name": "web",
            "customer": customer,
            "line_items": line_items,
            "shipping_address": shipping_address,
            "billing_address": dict(shipping_address),
            "refunds": refunds,
            "_spent_cents": 0 if financial == "voided" else total - refunded,
        }
        if account is None:
            del order["_spent_cents"]
        if moment >= timeline.events_start_ms:
            info.window_orders.append(
                WindowOrder(order_id, moment, currency, total, lines, account.customer_id if account else None)
            )
        return order

    def _line_item(self, product: Product, variant: Variant, quantity: int, price_cents: int) -> dict[str, Any]:
        return {
            "id": self.ctx.ids.take("shopify_line_item"),
            "product_id": product.id,
            "variant_id": variant.id,
            "title": product.title,
            "variant_title": variant.title,
            "sku": variant.sku,
            "quantity": quantity,
            "price": money(price_cents),
            "total_discount": "0.00",
            "vendor": product.vendor,
            "product_type": product.category,
        }

    def _refund(
        self,
        r: random.Random,
        refund_ms: int,
        line_items: list[dict[str, Any]],
        lines: list[tuple[Product, Variant, int, int]],
        currency: str,
        discount: int,
        gross: int,
    ) -> tuple[dict[str, Any], int, bool]:
        # Shopify refunds what was paid for a line: its price less its share of the order discount,
        # so a refund can never exceed the order's subtotal.
        count = r.randrange(1, len(line_items) + 1)
        chosen = sorted(r.sample(range(len(line_items)), count))
        refund_lines = []
        amount = 0
        full = count == len(line_items)
        for index in chosen:
            _, _, quantity, price = lines[index]
            refund_quantity = r.randrange(1, quantity + 1)
            full &= refund_quantity == quantity
            undiscounted = refund_quantity * price
            # Round the discount share up, so the refunds of every line together never exceed the subtotal.
            subtotal = undiscounted - (-(-undiscounted * discount // gross) if gross else 0)
            amount += subtotal
            refund_lines.append(
                {
                    "id": self.ctx.ids.take("shopify_refund_line_item"),
                    "line_item_id": line_items[index]["id"],
                    "quantity": refund_quantity,
                    "subtotal": money(subtotal),
                }
            )
        refund = {
            "id": self.ctx.ids.take("shopify_refund"),
            "created_at": rng.shopify_ts(refund_ms),
            "note": r.choice((None, "Wrong size", "Damaged in transit", "Changed mind")),
            "refund_line_items": refund_lines,
            "transactions": [
                {
                    "id": self.ctx.ids.take("shopify_transaction"),
                    "amount": money(amount),
                    "kind": "refund",
                    "status": "success",
                    "currency": currency,
                }
            ],
        }
        return refund, amount, full
