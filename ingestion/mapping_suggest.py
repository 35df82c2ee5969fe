"""`customer360 mapping suggest --path DIR`: a first mapping for a CSV drop, for a person to review.

Each header is judged twice, by its name (``E-mail Address``, ``Zip``, ``Surname``, ``DOB`` ...) and by a
sample of its values (addresses, phone numbers, dates, country names, unique ids), and gets the canonical
field both point to, with a confidence and the reason in words. A field goes to one header at most (the
best-supported); the others stay unmapped and are loaded as their own columns, as every unmapped header
is. The result is a mapping file in the format ``load csv_contacts --mapping`` reads. When no header
looks like a record key the file names none and the load refuses it until the user maps one or asks for
a row-content key: choosing how contacts are identified is the user's decision, not a guess's.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

from ingestion.errors import UserError
from ingestion.settings import Settings, resolve
from ingestion.sources.csv_contacts import RECORD_KEY_DIRECTIVE, ROW_HASH, read_header

SAMPLE_ROWS = 500  # per file

# Header names (lower case, words only) that name each canonical field.
HEADER_NAMES: dict[str, tuple[str, ...]] = {
    "contact_id": (
        "id",
        "contact id",
        "customer id",
        "customer number",
        "customer no",
        "client id",
        "record id",
        "member id",
        "account id",
        "crm id",
        "external id",
        "submission id",
        "person id",
        "contact number",
    ),
    "email": ("email", "e mail", "email address", "e mail address", "mail", "emailaddress", "email addr"),
    "phone": (
        "phone",
        "phone number",
        "mobile",
        "mobile phone",
        "mobile number",
        "cell",
        "cell phone",
        "telephone",
        "tel",
        "phone no",
        "telephone number",
        "msisdn",
    ),
    "first_name": ("first name", "firstname", "given name", "forename", "first", "given"),
    "last_name": ("last name", "lastname", "surname", "family name", "last", "family"),
    "address_line1": (
        "address",
        "street",
        "address 1",
        "address line 1",
        "street address",
        "address1",
        "addr1",
        "street 1",
    ),
    "address_line2": ("address 2", "address line 2", "address2", "addr2", "street 2", "apartment", "suite"),
    "city": ("city", "town", "locality", "town city", "suburb", "municipality", "village"),
    "postal_code": ("zip", "zip code", "zipcode", "postal code", "postalcode", "post code", "postcode", "plz"),
    "region": ("state", "region", "province", "county", "state province", "state code", "province code"),
    "country": ("country", "country code", "nation", "country name", "country iso"),
    "date_of_birth": ("dob", "date of birth", "birth date", "birthdate", "birthday", "born", "d o b"),
    "updated_at": (
        "updated at",
        "updated",
        "last updated",
        "last modified",
        "modified",
        "modified at",
        "modified date",
        "last modified date",
        "updated on",
        "submitted at",
        "last change",
    ),
    "created_at": (
        "created at",
        "created",
        "created date",
        "date created",
        "created on",
        "signup date",
        "sign up date",
        "registered",
        "registration date",
        "customer since",
        "member since",
    ),
    # Consent columns are mapped so their values reach the ledger: values the drop's rows in seed
    # enum_email_consent_states do not name are read as opt-outs (fail closed) and quarantined.
    "email_consent": (
        "email consent",
        "consent",
        "marketing consent",
        "email marketing",
        "accepts marketing",
        "accepts email marketing",
        "marketing",
        "newsletter",
        "subscribed",
        "unsubscribed",
        "opt in",
        "optin",
        "opt out",
        "optout",
        "opted in",
        "opted out",
        "email opt in",
        "email opt out",
        "subscription status",
        "email status",
        "do not email",
    ),
    "email_consent_updated_at": (
        "consent date",
        "email consent date",
        "email consent updated at",
        "marketing consent date",
        "consent updated at",
        "consent timestamp",
        "consent given at",
        "opt in date",
        "opt out date",
        "subscribed at",
        "unsubscribed at",
        "unsubscribe date",
    ),
}
# Words that, inside a longer header, point to a field ("Primary E-mail", "Home Phone", "Billing Zip").
HEADER_WORDS: dict[str, tuple[str, ...]] = {
    # first: "Email Opt-Out" and "E-mail consent" name the consent, not the address
    "email_consent": ("consent", "opt in", "opt out", "unsubscribe", "unsubscribed", "newsletter"),
    "email": ("email", "e mail"),
    "phone": ("phone", "mobile", "cell", "telephone"),
    "postal_code": ("zip", "postcode", "postal", "post code"),
    "date_of_birth": ("birth", "dob"),
    "first_name": ("first name", "given name", "forename"),
    "last_name": ("last name", "surname", "family name"),
    "updated_at": ("modified", "updated"),
}

_EMAIL = re.compile(r"^[^@\s]+@([^@\s.]+\.)+[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[0-9\s().\-/]{7,20}$")
# The date forms of dbt_project.yml's csv_datetime_formats (staging reads what this proposes), ISO 8601's
# basic form (19560409) included
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y", "%m-%d-%Y", "%Y%m%d")
# A header that reads like an identifier ("soc_sec_id", "member_no") is not a phone number, whatever its digits
_IDENTIFIER_WORDS = re.compile(r"\b(id|key|no|ref|reference|code|ssn|nr)\b")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.:]{0,63}$")
_POSTAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 \-]{2,9}$")


@dataclass(frozen=True)
class ColumnSuggestion:
    header: str
    field: str | None
    confidence: str  # high | medium | low | none
    reason: str


@dataclass
class MappingSuggestion:
    files: list[str]
    columns: list[ColumnSuggestion] = field(default_factory=list)

    @property
    def mapping(self) -> dict[str, str]:
        return {c.header: c.field for c in self.columns if c.field}

    @property
    def has_record_key(self) -> bool:
        return "contact_id" in self.mapping.values()

    def review(self) -> list[str]:
        """The suggestion in words, one line per header, for the person who reviews it."""
        width = max([len(c.header) for c in self.columns] + [6]) + 2
        lines = [f"{'header':<{width}} {'field':<14} {'confidence':<10} reason"]
        for c in self.columns:
            if c.field:
                lines.append(f"{json.dumps(c.header):<{width}} {c.field:<14} {c.confidence:<10} {c.reason}")
        unmapped = [c for c in self.columns if not c.field]
        if unmapped:
            lines.append("unmapped (loaded as their own columns):")
            lines += [f"  {json.dumps(c.header)}: {c.reason}" for c in unmapped]
        if not self.has_record_key:
            lines.append(
                'no record key found: map the column that identifies a contact to "contact_id", or add '
                f'"{RECORD_KEY_DIRECTIVE}": "{ROW_HASH}" to key rows by their content; the load refuses the '
                "mapping until you do"
            )
        return lines


def _words(header: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", header.lower()).split())


@cache
def _country_aliases(project_dir: Path | None) -> frozenset[str]:
    """The country names and codes of the project's seed (none without a project folder)."""
    seed = (project_dir or Path(".")) / "seeds" / "country_aliases.csv"
    if project_dir is None or not seed.is_file():
        return frozenset()
    with seed.open(encoding="utf-8") as handle:
        return frozenset(row["alias"].strip().lower() for row in csv.DictReader(handle))


