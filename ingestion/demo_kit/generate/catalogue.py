"""The shop's product catalogue (``shopify/products.jsonl``): ~200 products, product_type = category."""

from __future__ import annotations

from dataclasses import dataclass

from ingestion.demo_kit.generate import config, rng
from ingestion.demo_kit.generate.population import Timeline
from ingestion.demo_kit.generate.reference import (
    PRODUCT_ADJECTIVES,
    PRODUCT_CATEGORIES,
    PRODUCT_SIZES,
    PRODUCT_VENDORS,
    email_letters,
)
from ingestion.demo_kit.generate.writers import JsonlWriter

_PRODUCT_BASE = 8_000_000_000
_VARIANT_BASE = 44_000_000_000


@dataclass(frozen=True)
class Variant:
    id: int
    sku: str
    title: str
    price_cents: int  # USD


@dataclass(frozen=True)
class Product:
    id: int
    title: str
    handle: str
    category: str
    vendor: str
    created_ms: int
    updated_ms: int
    variants: tuple[Variant, ...]


def build_catalogue(seed: int, timeline: Timeline) -> tuple[Product, ...]:
    r = rng.derive(seed, rng.PRODUCTS, 0)
    categories = sorted(PRODUCT_CATEGORIES)
    products: list[Product] = []
    titles: set[str] = set()
    while len(products) < config.PRODUCTS:
        category = categories[len(products) % len(categories)]
        nouns, (low, high) = PRODUCT_CATEGORIES[category]
        title = f"{r.choice(PRODUCT_ADJECTIVES)} {r.choice(nouns)}"
        if title in titles:
            title = f"{title} {len([t for t in titles if t.startswith(title)]) + 1}"
        titles.add(title)
        number = len(products) + 1
        product_id = _PRODUCT_BASE + number * 37
        price = r.randrange(low, high + 1) * 100 - r.choice((1, 1, 5, 0))
        sizes = PRODUCT_SIZES if category in ("Tops", "Bottoms", "Outerwear", "Sportswear") else ("One Size",)
        prefix = email_letters(category)[:3].upper()
        variants = tuple(
            Variant(
                _VARIANT_BASE + number * 10 + k, f"{prefix}-{number:04d}-{size.replace(' ', '').upper()}", size, price
            )
            for k, size in enumerate(sizes)
        )
        created = rng.between(r, timeline.start_ms, timeline.start_ms + 20 * rng.DAY_MS)
        updated = rng.between(r, created, timeline.end_ms)
        handle = "-".join(email_letters(word) for word in title.split())
        products.append(
            Product(product_id, title, handle, category, r.choice(PRODUCT_VENDORS), created, updated, variants)
        )
    return tuple(products)


def write_products(writer: JsonlWriter, products: tuple[Product, ...]) -> None:
    for product in products:
        created, updated = rng.shopify_ts(product.created_ms), rng.shopify_ts(product.updated_ms)
        writer.write(
            {
                "id": product.id,
                "title": product.title,
                "handle": product.handle,
                "product_type": product.category,
                "vendor": product.vendor,
                "status": "active",
                "tags": product.category.lower(),
                "created_at": created,
                "updated_at": updated,
                "variants": [
                    {
                        "id": v.id,
                        "product_id": product.id,
                        "title": v.title,
                        "sku": v.sku,
                        "price": f"{v.price_cents / 100:.2f}",
                        "created_at": created,
                        "updated_at": updated,
                    }
                    for v in product.variants
                ],
            }
        )
