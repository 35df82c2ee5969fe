"""`customer360 generate --delta`: a next batch added beside an existing demo folder, never over it."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from ingestion.cli import main
from ingestion.demo_kit.generate.delta import generate_delta
from ingestion.demo_kit.servers.hubspot import ContactStore
from ingestion.demo_kit.servers.shopify import ShopifyServer

SOURCE_FOLDERS = ("hubspot", "shopify", "segment", "csv_contacts")


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for name in SOURCE_FOLDERS
        for path in sorted((folder / name).rglob("*"))
        if path.is_file()
    }


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _message_id(line: str) -> object:
    try:
        return json.loads(line).get("messageId")
    except (ValueError, AttributeError):
        return None  # a planted broken line


@pytest.fixture
def base(demo_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(demo_data, folder)
    return folder


def test_delta_adds_files_and_never_rewrites_one(base: Path) -> None:
    before = _digests(base)
    people_before = _rows(base / "truth" / "people.csv")
    records_before = _rows(base / "truth" / "source_records.csv")

    first = generate_delta(base, share=0.05, progress=False)
    second = generate_delta(base, share=0.05, progress=False)

    after = _digests(base)
    assert {name: after[name] for name in before} == before, "a source file the loaders already read changed"
    added = set(after) - set(before)
    assert added == set(first["files"]) | set(second["files"])
    assert first["day"] < second["day"]
    for entry in (first, second):
        assert entry["new_people"] >= 1
        assert entry["changed_hubspot_contacts"] >= 1
        assert entry["new_orders"] >= 1
        assert entry["late_events"] >= 1
        assert any(f.startswith(f"segment/{entry['day']}/") for f in entry["files"])
        assert any(f.startswith("csv_contacts/") for f in entry["files"])
    manifest = json.loads((base / "manifest.json").read_text())
    assert [d["number"] for d in manifest["deltas"]] == [1, 2]
    assert second["first_person_index"] == first["first_person_index"] + first["new_people"]

    # the new people are in the truth, with every source record they brought
    people_after = _rows(base / "truth" / "people.csv")
    records_after = _rows(base / "truth" / "source_records.csv")
    assert people_after[: len(people_before)] == people_before
    new_people = {row["entity_id"] for row in people_after[len(people_before) :]}
    assert len(new_people) == first["new_people"] + second["new_people"]
    assert new_people.isdisjoint({row["entity_id"] for row in people_before})
    new_records = records_after[len(records_before) :]
    assert {row["entity_id"] for row in new_records} <= new_people
    old_ids = {(r["source_system"], r["source_record_id"]) for r in records_before}
    assert not old_ids & {(r["source_system"], r["source_record_id"]) for r in new_records}

    # late events: received on the delta's day, timestamped the day before
    day_file = base / "segment" / first["day"] / "events-d0001.jsonl"
    messages = [json.loads(line) for line in day_file.read_text().splitlines()]
    late = [m for m in messages if not m["timestamp"].startswith(first["day"])]
    assert late and all(m["receivedAt"].startswith(first["day"]) for m in late)
    base_ids = {
        _message_id(line)
        for path in (base / "segment").rglob("events-0*.jsonl")
        for line in path.read_text().splitlines()
    }
    assert not base_ids & {m["messageId"] for m in messages}


def test_servers_serve_the_latest_version_of_a_changed_record(base: Path) -> None:
    entry = generate_delta(base, share=0.05, progress=False)
    changed = [json.loads(line) for line in (base / "shopify" / "customers.delta-0001.jsonl").read_text().splitlines()]
    touched = [c for c in changed if c["updated_at"].startswith(entry["day"]) and c["id"] < 7_200_000_000]
    assert touched, "no existing Shopify customer was changed"
    server = ShopifyServer(base, "token")
    served = json.loads(server._collections["customers"].raw[touched[0]["id"]])
    assert served["phone"] == touched[0]["phone"]

    contacts = [json.loads(line) for line in (base / "hubspot" / "contacts.delta-0001.jsonl").read_text().splitlines()]
    store = ContactStore.from_folder(base)
    assert store.live[str(contacts[0]["id"])]["properties"]["phone"] == contacts[0]["properties"]["phone"]
    assert {str(c["id"]) for c in contacts} <= set(store.live)


def test_delta_without_a_demo_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--out", str(tmp_path / "nothing"), "--delta"]) == 2
    assert "has no manifest.json" in capsys.readouterr().err
