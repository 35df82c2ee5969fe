"""The normalization macros, reference seeds and custom generic tests, proven on DuckDB.

dbt costs a few seconds per invocation, so the whole suite is two invocations on a copy of the dbt
project holding only this module's files (macros, seeds, generic tests, dbt_project.yml): `dbt build`
of the seeds and their data tests, then ONE `dbt show --inline` query in which every macro runs over
a VALUES list of edge cases. Each row comes back as text and is compared with the known answer.
The copy keeps the test independent of models being written elsewhere and of target/ in the repo.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MY_MACRO_DIRS = (
    "macros/normalize", "macros/portability", "macros/utils", "macros/privacy", "macros/consent", "macros/identity",
)  # fmt: skip

# (SQL template of the call, [(input, extra, expected), ...]). In templates `v.input` / `v.extra` are
# the columns of the case; `expected` is the output cast to text (None = SQL null).
Case = tuple[str | None, str | None, str | None]

EMAIL_CASES: dict[str, list[Case]] = {
    "customer360.normalize_email('v.input')": [
        (" Jane.Doe+Shop@GMIAL.com ", None, "jane.doe+shop@gmail.com"),
        ("mailto:Info@Acme.COM", None, "info@acme.com"),
        ("BOB@Hotmial.com", None, "bob@hotmail.com"),
        ("x@yahoo.con", None, "x@yahoo.com"),
        ("sam@gmail.co", None, "sam@gmail.com"),
        ("pat@outlok.com", None, "pat@outlook.com"),
        ("kim@iclod.com", None, "kim@icloud.com"),
        ("gmial.com@gmial.com", None, "gmial.com@gmail.com"),
        # Two "@": left alone (a corrected domain could make a malformed address look valid).
        ("a@gmial.com@x.com", None, "a@gmial.com@x.com"),
        ("   ", None, None),
        (None, None, None),
    ],
    "customer360.clean_email('v.input')": [
        ("MAILTO:X@Y.COM ", None, "x@y.com"),
        ("x@gmial.com", None, "x@gmial.com"),
        # Look-alikes read as the guard reads them (round 21's hostile pass): full-width letters and signs, a soft
        # hyphen, a no-break space, a left-to-right mark, an ideographic full stop, the small at sign.
        ("\uff2a\uff41\uff4e\uff45\uff20\uff38\uff0e\uff43\uff4f\uff4d", None, "jane@x.com"),
        ("ja\u00adne@x.com\u00a0", None, "jane@x.com"),
        ("\u200ejane@x\u3002com\u2069", None, "jane@x.com"),
        ("jane\ufe6bx\uff61com", None, "jane@x.com"),
        # round 22's hostile review: a full-width "mailto:" and the loaders' literal \x00 for a NUL byte
        ("\uff4d\uff41\uff49\uff4c\uff54\uff4f\uff1aJane@x.com", None, "jane@x.com"),
        ("jane\\x00@x.com", None, "jane@x.com"),
    ],
    "customer360.is_ascii_text('v.input')": [
        ("jane@x.com", None, "true"),
        ("", None, "true"),
        ("ja\u00adne@x.com", None, "false"),
        ("\uff4aane@x.com", None, "false"),
        (None, None, None),
    ],
    "customer360.default__is_ascii_text('v.input')": [
        ("jane@x.com", None, "true"),
        ("", None, "true"),
        ("ja\u00adne@x.com", None, "false"),
        ("\uff4aane@x.com", None, "false"),
        (None, None, None),
    ],
    "customer360.fold_look_alike_characters('v.input')": [
        ("Jane@X.com", None, "Jane@X.com"),
        ("\uff2aane\u200b@x\uff0ecom\u3000", None, "Jane@x.com "),
        (None, None, None),
    ],
    "customer360.email_match_key(customer360.normalize_email('v.input'))": [
        ("Jane.Doe+Shop@GMIAL.com", None, "janedoe@gmail.com"),
        ("J.Doe@googlemail.com", None, "jdoe@gmail.com"),
        ("\uff4aane.doe\uff0bshop\uff20gmial\uff0ecom", None, "janedoe@gmail.com"),
        ("jane.doe+news@acme.com", None, "jane.doe@acme.com"),
        ("bad@@x.com", None, None),
        ("no-at.com", None, None),
    ],
    "customer360.is_valid_email('v.input')": [
        ("jane@x.com", None, "true"),
        (" MAILTO:Jane@X.co.uk ", None, "true"),
        ("no-at.com", None, "false"),
        ("sp ace@x.com", None, "false"),
        ("x@nodot", None, "false"),
        ("a@b@c.com", None, "false"),
        ("x@a.c", None, "false"),
        ("@x.com", None, "false"),
        ("x@.com", None, "false"),
        (None, None, None),
    ],
    "customer360.is_role_email('v.input')": [
        ("Info+x@acme.com", None, "true"),
        ("no-reply@x.com", None, "true"),
        ("jane@x.com", None, "false"),
        (None, None, None),
    ],
    "customer360.is_free_email_domain('v.input')": [
        ("a@gmail.com", None, "true"),
        ("a@acme.com", None, "false"),
    ],
    "customer360.email_local_part('v.input')": [("Jane+x@Acme.com", None, "jane+x"), ("no-at", None, None)],
    "customer360.email_domain('v.input')": [("Jane+x@Acme.com", None, "acme.com"), ("x@", None, None)],
}

PHONE_CASES: dict[str, list[Case]] = {
    "customer360.normalize_phone_e164('v.input', 'v.extra')": [
        # Every format of the convention, with the record's country (or none: default US).
        ("(415) 555-0123", "US", "+14155550123"),
        ("415-555-0123", "US", "+14155550123"),
        ("415.555.0123", None, "+14155550123"),
        ("4155550123", "", "+14155550123"),
        ("+1 415 555 0123", "GB", "+14155550123"),
        ("1-415-555-0123", "US", "+14155550123"),
        ("+1 (415) 555-0123", None, "+14155550123"),
        ("(604) 555-0198", "CA", "+16045550198"),
        ("+44 20 7946 0958", "GB", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("07700 900123", "gb", "+447700900123"),
        ("+44 (0)7700 900123", None, "+447700900123"),
        ("0044 7700 900123", "US", "+447700900123"),
        ("+49 30 12345678", "DE", "+493012345678"),
        ("030 12345678", "DE", "+493012345678"),
        ("0171 2345678", "DE", "+491712345678"),
        ("+49 (0)171 2345678", "DE", "+491712345678"),
        ("030 123456789", "DE", "+4930123456789"),
        ("+33 1 23 45 67 89", "FR", "+33123456789"),
        ("01 23 45 67 89", "FR", "+33123456789"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+61 2 9876 5432", "AU", "+61298765432"),
        ("02 9876 5432", "AU", "+61298765432"),
        ("0412 345 678", "AU", "+61412345678"),
        ("+31 20 123 4567", "NL", "+31201234567"),
        ("020 123 4567", "NL", "+31201234567"),
        ("06 12345678", "NL", "+31612345678"),
        # Outside the seven core countries: libphonenumber lengths and trunk prefixes.
        ("06 1234 5678", "IT", "+390612345678"),
        ("8 912 345 67 89", "RU", "+79123456789"),
        # Invalid: letters, too short, wrong length, NANP area/exchange, national number of the wrong country.
        ("555-CALL-NOW", "US", None),
        ("12345", "US", None),
        ("415 555 012", "US", None),
        ("020 7946 095", "GB", None),
        ("01 23 45 67 8", "FR", None),
        ("+1 115 555 0123", "US", None),
        ("(415) 155-0123", "US", None),
        ("+999 1234567", None, None),
        # +61 is checked against AU (9 digits), not the Cocos Islands' 6-12 that share the code.
        ("+61 2 9876 543", None, None),
        ("0171 2345678", "US", None),
        ("415 555 0123 x12", "US", None),
        ("+44 020 7946 0958", "GB", None),
        ("  ", "US", None),
        (None, "US", None),
    ],
    "customer360.is_valid_e164('v.input')": [
        ("+14155550123", None, "true"),
        ("14155550123", None, "false"),
        ("+04155550123", None, "false"),
        ("+123456", None, "false"),
        ("+1234567", None, "true"),
        ("+1234567890123456", None, "false"),
    ],
}

NAME_CASES: dict[str, list[Case]] = {
    "customer360.clean_name('v.input')": [
        ("  o'BRIEN  ", None, "O'Brien"),
        ("mary-jane   SMITH", None, "Mary-Jane Smith"),
        ("JOSÉ", None, "José"),
        ("MCDONALD", None, "Mcdonald"),
        ("d'artagnan", None, "D'Artagnan"),
        ("o’neil", None, "O’Neil"),
        ("st. john", None, "St. John"),
        ("ødegård", None, "Ødegård"),
        # invisible characters a form or an export can carry: a right-to-left override would turn the rest of
        # a greeting around; a zero-width space splits the word
        ("zo\u00eb\u202e \u200bKIM\ufeff", None, "Zoë Kim"),
        ("o\u200bBRIEN\u00ad", None, "Obrien"),
        ("\u200b\u2066", None, None),
        ("  ", None, None),
        (None, None, None),
    ],
    "customer360.name_match_key('v.input')": [
        ("O'Brien", None, "obrien"),
        ("José  María", None, "josemaria"),
        ("Jose Maria", None, "josemaria"),
        ("Müller", None, "muller"),
        ("Søren Ødegård", None, "sorenodegard"),
        ("Straße", None, "strasse"),
        ("Łukasz", None, "lukasz"),
        ("Zoë-Anne", None, "zoeanne"),
        ("Иван", None, "иван"),
        ("O\u200b'Brien\u202e", None, "obrien"),
        ("Mi\u200dchael\u200c", None, "michael"),
        (" .- ", None, None),
    ],
    "customer360.canonical_given_name('v.input')": [
        ("BILL", None, "william"),
        ("Liam", None, "william"),
        ("bob", None, "robert"),
        (" Liz ", None, "elizabeth"),
        ("Chris", None, "christopher"),
        ("Kate", None, "katherine"),
        ("Peggy", None, "margaret"),
        ("Meg", None, "megan"),
        ("William", None, "william"),
        ("José", None, "jose"),
    ],
}

ADDRESS_CASES: dict[str, list[Case]] = {
    # the street without its secondary unit (US, UK, German, Belgian and Dutch forms), as identity compares it
    "customer360.identity_address_key(customer360.identity_address_street('v.input'))": [
        ("374 Mission St Apt. 39", None, "374 mission st"),
        ("1168 King St W # 16", None, "1168 king st w"),
        ("2123 Broadway #39", None, "2123 broadway"),
        ("1813 Oak Avenue, Suite 27", None, "1813 oak ave"),
        ("Flat 3, 12 High Street", None, "12 high st"),
        ("Hauptstraße 45 Etage 3", None, "hauptstrasse 45"),
        ("Rue Royale 12 bte 3", None, "rue royale 12"),
        # a house-number suffix names another house: it stays in the street
        ("Dorpsstraat 137 Bis", None, "dorpsstraat 137 bis"),
        ("12 High St Flat5", None, "12 high st"),
        ("12 Main St (Apt 4).", None, "12 main st"),
        ("12 Main St\u00a0Apt 4", None, "12 main st"),
        # words that start like a designator name no unit
        ("12 Victoria Buildings", None, "12 victoria buildings"),
        ("3 Harbour Flats", None, "3 harbour flats"),
        ("5 Holly Bush", None, "5 holly bush"),
        # the number is the house's, not a unit's: no house number would be left
        ("Via della Scala 3", None, "via della scala 3"),
        # a designator-like word that names no unit (no digit, more than one letter)
        ("12 Rue Ste Catherine", None, "12 rue ste catherine"),
        ("5 Unit Road", None, "5 unit rd"),
        ("10 Downing Street", None, "10 downing st"),
        (None, None, None),
    ],
    "customer360.identity_address_unit('v.input', 'v.extra')": [
        ("374 Mission St Apt. 39", None, "39"),
        ("55 Main St, Apt. 4-B", None, "4b"),
        ("55 Main St APT B", None, "b"),
        ("Flat 3, 12 High Street", None, "3"),
        ("Dorpsstraat 137 Bis", None, None),
        ("12 High St Flat5", None, "5"),
        ("12 Main St Apt 04", None, "4"),
        ("12 Victoria Buildings", None, None),
        ("5 Holly Bush", None, None),
        ("55 Main St", "Apt 7", "7"),
        ("55 Main St", " # 7 ", "7"),
        ("55 Main St", "7", "7"),
        # the street line's unit wins over the second line's
        ("55 Main St Suite 200", "Apt 7", "200"),
        # a second line that is not a unit says nothing about one
        ("55 Main St", "c/o Jane Doe", None),
        ("55 Main St", "Floor 3, Room 12", None),
        # a bare second line is a unit only as a short number
        ("55 Main St", "12345", None),
        ("55 Main St", "A", None),
        ("55 Main St", "7-Eleven", None),
        ("Via della Scala 3", None, None),
        ("10 Downing Street", None, None),
        (None, None, None),
    ],
    "customer360.country_iso2('v.input')": [
        *[(spelling, None, "US") for spelling in ("US", "USA", "United States", "United States of America", "U.S.A.")],
        *[(spelling, None, "CA") for spelling in ("CA", "CAN", "Canada")],
        *[(spelling, None, "GB") for spelling in ("GB", "UK", "United Kingdom", "Great Britain")],
        *[(spelling, None, "DE") for spelling in ("DE", "DEU", "Germany", "Deutschland")],
        *[(spelling, None, "FR") for spelling in ("FR", "FRA", "France")],
        *[(spelling, None, "AU") for spelling in ("AU", "AUS", "Australia")],
        *[(spelling, None, "NL") for spelling in ("NL", "NLD", "Netherlands", "The Netherlands", "Holland")],
        ("  united   STATES ", None, "US"),
        ("u.s.a.", None, "US"),
        (" holland", None, "NL"),
        ("Côte d'Ivoire", None, "CI"),
        ("cote d'ivoire", None, "CI"),
        ("Namibia", None, "NA"),
        ("Narnia", None, None),
        (None, None, None),
    ],
    "customer360.region_code('v.input', 'v.extra')": [
        ("ca", "US", "CA"),
        ("California", "US", "CA"),
        ("N.Y.", "US", "NY"),
        ("US-NY", "US", "NY"),
        ("district of columbia", "US", "DC"),
        ("Québec", "CA", "QC"),
        ("ON", "CA", "ON"),
        ("Bavaria", "DE", None),
        ("Narnia", "US", None),
        (" ny ", " us ", "NY"),
        ("NY", None, None),
        (None, "US", None),
    ],
    "customer360.normalize_postal_code('v.input', 'v.extra')": [
        ("94105", "US", "94105"),
        ("94105-1234", "US", "94105"),
        ("941051234", "US", "94105"),
        ("9410", "US", None),
        ("ABCDE", "US", None),
        ("k1a0b1", "CA", "K1A 0B1"),
        ("K1A 0B1", "CA", "K1A 0B1"),
        ("Z1A 0B1", "CA", None),
        ("sw1a1aa", "GB", "SW1A 1AA"),
        ("M1 1AE", "GB", "M1 1AE"),
        ("EC1A-1BB", "GB", "EC1A 1BB"),
        ("12345", "GB", None),
        ("1234ab", "NL", "1234 AB"),
        ("0123 AB", "NL", None),
        (" 80331 ", "DE", "80331"),
        ("1011", "DE", None),
        ("75001", "FR", "75001"),
        ("2000", "AU", "2000"),
        ("20000", "AU", None),
        (" x9  y ", "CI", "X9 Y"),
        ("", "FR", None),
    ],
    "customer360.is_valid_postal_code('v.input', 'v.extra')": [
        ("94105-1234", "US", "true"),
        ("9410", "US", "false"),
        ("SW1A 1AA", "GB", "true"),
        ("x9", "CI", "true"),
        (" ", "US", None),
    ],
    "customer360.clean_text('v.input')": [(" 1  Main\tSt \n", None, "1 Main St"), ("\t", None, None)],
}

TYPED_TIMESTAMPS: list[Case] = [
    ("2024-03-01T05:00:00-05:00", None, "2024-03-01 10:00:00"),
    ("2025-06-01T09:30:12.512Z", None, "2025-06-01 09:30:12.512"),
    ("0001-01-01 00:00:00+00", None, "0001-01-01 00:00:00"),
    ("9999-12-31 23:59:59+00", None, "9999-12-31 23:59:59"),
    ("10000-01-01 00:00:00+00", None, None),
    ("infinity", None, None),
    (None, None, None),
]

TIME_CASES: dict[str, list[Case]] = {
    "customer360.to_utc_timestamp('v.input')": [
        ("2024-03-01T05:00:00-05:00", None, "2024-03-01 10:00:00"),
        ("2025-06-01T09:30:12.512Z", None, "2025-06-01 09:30:12.512"),
        ("2024-03-01T05:00:00+05:30", None, "2024-02-29 23:30:00"),
        ("2024-03-01 10:00", None, "2024-03-01 10:00:00"),
        ("2024-03-01", None, "2024-03-01 00:00:00"),
        ("2024-02-30T00:00:00Z", None, None),
        ("2024-03-01T25:00:00Z", None, None),
        ("2024-03-01T05:00:00 +05:00", None, None),
        ("03/01/2024", None, None),
    ],
    # A loader's typed value takes the fast path; it must give what the text path gives for the text the engine
    # writes for the value (the second template), edge years and infinity included.
    "customer360.to_utc_timestamp('cast(v.input as timestamptz)', 'timestamp with time zone')": TYPED_TIMESTAMPS,
    "customer360.to_utc_timestamp('cast(cast(v.input as timestamptz) as varchar)')": TYPED_TIMESTAMPS,
    "customer360.to_utc_timestamp('cast(v.input as timestamp)', 'timestamp')": [
        ("2024-03-01 10:00:00.25", None, "2024-03-01 10:00:00.25"),
        ("infinity", None, None),
        ("10000-01-01", None, None),
    ],
    "customer360.parse_date('v.input', '%m/%d/%Y')": [
        ("02/28/1985", None, "1985-02-28"),
        ("2/3/1985", None, "1985-02-03"),
        ("02/29/1984", None, "1984-02-29"),
        ("02/29/1985", None, None),
        ("02/30/1985", None, None),
        ("13/01/1985", None, None),
        ("1985-02-28", None, None),
    ],
    "customer360.parse_date('v.input', '%Y-%m-%d')": [
        ("1980-04-02", None, "1980-04-02"),
        ("1985-02-30", None, None),
        ("2000-02-29", None, "2000-02-29"),
        ("1900-02-29", None, None),
    ],
    # ISO 8601's basic form: the fields touch, so each has its fixed width (1956049 is no date, not a guess)
    "customer360.parse_date('v.input', '%Y%m%d')": [
        ("19560409", None, "1956-04-09"),
        ("1956049", None, None),
        ("195649", None, None),
        ("19480390", None, None),
        ("1956-04-09", None, None),
        ("1956O409", None, None),
    ],
    "customer360.parse_timestamp('v.input', '%Y%m%d')": [
        ("19560409", None, "1956-04-09 00:00:00"),
        ("1956049", None, None),
    ],
    "customer360.parse_timestamp('v.input', '%m/%d/%Y %H:%M')": [
        ("12/31/2023 23:59", None, "2023-12-31 23:59:00"),
        ("12/31/2023 24:00", None, None),
        ("02/30/2023 10:00", None, None),
    ],
    "customer360.to_money('v.input')": [
        ("19.99", None, "19.99"),
        ("-5", None, "-5.00"),
        (" 0.5 ", None, "0.50"),
        ("19.999", None, "20.00"),
        ("12,50", None, None),
        ("1e3", None, None),
        ("$5", None, None),
        ("", None, None),
    ],
    "customer360.currency_code('v.input')": [(" usd ", None, "USD"), ("EUR", None, "EUR"), ("XYZ", None, None)],
}

ACCENTED: Case = ("José Ødegård Straße Œuvre", None, "Jose Odegard Strasse OEuvre")

# The ANSI/PostgreSQL implementations that only need ANSI SQL plus the regex dispatch run on DuckDB
# too: calling them directly proves their parsing and calendar logic on the same cases.
PORTABLE_CASES: dict[str, list[Case]] = {
    "customer360.default__parse_date('v.input', '%m/%d/%Y')": TIME_CASES[
        "customer360.parse_date('v.input', '%m/%d/%Y')"
    ],
    "customer360.default__parse_date('v.input', '%Y-%m-%d')": TIME_CASES[
        "customer360.parse_date('v.input', '%Y-%m-%d')"
    ],
    "customer360.default__parse_date('v.input', '%Y%m%d')": TIME_CASES["customer360.parse_date('v.input', '%Y%m%d')"],
    "customer360.default__parse_timestamp('v.input', '%m/%d/%Y %H:%M')": TIME_CASES[
        "customer360.parse_timestamp('v.input', '%m/%d/%Y %H:%M')"
    ],
    "customer360.default__to_utc_timestamp('v.input')": TIME_CASES["customer360.to_utc_timestamp('v.input')"],
    "customer360.strip_accents('v.input')": [ACCENTED],
    "customer360.default__strip_accents('v.input')": [ACCENTED],
    "customer360.sha256_hex('v.input')": [("abc", None, hashlib.sha256(b"abc").hexdigest())],
    # dbt_utils.generate_surrogate_key's contract: md5 of the '-'-joined texts, nulls as a marker.
    "customer360.surrogate_key(['v.input', 'v.extra'])": [
        ("a", "bc", hashlib.md5(b"a-bc").hexdigest()),
        ("ab", "c", hashlib.md5(b"ab-c").hexdigest()),
        (None, "x", hashlib.md5(b"_dbt_utils_surrogate_key_null_-x").hexdigest()),
    ],
    # values_key: each value length-prefixed, a null as '~': the tuples surrogate_key lets collide differ.
    "customer360.values_key(['input', 'extra'], 'v')": [
        ("a-", "b", hashlib.md5(b"2:a-|1:b").hexdigest()),
        ("a", "-b", hashlib.md5(b"1:a|2:-b").hexdigest()),
        (None, "", hashlib.md5(b"~|0:").hexdigest()),
        ("", None, hashlib.md5(b"0:|~").hexdigest()),
    ],
    "customer360.default__region_code('v.input', 'v.extra')": ADDRESS_CASES[
        "customer360.region_code('v.input', 'v.extra')"
    ],
    # both implementations of the seed lookup: a key, a key that is absent, a null key
    **{
        f"customer360.{variant}seed_lookup('country_aliases', 'alias', 'iso2', 'v.input')": [
            ("deutschland", None, "DE"),
            ("united states of america", None, "US"),
            ("atlantis", None, None),
            (None, None, None),
        ]
        for variant in ("duckdb__", "default__")
    },
    # an integer key column (minor_units) compares as text in both: no bind error, the same answers
    **{
        f"customer360.{variant}seed_lookup('currencies', 'minor_units', 'code', 'v.input')": [
            ("3", None, "TND"),
            ("0", None, "XPF"),
            ("9", None, None),
        ]
        for variant in ("duckdb__", "default__")
    },
    # both implementations of the phone plan lookups (normalize_phone_e164 runs the DuckDB one)
    **{
        f"customer360.{variant}phone_e164_from_international('v.input')": [
            ("14155550123", None, "+14155550123"),
            ("447700900123", None, "+447700900123"),
            ("491712345678", None, "+491712345678"),
            ("33612345678", None, "+33612345678"),
            ("11234567890", None, None),  # NANP area code starting 1
            ("4477009001234567", None, None),  # too long for +44
            ("999123", None, None),
            ("", None, None),
        ]
        for variant in ("duckdb__", "default__")
    },
    **{
        f"customer360.{variant}phone_e164_from_national('v.input', 'v.extra')": [
            ("4155550123", "US", "+14155550123"),
            ("14155550123", "US", "+14155550123"),
            ("01712345678", "DE", "+491712345678"),
            ("0612345678", "FR", "+33612345678"),
            ("0207946095", "GB", None),  # too short
            ("1155550123", "US", None),  # area code starting 1
            ("4155550123", "XX", None),
            ("4155550123", None, None),
        ]
        for variant in ("duckdb__", "default__")
    },
    "customer360.is_excluded_identifier('email', 'v.input')": [
        ("test@example.com", None, "true"),
        ("jane@example.org", None, "false"),
    ],
    "customer360.is_excluded_identifier('phone', 'v.input')": [
        ("+15555555555", None, "true"),
        ("test@example.com", None, "false"),
    ],
}

ALL_CASES = {**EMAIL_CASES, **PHONE_CASES, **NAME_CASES, **ADDRESS_CASES, **TIME_CASES, **PORTABLE_CASES}

# Generic tests, run inline on a relation with known bad rows: (test macro call, failing rows).
GENERIC_TEST_FIXTURE = """
    select * from (values
        ('a@b.com', '+14155550123', 'US', 5.0, date '2020-01-01', 'paid', 0.5),
        ('bad', '4155550123', 'XX', -1.0, date '1899-12-31', 'bogus', cast('nan' as double)),
        (null, null, null, null, date '2999-01-01', null, null),
        ('x@y.org', '+4420', 'us', 0.0, date '2026-06-01', 'refunded', 1.5)
    ) as fixture (email, phone, country, amount, event_date, financial_status, score)
