"""What every source renderer shares during one run: the seed, the time frame, truth and defect logs, ids."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingestion.demo_kit.generate.defects import DefectLog
from ingestion.demo_kit.generate.population import Timeline
from ingestion.demo_kit.generate.truth import TruthWriter


@dataclass
class IdCounters:
    """Source-native ids, handed out in person order (the generation order is fixed, so ids are too).

    Each id space starts at its own base, like the real systems' large numeric ids, so an order id can
    never be mistaken for a line item id.
    """

    hubspot_contact: int = 1000
    shopify_customer: int = 7_100_000_000
    shopify_address: int = 8_200_000_000
    shopify_order: int = 5_200_000_000
    shopify_order_number: int = 1000
    shopify_line_item: int = 13_000_000_000
    shopify_refund: int = 9_100_000_000
    shopify_refund_line_item: int = 9_500_000_000
    shopify_transaction: int = 6_600_000_000
    legacy_contact: int = 0
    signup_submission: int = 0

    def take(self, name: str) -> int:
        value = getattr(self, name) + 1
        setattr(self, name, value)
        return value


@dataclass
class RunContext:
    seed: int
    customers: int
    timeline: Timeline
    truth: TruthWriter
    defects: DefectLog
    ids: IdCounters = field(default_factory=IdCounters)
