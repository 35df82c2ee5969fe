"""Deterministic randomness and time helpers.

Every random decision draws from a ``random.Random`` seeded by (seed, stream, index): a person's HubSpot
records come from stream HUBSPOT at that person's index, and so on. Nothing depends on chunk
boundaries or on what another source drew, so the same seed gives byte-identical files whatever the
chunk size, and adding a field to one source leaves the others unchanged.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

_MASK64 = (1 << 64) - 1

# Streams (< 256). Never renumber: that would change every generated file.
PERSON = 1
HOUSEHOLD_BLOCK = 2
HOUSEHOLD = 3
HUBSPOT = 4
SHOPIFY = 5
SEGMENT = 6
LEGACY_CRM = 7
SIGNUP_FORMS = 8
VISITOR = 9
PRODUCTS = 10
DEFECT = 11


def derive(seed: int, stream: int, index: int) -> random.Random:
    """An independent generator for (seed, stream, index); index < 2**40."""
    return random.Random(((seed & _MASK64) << 48) | (stream << 40) | index)


def uuid4_text(rng: random.Random) -> str:
    """A version-4-shaped UUID from ``rng`` (uuid.uuid4 would read the OS entropy pool)."""
    value = rng.getrandbits(128)
    value = (value & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
    value = (value & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


# -- time: all internal times are integer milliseconds since the epoch (UTC) -----------------------------
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000


def midnight_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


def between(rng: random.Random, start_ms: int, end_ms: int) -> int:
    """A time in [start, end), whole milliseconds."""
    if end_ms <= start_ms:
        return start_ms
    return start_ms + int(rng.random() * (end_ms - start_ms))


def to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# Formatting is done with integer arithmetic and a cached date prefix: strftime on millions of Segment
# timestamps was the generator's single largest cost.
_EPOCH = date(1970, 1, 1)


@lru_cache(maxsize=16_384)
def _day_prefix(day_index: int) -> str:
    return (_EPOCH + timedelta(days=day_index)).isoformat()


def _clock(ms: int) -> tuple[str, int, int, int, int]:
    day, rest = divmod(ms, DAY_MS)
    seconds, millis = divmod(rest, 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return _day_prefix(day), hours, minutes, seconds, millis


def iso_z_ms(ms: int) -> str:
    """HubSpot and Segment style: 2024-03-01T10:00:00.000Z."""
    day, hours, minutes, seconds, millis = _clock(ms)
    return f"{day}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def iso_z(ms: int) -> str:
    """Sign-up form style: 2024-03-01T10:00:00Z."""
    day, hours, minutes, seconds, _ = _clock(ms)
    return f"{day}T{hours:02d}:{minutes:02d}:{seconds:02d}Z"


@lru_cache(maxsize=64)
def _us_eastern_dst(year: int) -> tuple[int, int]:
    """UTC ms bounds of daylight saving time in US Eastern: 2nd Sunday of March 07:00Z to 1st Sunday of Nov 06:00Z."""
    march = date(year, 3, 1)
    second_sunday = march + timedelta(days=(6 - march.weekday()) % 7 + 7)
    november = date(year, 11, 1)
    first_sunday = november + timedelta(days=(6 - november.weekday()) % 7)
    return midnight_ms(second_sunday) + 7 * HOUR_MS, midnight_ms(first_sunday) + 6 * HOUR_MS


def shopify_ts(ms: int) -> str:
    """Shopify style, the shop's local time (America/New_York) with its UTC offset: 2024-03-01T05:00:00-05:00."""
    dst_start, dst_end = _us_eastern_dst(int(_day_prefix(ms // DAY_MS)[:4]))
    offset_hours = 4 if dst_start <= ms < dst_end else 5
    day, hours, minutes, seconds, _ = _clock(ms - offset_hours * HOUR_MS)
    return f"{day}T{hours:02d}:{minutes:02d}:{seconds:02d}-0{offset_hours}:00"


def legacy_ts(ms: int) -> str:
    """Legacy CRM export style, UTC: 03/01/2024 10:00."""
    day, hours, minutes, _, _ = _clock(ms)
    return f"{day[5:7]}/{day[8:10]}/{day[:4]} {hours:02d}:{minutes:02d}"


def day_text(ms: int) -> str:
    return _day_prefix(ms // DAY_MS)
