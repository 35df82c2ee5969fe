"""HubSpot: CRM v3 contact objects (``hubspot/contacts.jsonl``), merged-away contacts
(``hubspot/contacts_archived.jsonl``) and the property definitions (``hubspot/properties.json``).

Property values are strings or null, as the HubSpot API returns them. A person may have a duplicate live
contact (another email, a nickname ...), and a contact may have absorbed merged contacts: the survivor
lists them in ``hs_merged_object_ids`` and they are only returned as archived contacts.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from ingestion.demo_kit.generate import config, defects, noise, rng
from ingestion.demo_kit.generate.context import RunContext
from ingestion.demo_kit.generate.population import Person
from ingestion.demo_kit.generate.writers import JsonlWriter

_STAGES_PROSPECT = (
    "subscriber",
    "lead",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "other",
)
_STAGES_CUSTOMER = ("customer", "customer", "customer", "evangelist")

# (name, label, type, fieldType, groupName, description) of every property written.
PROPERTIES: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("hs_object_id", "Record ID", "number", "number", "contactinformation", "The unique ID for this record."),
    ("email", "Email", "string", "text", "contactinformation", "A contact's email address."),
    ("firstname", "First Name", "string", "text", "contactinformation", "A contact's first name."),
    ("lastname", "Last Name", "string", "text", "contactinformation", "A contact's last name."),
    ("phone", "Phone Number", "string", "phonenumber", "contactinformation", "A contact's primary phone number."),
    ("company", "Company Name", "string", "text", "contactinformation", "Name of the contact's company."),
    ("jobtitle", "Job Title", "string", "text", "contactinformation", "A contact's job title."),
    (
        "lifecyclestage",
        "Lifecycle Stage",
        "enumeration",
        "radio",
        "contactinformation",
        "The qualification of contacts to sales readiness.",
    ),
    (
        "hs_email_optout",
        "Unsubscribed from all email",
        "bool",
        "booleancheckbox",
        "contactinformation",
        "Indicates that the contact has opted out of all email.",
    ),
    ("address", "Street Address", "string", "text", "contactinformation", "Contact's street address."),
    ("city", "City", "string", "text", "contactinformation", "A contact's city of residence."),
    ("zip", "Postal Code", "string", "text", "contactinformation", "Contact's zip code."),
    ("state", "State/Region", "string", "text", "contactinformation", "The contact's state of residence."),
    ("country", "Country/Region", "string", "text", "contactinformation", "The contact's country/region."),
    ("date_of_birth", "Date of birth", "date", "date", "contactinformation", "The contact's date of birth."),
    ("createdate", "Create Date", "datetime", "date", "contactinformation", "The date the contact was created."),
    (
        "lastmodifieddate",
        "Last Modified Date",
        "datetime",
        "date",
        "contactinformation",
        "Most recent timestamp of any property update for this contact.",
    ),
    (
        "hs_merged_object_ids",
        "Merged Contact IDs",
        "enumeration",
        "checkbox",
        "contactinformation",
        "The list of contact IDs that have been merged into this contact.",
    ),
)
_LIFECYCLE_OPTIONS = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)


def properties_document() -> dict[str, Any]:
    """The body of GET /crm/v3/properties/contacts for the properties above."""
    results = []
    for order, (name, label, type_, field_type, group, description) in enumerate(PROPERTIES):
        options: list[dict[str, Any]] = []
        if name == "lifecyclestage":
            options = [
                {"label": value, "value": value, "displayOrder": i, "hidden": False}
                for i, value in enumerate(_LIFECYCLE_OPTIONS)
            ]
        elif name == "hs_email_optout":
            options = [
                {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
            ]
        results.append(
            {
                "name": name,
                "label": label,
                "type": type_,
                "fieldType": field_type,
                "groupName": group,
                "description": description,
                "options": options,
                "displayOrder": order,
                "calculated": False,
                "externalOptions": False,
                "hasUniqueValue": name == "hs_object_id",
                "hidden": False,
                "hubspotDefined": name != "date_of_birth",
                "formField": name not in ("hs_object_id", "createdate", "lastmodifieddate", "hs_merged_object_ids"),
            }
        )
    return {"results": results}


class HubSpotRenderer:
    def __init__(self, ctx: RunContext, folder: Path) -> None:
        self.ctx = ctx
        self.contacts = JsonlWriter(folder / "contacts.jsonl")
        self.archived = JsonlWriter(folder / "contacts_archived.jsonl")
        (folder / "properties.json").write_text(json.dumps(properties_document(), indent=2) + "\n", encoding="utf-8")

    def close(self) -> dict[str, int]:
        self.contacts.close()
        self.archived.close()
        return {"hubspot/contacts.jsonl": self.contacts.rows, "hubspot/contacts_archived.jsonl": self.archived.rows}

    def render(self, person: Person) -> None:
        if not person.in_hubspot:
            return
        ctx, timeline = self.ctx, self.ctx.timeline
        r = rng.derive(ctx.seed, rng.HUBSPOT, person.index)
        created = rng.between(r, timeline.start_ms, timeline.end_ms - rng.DAY_MS)
        updated = rng.between(r, created, timeline.end_ms)
        contact_id = ctx.ids.take("hubspot_contact")
        merged: list[dict[str, Any]] = []
        if r.random() < config.P_HUBSPOT_MERGED:
            for _ in range(r.choice((1, 1, 2))):
                merged_id = ctx.ids.take("hubspot_contact")
                merged_created = rng.between(r, timeline.start_ms, updated)
                archived_at = rng.between(r, merged_created, updated)
                record = self._contact(person, r, merged_id, merged_created, archived_at, duplicate=True)
                record["archived"] = True
                record["archivedAt"] = rng.iso_z_ms(archived_at)
                merged.append(record)
        primary = self._contact(
            person, r, contact_id, created, updated, duplicate=False, merged_ids=[m["id"] for m in merged]
        )
        self.contacts.write(primary)
        ctx.truth.record("hubspot", primary["id"], person.entity_id)
        for record in merged:
            self.archived.write(record)
            ctx.truth.record("hubspot", record["id"], person.entity_id)
        if r.random() < config.P_HUBSPOT_DUPLICATE:
            dup_id = ctx.ids.take("hubspot_contact")
            dup_created = rng.between(r, timeline.start_ms, timeline.end_ms - rng.DAY_MS)
            dup = self._contact(
                person, r, dup_id, dup_created, rng.between(r, dup_created, timeline.end_ms), duplicate=True
            )
            self.contacts.write(dup)
            ctx.truth.record("hubspot", dup["id"], person.entity_id)

    def _contact(
        self,
        person: Person,
        r: random.Random,
        contact_id: int,
        created: int,
        updated: int,
        *,
        duplicate: bool,
        merged_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        timeline = self.ctx.timeline
        defect = person.defect if not duplicate and person.defect and person.defect.source == "hubspot" else None
        address = person.address_at(updated)
        country_iso2 = None if r.random() < config.P_COUNTRY_MISSING else address.country

        if duplicate:
            # Duplicates are how a second contact sneaks past HubSpot's unique-email rule: another address,
            # a typo'd one, or none at all.
            choice = r.randrange(4)
            if choice == 0 and person.old_email:
                email: str | None = noise.email(r, person.old_email)
            elif choice == 1:
                email = None
            elif choice == 2:
                email = noise.email(r, person.alt_email(r.randrange(6)))
            else:
                email = noise.email(r, person.email_at(updated))
        elif person.role_email is not None:
            email = noise.email(r, person.role_email, mailto=False)
        else:
            email = noise.email(r, person.email_at(updated)) if r.random() > 0.03 else None

        phone: str | None = None
        if r.random() > config.P_PHONE_MISSING:
            number = person.landline if person.landline and r.random() < config.P_LANDLINE_INSTEAD else person.mobile
            phone = noise.phone(r, number, country_iso2)

        has_address = r.random() < 0.8
        region: str | None = None
        if has_address:
            region = address.region_code if address.country in ("US", "CA", "AU") else address.region_name
        customer = person.has_account or person.guest_only
        stage = r.choice(_STAGES_CUSTOMER if customer else _STAGES_PROSPECT)
        opted_out = person.unsubscribed_ms is not None and person.unsubscribed_ms < updated
        dob = person.date_of_birth.isoformat() if r.random() < config.P_DOB_PRESENT_HUBSPOT else None
        createdate = rng.iso_z_ms(created)

        if defect is not None:
            dr = rng.derive(self.ctx.seed, rng.DEFECT, person.index)
            key = str(contact_id)
            if defect.rule == "invalid_email":
                email = defects.invalid_email(dr, person.email_at(updated))
                offending = email
            elif defect.rule == "invalid_phone":
                phone = defects.invalid_phone(dr, person.mobile.calling_code, person.mobile.nsn)
                offending = phone
            elif defect.rule == "invalid_date":
                year, month, day = defects.impossible_date(dr, person.date_of_birth.year)
                dob = offending = f"{year}-{month:02d}-{day:02d}"
            elif defect.rule == "future_date" and defect.field == "date_of_birth":
                dob = offending = defects.future_date(dr, timeline.as_of).isoformat()
            elif defect.rule == "future_date":
                future = rng.midnight_ms(defects.future_date(dr, timeline.as_of)) + dr.randrange(rng.DAY_MS)
                createdate = offending = rng.iso_z_ms(future)
            elif defect.rule == "date_before_1900":
                dob = offending = defects.date_before_1900(dr).isoformat()
            else:  # unknown_enum
                stage = offending = dr.choice(defects.UNKNOWN_LIFECYCLE_STAGES)
            self.ctx.defects.plant(defect, key, offending)

        updated_text = rng.iso_z_ms(updated)
        properties = {
            "hs_object_id": str(contact_id),
            "email": email,
            "firstname": noise.given_name(r, person.first_name) if r.random() > 0.02 else None,
            "lastname": noise.surname(r, person.last_name) if r.random() > 0.02 else None,
            "phone": phone,
            "company": person.company if r.random() < 0.6 else None,
            "jobtitle": person.job_title if r.random() < 0.4 else None,
            "lifecyclestage": stage,
            "hs_email_optout": "true" if opted_out else "false",
            "address": (f"{address.line1} {address.line2}".strip() if has_address else None),
            "city": address.city if has_address else None,
            "zip": address.postal_code if has_address else None,
            "state": region,
            "country": noise.country(r, country_iso2) if country_iso2 else None,
            "date_of_birth": dob,
            "createdate": createdate,
            "lastmodifieddate": updated_text,
            "hs_merged_object_ids": ";".join(merged_ids) if merged_ids else None,
        }
        return {
            "id": str(contact_id),
            "properties": properties,
            "createdAt": createdate,
            "updatedAt": updated_text,
            "archived": False,
        }
