"""CSV contact drops: ``csv_contacts/legacy_crm`` (a retired CRM's exports) and ``csv_contacts/signup_forms``.

Each drop has its vendor's own headers and a ``mapping.json`` from those headers to the canonical
fields. legacy_crm: three full exports over time; a contact reappears in later exports with its values
as of that export (moved, new email), and a few people have two contact ids. signup_forms: one file
per quarter of submissions; a person may submit twice (two records). Planted broken rows are extra
lines (a copy with an unquoted comma), so they never hide a real record.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ingestion.demo_kit.generate import config, defects, noise, rng
from ingestion.demo_kit.generate.context import RunContext
from ingestion.demo_kit.generate.defects import DefectKind
from ingestion.demo_kit.generate.population import Person
from ingestion.demo_kit.generate.writers import CsvWriter

LEGACY_HEADER = (
    "Customer ID",
    "First Name",
    "Last Name",
    "E-mail Address",
    "Phone Number",
    "Street",
    "Street 2",
    "City",
    "ZIP",
    "State/Province",
    "Country",
    "Birth Date",
    "Customer Since",
    "Last Updated",
    "Opt Out",
    "Notes",
)
LEGACY_MAPPING = {
    "Customer ID": "contact_id",
    "First Name": "first_name",
    "Last Name": "last_name",
    "E-mail Address": "email",
    "Phone Number": "phone",
    "Street": "address_line1",
    "Street 2": "address_line2",
    "City": "city",
    "ZIP": "postal_code",
    "State/Province": "region",
    "Country": "country",
    "Birth Date": "date_of_birth",
    "Last Updated": "updated_at",
    "Customer Since": "created_at",
    "Opt Out": "email_consent",
}
SIGNUP_HEADER = (
    "submission_id",
    "submitted_at",
    "form_name",
    "email_address",
    "given_name",
    "family_name",
    "mobile",
    "postcode",
    "country",
    "dob",
    "marketing_opt_in",
)
SIGNUP_MAPPING = {
    "submission_id": "contact_id",
    # a submission is created, and its opt-in tick given, when it is submitted
    "submitted_at": ["updated_at", "created_at", "email_consent_updated_at"],
    "marketing_opt_in": "email_consent",
    "email_address": "email",
    "given_name": "first_name",
    "family_name": "last_name",
    "mobile": "phone",
    "postcode": "postal_code",
    "country": "country",
    "dob": "date_of_birth",
}
LAST_NAME_FIELD = LEGACY_HEADER.index("Last Name")
SIGNUP_LAST_NAME_FIELD = SIGNUP_HEADER.index("family_name")
LEGACY_EXPORT_DAYS_BEFORE = (730, 365, 30)  # export dates, counted back from as_of
_NOTES = (
    "",
    "",
    "",
    "",
    "",
    "VIP",
    "Prefers phone, not email",
    "Met at trade show, spring event",
    "Wholesale inquiry",
    "Do not call before 10am",
)
_FORMS = (("newsletter_footer", ("yes", "no")), ("spring_giveaway", ("true", "false")), ("app_waitlist", ("1", "0")))


@dataclass
class _Export:
    day: date
    end_ms: int
    writer: CsvWriter


def _impossible_date_text(r: random.Random, year: int, us_format: bool) -> str:
    year, month, day = defects.impossible_date(r, year)
    return f"{month:02d}/{day:02d}/{year}" if us_format else f"{year}-{month:02d}-{day:02d}"


def _broken_copy(r: random.Random, row: list[str], last_name_field: int) -> str:
    """A row written by hand without quoting: an unquoted comma adds a field (or a cut line loses some)."""
    fields = [value.replace('"', "").replace(",", " ") for value in row]
    if r.random() < 0.5:
        fields[last_name_field] = f"{fields[last_name_field].strip() or 'Smith'}, Jr"
        return ",".join(fields)
    return ",".join(fields[: len(fields) - 3])


class CsvContactsRenderer:
    def __init__(self, ctx: RunContext, folder: Path) -> None:
        self.ctx = ctx
        self.legacy_folder = folder / "legacy_crm"
        self.signup_folder = folder / "signup_forms"
        self.legacy_folder.mkdir(parents=True, exist_ok=True)
        self.signup_folder.mkdir(parents=True, exist_ok=True)
        (self.legacy_folder / "mapping.json").write_text(json.dumps(LEGACY_MAPPING, indent=2) + "\n", encoding="utf-8")
        (self.signup_folder / "mapping.json").write_text(json.dumps(SIGNUP_MAPPING, indent=2) + "\n", encoding="utf-8")
        timeline = ctx.timeline
        self.exports: list[_Export] = []
        for number, days in enumerate(LEGACY_EXPORT_DAYS_BEFORE):
            export_ms = timeline.end_ms - days * rng.DAY_MS
            day = rng.to_datetime(export_ms).date()
            path = self.legacy_folder / f"crm_export_{day:%Y%m%d}.csv"
            # The oldest export came out of a spreadsheet and starts with a UTF-8 byte order mark.
            self.exports.append(_Export(day, export_ms, CsvWriter(path, LEGACY_HEADER, bom=number == 0)))
        self.signup_writers: dict[str, CsvWriter] = {}

    def close(self) -> dict[str, int]:
        counts = {}
        for export in self.exports:
            export.writer.close()
            counts[f"csv_contacts/legacy_crm/{export.writer.path.name}"] = export.writer.rows
        for name in sorted(self.signup_writers):
            writer = self.signup_writers[name]
            writer.close()
            counts[f"csv_contacts/signup_forms/{name}"] = writer.rows
        return counts

    def render(self, person: Person) -> None:
        if person.in_legacy:
            self._legacy(person)
        if person.in_signup:
            self._signup(person)

    # -- legacy CRM ---------------------------------------------------------------------------------------
    def _legacy(self, person: Person) -> None:
        ctx, timeline = self.ctx, self.ctx.timeline
        r = rng.derive(ctx.seed, rng.LEGACY_CRM, person.index)
        defect = person.defect if person.defect and person.defect.source == "legacy_crm" else None
        contacts = 2 if r.random() < config.P_LEGACY_DUPLICATE and defect is None else 1
        last_export_ms = self.exports[-1].end_ms
        for number in range(contacts):
            contact_id = f"LC-{ctx.ids.take('legacy_contact'):06d}"
            created = rng.between(r, timeline.start_ms, last_export_ms - rng.DAY_MS)
            email = person.email if number == 0 else person.alt_email(r.randrange(6))
            country_missing = r.random() < config.P_COUNTRY_MISSING
            has_dob = r.random() < config.P_DOB_PRESENT_LEGACY
            note = r.choice(_NOTES)
            updated = created
            first_export = True
            written = False
            for export in self.exports:
                if export.end_ms <= created:
                    continue
                # A defective contact is exported once, so its one row is the record staging sees.
                if not first_export and (defect is not None or r.random() >= config.P_LEGACY_REEXPORT):
                    continue
                updated = rng.between(r, updated, export.end_ms)
                row = self._legacy_row(person, r, contact_id, created, updated, email, country_missing, has_dob, note)
                if first_export and defect is not None:
                    self._legacy_defect(person, defect, export.writer, row, contact_id)
                else:
                    export.writer.write(row)
                first_export = False
                written = True
            if written:
                ctx.truth.record("legacy_crm", contact_id, person.entity_id)

    def _legacy_row(
        self,
        person: Person,
        r: random.Random,
        contact_id: str,
        created: int,
        updated: int,
        email: str,
        country_missing: bool,
        has_dob: bool,
        note: str,
    ) -> list[str]:
        address = person.address_at(updated)
        country_iso2 = None if country_missing else address.country
        email_clean = person.email_at(updated) if email == person.email else email
        phone = ""
        if r.random() > config.P_PHONE_MISSING:
            number = person.landline if person.landline and r.random() < config.P_LANDLINE_INSTEAD else person.mobile
            phone = noise.phone(r, number, country_iso2)
        opt_out = (
            "Y" if person.unsubscribed_ms is not None and person.unsubscribed_ms < updated else r.choice(("N", "N", ""))
        )
        return [
            contact_id,
            noise.given_name(r, person.first_name),
            noise.surname(r, person.last_name),
            noise.email(r, email_clean),
            phone,
            address.line1,
            address.line2,
            address.city,
            address.postal_code,
            address.region_code if address.country in ("US", "CA", "AU") else address.region_name,
            noise.country(r, country_iso2) if country_iso2 else "",
            f"{person.date_of_birth:%m/%d/%Y}" if has_dob else "",
            f"{rng.to_datetime(created):%m/%d/%Y}",
            rng.legacy_ts(updated),
            opt_out,
            note,
        ]

    def _legacy_defect(
        self, person: Person, defect: DefectKind, writer: CsvWriter, row: list[str], contact_id: str
    ) -> None:
        dr = rng.derive(self.ctx.seed, rng.DEFECT, person.index)
        if defect.rule == "broken_csv_row":
            writer.write(row)
            broken = _broken_copy(dr, row, LAST_NAME_FIELD)
            number = writer.write_raw_line(broken)
            self.ctx.defects.plant(defect, f"{writer.path.name}:{number}", broken)
            return
        if defect.rule == "missing_required_key":
            writer.write(row)
            orphan = [*row]
            orphan[0] = ""
            number = writer.write(orphan)
            self.ctx.defects.plant(defect, f"{writer.path.name}:{number}", "")
            return
        if defect.rule == "invalid_email":
            row[3] = defects.invalid_email(dr, person.email)
            offending = row[3]
        elif defect.rule == "invalid_phone":
            row[4] = defects.invalid_phone(dr, person.mobile.calling_code, person.mobile.nsn)
            offending = row[4]
        elif defect.rule == "invalid_date":
            row[11] = offending = _impossible_date_text(dr, person.date_of_birth.year, us_format=True)
        elif defect.rule == "future_date":
            row[11] = offending = f"{defects.future_date(dr, self.ctx.timeline.as_of):%m/%d/%Y}"
        else:  # date_before_1900
            row[11] = offending = f"{defects.date_before_1900(dr):%m/%d/%Y}"
        writer.write(row)
        self.ctx.defects.plant(defect, contact_id, offending)

    # -- sign-up forms ------------------------------------------------------------------------------------
    def _signup_writer(self, moment: int) -> CsvWriter:
        day = rng.to_datetime(moment)
        name = f"signups_{day.year}_q{(day.month - 1) // 3 + 1}.csv"
        writer = self.signup_writers.get(name)
        if writer is None:
            writer = CsvWriter(self.signup_folder / name, SIGNUP_HEADER)
            self.signup_writers[name] = writer
        return writer

    def _signup(self, person: Person) -> None:
        ctx, timeline = self.ctx, self.ctx.timeline
        r = rng.derive(ctx.seed, rng.SIGNUP_FORMS, person.index)
        defect = person.defect if person.defect and person.defect.source == "signup_forms" else None
        submissions = 2 if r.random() < config.P_SIGNUP_TWICE else 1
        for number in range(submissions):
            submission_id = f"sub_{ctx.ids.take('signup_submission'):08d}"
            moment = rng.between(r, timeline.end_ms - 730 * rng.DAY_MS, timeline.end_ms)
            form_name, (yes, no) = r.choice(_FORMS)
            address = person.address_at(moment)
            country_iso2 = None if r.random() < 0.15 else address.country
            opted_out = person.unsubscribed_ms is not None and person.unsubscribed_ms < moment
            phone = noise.phone(r, person.mobile, country_iso2) if r.random() < 0.5 else ""
            row = [
                submission_id,
                rng.iso_z(moment),
                form_name,
                noise.email(r, person.email_at(moment), plus_tag=True),
                noise.given_name(r, person.first_name),
                noise.surname(r, person.last_name) if r.random() < 0.85 else "",
                phone,
                address.postal_code if r.random() < 0.7 else "",
                noise.country(r, country_iso2) if country_iso2 else "",
                person.date_of_birth.isoformat() if r.random() < config.P_DOB_PRESENT_SIGNUP else "",
                no if opted_out or r.random() < 0.3 else yes,
            ]
            writer = self._signup_writer(moment)
            if number == 0 and defect is not None:
                self._signup_defect(person, defect, writer, row, submission_id)
            else:
                writer.write(row)
            ctx.truth.record("signup_forms", submission_id, person.entity_id)

    def _signup_defect(
        self, person: Person, defect: DefectKind, writer: CsvWriter, row: list[str], submission_id: str
    ) -> None:
        dr = rng.derive(self.ctx.seed, rng.DEFECT, person.index)
        if defect.rule == "broken_csv_row":
            writer.write(row)
            broken = _broken_copy(dr, row, SIGNUP_LAST_NAME_FIELD)
            number = writer.write_raw_line(broken)
            self.ctx.defects.plant(defect, f"{writer.path.name}:{number}", broken)
            return
        if defect.rule == "missing_required_key":
            writer.write(row)
            orphan = [*row]
            orphan[0] = ""
            number = writer.write(orphan)
            self.ctx.defects.plant(defect, f"{writer.path.name}:{number}", "")
            return
        if defect.rule == "invalid_email":
            row[3] = offending = defects.invalid_email(dr, person.email)
        elif defect.rule == "invalid_phone":
            row[6] = offending = defects.invalid_phone(dr, person.mobile.calling_code, person.mobile.nsn)
        elif defect.rule == "invalid_date":
            row[9] = offending = _impossible_date_text(dr, person.date_of_birth.year, us_format=False)
        else:  # future_date
            row[9] = offending = defects.future_date(dr, self.ctx.timeline.as_of).isoformat()
        writer.write(row)
        self.ctx.defects.plant(defect, submission_id, offending)
