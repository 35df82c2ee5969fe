"""Regenerate the ISO reference seeds: countries, country aliases, phone numbering plans, regions, currencies.

Dev-time only (``pip install pycountry phonenumbers iso4217``); the project does not depend on these
packages at run time, the CSVs they produce are committed. Run from the repository root:

    python seeds/generate_reference_seeds.py

The hand-maintained seeds (enums, nicknames, email typos, exclusions ...) are edited directly as CSV.
Output is sorted and deterministic so a regeneration only shows real upstream changes in a diff.
"""

from __future__ import annotations

import csv
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import iso4217
import phonenumbers
import pycountry
from phonenumbers import PhoneMetadata

SEEDS_DIR = Path(__file__).resolve().parent

# National significant number lengths fixed by the project's normalization conventions (the demo
# generator writes against these). libphonenumber allows more (e.g. DE 4-15 incl. short extensions);
# we pin the seven core countries so a planted "wrong length" number is rejected.
CONVENTION_NSN_LENGTHS: dict[str, tuple[int, int]] = {
    "US": (10, 10),
    "CA": (10, 10),
    "GB": (10, 10),
    "DE": (10, 11),
    "FR": (9, 9),
    "AU": (9, 9),
    "NL": (9, 9),
}

# Spellings seen in real address data that ISO does not list; alias -> ISO2. Keys are lower-case.
EXTRA_COUNTRY_ALIASES: dict[str, str] = {
    # The demo generator's variants (docs/data_contracts.md conventions).
    "usa": "US",
    "u.s.a.": "US",
    "u.s.a": "US",
    "u.s.": "US",
    "united states of america": "US",
    "uk": "GB",
    "u.k.": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "deutschland": "DE",
    "holland": "NL",
    "the netherlands": "NL",
    "nederland": "NL",
    # Common short or former names.
    "russia": "RU",
    "korea": "KR",
    "republic of korea": "KR",
    "vietnam": "VN",
    "czech republic": "CZ",
    "ivory coast": "CI",
    "macedonia": "MK",
    "turkey": "TR",
    "the bahamas": "BS",
    "the gambia": "GM",
    "vatican": "VA",
    "vatican city": "VA",
    "holy see": "VA",
    "brunei": "BN",
    "cape verde": "CV",
    "swaziland": "SZ",
    "burma": "MM",
    "east timor": "TL",
    "palestine": "PS",
    "micronesia": "FM",
    "uae": "AE",
    "macau": "MO",
    "republic of ireland": "IE",
    "the philippines": "PH",
    "slovak republic": "SK",
    "dr congo": "CD",
    "drc": "CD",
    "democratic republic of the congo": "CD",
    "republic of the congo": "CG",
    "south korea": "KR",
    "north korea": "KP",
    # Native names of the most frequent customer countries' neighbours.
    "españa": "ES",
    "italia": "IT",
    "österreich": "AT",
    "schweiz": "CH",
    "suisse": "CH",
    "brasil": "BR",
    "méxico": "MX",
    "belgië": "BE",
    "belgique": "BE",
    "danmark": "DK",
    "sverige": "SE",
    "norge": "NO",
    "polska": "PL",
}

ISO2_REGION_TYPES = {"US": {"State", "District"}, "CA": {"Province", "Territory"}}


