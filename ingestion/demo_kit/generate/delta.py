"""`customer360 generate --delta`: the next small batch of an existing demo folder, as real sources send it.

A delta never rewrites a file the loaders already read; it adds files next to them:

* **new people** (``share`` x 0.4 of the population), rendered by the same renderers as the base run with
  a timeline ending on the delta's day and person indices after every earlier one, so their emails,
  phones and ids are new. Their HubSpot contacts and Shopify customers and orders are stamped as
  modified on the delta's day (a source lists a new record as changed when it arrives);
* **changed contacts**: every k-th existing HubSpot contact and Shopify customer with a new phone number
  and its modification time on the delta's day;
* **new orders** of existing Shopify customers (copies of their orders with new ids, placed that day);
* **new events** of existing devices on the delta's day, ~3% of them received a day late (timestamped on
  the day before, received on the delta's day): the late data the incremental models must take in.

Files: ``hubspot/contacts.delta-NNNN.jsonl`` (and ``contacts_archived.delta-NNNN.jsonl``),
``shopify/customers.delta-NNNN.jsonl``, ``shopify/orders.delta-NNNN.jsonl`` (the local servers overlay
them on the base files, the later version of an id winning), ``segment/<day>/events-dNNNN*.jsonl`` and
one more export per CSV drop (``<name>_dNNNN.csv``). The new people's truth rows are appended to
``truth/``; ``manifest.json`` lists every delta. Output depends only on (the base manifest, delta number,
share).
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from ingestion.demo_kit.generate import config
from ingestion.demo_kit.generate.catalogue import build_catalogue
from ingestion.demo_kit.generate.context import IdCounters, RunContext
from ingestion.demo_kit.generate.csv_contacts import CsvContactsRenderer
from ingestion.demo_kit.generate.defects import DefectLog
from ingestion.demo_kit.generate.hubspot import HubSpotRenderer
from ingestion.demo_kit.generate.population import Timeline, build_person
from ingestion.demo_kit.generate.renderer import Renderer
from ingestion.demo_kit.generate.segment import SegmentRenderer
from ingestion.demo_kit.generate.shopify import ShopifyRenderer
from ingestion.demo_kit.generate.truth import TruthWriter
from ingestion.demo_kit.generate.writers import JsonlWriter, dumps
from ingestion.errors import UserError

__all__ = ["DELTA_ID_STRIDE", "delta_suffix", "generate_delta"]

# Each delta's source-native ids start this far above the previous batch's base (no id space of a
# 4M-people demo comes near it), so a delta never reuses an id.
DELTA_ID_STRIDE = 1_000_000_000
_NEW_PEOPLE_SHARE = 0.4
_CHANGED_SHARE = 0.3
_NEW_ORDER_SHARE = 0.3
_LATE_EVENT_EVERY = 33  # ~3% of a delta's events arrive a day late
_TMP_NAME = ".delta-tmp"


def delta_suffix(number: int) -> str:
    return f"delta-{number:04d}"


def _read_manifest(out_dir: Path) -> dict[str, Any]:
    path = out_dir / "manifest.json"
    if not path.is_file():
        raise UserError(f"{out_dir} has no manifest.json; run `customer360 generate --out {out_dir}` first")
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if "seed" not in manifest or "customers" not in manifest or "as_of" not in manifest:
        raise UserError(f"{path} is not a demo manifest (no seed, customers or as_of)")
    return manifest


def _iso_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _stamp(day: date, index: int) -> datetime:
    """A deterministic instant in ``day`` (08:00 to 20:00 UTC) for the index-th changed record."""
    return datetime(day.year, day.month, day.day, 8, tzinfo=UTC) + timedelta(seconds=(index * 7919) % (12 * 3600))


def _offset_ids(number: int) -> IdCounters:
    ids = IdCounters()
    for name, value in vars(ids).items():
        setattr(ids, name, value + number * DELTA_ID_STRIDE)
    return ids


def _touch_hubspot(line: str, moment: datetime) -> str:
    contact = json.loads(line)
    stamp = _iso_ms(moment)
    contact["updatedAt"] = stamp
    contact["properties"]["lastmodifieddate"] = stamp
    return dumps(contact)


def _touch_shopify(line: str, moment: datetime) -> str:
    record = json.loads(line)
    record["updated_at"] = moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return dumps(record)


def _new_phone(index: int) -> str:
    return f"+1415{5_550_000 + index % 10_000:07d}"


class _Batch:
    """One delta being written into a temporary folder, then moved into place."""

    def __init__(self, out_dir: Path, manifest: dict[str, Any], number: int, share: float) -> None:
        self.out = out_dir
        self.tmp = out_dir / _TMP_NAME
        self.number = number
        self.suffix = delta_suffix(number)
        self.share = share
        self.base_people = int(manifest["customers"])
        self.seed = int(manifest["seed"])
        self.events_days = int(manifest.get("events_days", config.EVENTS_DAYS))
        earlier = manifest.get("deltas", [])
        self.first_index = self.base_people + sum(int(d["new_people"]) for d in earlier)
        # the delta's day: the day after the previous batch's last day
        self.as_of = date.fromisoformat(manifest["as_of"]) + timedelta(days=number)
        self.day = self.as_of - timedelta(days=1)
        self.counts: dict[str, int] = {}
        self.files: list[str] = []

    def _count(self, what: str, n: int) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    # -- new people ---------------------------------------------------------------------------------
    def new_people(self) -> None:
        n_new = max(1, math.ceil(self.base_people * self.share * _NEW_PEOPLE_SHARE))
        timeline = Timeline.for_as_of(self.as_of, self.events_days)
        truth = TruthWriter(self.tmp / "truth")
        defects_handle = (self.tmp / "truth" / "planted_defects.csv").open("w", encoding="utf-8", newline="")
        ctx = RunContext(
            seed=self.seed,
            customers=self.base_people,
            timeline=timeline,
            truth=truth,
            defects=DefectLog(defects_handle),
            ids=_offset_ids(self.number),
        )
        products = build_catalogue(self.seed, timeline)
        hubspot = HubSpotRenderer(ctx, self.tmp / "hubspot")
        shopify = ShopifyRenderer(ctx, self.tmp / "shopify", products)
        segment = SegmentRenderer(ctx, self.tmp / "segment", products, shopify)
        csv_contacts = CsvContactsRenderer(ctx, self.tmp / "csv_contacts")
        renderers: tuple[Renderer, ...] = (hubspot, shopify, segment, csv_contacts)
        # file names events-<chunk>.jsonl: a chunk number no base run reaches (chunks of 10k people)
        segment.start_chunk(9000 + self.number)
        for index in range(self.first_index, self.first_index + n_new):
            person = build_person(self.seed, index, timeline, self.base_people)
            truth.person(person)
            for renderer in renderers:
                renderer.render(person)
        for renderer in renderers:
            renderer.close()
        truth.close()
        defects_handle.close()
        self._count("new_people", n_new)
        self._count("segment_events", segment.rows)

    # -- changes to existing records ------------------------------------------------------------------
    def _sample(self, path: Path, share: float) -> list[str]:
        """Every k-th line of a base file (k from share), read as a stream."""
        if not path.is_file():
            return []
        step = max(1, round(1 / max(share, 1e-9)))
        offset = self.number % step
        with path.open(encoding="utf-8") as lines:
            return [line.rstrip("\n") for n, line in enumerate(lines) if n % step == offset and line.strip()]

    def changed_contacts(self, hubspot_out: JsonlWriter, shopify_out: JsonlWriter) -> None:
        share = self.share * _CHANGED_SHARE
        picked = self._sample(self.out / "hubspot" / "contacts.jsonl", share)
        for i, line in enumerate(picked):
            contact = json.loads(_touch_hubspot(line, _stamp(self.day, i)))
            contact["properties"]["phone"] = _new_phone(self.number * 100_003 + i)
            hubspot_out.write(contact)
        self._count("changed_hubspot_contacts", len(picked))
        picked = self._sample(self.out / "shopify" / "customers.jsonl", share / 3)
        for i, line in enumerate(picked):
            customer = json.loads(_touch_shopify(line, _stamp(self.day, i)))
            customer["phone"] = _new_phone(self.number * 200_003 + i)
            shopify_out.write(customer)
        self._count("changed_shopify_customers", len(picked))

    def new_orders(self, orders_out: JsonlWriter) -> None:
        picked = self._sample(self.out / "shopify" / "orders.jsonl", self.share * _NEW_ORDER_SHARE)
        ids = _offset_ids(self.number)
        ids.shopify_order += 500_000_000  # above the new people's orders of this delta
        ids.shopify_line_item += 500_000_000
        ids.shopify_order_number += 500_000_000
        written = 0
        for i, line in enumerate(picked):
            order = json.loads(line)
            if not order.get("customer"):
                continue  # a guest order is its own source record; only account holders reorder here
            moment = _stamp(self.day, i).strftime("%Y-%m-%dT%H:%M:%S+00:00")
            number = ids.take("shopify_order_number")
            order.update(
                id=ids.take("shopify_order"),
                name=f"#{number}",
                order_number=number,
                created_at=moment,
                updated_at=moment,
                processed_at=moment,
                cancelled_at=None,
                financial_status="paid",
                fulfillment_status=None,
                refunds=[],
            )
            for item in order.get("line_items", []):
                item["id"] = ids.take("shopify_line_item")
            orders_out.write(order)
            written += 1
        self._count("new_orders", written)

    def new_events(self) -> None:
        """A day of events of existing devices: the last base day's messages, moved on by the delta's
        distance, with new messageIds; every 33rd keeps the previous day's timestamp (arrives late)."""
        root = self.out / "segment"
        days = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        base_days = [p for p in days if any(p.glob("events-0*.jsonl"))]
        if not base_days:
            return
        last = base_days[-1]
        shift = self.day - date.fromisoformat(last.name)
        folder = self.tmp / "segment" / self.day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        written = late_written = 0
        namespace = uuid.UUID(int=self.seed * 10_000 + self.number)
        with (folder / f"events-d{self.number:04d}.jsonl").open("w", encoding="utf-8", newline="\n") as handle:
            for path in sorted(last.glob("events-0*.jsonl")):
                for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
                    try:
                        message = json.loads(line)
                    except ValueError:
                        continue  # a planted broken line: the base already has it
                    if not isinstance(message, dict) or "messageId" not in message:
                        continue
                    late = n % _LATE_EVENT_EVERY == 0
                    moved = shift - timedelta(days=1) if late else shift
                    message["messageId"] = str(uuid.uuid5(namespace, f"{path.name}:{n}"))
                    for field in ("timestamp", "sentAt"):
                        message[field] = _shift(message.get(field), moved)
                    message["receivedAt"] = _shift(message.get("receivedAt"), shift)
                    handle.write(dumps(message) + "\n")
                    written += 1
                    late_written += late
        self._count("segment_events", written)
        self._count("late_events", late_written)

    # -- into place ----------------------------------------------------------------------------------
    def place(self) -> None:
        """Move the batch's files next to the base files under delta names; append truth."""
        renames = {
            "hubspot/contacts.jsonl": f"hubspot/contacts.{self.suffix}.jsonl",
            "hubspot/contacts_archived.jsonl": f"hubspot/contacts_archived.{self.suffix}.jsonl",
            "shopify/customers.jsonl": f"shopify/customers.{self.suffix}.jsonl",
            "shopify/orders.jsonl": f"shopify/orders.{self.suffix}.jsonl",
        }
        for source, target in renames.items():
            if (self.tmp / source).is_file():
                self._move(self.tmp / source, self.out / target)
        for path in sorted((self.tmp / "segment").rglob("*.jsonl")):
            self._move(path, self.out / "segment" / path.relative_to(self.tmp / "segment"))
        for path in sorted((self.tmp / "csv_contacts").rglob("*.csv")):
            relative = path.relative_to(self.tmp / "csv_contacts")
            if not (self.out / "csv_contacts" / relative.parent / "mapping.json").is_file():
                continue  # a drop the base folder does not have
            target = self.out / "csv_contacts" / relative.parent / f"{path.stem}_d{self.number:04d}.csv"
            self._move(path, target)
        for name in ("source_records.csv", "people.csv", "planted_defects.csv"):
            _append_rows(self.tmp / "truth" / name, self.out / "truth" / name)

    def _move(self, source: Path, target: Path) -> None:
        if target.exists():
            raise UserError(f"{target} already exists: a delta never overwrites a file")
        target.parent.mkdir(parents=True, exist_ok=True)
        source.rename(target)
        self.files.append(str(target.relative_to(self.out)))