"""
GENERIC_TESTS: dict[str, int] = {
    "test_valid_email(model='fixture', column_name='email')": 1,
    "test_e164_phone(model='fixture', column_name='phone')": 2,
    "test_iso2_country(model='fixture', column_name='country')": 2,
    "test_non_negative(model='fixture', column_name='amount')": 1,
    # NaN and 1.5 (a NaN sorts above every number on DuckDB: it would pass `>= threshold`)
    "test_probability(model='fixture', column_name='score')": 2,
    "test_not_before(model='fixture', column_name='event_date', date='1900-01-01')": 1,
    "test_not_in_future(model='fixture', column_name='event_date')": 1,
    "test_not_in_future(model='fixture', column_name='event_date', as_of='2026-01-01')": 2,
    "test_not_in_future(model='fixture', column_name='event_date', as_of='2026-01-01', grace_interval=6, "
    "grace_datepart='month')": 1,
    "test_accepted_values_from_seed(model='fixture', column_name='financial_status', "
    "seed='enum_order_financial_statuses', column='financial_status')": 1,
    "test_accepted_values_from_seed(model='fixture', column_name='financial_status', "
    "seed='enum_order_financial_statuses', column='financial_status', seed_where=\"is_refunded\")": 2,
    # one row per broken check: lower(country) repeats ('US', 'us'), email and phone have a null, 'bogus'
    "test_checked_in_one_scan(model='fixture', unique=['country', 'lower(country)'], "
    "not_null=['email', 'phone', 'event_date'], accepted_values={'financial_status': ['paid', 'refunded']})": 4,
    "test_checked_in_one_scan(model='fixture', unique=['email'], not_null=['event_date'], "
    "accepted_values={'country': ['US', 'XX', 'us']})": 0,
}


def sql_literal(value: str | None) -> str:
    return "null" if value is None else "'" + value.replace("'", "''") + "'"


def build_inline_query() -> str:
    """One query: a (check, input, extra, actual) row per case, then one row per generic test."""
    selects = []
    for template, cases in ALL_CASES.items():
        rows = ", ".join(f"({sql_literal(inp)}, {sql_literal(extra)})" for inp, extra, _ in cases)
        selects.append(
            f"select {sql_literal(template)} as check_name, v.input, v.extra, "
            f"cast({{{{ {template} }}}} as varchar) as actual "
            f"from (values {rows}) as v (input, extra)"
        )
    for call, _ in GENERIC_TESTS.items():
        selects.append(
            f"select {sql_literal(call)}, null, null, cast(count(*) as varchar) "
            f"from ({{{{ customer360.{call} }}}}) as failures"
        )
    return f"with fixture as ({GENERIC_TEST_FIXTURE})\n" + "\nunion all\n".join(selects)


def copy_module_project(destination: Path) -> Path:
    """The dbt project with only this module's files: macros, root seeds, generic tests."""
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy2(PROJECT_ROOT / name, destination / name)
    for folder in MY_MACRO_DIRS:
        shutil.copytree(PROJECT_ROOT / folder, destination / folder)
    shutil.copy2(PROJECT_ROOT / "macros" / "_macros.yml", destination / "macros" / "_macros.yml")
    shutil.copytree(PROJECT_ROOT / "tests" / "generic", destination / "tests" / "generic")
    (destination / "seeds").mkdir()
    for seed_file in (PROJECT_ROOT / "seeds").iterdir():
        if seed_file.is_file() and seed_file.suffix in {".csv", ".yml"}:
            shutil.copy2(seed_file, destination / "seeds" / seed_file.name)
    (destination / "models").mkdir()
    return destination


