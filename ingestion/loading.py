"""`customer360 load <source>`: pick the loader, find its inputs, return what each load did."""

from __future__ import annotations

from pathlib import Path

from ingestion import settings
from ingestion.errors import UserError
from ingestion.pipeline import LoadSummary


def csv_drops(data_dir: Path) -> list[Path]:
    """Every drop folder (one with a mapping.json) under DATA/csv_contacts."""
    root = data_dir / "csv_contacts"
    return sorted(p for p in root.iterdir() if (p / "mapping.json").is_file()) if root.is_dir() else []


def load(
    source: str,
    data_dir: Path | None = None,
    path: Path | None = None,
    mapping: Path | None = None,
    source_name: str | None = None,
) -> list[LoadSummary]:
    summaries = _load(source, data_dir, path, mapping, source_name)
    if source != "all":  # `all` checks after each of its loads
        from ingestion.privacy.erasure import enforce_after_load, print_run

        print_run(enforce_after_load())  # an erased person's records that came back leave raw at once
    return summaries


def _load(
    source: str,
    data_dir: Path | None = None,
    path: Path | None = None,
    mapping: Path | None = None,
    source_name: str | None = None,
) -> list[LoadSummary]:
    data = data_dir or settings.data_dir()
    if source == "all":
        if path or mapping or source_name:
            raise UserError("--path, --mapping and --source-name apply to one source, not to `load all`")
        return [
            *load("hubspot"),
            *load("shopify"),
            *load("segment", data_dir=data),
            *load("csv_contacts", data_dir=data),
        ]
    if source == "hubspot":
        from ingestion.sources.hubspot import load_hubspot

        return [load_hubspot()]
    if source == "shopify":
        from ingestion.sources.shopify import load_shopify

        return [load_shopify()]
    if source == "segment":
        from ingestion.sources.segment import load_segment

        return [load_segment(path or data / "segment")]
    if source == "mailchimp":
        from ingestion.sources.mailchimp import load_mailchimp

        return [load_mailchimp()]
    if source == "csv_contacts":
        from ingestion.sources.csv_contacts import load_csv_contacts

        if path is not None:
            if mapping is None or source_name is None:
                raise UserError("load csv_contacts --path needs --mapping FILE and --source-name NAME too")
            return [load_csv_contacts(path, mapping, source_name)]
        drops = csv_drops(data)
        if not drops:
            raise UserError(f"no CSV drops (folders with a mapping.json) under {data / 'csv_contacts'}")
        return [load_csv_contacts(drop, drop / "mapping.json", drop.name) for drop in drops]
    raise UserError(f"unknown source {source!r}")
