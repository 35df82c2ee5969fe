"""Person-records profiles: CSV drops of person records with noise, and their truth.

``customer360 generate --profile person-records`` writes what a registry or a CRM export of people
looks like when there is no email and no phone: names, street addresses, postal codes, cities,
regions and dates of birth, typed by hand, scanned, re-keyed. Two files of one drop
(``csv_contacts/legacy_crm``: the drop format the warehouse already knows), each holding some of the
people, some of them twice; linking them is the job. ``--profile mixed`` is the same with an email on
part of the records.

The population (names, households, addresses, dates of birth) is the demo's (population.py), so
households share surnames and addresses as real ones do. Each record is an independent, noisy copy:
nicknames, keyboard typos, OCR-like letter confusions, first and last name swapped, fields left
blank, an old address, transposed date digits, day and month swapped. Every rate is multiplied by
``noise`` (1.0 = the rates below), so the same people can be rendered cleaner or messier.
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ingestion.demo_kit.generate import config, rng
from ingestion.demo_kit.generate.csv_contacts import LEGACY_HEADER, LEGACY_MAPPING
from ingestion.demo_kit.generate.noise import _typo
from ingestion.demo_kit.generate.population import Address, Person, Timeline, build_person
from ingestion.demo_kit.generate.reference import NICKNAMES, fold_accents
from ingestion.demo_kit.generate.truth import TruthWriter
from ingestion.demo_kit.generate.writers import CsvWriter
from ingestion.errors import UserError

__all__ = ["PROFILES", "NoiseRates", "generate_person_records"]

DROP = "legacy_crm"
PERSON_STREAM = 12  # rng stream of this profile's renderings (rng.py reserves < 12 for the demo)
# Letter confusions of optical character recognition (each way).
_OCR = (("rn", "m"), ("cl", "d"), ("vv", "w"), ("e", "c"), ("o", "a"), ("h", "b"), ("i", "l"), ("u", "v"), ("n", "r"))
_OCR_DIGITS = {"0": "8", "8": "0", "1": "7", "7": "1", "5": "6", "6": "5", "3": "8", "9": "4", "4": "9", "2": "7"}


@dataclass(frozen=True)
class NoiseRates:
    """Per-record chances of each kind of noise (before the ``noise`` multiplier)."""

    in_file_a: float = 0.7
    in_file_b: float = 0.6
    duplicate_in_file: float = 0.08
    nickname: float = 0.10
    first_name_typo: float = 0.04
    last_name_typo: float = 0.05
    name_ocr: float = 0.03
    names_swapped: float = 0.03
    first_name_missing: float = 0.02
    last_name_missing: float = 0.01
    dob_missing: float = 0.08
    dob_transposed: float = 0.03
    dob_day_month_swapped: float = 0.02
    dob_digit_typo: float = 0.02
    street_missing: float = 0.08
    street_typo: float = 0.04
    old_address: float = 0.10
    postal_missing: float = 0.05
    postal_ocr: float = 0.02
    city_missing: float = 0.05
    city_typo: float = 0.03
    region_missing: float = 0.10
    case_noise: float = 0.10


PROFILES = {"person-records": 0.0, "mixed": 0.5}  # profile -> share of records carrying an email


def _chance(r: random.Random, rate: float, noise: float) -> bool:
    return r.random() < min(rate * noise, 1.0)


def _ocr(r: random.Random, text: str) -> str:
    lowered = text.lower()
    options = [(a, b) for a, b in _OCR if a in lowered] + [(b, a) for a, b in _OCR if b in lowered]
    if not options:
        return text
    source, target = r.choice(options)
    at = lowered.index(source)
    replacement = target.upper() if text[at : at + len(source)].isupper() else target
    return text[:at] + replacement + text[at + len(source) :]


def _case(r: random.Random, text: str, rates: NoiseRates, noise: float) -> str:
    if _chance(r, rates.case_noise, noise):
        return text.upper() if r.random() < 0.5 else text.lower()
    return text


def _date_text(day: date) -> str:
    return f"{day.month:02d}/{day.day:02d}/{day.year}"


def _noisy_dob(r: random.Random, dob: date, as_of: date, rates: NoiseRates, noise: float) -> str:
    if _chance(r, rates.dob_missing, noise):
        return ""
    candidates: list[date] = []
    text = dob.isoformat()
    if _chance(r, rates.dob_transposed, noise):
        digits = [
            i for i in range(len(text) - 1) if text[i].isdigit() and text[i + 1].isdigit() and text[i] != text[i + 1]
        ]
        i = r.choice(digits)
        candidates.append(_parse(text[:i] + text[i + 1] + text[i] + text[i + 2 :]))
    if _chance(r, rates.dob_day_month_swapped, noise) and dob.day <= 12 and dob.day != dob.month:
        candidates.append(_parse(f"{dob.year:04d}-{dob.day:02d}-{dob.month:02d}"))
    if _chance(r, rates.dob_digit_typo, noise):
        i = r.choice([i for i, c in enumerate(text) if c.isdigit()])
        candidates.append(_parse(text[:i] + str((int(text[i]) + r.choice((1, 9))) % 10) + text[i + 1 :]))
    written = next((day for day in candidates if day is not None and date(1900, 1, 1) <= day < as_of), dob)
    return _date_text(written)


def _parse(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _noisy_name(r: random.Random, name: str, typo: float, rates: NoiseRates, noise: float) -> str:
    if _chance(r, typo, noise):
        name = _typo(r, name)
    if _chance(r, rates.name_ocr, noise):
        name = _ocr(r, name)
    if r.random() < 0.35:
        name = fold_accents(name)
    return _case(r, name, rates, noise)


def _postal_ocr(r: random.Random, code: str) -> str:
    positions = [i for i, c in enumerate(code) if c in _OCR_DIGITS]
    if not positions:
        return code
    i = r.choice(positions)
    return code[:i] + _OCR_DIGITS[code[i]] + code[i + 1 :]


def render_record(
    r: random.Random, person: Person, as_of: date, email_share: float, rates: NoiseRates, noise: float
) -> dict[str, str]:
    """One noisy record of ``person`` (canonical field names, as in LEGACY_MAPPING)."""
    first = person.first_name
    nicknames = NICKNAMES.get(first.lower())
    if nicknames and _chance(r, rates.nickname, noise):
        first = r.choice(nicknames).capitalize()
    first = _noisy_name(r, first, rates.first_name_typo, rates, noise)
    last = _noisy_name(r, person.last_name, rates.last_name_typo, rates, noise)
    if _chance(r, rates.names_swapped, noise):
        first, last = last, first
    if _chance(r, rates.first_name_missing, noise):
        first = ""
    if _chance(r, rates.last_name_missing, noise):
        last = ""
    address: Address = person.address
    if person.old_address is not None and _chance(r, rates.old_address, noise):
        address = person.old_address
    street = "" if _chance(r, rates.street_missing, noise) else address.line1
    if street and _chance(r, rates.street_typo, noise):
        street = _typo(r, street)
    postal = "" if _chance(r, rates.postal_missing, noise) else address.postal_code
    if postal and _chance(r, rates.postal_ocr, noise):
        postal = _postal_ocr(r, postal)
    city = "" if _chance(r, rates.city_missing, noise) else address.city
    if city and _chance(r, rates.city_typo, noise):
        city = _typo(r, city)
    email = person.email if r.random() < email_share else ""
    return {
        "first_name": first,
        "last_name": last,
        "email": _case(r, email, rates, noise),
        "phone": "",
        "address_line1": _case(r, street, rates, noise),
        "address_line2": address.line2,
        "city": city,
        "postal_code": postal,
        "region": "" if _chance(r, rates.region_missing, noise) else address.region_code,
        "country": address.country,
        "date_of_birth": _noisy_dob(r, person.date_of_birth, as_of, rates, noise),
    }


def _row(contact_id: str, record: dict[str, str], updated: str) -> list[str]:
    by_header = {header: record.get(field, "") for header, field in LEGACY_MAPPING.items()}
    by_header["Customer ID"] = contact_id
    by_header["Last Updated"] = updated
    return [by_header.get(header, "") for header in LEGACY_HEADER[:-4]] + ["01/01/2020", updated, "N", ""]


def generate_person_records(
    out_dir: Path,
    people: int,
    seed: int,
    profile: str = "person-records",
    as_of: date | None = None,
    noise: float = 1.0,
    rates: NoiseRates | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Write the profile's CSV drop and truth to ``out_dir`` and return the manifest."""
    from ingestion.demo_kit.generate import OWNED_ENTRIES, _remove

    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}; choose demo, {', '.join(PROFILES)}")
    if not 1 <= people <= config.MAX_PEOPLE:
        raise UserError(f"--customers must be between 1 and {config.MAX_PEOPLE:,}, got {people}")
    if noise < 0:
        raise UserError(f"--noise must be >= 0, got {noise}")
    rates = rates or NoiseRates()
    as_of = as_of or datetime.now(UTC).date()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"output path {out_dir} exists and is not a folder")
    staging = out_dir / ".generate-tmp"
    out_dir.mkdir(parents=True, exist_ok=True)
    _remove(staging)
    drop = staging / "csv_contacts" / DROP
    drop.mkdir(parents=True)
    (drop / "mapping.json").write_text(json.dumps(LEGACY_MAPPING, indent=2) + "\n", encoding="utf-8")
    timeline = Timeline.for_as_of(as_of, config.EVENTS_DAYS)
    truth = TruthWriter(staging / "truth")
    files = {name: CsvWriter(drop / f"register_{name}.csv", LEGACY_HEADER) for name in ("a", "b")}
    updated = {"a": "06/30/2024 09:00", "b": "03/31/2025 09:00"}
    counters = {"a": 0, "b": 0}
    started = time.perf_counter()
    email_share = PROFILES[profile]
    for index in range(people):
        person = build_person(seed, index, timeline, people)
        truth.person(person)
        r = rng.derive(seed, PERSON_STREAM, index)
        in_a = r.random() < rates.in_file_a
        in_b = r.random() < rates.in_file_b or not in_a
        for name, present in (("a", in_a), ("b", in_b)):
            if not present:
                continue
            copies = 2 if _chance(r, rates.duplicate_in_file, noise) else 1
            for _ in range(copies):
                counters[name] += 1
                contact_id = f"{name.upper()}{counters[name]:07d}"
                record = render_record(r, person, as_of, email_share, rates, noise)
                files[name].write(_row(contact_id, record, updated[name]))
                truth.record(DROP, contact_id, person.entity_id)
    for writer in files.values():
        writer.close()
    truth.close()
    manifest: dict[str, Any] = {
        "out": str(out_dir),
        "profile": profile,
        "seed": seed,
        "customers": people,
        "noise": noise,
        "as_of": as_of.isoformat(),
        "row_counts": {f"csv_contacts/{DROP}/register_{name}.csv": count for name, count in counters.items()},
        "truth_counts": {"truth/source_records.csv": truth.record_rows, "truth/people.csv": truth.people_rows},
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for name in OWNED_ENTRIES:
        _remove(out_dir / name)
        if (staging / name).exists():
            (staging / name).rename(out_dir / name)
    _remove(staging)
    if progress:
        print(
            f"generate: {profile}, {people:,} people, {sum(counters.values()):,} records in "
            f"{time.perf_counter() - started:.1f}s -> {out_dir}",
            file=sys.stderr,
        )
    return manifest