def _date_format(values: Sequence[str]) -> tuple[str | None, float]:
    """The strptime format that reads the most values (the first on a tie) and the share it reads."""
    best: tuple[str | None, float] = (None, 0.0)
    for fmt in _DATE_FORMATS:
        read = 0
        for value in values:
            try:
                datetime.strptime(value, fmt)
                read += 1
            except ValueError:
                pass
        if values and read / len(values) > best[1]:
            best = (fmt, read / len(values))
    return best


def _share(values: Sequence[str], pattern: re.Pattern[str]) -> float:
    return sum(1 for v in values if pattern.match(v)) / len(values) if values else 0.0


def _value_evidence(values: Sequence[str], countries: frozenset[str]) -> dict[str, tuple[float, str]]:
    """``{field: (share of sample values that fit, what they look like)}`` for the fields values can show."""
    n = len(values)
    if not n:
        return {}
    evidence: dict[str, tuple[float, str]] = {}
    emails = _share(values, _EMAIL)
    if emails:
        evidence["email"] = (emails, f"{emails:.0%} of {n} sample values are email addresses")
    timestamps = _share(values, _TIMESTAMP)
    fmt, dates = _date_format(values)
    if timestamps >= 0.8:
        evidence["updated_at"] = (timestamps, f"{timestamps:.0%} of {n} sample values are timestamps (date and time)")
    elif fmt and dates >= 0.8:
        parsed = []
        for value in values:
            with contextlib.suppress(ValueError):
                parsed.append(datetime.strptime(value, fmt).year)
        past = sum(1 for year in parsed if 1900 <= year <= datetime.now().year - 10) / n
        evidence["date_of_birth"] = (
            past,
            f"{dates:.0%} of {n} sample values are dates ({fmt}), {past:.0%} at least 10 years ago",
        )
    else:  # a date is not a phone number, however many digits it has
        phones = sum(1 for v in values if _PHONE.match(v) and 7 <= sum(ch.isdigit() for ch in v) <= 15) / n
        if phones:
            evidence["phone"] = (phones, f"{phones:.0%} of {n} sample values look like phone numbers")
    if countries:
        share = sum(1 for v in values if v.strip().lower() in countries) / n
        if share:
            evidence["country"] = (share, f"{share:.0%} of {n} sample values are country names or codes")
    distinct = len(set(values))
    if distinct == n and _share(values, _ID) == 1.0 and not emails:
        evidence["contact_id"] = (1.0, f"all {n} sample values are distinct, id-like")
    return evidence


def _header_evidence(header: str) -> tuple[str | None, str]:
    words = _words(header)
    for field_name, names in HEADER_NAMES.items():
        if words in names:
            return field_name, "header"
    for field_name, parts in HEADER_WORDS.items():
        if any(re.search(rf"\b{re.escape(part)}\b", words) for part in parts):
            return field_name, "header word"
    return None, ""