@pytest.fixture(scope="module")
def dbt_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Seeds built and tested, the inline query run; yields both results and the manifest."""
    from dbt.cli.main import dbtRunner

    project = copy_module_project(tmp_path_factory.mktemp("dbt_macros_project"))
    common = [
        "--project-dir", str(project), "--profiles-dir", str(project),
        "--target-path", str(project / "target"), "--log-path", str(project / "logs"),
    ]  # fmt: skip
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CUSTOMER360_DUCKDB_PATH", str(project / "macros.duckdb"))
        env.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        runner = dbtRunner()
        build = runner.invoke(["build", "--quiet", *common])
        assert build.success, f"dbt build of the seeds failed: {build.exception or build.result}"
        show = runner.invoke(["show", "--inline", build_inline_query(), "--limit", "-1", "--quiet", *common])
        assert show.success, f"dbt show failed: {show.exception or show.result}"
    table = show.result.results[0].agate_table
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    yield {
        "build": build.result,
        "rows": [tuple(row) for row in table.rows],
        "manifest": manifest,
        "common": common,
        "duckdb_path": str(project / "macros.duckdb"),
    }


def actual_outputs(rows: list[tuple[Any, ...]]) -> dict[tuple[str, str | None, str | None], str | None]:
    return {(check, inp, extra): actual for check, inp, extra, actual in rows}


@pytest.mark.parametrize(
    "family",
    [EMAIL_CASES, PHONE_CASES, NAME_CASES, ADDRESS_CASES, TIME_CASES, PORTABLE_CASES],
    ids=["email", "phone", "name", "address", "time_money", "portability"],
)
def test_macro_outputs(dbt_run: dict[str, Any], family: dict[str, list[Case]]) -> None:
    actual = actual_outputs(dbt_run["rows"])
    wrong = []
    for template, cases in family.items():
        for inp, extra, expected in cases:
            got = actual.get((template, inp, extra), "<missing row>")
            if got != expected:
                wrong.append(f"{template} on ({inp!r}, {extra!r}): expected {expected!r}, got {got!r}")
    assert not wrong, "\n".join(wrong)


# The consent guard's dating of a CSV opt-out's time text (loaded 2026-12-04 19:32 UTC): the latest day
# the text can mean; a reading after the load within the local-time window is the load; a reading days
# after it is a misreading; nothing readable, or nothing that can be meant, is null (the caller then dates
# at the load).
GUARD_OPT_OUT_TIMES = {
    "12/04/2026 21:00": "2026-12-04 19:32:00",  # local time ahead of UTC: not Apr 12
    "12/05/2026": "2026-12-04 19:32:00",  # Dec 5 00:00 is 4.5 h after the load: not May 12
    "10/06/2026 07:04": "2026-10-06 07:04:00",  # Oct 6 or Jun 10: the later
    "07/12/2026 21:02": "2026-07-12 21:02:00",  # Dec 7 is three days after the load: a misreading
    "2026-12-04T21:00:00+02:00": "2026-12-04 19:00:00",
    "12/05/2026 09:42": "2026-12-04 19:32:00",  # the window's last minute (14 h of zones + 10 min of skew)
    "12/05/2026 09:43": "2026-05-12 09:43:00",  # a minute past it: Dec 5 is a misreading
    "12/04/26": None,  # a two-digit year reads as the year 26
    "01/02/1999": None,  # before consent_earliest_valid_timestamp in every reading
    "soon": None,
}


# The guard's reading of an opt-in's consent time: the one format that reads the text, else null.
GUARD_OPT_IN_TIMES = {
    "2026-12-04T21:00:00+02:00": "2026-12-04 19:00:00",  # ISO, offset honoured
    "13/04/2026": "2026-04-13 00:00:00",  # only day/month reads a 13th month-field
    "04/13/2026 08:30": "2026-04-13 08:30:00",
    "31.12.2025": "2025-12-31 00:00:00",
    "20261204": "2026-12-04 00:00:00",
    "12/04/2026 21:00": None,  # Dec 4 or Apr 12: ambiguous
    "03/05/2025": None,
    "soon": None,
    "  ": None,
}


def test_guard_dates_a_csv_opt_out_at_the_latest_day_its_text_can_mean(
    dbt_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both implementations of guard_latest_reading (DuckDB's greatest over the readings, and the default one that
    falls back to the other readings for engines whose greatest is null on any null) date alike."""
    from dbt.cli.main import dbtRunner

    monkeypatch.setenv("CUSTOMER360_DUCKDB_PATH", dbt_run["duckdb_path"])
    rows = ", ".join(f"({sql_literal(text)})" for text in GUARD_OPT_OUT_TIMES)
    inline = (
        "select r.input, cast({{ customer360.guard_latest_reading('r', 'reading') }} as varchar) as dated, "
        "cast({{ customer360.default__guard_latest_reading('r', 'reading', 'greatest') }} as varchar) as portable "
        "from (select b.input, {{ customer360.guard_plausible_readings('b', 'read', "
        "\"cast('2026-12-04 19:32:00' as timestamp)\", 'reading') }} "
        "from (select v.input, {{ customer360.guard_timestamp_readings('v.input', 'read') }} "
        f"from (values {rows}) as v (input)) as b) as r"
    )
    show = dbtRunner().invoke(["show", "--inline", inline, "--limit", "-1", "--quiet", *dbt_run["common"]])
    assert show.success, f"dbt show failed: {show.exception or show.result}"
    dated = {row[0]: row[1] for row in show.result.results[0].agate_table.rows}
    portable = {row[0]: row[2] for row in show.result.results[0].agate_table.rows}
    assert dated == GUARD_OPT_OUT_TIMES
    assert portable == GUARD_OPT_OUT_TIMES


