"""The true population: people, households and their life events (moves, new emails, unsubscribes).

A person is drawn from the seed and their index alone. Households are carved out of aligned blocks of
``HOUSEHOLD_BLOCK`` consecutive people, so a household never spans two chunks. Members share an
address (and its history), often a last name and sometimes a home phone, but they are different
people: different entity ids, own emails and mobiles.

Emails and phone numbers are unique per person by construction, not by luck: each person owns a unique
number (a bijection of their index) that ends every personal email local part and forms the last 7
digits of their mobile; a household's landline uses the head's serial under landline-only prefixes.
Without that, two random people at 1M scale would share an address like john.smith1@gmail.com and the
ground truth would contradict the data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from itertools import accumulate

from ingestion.demo_kit.generate import config, rng
from ingestion.demo_kit.generate.defects import DefectKind, defect_for
from ingestion.demo_kit.generate.reference import (
    ALT_EMAIL_DOMAINS,
    COMPANY_WORDS_A,
    COMPANY_WORDS_B,
    COUNTRIES,
    COUNTRY_CUM_WEIGHTS,
    JOB_TITLES,
    ROLE_LOCAL_PARTS,
    City,
    Country,
    email_letters,
)

# (i * A + B) mod M is a bijection on [0, M) for prime M; it turns an index into a unique,
# random-looking number.
_EMAIL_MOD = 9_999_991  # prime
_EMAIL_MUL = 7_919_993
_PHONE_MOD = 7_999_993  # prime; serials 2,000,000..9,999,992 (7 digits, first digit 2-9 as US exchanges need)
_PHONE_MUL = 4_256_233
_LANDLINE_OFFSET = 3_141_592

_HOUSEHOLD_PATTERNS: tuple[tuple[int, ...], ...] = ((1, 1, 1, 1), (2, 1, 1), (1, 1, 2), (1, 2, 1), (2, 2), (3, 1), (4,))
_HOUSEHOLD_CUM = tuple(accumulate((0.5, 0.15, 0.1, 0.05, 0.1, 0.05, 0.05)))
_BIRTH_START = date(1940, 1, 1)
_BIRTH_DAYS = (date(2006, 12, 31) - _BIRTH_START).days


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    line2: str  # "" when none
    city: str
    region_code: str
    region_name: str
    postal_code: str
    country: str  # ISO2


@dataclass(frozen=True, slots=True)
class Phone:
    country: str  # ISO2 of the number's plan
    calling_code: str
    nsn: str  # national significant number (no trunk 0)
    mobile: bool

    @property
    def e164(self) -> str:
        return f"+{self.calling_code}{self.nsn}"


@dataclass(slots=True)
class Person:
    index: int
    entity_id: str
    household_id: str
    household_size: int
    country: Country
    female: bool
    first_name: str  # canonical, proper case, accents as the person writes them
    last_name: str
    date_of_birth: date
    email_number: int
    email: str  # current personal email (clean)
    old_email: str | None  # personal email before email_changed_ms
    email_changed_ms: int
    mobile: Phone
    landline: Phone | None
    address: Address
    old_address: Address | None  # before moved_ms
    moved_ms: int
    unsubscribed_ms: int | None
    bounced_ms: int | None
    company: str
    job_title: str
    role_email: str | None  # shared company address this person is filed under in HubSpot
    in_hubspot: bool
    has_account: bool
    guest_only: bool
    in_segment: bool
    in_legacy: bool
    in_signup: bool
    defect: DefectKind | None

    def email_at(self, ms: int) -> str:
        return self.old_email if self.old_email is not None and ms < self.email_changed_ms else self.email

    def address_at(self, ms: int) -> Address:
        return self.old_address if self.old_address is not None and ms < self.moved_ms else self.address

    def alt_email(self, salt: int) -> str:
        """An address of this person that no other source knows (guest checkouts, second accounts)."""
        first = email_letters(self.first_name)
        last = email_letters(self.last_name)
        local = (f"{first}{last}", f"{first[0]}.{last}", f"{last}{first[0]}")[salt % 3]
        return f"{local}{self.email_number}@{ALT_EMAIL_DOMAINS[salt % len(ALT_EMAIL_DOMAINS)]}"


@dataclass(frozen=True)
class Timeline:
    """The fixed time frame of one generation run (milliseconds, UTC)."""

    as_of: date
    end_ms: int  # as_of 00:00 UTC: every timestamp is strictly before it
    start_ms: int  # HISTORY_DAYS before end
    events_start_ms: int  # first instant of the Segment window

    @classmethod
    def for_as_of(cls, as_of: date, events_days: int) -> Timeline:
        end = rng.midnight_ms(as_of)
        return cls(
            as_of=as_of,
            end_ms=end,
            start_ms=end - config.HISTORY_DAYS * rng.DAY_MS,
            events_start_ms=end - events_days * rng.DAY_MS,
        )


def email_number(index: int) -> int:
    return 1 + (index * _EMAIL_MUL + 12_345) % _EMAIL_MOD


def phone_serial(index: int, landline: bool) -> str:
    offset = _LANDLINE_OFFSET if landline else 0
    return str(2_000_000 + (index * _PHONE_MUL + offset) % _PHONE_MOD)


def make_phone(country: Country, serial: str, prefix_rng: random.Random, landline: bool) -> Phone:
    prefixes = country.landline_prefixes if landline else country.mobile_prefixes
    return Phone(country.iso2, country.calling_code, prefix_rng.choice(prefixes) + serial, not landline)


def postal_code(r: random.Random, country: str, city: City) -> str:
    prefix = city.postal_prefix
    if country == "US":
        return f"{prefix}{r.randrange(100):02d}"
    if country in ("DE", "FR"):
        return f"{prefix}{r.randrange(10 ** (5 - len(prefix))):0{5 - len(prefix)}d}"
    if country == "AU":
        return f"{prefix}{r.randrange(100):02d}"
    if country == "NL":
        letters = "ABCDEGHJKLMNPRSTVWXZ"
        return f"{prefix}{r.randrange(10, 100)} {r.choice(letters)}{r.choice(letters)}"
    if country == "CA":
        letters = "ABCEGHJKLMNPRSTVWXYZ"
        return f"{prefix} {r.randrange(10)}{r.choice(letters)}{r.randrange(10)}"
    # GB: outward code from the city, inward code digit + two letters
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return f"{prefix} {r.randrange(1, 10)}{r.choice(letters)}{r.choice(letters)}"


def make_address(r: random.Random, country: Country) -> Address:
    city = r.choice(country.cities)
    street = r.choice(country.streets)
    number = r.randrange(1, 2400) if country.number_first else r.randrange(1, 180)
    line1 = f"{number} {street}" if country.number_first else f"{street} {number}"
    line2 = ""
    if r.random() < 0.18:
        line2 = r.choice(("Apt", "Unit", "Suite", "Apt.", "#")) + f" {r.randrange(1, 40)}"
        if not country.number_first:
            line2 = r.choice(("2. OG", "Etage 3", "bis", "App. 4", "3 hoog"))
    return Address(
        line1, line2, city.name, city.region_code, city.region_name, postal_code(r, country.iso2, city), country.iso2
    )


@dataclass(frozen=True)
class Household:
    head_index: int
    size: int
    country: Country
    address: Address
    old_address: Address | None
    moved_ms: int
    landline: Phone | None
    last_name: str | None  # shared surname, or None when members have their own


def household_of(seed: int, index: int, timeline: Timeline) -> Household:
    block = index // config.HOUSEHOLD_BLOCK
    pattern = derive_pattern(seed, block)
    start = block * config.HOUSEHOLD_BLOCK
    for size in pattern:
        if index < start + size:
            break
        start += size
    return _household(seed, start, size, timeline)


@lru_cache(maxsize=8)  # members are generated one after another: the cache spares re-deriving the household
def _household(seed: int, start: int, size: int, timeline: Timeline) -> Household:
    r = rng.derive(seed, rng.HOUSEHOLD, start)
    country = r.choices(COUNTRIES, cum_weights=COUNTRY_CUM_WEIGHTS)[0]
    address = make_address(r, country)
    old_address = None
    moved_ms = 0
    if r.random() < config.P_HOUSEHOLD_MOVED:
        old_address = make_address(r, country)
        moved_ms = rng.between(r, timeline.start_ms + 60 * rng.DAY_MS, timeline.end_ms - 20 * rng.DAY_MS)
    landline = None
    if r.random() < (config.P_SHARED_LANDLINE if size > 1 else config.P_SINGLE_LANDLINE):
        landline = make_phone(country, phone_serial(start, landline=True), r, landline=True)
    last_name = r.choice(country.last_names) if size > 1 and r.random() < config.P_SHARED_SURNAME else None
    return Household(start, size, country, address, old_address, moved_ms, landline, last_name)


@lru_cache(maxsize=8)
def derive_pattern(seed: int, block: int) -> tuple[int, ...]:
    return rng.derive(seed, rng.HOUSEHOLD_BLOCK, block).choices(_HOUSEHOLD_PATTERNS, cum_weights=_HOUSEHOLD_CUM)[0]


def personal_email(first: str, last: str, number: int, style: int, domain: str) -> str:
    first_l, last_l = email_letters(first), email_letters(last)
    local = (
        f"{first_l}.{last_l}",
        f"{first_l[0]}{last_l}",
        f"{first_l}_{last_l}",
        f"{last_l}.{first_l}",
        f"{first_l}{last_l}",
        f"{first_l}",
    )[style]
    return f"{local}{number}@{domain}"


def company_name(index: int) -> str:
    words_a, words_b = COMPANY_WORDS_A, COMPANY_WORDS_B
    name = f"{words_a[index % len(words_a)]} {words_b[(index // len(words_a)) % len(words_b)]}"
    cycle = index // (len(words_a) * len(words_b))
    return f"{name} {cycle + 1}" if cycle else name


def company_domain(index: int) -> str:
    return (
        email_letters(company_name(index)) + str(index // (len(COMPANY_WORDS_A) * len(COMPANY_WORDS_B)) or "") + ".com"
    )


def role_companies(customers: int) -> int:
    """Few role-address companies, so several people really share each address."""
    return max(3, customers // 400)


def build_person(seed: int, index: int, timeline: Timeline, customers: int) -> Person:
    household = household_of(seed, index, timeline)
    r = rng.derive(seed, rng.PERSON, index)
    country = household.country
    female = r.random() < 0.52
    first = r.choice(country.first_names_f if female else country.first_names_m)
    last = household.last_name or r.choice(country.last_names)
    dob = _BIRTH_START + timedelta(days=r.randrange(_BIRTH_DAYS + 1))
    number = email_number(index)
    email = personal_email(first, last, number, r.randrange(6), r.choice(country.email_domains))
    old_email = None
    email_changed_ms = 0
    if r.random() < config.P_EMAIL_CHANGED:
        while True:
            old_email = personal_email(first, last, number, r.randrange(6), r.choice(country.email_domains))
            if old_email != email:
                break
        email_changed_ms = rng.between(r, timeline.start_ms + 90 * rng.DAY_MS, timeline.end_ms - 10 * rng.DAY_MS)
    mobile = make_phone(country, phone_serial(index, landline=False), r, landline=False)
    unsubscribed_ms = rng.between(r, timeline.start_ms, timeline.end_ms) if r.random() < config.P_UNSUBSCRIBED else None
    # Bounces come from recent sends: the last BOUNCE_DAYS days.
    bounced_ms = (
        rng.between(r, timeline.end_ms - config.BOUNCE_DAYS * rng.DAY_MS, timeline.end_ms)
        if r.random() < config.P_BOUNCED
        else None
    )
    company_index = r.randrange(10_000)
    role_email = None
    if r.random() < config.P_HUBSPOT_ROLE_EMAIL:
        role_company = r.randrange(role_companies(customers))
        company_index = role_company
        local = ROLE_LOCAL_PARTS[(role_company * 7) % len(ROLE_LOCAL_PARTS)]
        role_email = f"{local}@{company_domain(role_company)}"

    in_hubspot = r.random() < config.P_HUBSPOT
    has_account = r.random() < config.P_SHOPIFY_ACCOUNT
    guest_only = not has_account and r.random() < config.P_GUEST_ONLY / (1 - config.P_SHOPIFY_ACCOUNT)
    in_segment = r.random() < config.P_SEGMENT
    in_legacy = r.random() < config.P_LEGACY_CRM
    in_signup = r.random() < config.P_SIGNUP_FORMS
    defect = defect_for(index)
    if defect is not None:
        # A planted defect needs the record it lives on.
        in_hubspot |= defect.source == "hubspot"
        has_account |= defect.source == "shopify"
        guest_only &= not has_account
        in_segment |= defect.source == "segment"
        in_legacy |= defect.source == "legacy_crm"
        in_signup |= defect.source == "signup_forms"
    if not (in_hubspot or has_account or guest_only or in_segment or in_legacy or in_signup):
        in_hubspot = r.random() < 0.5
        has_account = not in_hubspot

    return Person(
        index=index,
        entity_id=f"P{index + 1:07d}",
        household_id=f"H{household.head_index + 1:07d}",
        household_size=household.size,
        country=country,
        female=female,
        first_name=first,
        last_name=last,
        date_of_birth=dob,
        email_number=number,
        email=email,
        old_email=old_email,
        email_changed_ms=email_changed_ms,
        mobile=mobile,
        landline=household.landline,
        address=household.address,
        old_address=household.old_address,
        moved_ms=household.moved_ms,
        unsubscribed_ms=unsubscribed_ms,
        bounced_ms=bounced_ms,
        company=company_name(company_index),
        job_title=r.choice(JOB_TITLES),
        role_email=role_email,
        in_hubspot=in_hubspot,
        has_account=has_account,
        guest_only=guest_only,
        in_segment=in_segment,
        in_legacy=in_legacy,
        in_signup=in_signup,
        defect=defect,
    )
