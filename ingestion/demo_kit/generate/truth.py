"""Ground truth: which real person every source record belongs to, and who those people are.

``truth/source_records.csv`` lists every source record that appears in the data (docs/data_contracts.md,
"source record"); the evaluation scores ``customer_identities`` against it. ``truth/people.csv`` holds
each entity's true, clean attributes, for scoring golden records.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO

from ingestion.demo_kit.generate.population import Person


class TruthWriter:
    SOURCE_RECORDS_HEADER = ("source_system", "source_record_id", "entity_id")
    PEOPLE_HEADER = (
        "entity_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "date_of_birth",
        "country",
        "household_id",
        "is_anonymous_visitor",
    )

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._records_handle: IO[str] = (folder / "source_records.csv").open("w", encoding="utf-8", newline="")
        self._people_handle: IO[str] = (folder / "people.csv").open("w", encoding="utf-8", newline="")
        self._records = csv.writer(self._records_handle, lineterminator="\n")
        self._people = csv.writer(self._people_handle, lineterminator="\n")
        self._records.writerow(self.SOURCE_RECORDS_HEADER)
        self._people.writerow(self.PEOPLE_HEADER)
        self.record_rows = 0
        self.people_rows = 0

    def record(self, source_system: str, source_record_id: str, entity_id: str) -> None:
        self._records.writerow((source_system, source_record_id, entity_id))
        self.record_rows += 1

    def person(self, person: Person) -> None:
        self._people.writerow(
            (
                person.entity_id,
                person.first_name,
                person.last_name,
                person.email,
                person.mobile.e164,
                person.date_of_birth.isoformat(),
                person.country.iso2,
                person.household_id,
                "false",
            )
        )
        self.people_rows += 1

    def visitor(self, entity_id: str, country: str) -> None:
        self._people.writerow((entity_id, "", "", "", "", "", country, "", "true"))
        self.people_rows += 1

    def close(self) -> None:
        self._records_handle.close()
        self._people_handle.close()
