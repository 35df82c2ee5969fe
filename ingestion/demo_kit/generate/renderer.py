"""The one small interface every source system's renderer has: people in, that system's files out."""

from __future__ import annotations

from typing import Protocol

from ingestion.demo_kit.generate.population import Person


class Renderer(Protocol):
    """``render`` writes one person's records in the system's own shape (nothing when the person is not in the
    system); ``close`` finishes the files and returns the rows written per file. ``generate`` and
    ``generate_delta`` drive every renderer the same way, in one fixed order (the seeded draws depend on it)."""

    def render(self, person: Person) -> object: ...

    def close(self) -> dict[str, int]: ...