def _shift(value: Any, by: timedelta) -> Any:
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value  # a planted unreadable timestamp stays as it is
    return _iso_ms((moment + by).astimezone(UTC))


def _append_rows(source: Path, target: Path) -> None:
    """Append source's data rows (its header skipped) to target."""
    if not source.is_file():
        return
    with source.open(encoding="utf-8", newline="") as rows_in, target.open("a", encoding="utf-8", newline="") as out:
        reader = csv.reader(rows_in)
        next(reader, None)
        csv.writer(out, lineterminator="\n").writerows(reader)


def generate_delta(out_dir: Path, share: float = 0.01, progress: bool = True) -> dict[str, Any]:
    """Write the next delta of the demo folder ``out_dir`` (about ``share`` of its people touched)."""
    if not 0 < share <= 0.5:
        raise UserError(f"--delta-share must be in (0, 0.5], got {share}")
    out_dir = Path(out_dir)
    manifest = _read_manifest(out_dir)
    number = len(manifest.get("deltas", [])) + 1
    started = time.perf_counter()
    batch = _Batch(out_dir, manifest, number, share)
    if batch.tmp.exists():
        shutil.rmtree(batch.tmp)
    batch.tmp.mkdir()
    try:
        batch.new_people()
        hubspot_changes = JsonlWriter(batch.tmp / "changes" / "contacts.jsonl")
        shopify_changes = JsonlWriter(batch.tmp / "changes" / "customers.jsonl")
        orders = JsonlWriter(batch.tmp / "changes" / "orders.jsonl")
        batch.changed_contacts(hubspot_changes, shopify_changes)
        batch.new_orders(orders)
        for writer in (hubspot_changes, shopify_changes, orders):
            writer.close()
        # the new people's records are new that day too: a source lists them as modified on arrival
        _restamp_new_records(batch)
        for name, folder in (("contacts", "hubspot"), ("customers", "shopify"), ("orders", "shopify")):
            with (batch.tmp / folder / f"{name}.jsonl").open("a", encoding="utf-8") as merged:
                merged.write((batch.tmp / "changes" / f"{name}.jsonl").read_text(encoding="utf-8"))
        batch.new_events()
        batch.place()
    finally:
        shutil.rmtree(batch.tmp, ignore_errors=True)
    entry = {
        "number": number,
        "day": batch.day.isoformat(),
        "share": share,
        "first_person_index": batch.first_index,
        **batch.counts,
        "files": batch.files,
    }
    manifest.setdefault("deltas", []).append(entry)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if progress:
        counts = ", ".join(f"{k} {v:,}" for k, v in batch.counts.items())
        print(
            f"generate --delta: batch {number} for {batch.day} ({counts}) in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
            flush=True,
        )
    return entry


def _restamp_new_records(batch: _Batch) -> None:
    for name, folder, touch in (
        ("contacts", "hubspot", _touch_hubspot),
        ("customers", "shopify", _touch_shopify),
        ("orders", "shopify", _touch_shopify),
    ):
        path = batch.tmp / folder / f"{name}.jsonl"
        if not path.is_file():
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        restamped = (touch(line, _stamp(batch.day, i)) + "\n" for i, line in enumerate(lines))
        path.write_text("".join(restamped), encoding="utf-8")
