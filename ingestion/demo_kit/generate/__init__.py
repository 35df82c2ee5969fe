"""`customer360 generate`: a seeded demo population rendered into every source's native shape, with truth.

``generate(out_dir, customers, seed, as_of)`` writes the folder described in docs/data_contracts.md:
HubSpot contacts, Shopify customers/orders/products, Segment event files, CSV contact drops, and the
ground truth (which person every source record belongs to, every planted defect, every person).

People are generated one by one in chunks and their records streamed to disk, so memory stays flat at
any size. Output depends only on (seed, as_of, customers): each person draws from generators seeded by
(seed, stream, index), never from the clock or from chunk boundaries.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ingestion.demo_kit.generate import config
from ingestion.demo_kit.generate.catalogue import build_catalogue, write_products
from ingestion.demo_kit.generate.context import RunContext
from ingestion.demo_kit.generate.csv_contacts import CsvContactsRenderer
from ingestion.demo_kit.generate.defects import DefectLog
from ingestion.demo_kit.generate.hubspot import HubSpotRenderer
from ingestion.demo_kit.generate.population import Timeline, build_person
from ingestion.demo_kit.generate.renderer import Renderer
from ingestion.demo_kit.generate.segment import SegmentRenderer
from ingestion.demo_kit.generate.shopify import ShopifyRenderer
from ingestion.demo_kit.generate.truth import TruthWriter
from ingestion.demo_kit.generate.writers import JsonlWriter
from ingestion.errors import UserError

__all__ = ["OWNED_ENTRIES", "generate"]

# What generate() owns inside out_dir: replaced on every run; anything else in out_dir is left alone.
OWNED_ENTRIES = ("hubspot", "shopify", "segment", "csv_contacts", "truth", "manifest.json")
_TMP_NAME = ".generate-tmp"


def _validate(out_dir: Path, customers: int, events_days: int, chunk_size: int) -> None:
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 1:
        raise UserError(f"--customers must be a positive integer, got {customers!r}")
    if customers > config.MAX_PEOPLE:
        raise UserError(f"--customers {customers:,} is above the generator's limit of {config.MAX_PEOPLE:,} people")
    if not 1 <= events_days <= config.HISTORY_DAYS:
        raise UserError(f"events_days must be between 1 and {config.HISTORY_DAYS}, got {events_days}")
    if chunk_size < 1 or chunk_size % config.HOUSEHOLD_BLOCK:
        raise UserError(f"chunk_size must be a positive multiple of {config.HOUSEHOLD_BLOCK}, got {chunk_size}")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"output path {out_dir} exists and is not a folder")


def _remove(path: Path) -> None:
    """Delete one owned entry; a symlink is unlinked, never followed."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def generate(
    out_dir: Path,
    customers: int,
    seed: int,
    as_of: date | None = None,
    progress: bool = True,
    *,
    events_days: int = config.EVENTS_DAYS,
    chunk_size: int = config.CHUNK_SIZE,
    segment_events: bool = True,
) -> dict[str, Any]:
    """Write the demo folder for ``customers`` people and return its manifest (also in manifest.json).

    ``segment_events=False`` leaves the Segment folder empty (no events, no anonymous visitors, no
    Segment records in truth): for CRM-only demos and for benchmarking the other sources alone.
    """
    out_dir = Path(out_dir)
    as_of = as_of or datetime.now(UTC).date()
    _validate(out_dir, customers, events_days, chunk_size)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create output folder {out_dir}: {error.strerror}") from error
    # Build next to the final place and swap at the end: an interrupted run leaves the old data intact.
    staging = out_dir / _TMP_NAME
    _remove(staging)
    staging.mkdir()

    started = time.perf_counter()
    timeline = Timeline.for_as_of(as_of, events_days)
    truth = TruthWriter(staging / "truth")
    defects_handle = (staging / "truth" / "planted_defects.csv").open("w", encoding="utf-8", newline="")
    ctx = RunContext(seed=seed, customers=customers, timeline=timeline, truth=truth, defects=DefectLog(defects_handle))

    products = build_catalogue(seed, timeline)
    products_writer = JsonlWriter(staging / "shopify" / "products.jsonl")
    write_products(products_writer, products)
    products_writer.close()

    hubspot = HubSpotRenderer(ctx, staging / "hubspot")
    shopify = ShopifyRenderer(ctx, staging / "shopify", products)
    segment = SegmentRenderer(ctx, staging / "segment", products, shopify)
    csv_contacts = CsvContactsRenderer(ctx, staging / "csv_contacts")
    renderers: tuple[Renderer, ...] = (hubspot, shopify, *((segment,) if segment_events else ()), csv_contacts)
    (staging / "segment").mkdir(parents=True, exist_ok=True)

    chunks = (customers + chunk_size - 1) // chunk_size
    visitors = 0
    for chunk in range(chunks):
        segment.start_chunk(chunk)
        for index in range(chunk * chunk_size, min(customers, (chunk + 1) * chunk_size)):
            person = build_person(seed, index, timeline, customers)
            truth.person(person)
            for renderer in renderers:
                renderer.render(person)
            if segment_events and (index + 1) % config.VISITORS_EVERY == 0:
                segment.render_visitor(index // config.VISITORS_EVERY)
                visitors += 1
        segment.end_chunk()
        if progress:
            done = min(customers, (chunk + 1) * chunk_size)
            elapsed = time.perf_counter() - started
            print(
                f"generate: chunk {chunk + 1}/{chunks}, {done:,}/{customers:,} people, "
                f"{done / max(elapsed, 1e-9):,.0f} people/s",
                file=sys.stderr,
                flush=True,
            )

    row_counts: dict[str, int] = {"shopify/products.jsonl": products_writer.rows}
    for each in (hubspot, shopify, segment, csv_contacts):
        row_counts.update(each.close())
    truth.close()
    defects_handle.close()

    manifest: dict[str, Any] = {
        "out": str(out_dir),
        "seed": seed,
        "customers": customers,
        "visitors": visitors,
        "as_of": as_of.isoformat(),
        # Derived from as_of, not the clock, so the same inputs give a byte-identical manifest body.
        "generated_at": f"{as_of.isoformat()}T00:00:00Z",
        "events_days": events_days,
        "chunk_size": chunk_size,
        "segment_events": segment_events,
        "row_counts": dict(sorted(row_counts.items())),
        "truth_counts": {
            "truth/source_records.csv": truth.record_rows,
            "truth/planted_defects.csv": ctx.defects.count,
            "truth/people.csv": truth.people_rows,
        },
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

    for name in OWNED_ENTRIES:
        _remove(out_dir / name)
        (staging / name).rename(out_dir / name)
    staging.rmdir()
    if progress:
        elapsed = time.perf_counter() - started
        print(
            f"generate: {customers:,} people + {visitors:,} visitors in {elapsed:.1f}s "
            f"({customers / max(elapsed, 1e-9):,.0f} people/s) -> {out_dir}",
            file=sys.stderr,
            flush=True,
        )
    return manifest