def _judge(header: str, values: Sequence[str], countries: frozenset[str]) -> list[tuple[int, str, str, str]]:
    """Candidate fields of one header as ``(score, field, confidence, reason)``, best first."""
    named, how = _header_evidence(header)
    evidence = _value_evidence(values, countries)
    candidates: list[tuple[int, str, str, str]] = []
    if named:
        said = f"the header names {named.replace('_', ' ')}" if how == "header" else f"a word of the header ({how})"
        share, seen = evidence.get(named, (None, ""))
        if not values:
            candidates.append((60, named, "medium", f"{said}; no sample values to confirm"))
        elif named in ("email", "phone", "date_of_birth", "updated_at", "country") and share is not None:
            if share >= 0.8:
                candidates.append((100, named, "high", f"{said}; {seen}"))
            else:
                candidates.append((40, named, "low", f"{said}, but only {seen}: check the column"))
        elif named in ("email", "phone", "date_of_birth", "updated_at"):
            candidates.append((30, named, "low", f"{said}, but no sample value looks like one: check the column"))
        elif named == "contact_id":
            unique = len(set(values)) == len(values)
            detail = "sample values are distinct" if unique else "sample values repeat (re-exported contacts?)"
            candidates.append((95 if unique else 60, named, "high" if unique else "medium", f"{said}; {detail}"))
        else:
            candidates.append((90 if how == "header" else 70, named, "high" if how == "header" else "medium", said))
    for value_field, (share, seen) in evidence.items():
        if value_field == named:
            continue
        if value_field == "contact_id":
            # a unique id-like column is only a key when its name does not say it is something else
            if not named and re.search(r"\b(id|key|number|no|ref|reference|code)\b", _words(header)):
                candidates.append((55, "contact_id", "medium", f"{seen}, and the header reads like an identifier"))
            continue
        if value_field == "phone" and _IDENTIFIER_WORDS.search(_words(header)):
            continue
        if share >= 0.9 and not named:
            reason = f"{seen} (by values only; the header says no more)"
            candidates.append((int(50 * share), value_field, "medium", reason))
    return sorted(candidates, key=lambda c: -c[0])


def _sample(path: Path, delimiter: str, width: int) -> list[list[str]]:
    """Up to SAMPLE_ROWS rows' values per header (blanks left out)."""
    columns: list[list[str]] = [[] for _ in range(width)]
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            next(reader, None)
            for number, row in enumerate(reader):
                if number >= SAMPLE_ROWS:
                    break
                for index, value in enumerate(row[:width]):
                    if value.strip():
                        columns[index].append(value.strip())
    except UnicodeDecodeError as error:
        raise UserError(f"{path} is not UTF-8 ({error.reason} at byte {error.start}); re-export it as UTF-8") from error
    except csv.Error as error:
        raise UserError(f"{path}: cannot read the CSV sample ({error})") from error
    return columns


def suggest_mapping(folder: Path, settings: Settings | None = None) -> MappingSuggestion:
    """A mapping for the CSV files of ``folder``, from their headers and a sample of their values."""
    folder = folder.expanduser()
    if not folder.is_dir():
        raise UserError(f"CSV drop folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    if not files:
        raise UserError(f"no CSV files in {folder}")
    values: dict[str, list[str]] = {}
    for path in files:
        delimiter, headers = read_header(path)
        for header, column in zip(headers, _sample(path, delimiter, len(headers)), strict=True):
            if header:
                values.setdefault(header, []).extend(column)
    if not values:
        raise UserError(f"no header line in any CSV file of {folder}")
    countries = _country_aliases(resolve(settings).project_dir)
    judged = {header: _judge(header, sample, countries) for header, sample in values.items()}
    # Each field goes to its best-supported header; a header takes its best field still free.
    taken: dict[str, str] = {}
    choice: dict[str, tuple[int, str, str, str]] = {}
    for _score, header, candidate in sorted(
        ((c[0], h, c) for h, cs in judged.items() for c in cs), key=lambda item: (-item[0], item[1])
    ):
        if header in choice or candidate[1] in taken:
            continue
        taken[candidate[1]] = header
        choice[header] = candidate
    suggestion = MappingSuggestion(files=[p.name for p in files])
    for header in values:
        if header in choice:
            _, field_name, confidence, reason = choice[header]
            suggestion.columns.append(ColumnSuggestion(header, field_name, confidence, reason))
            continue
        lost = [c for c in judged[header] if c[1] in taken]
        if lost:
            reason = f"also looks like {lost[0][1]} ({lost[0][3]}), which {json.dumps(taken[lost[0][1]])} fits better"
        else:
            seen = "; ".join(text for _, text in _value_evidence(values[header], countries).values())
            reason = "no header name matches a canonical field"
            reason += f" and values alone do not decide ({seen})" if seen else ""
        suggestion.columns.append(ColumnSuggestion(header, None, "none", reason))
    return suggestion


def write_mapping(suggestion: MappingSuggestion, out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise UserError(f"{out} already exists; pass --force to replace it, or choose another --out")
    try:
        out.write_text(json.dumps(suggestion.mapping, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot write {out}: {error.strerror}") from error