def strip_accents(text: str) -> str:
    """'côte d'ivoire' -> 'cote d'ivoire', so both spellings resolve."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def write_csv(name: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    path = SEEDS_DIR / name
    materialized = [["" if value is None else value for value in row] for row in rows]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(materialized)
    return len(materialized)


def calling_code(iso2: str) -> str | None:
    code = phonenumbers.country_code_for_region(iso2)
    return str(code) if code else None


def nsn_lengths(iso2: str) -> tuple[int, int, str]:
    """(min, max, source) of the national significant number for a region."""
    if iso2 in CONVENTION_NSN_LENGTHS:
        low, high = CONVENTION_NSN_LENGTHS[iso2]
        return low, high, "project_convention"
    metadata = PhoneMetadata.metadata_for_region(iso2)
    lengths: set[int] = set()
    # Dialable subscriber numbers only: general_desc also counts local-only and short codes.
    for desc in (
        metadata.fixed_line,
        metadata.mobile,
        metadata.toll_free,
        metadata.premium_rate,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
    ):
        if desc is not None and desc.possible_length:
            lengths.update(length for length in desc.possible_length if length > 0)
    if not lengths:
        lengths.update(metadata.general_desc.possible_length)
    return min(lengths), max(lengths), "libphonenumber"


def main() -> int:
    countries = sorted(pycountry.countries, key=lambda country: country.alpha_2)

    counts: dict[str, int] = {}
    counts["country_codes.csv"] = write_csv(
        "country_codes.csv",
        ["iso2", "iso3", "numeric_code", "name", "common_name", "calling_code"],
        (
            [
                c.alpha_2,
                c.alpha_3,
                c.numeric,
                c.name,
                getattr(c, "common_name", None) or c.name,
                calling_code(c.alpha_2),
            ]
            for c in countries
        ),
    )

    aliases: dict[str, str] = {}

    def add_alias(alias: str, iso2: str) -> None:
        for variant in {alias.strip().lower(), strip_accents(alias.strip().lower())}:
            known = aliases.get(variant)
            if known is not None and known != iso2:
                raise SystemExit(f"alias {variant!r} maps to both {known} and {iso2}")
            aliases[variant] = iso2

    for c in countries:
        for alias in (c.alpha_2, c.alpha_3, c.name, getattr(c, "official_name", None), getattr(c, "common_name", None)):
            if alias:
                add_alias(alias, c.alpha_2)
    iso2_codes = {c.alpha_2 for c in countries}
    for alias, iso2 in EXTRA_COUNTRY_ALIASES.items():
        if iso2 not in iso2_codes:
            raise SystemExit(f"extra alias {alias!r} points at unknown country {iso2}")
        add_alias(alias, iso2)
    counts["country_aliases.csv"] = write_csv("country_aliases.csv", ["alias", "iso2"], sorted(aliases.items()))

    plans = []
    for c in countries:
        code = calling_code(c.alpha_2)
        if code is None:  # Antarctica, Bouvet Island ...: no public numbering plan of their own.
            continue
        low, high, source = nsn_lengths(c.alpha_2)
        # E.164 caps the whole number (country code + national number) at 15 digits.
        high = min(high, 15 - len(code))
        national_prefix = PhoneMetadata.metadata_for_region(c.alpha_2).national_prefix
        # A number written as +61 ... says only "calling code 61": it is checked against the code's
        # main country (AU, not the Cocos Islands' wider range), as libphonenumber does.
        is_primary = phonenumbers.region_code_for_country_code(int(code)) == c.alpha_2
        plans.append([c.alpha_2, code, national_prefix, low, high, source, str(is_primary).lower()])
    counts["phone_numbering_plans.csv"] = write_csv(
        "phone_numbering_plans.csv",
        [
            "iso2",
            "calling_code",
            "national_prefix",
            "nsn_min_length",
            "nsn_max_length",
            "length_source",
            "is_primary_for_calling_code",
        ],
        plans,
    )

    regions = []
    for iso2, types in ISO2_REGION_TYPES.items():
        for subdivision in pycountry.subdivisions.get(country_code=iso2):
            if subdivision.type in types:
                regions.append([iso2, subdivision.code.split("-", 1)[1], subdivision.name, subdivision.type.lower()])
    counts["region_codes.csv"] = write_csv(
        "region_codes.csv",
        ["country_iso2", "region_code", "region_name", "region_type"],
        sorted(regions),
    )

    minor_units = {currency.code: currency.exponent for currency in iso4217.Currency}
    counts["currencies.csv"] = write_csv(
        "currencies.csv",
        ["code", "name", "numeric_code", "minor_units"],
        (
            [currency.alpha_3, currency.name, currency.numeric, minor_units.get(currency.alpha_3)]
            for currency in sorted(pycountry.currencies, key=lambda currency: currency.alpha_3)
        ),
    )

    for name, rows in counts.items():
        print(f"{name}: {rows} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
