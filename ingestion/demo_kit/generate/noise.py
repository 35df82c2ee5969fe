"""Recoverable noise: how the same true value gets written differently in different silos.

Every function here returns a value the shared normalization conventions turn back into the truth
(docs/data_contracts.md, "Shared normalization conventions"): case and whitespace, nicknames from the
nickname seed, dropped accents, domain typos from the correction seed, the listed phone formats.
One-character surname typos are the exception by design: they are valid values that only fuzzy
matching can link. Nothing here may produce a value the quarantine rules reject (see defects.py).
"""

from __future__ import annotations

import random

from ingestion.demo_kit.generate import config
from ingestion.demo_kit.generate.population import Phone
from ingestion.demo_kit.generate.reference import COUNTRY_BY_ISO2, DOMAIN_TYPOS, NICKNAMES, fold_accents

_KEYBOARD_NEIGHBOURS = {
    "a": "sq",
    "b": "vn",
    "c": "xv",
    "d": "sf",
    "e": "wr",
    "f": "dg",
    "g": "fh",
    "h": "gj",
    "i": "uo",
    "j": "hk",
    "k": "jl",
    "l": "k",
    "m": "n",
    "n": "bm",
    "o": "ip",
    "p": "o",
    "r": "et",
    "s": "ad",
    "t": "ry",
    "u": "yi",
    "v": "cb",
    "w": "qe",
    "y": "tu",
    "z": "x",
}


def _case(r: random.Random, text: str) -> str:
    return text.upper() if r.random() < 0.5 else text.lower()


def _spaces(r: random.Random, text: str) -> str:
    choice = r.randrange(3)
    if choice == 0:
        return f" {text}"
    if choice == 1:
        return f"{text}  "
    return text.replace(" ", "  ") if " " in text else f"  {text} "


def given_name(r: random.Random, name: str, allow_nickname: bool = True) -> str:
    if allow_nickname and r.random() < config.P_NICKNAME:
        nicknames = NICKNAMES.get(name.lower())
        if nicknames:
            name = r.choice(nicknames)
    return _written_name(r, name)


def surname(r: random.Random, name: str, allow_typo: bool = True) -> str:
    if allow_typo and r.random() < config.P_SURNAME_TYPO:
        name = _typo(r, name)
    return _written_name(r, name)


def _written_name(r: random.Random, name: str) -> str:
    if r.random() < config.P_ACCENT_DROPPED:
        name = fold_accents(name)
    if r.random() < config.P_NAME_CASE:
        name = _case(r, name)
    if r.random() < config.P_NAME_SPACES:
        name = _spaces(r, name)
    return name


def _typo(r: random.Random, name: str) -> str:
    """One keyboard slip inside the name: substitution, deletion, doubling or transposition of letters."""
    positions = [i for i in range(1, len(name)) if name[i].isalpha() and name[i].isascii()]
    if len(positions) < 3:
        return name
    i = r.choice(positions[:-1])
    letter = name[i]
    choice = r.randrange(4)
    if choice == 0 and letter.lower() in _KEYBOARD_NEIGHBOURS:
        return name[:i] + r.choice(_KEYBOARD_NEIGHBOURS[letter.lower()]) + name[i + 1 :]
    if choice == 1:
        return name[:i] + name[i + 1 :]
    if choice == 2:
        return name[:i] + letter + name[i:]
    if name[i + 1].isalpha():
        return name[:i] + name[i + 1] + letter + name[i + 2 :]
    return name[:i] + letter + name[i:]


def email(r: random.Random, address: str, plus_tag: bool = False, mailto: bool = True) -> str:
    """A written form of a valid address that normalizes back to it (plus-tags only to its match key)."""
    local, _, domain = address.partition("@")
    if plus_tag and r.random() < config.P_EMAIL_PLUS_TAG:
        local = f"{local}+{r.choice(('shop', 'news', 'promo', 'orders'))}"
    if r.random() < config.P_EMAIL_DOMAIN_TYPO and domain in DOMAIN_TYPOS:
        domain = r.choice(DOMAIN_TYPOS[domain])
    written = f"{local}@{domain}"
    if r.random() < config.P_EMAIL_CASE:
        choice = r.randrange(3)
        if choice == 0:
            written = written.upper()
        elif choice == 1:
            written = local.capitalize() + "@" + domain.capitalize()
        else:
            written = local.title() + "@" + domain
    if mailto and r.random() < config.P_EMAIL_MAILTO:
        written = f"mailto:{written}"
    if r.random() < config.P_EMAIL_SPACES:
        written = f" {written} " if r.random() < 0.5 else f"{written} "
    return written


def country(r: random.Random, iso2: str) -> str:
    spelling = r.choice(COUNTRY_BY_ISO2[iso2].spellings)
    roll = r.random()
    if roll < 0.08:
        spelling = spelling.upper()
    elif roll < 0.14:
        spelling = spelling.lower()
    elif roll < 0.18:
        spelling = f" {spelling} "
    return spelling


# -- phones -------------------------------------------------------------------------------------------------
def _groups(phone: Phone) -> list[str]:
    """Digit groups as people in that country write the national significant number."""
    nsn = phone.nsn
    if phone.country in ("US", "CA"):
        return [nsn[:3], nsn[3:6], nsn[6:]]
    if phone.country == "GB":
        if phone.mobile:
            return [nsn[:4], nsn[4:]]
        area = 2 if nsn.startswith("20") else 3
        return [nsn[:area], nsn[area : area + 3 + (area == 2)], nsn[area + 3 + (area == 2) :]]
    if phone.country == "DE":
        if phone.mobile:
            return [nsn[: len(nsn) - 7], nsn[len(nsn) - 7 :]]
        area = 2 if nsn[:2] in ("30", "89", "40") else 3
        return [nsn[:area], nsn[area:]]
    if phone.country == "FR":
        return [nsn[0], nsn[1:3], nsn[3:5], nsn[5:7], nsn[7:]]
    if phone.country == "AU":
        return [nsn[:3], nsn[3:6], nsn[6:]] if phone.mobile else [nsn[0], nsn[1:5], nsn[5:]]
    # NL
    return [nsn[0], nsn[1:]] if phone.mobile else [nsn[:2], nsn[2:5], nsn[5:]]


def phone(r: random.Random, number: Phone, record_country: str | None) -> str:
    """A written phone number. National formats only where the record's country tells the plan:
    the record's own country is the phone's, or the record has no country and the phone is US."""
    national_ok = record_country == number.country or (record_country is None and number.country == "US")
    groups = _groups(number)
    cc = number.calling_code
    if number.country in ("US", "CA"):
        a, e, line = groups
        if national_ok and r.random() < 0.75:
            return r.choice(
                (f"({a}) {e}-{line}", f"{a}-{e}-{line}", f"{a}.{e}.{line}", f"{a}{e}{line}", f"1-{a}-{e}-{line}")
            )
        return r.choice((f"+1 {a} {e} {line}", f"+1 ({a}) {e}-{line}", f"+1{a}{e}{line}", f"+1-{a}-{e}-{line}"))
    spaced = " ".join(groups)
    if national_ok and r.random() < 0.7:
        return f"0{spaced}" if r.random() < 0.85 else f"0{number.nsn}"
    return r.choice((f"+{cc} {spaced}", f"+{cc} (0){spaced}", f"00{cc} {spaced}", f"+{cc}{number.nsn}"))
