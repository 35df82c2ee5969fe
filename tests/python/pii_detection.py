"""Which warehouse columns look personal, by name or by their values, and how the dbt project tags them.

An independent check of the project's `meta.pii` tags (tests/python/test_pii_tags.py): it reads the
built warehouse's own column list (so an undocumented column is seen too) and samples each text
column's values, rather than trusting the yml.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

# Column names that hold personal data whatever their sampled values (a column empty in the sample,
# e.g. address_line2, is still an address). Anchored so that flags and provenance columns
# (is_role_email, email_source_system, first_name_level ...) do not count.
NAME_RULES: tuple[tuple[str, str], ...] = (
    (r"(^|_)e_?mail(_address|_raw|_[ab]|_key|_match_key|_local_part|_from_any_field|_sha256)?$", "email"),
    (r"(^|_)(phone|mobile)(_e164|_raw|_[ab])?$", "phone"),
    (r"(^|_)(first|last|given|family|middle)_?name(_key|_raw|_phonetic|_canonical)?$|^name_[ab]$", "name"),
    (r"^given_name_canonical$|^firstname$|^lastname$", "name"),
    (r"(^|_)(date_of_birth|dob|birth_date)(_raw|_[ab])?$", "date_of_birth"),
    (r"(^|_)address(_line[12]|_key|_[ab]|[12])?$|(^|_)street", "address"),
    (r"(^|_)city(_key)?$", "city"),
    (r"(^|_)(postal_code|zip|postcode)$", "postal_code"),
    (r"(^|_)ip(_address)?$", "ip_address"),
    (r"user_?agent", "user_agent"),
    (r"(^|_)(page_url|url|landing_site|referrer|page_referrer|entry_referrer|entry_page_url)$", "url"),
    (r"(^|_)(page_search|search)$", "page_search"),
    (r"(^|_)company$", "company"),
    (r"(^|_)job_?title$", "job_title"),
    (r"(^|_)notes?$", "free_text"),
    (r"^(raw_text|offending_value|oversized_values|identifier_value|traits|context|properties)$", "mixed"),
)

EMAIL = re.compile(r"[^@\s\"'*]+@[^@\s\"']+\.[a-z]{2,}", re.IGNORECASE)  # '***@domain' is masked
PHONE = re.compile(
    r"^\s*(\+|00)[1-9][0-9 ().\-]{6,18}[0-9]\s*$"  # international
    r"|^\(?\d{3}\)?[ .\-]\d{3}[ .\-]\d{4}$"  # North American, written with separators
    r"|^0\d{2,4}[ \-]?\d{3,4}[ \-]?\d{3,4}$"  # national trunk prefix 0 (UK, France, Germany ...)
)
IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
USER_AGENT = re.compile(r"Mozilla/\d|AppleWebKit|Gecko/")
URL_WITH_QUERY = re.compile(r"https?://[^\s?]+\?\S+|^\?[^=\s]+=")
UK_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$", re.IGNORECASE)
STREET = re.compile(
    r"^\d+[a-z]?,? [^\d,]{2,40} (st|street|rd|road|ave|avenue|lane|ln|way|dr|drive|blvd|boulevard|place|pl|court|ct|"
    r"close|crescent|terrace|row|square|sq)\.?$|^\d+,? (rue|avenue|boulevard|calle|via) ",
    re.IGNORECASE,
)
VALUE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (EMAIL, "email"),
    (PHONE, "phone"),
    (IPV4, "ip_address"),
    (USER_AGENT, "user_agent"),
    (URL_WITH_QUERY, "url"),
    (UK_POSTCODE, "postal_code"),
    (STREET, "address"),
)
SAMPLE = 300
NAME_SHARE = 0.25  # a column whose sampled values are mostly given names holds names
SKIPPED_SCHEMAS = ("information_schema", "pg_catalog", "reference", "privacy", "analyst_safe")


@dataclass(frozen=True)
class Finding:
    schema: str
    table: str
    column: str
    kind: str
    why: str


def name_kind(column: str) -> str | None:
    lowered = column.lower()
    return next((kind for pattern, kind in NAME_RULES if re.search(pattern, lowered)), None)


def value_kind(values: list[str], given_names: set[str]) -> tuple[str, str] | None:
    for value in values:
        for pattern, kind in VALUE_RULES:
            if pattern.search(value):
                return kind, f"value looks like {kind}: {value[:12]}…"
    names = [v for v in values if v.strip().lower() in given_names]
    if len(names) >= 3 and len(names) >= NAME_SHARE * len(values):
        return "name", f"{len(names)} of {len(values)} sampled values are given names"
    return None


def given_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select * from reference.given_name_nicknames").fetchall()
    return {str(v).strip().lower() for row in rows for v in row if v}


def personal_columns(path: Path, schemas: tuple[str, ...] | None = None, by_name: bool = True) -> list[Finding]:
    """Every column of every table and view (raw datasets included) that looks personal, by its name
    (``by_name``) or by a sample of its values; ``schemas`` limits the search."""
    con = duckdb.connect(str(path))  # not read_only: dbt-duckdb may hold the file open in this process
    try:
        names = given_names(con)
        columns = con.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            f"where table_schema not in {SKIPPED_SCHEMAS} and table_name not like '\\_dlt\\_%' escape '\\' "
            "order by all"
            if schemas is None
            else "select table_schema, table_name, column_name, data_type from information_schema.columns "
            f"where table_schema in {(*schemas, '')} order by all"
        ).fetchall()
        findings = []
        copied = None  # the relation whose rows the temporary table holds
        for schema, table, column, data_type in columns:
            flag = data_type == "BOOLEAN" or column.lower().startswith(("is_", "has_"))
            kind = None if flag or not by_name else name_kind(column)
            if kind:
                findings.append(Finding(schema, table, column, kind, "column name"))
                continue
            if data_type not in ("VARCHAR", "JSON"):
                continue
            if copied != (schema, table):
                # each relation computed once, its columns sampled from the copy: a view (the consent guard reads
                # every raw table) was computed again for every column
                con.execute(f'create or replace temporary table pii_sampled as select * from "{schema}"."{table}"')
                copied = (schema, table)
            sample = con.execute(
                f'select distinct cast("{column}" as varchar) as v from pii_sampled '
                f'where "{column}" is not null order by v limit {SAMPLE}'
            ).fetchall()
            found = value_kind([row[0] for row in sample], names)
            if found:
                findings.append(Finding(schema, table, column, found[0], found[1]))
        return findings
    finally:
        con.close()


@dataclass
class Tags:
    """The project's declarations, from target/manifest.json, by (schema, relation)."""

    columns: dict[tuple[str, str], dict[str, dict[str, Any]]]  # relation -> column -> meta
    relations: dict[tuple[str, str], dict[str, Any]]  # relation -> model-level meta
    kinds: dict[tuple[str, str], str]  # relation -> resource type

    @classmethod
    def load(cls, manifest_path: Path) -> Tags:
        manifest = json.loads(manifest_path.read_text())
        columns: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        relations: dict[tuple[str, str], dict[str, Any]] = {}
        kinds: dict[tuple[str, str], str] = {}
        for node in [*manifest["nodes"].values(), *manifest["sources"].values()]:
            if node["resource_type"] not in ("model", "snapshot", "source"):
                continue
            relation = (node["schema"], node.get("identifier") or node.get("alias") or node["name"])
            relations[relation] = {**node.get("meta", {}), **(node.get("config") or {}).get("meta", {})}
            kinds[relation] = node["resource_type"]
            columns[relation] = {
                name.lower(): {**column.get("meta", {}), **(column.get("config") or {}).get("meta", {})}
                for name, column in node["columns"].items()
            }
        return cls(columns, relations, kinds)