def test_guard_reads_an_opt_in_time_only_when_one_format_reads_it(
    dbt_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dbt.cli.main import dbtRunner

    monkeypatch.setenv("CUSTOMER360_DUCKDB_PATH", dbt_run["duckdb_path"])
    rows = ", ".join(f"({sql_literal(text)})" for text in GUARD_OPT_IN_TIMES)
    inline = (
        "select b.input, cast({{ customer360.guard_unambiguous_reading('b', 'read') }} as varchar) as read_at "
        "from (select v.input, {{ customer360.guard_timestamp_readings('v.input', 'read') }} "
        f"from (values {rows}) as v (input)) as b"
    )
    show = dbtRunner().invoke(["show", "--inline", inline, "--limit", "-1", "--quiet", *dbt_run["common"]])
    assert show.success, f"dbt show failed: {show.exception or show.result}"
    assert {row[0]: row[1] for row in show.result.results[0].agate_table.rows} == GUARD_OPT_IN_TIMES


def test_dbt_sessions_run_in_utc_whatever_the_machine_zone(dbt_run: dict[str, Any]) -> None:
    """profiles.yml sets DuckDB's TimeZone: in the machine's zone (Monrovia wrote 1970-01-01 00:00 UTC as
    `1969-12-31 23:15:30-00:44:30`) the text path of to_utc_timestamp read a typed timestamp as no timestamp,
    where the typed path reads the value; in UTC both read the same."""
    epoch = "cast('1970-01-01 00:00:00+00' as timestamptz)"
    query = (
        "select current_setting('TimeZone') as zone, "
        f'{{{{ customer360.to_utc_timestamp("{epoch}") }}}} as text_path, '
        f"{{{{ customer360.to_utc_timestamp(\"{epoch}\", 'timestamp with time zone') }}}} as typed_path"
    )
    project = Path(dbt_run["duckdb_path"]).parent
    own = project / "zone"  # the fixture's process still holds its warehouse open
    shown = subprocess.run(
        [sys.executable, "-m", "dbt.cli.main", "show", "--inline", query, "--output", "json", "--quiet",
         "--project-dir", str(project), "--profiles-dir", str(project),
         "--target-path", str(own / "target"), "--log-path", str(own / "logs")],
        env={**os.environ, "TZ": "Africa/Monrovia", "CUSTOMER360_DUCKDB_PATH": str(own / "zone.duckdb"),
             "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stdout + shown.stderr
    (row,) = json.loads(shown.stdout[shown.stdout.index("{") :])["show"]
    assert row == {"zone": "UTC", "text_path": "1970-01-01T00:00:00", "typed_path": "1970-01-01T00:00:00"}


def test_generic_tests_count_exactly_the_bad_rows(dbt_run: dict[str, Any]) -> None:
    actual = actual_outputs(dbt_run["rows"])
    counts = {call: actual.get((call, None, None)) for call in GENERIC_TESTS}
    assert counts == {call: str(expected) for call, expected in GENERIC_TESTS.items()}


def test_seeds_load_and_pass_their_data_tests(dbt_run: dict[str, Any]) -> None:
    results = dbt_run["build"].results
    statuses = {result.node.unique_id: str(result.status) for result in results}
    failed = {node: status for node, status in statuses.items() if status not in {"success", "pass"}}
    assert not failed
    seeds = {node for node in statuses if node.startswith("seed.")}
    csv_names = {path.stem for path in (PROJECT_ROOT / "seeds").glob("*.csv")}
    assert seeds == {f"seed.customer360.{name}" for name in csv_names}
    # Every seed has at least a not_null + unique pair on its key (the custom tests run here too).
    tests = [node for node in statuses if node.startswith("test.")]
    assert len(tests) >= 2 * len(seeds)
    assert any(".valid_email_" in node for node in tests) and any(".iso2_country_" in node for node in tests)


def test_reference_seed_contents() -> None:
    """The ISO seeds are complete and the convention lists are all present."""

    def read(name: str) -> list[dict[str, str]]:
        with (PROJECT_ROOT / "seeds" / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))

    assert len(read("country_codes")) == 249
    assert len(read("currencies")) >= 170
    assert {row["alias"] for row in read("country_aliases")} >= {
        "us", "usa", "united states", "united states of america", "u.s.a.", "ca", "can", "canada", "gb", "uk",
        "united kingdom", "great britain", "de", "deu", "germany", "deutschland", "fr", "fra", "france", "au",
        "aus", "australia", "nl", "nld", "netherlands", "the netherlands", "holland",
    }  # fmt: skip
    plans = {row["iso2"]: row for row in read("phone_numbering_plans")}
    lengths = {iso2: (plan["nsn_min_length"], plan["nsn_max_length"]) for iso2, plan in plans.items()}
    assert [lengths[iso2] for iso2 in ("US", "CA", "GB", "DE", "FR", "AU", "NL")] == [
        ("10", "10"), ("10", "10"), ("10", "10"), ("10", "11"), ("9", "9"), ("9", "9"), ("9", "9"),
    ]  # fmt: skip
    nicknames = {row["nickname"]: row["canonical_given_name"] for row in read("given_name_nicknames")}
    assert len(nicknames) >= 150
    assert all(name == name.lower() for pair in nicknames.items() for name in pair)
    regions = read("region_codes")
    assert sum(row["country_iso2"] == "US" for row in regions) == 51  # 50 states + DC
    assert sum(row["country_iso2"] == "CA" for row in regions) == 13
    corrections = {row["typo_domain"]: row["corrected_domain"] for row in read("email_domain_corrections")}
    assert corrections["gmial.com"] == "gmail.com" and len(corrections) == 16


def test_every_macro_generic_test_and_seed_column_is_documented(dbt_run: dict[str, Any]) -> None:
    manifest = dbt_run["manifest"]
    undocumented = [
        unique_id
        for unique_id, macro in manifest["macros"].items()
        if macro["package_name"] == "customer360" and not macro["description"].strip()
    ]
    assert not undocumented
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] != "seed":
            continue
        header = (PROJECT_ROOT / node["original_file_path"]).read_text(encoding="utf-8").splitlines()[0].split(",")
        documented = {name for name, column in node["columns"].items() if column["description"].strip()}
        assert node["description"].strip(), unique_id
        assert set(header) <= documented, f"{unique_id}: undocumented columns {set(header) - documented}"
