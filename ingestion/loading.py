"""`customer360 load <source>`: pick the loader, find its inputs, return what each load did."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.errors import UserError
from ingestion.pipeline import LoadSummary
from ingestion.settings import Settings, resolve


@dataclass(frozen=True)
class ApiAccess:
    """Where an API source answers and its token, handed to its loader as arguments. Without one, the loader
    reads them from dlt's config and secrets (``SOURCES__HUBSPOT__BASE_URL`` ...), as in production."""

    url: str
    token: str = field(repr=False)  # never printed


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
    settings: Settings | None = None,
    access: Mapping[str, ApiAccess] | None = None,
) -> list[LoadSummary]:
    """``access``: {source: ApiAccess} for the API sources reached with explicit settings (the demo's servers)."""
    settings = resolve(settings)
    if source == "all":  # each of its loads checks before and after itself
        return _load(source, settings, access or {}, data_dir, path, mapping, source_name)
    from ingestion.privacy.erasure import enforce_after_load, print_run

    # each loader refuses first, without the salt, a warehouse with erasure requests (refuse_load_without_salt)
    summaries = _load(source, settings, access or {}, data_dir, path, mapping, source_name)
    print_run(enforce_after_load(settings.duckdb_path, settings))  # erased people who came back leave raw
    return summaries


def _load(
    source: str,
    settings: Settings,
    access: Mapping[str, ApiAccess],
    data_dir: Path | None = None,
    path: Path | None = None,
    mapping: Path | None = None,
    source_name: str | None = None,
) -> list[LoadSummary]:
    data = data_dir or settings.data_dir
    if source == "all":
        if path or mapping or source_name:
            raise UserError("--path, --mapping and --source-name apply to one source, not to `load all`")
        return [
            summary
            for each in ("hubspot", "shopify", "segment", "csv_contacts")
            for summary in load(each, data_dir=data, settings=settings, access=access)
        ]
    given = access.get(source)
    if source == "hubspot":
        from ingestion.sources.hubspot import load_hubspot

        return [load_hubspot(*((given.url, given.token) if given else ()), settings=settings)]
    if source == "shopify":
        from ingestion.sources.shopify import load_shopify

        return [load_shopify(*((given.url, given.token) if given else ()), settings=settings)]
    if source == "segment":
        from ingestion.sources.segment import load_segment

        return [load_segment(path or data / "segment", settings)]
    if source == "mailchimp":
        from ingestion.sources.mailchimp import load_mailchimp

        return [load_mailchimp(settings=settings)]
    if source == "csv_contacts":
        from ingestion.sources.csv_contacts import load_csv_contacts

        if path is not None:
            if mapping is None or source_name is None:
                raise UserError("load csv_contacts --path needs --mapping FILE and --source-name NAME too")
            return [load_csv_contacts(path, mapping, source_name, settings)]
        drops = csv_drops(data)
        if not drops:
            raise UserError(f"no CSV drops (folders with a mapping.json) under {data / 'csv_contacts'}")
        return [load_csv_contacts(drop, drop / "mapping.json", drop.name, settings) for drop in drops]
    raise UserError(f"unknown source {source!r}")
