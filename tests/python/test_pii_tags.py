"""Personal data is tagged where it lives, and analysts get a schema where it is masked.

The warehouse is searched independently of the yml (tests/python/pii_detection.py): every column whose
name or sampled values look personal must carry `meta.pii` with a `pii_kind`, every model or snapshot
holding one the model-level `contains_pii: true`, and raw tables a source-level `pii_columns: all`. The
`analyst_safe` views (generated from those tags) must show no personal value.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from conftest import DBT_TARGET_DIR, BuiltWarehouse
from pii_detection import NAME_RULES, STREET, VALUE_RULES, Tags, name_kind, personal_columns, value_kind

MANIFEST = DBT_TARGET_DIR / "manifest.json"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("White.Olivia12346@gmail.com", "email"),
        ('{"email":"a.b@x.org"}', "email"),
        ("+1 (514) 507-4838", "phone"),
        ("702-625-6233", "phone"),
        ("020 8565 4065", "phone"),
        ("+447507809707", "phone"),
        ("22.78.255.19", "ip_address"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)", "user_agent"),
        ("/products/chino?utm_source=facebook", None),  # a path, no host: not a URL with a query string
        ("https://shop.example.com/account?ref=zebulon", "url"),
        ("?ref=zebulon", "url"),
        ("E1 7WB", "postal_code"),
        ("1466 Mission St", "address"),
        ("2316 Rue Pasteur", "address"),
        ("12, rue Pasteur", "address"),
    ],
)
def test_the_detector_recognises_personal_values(value: str, kind: str | None) -> None:
    found = value_kind([value], set())
    assert (found[0] if found else None) == kind


@pytest.mark.parametrize(
    "value",
    ["5200000001", "8000001628", "19.99", "cus_1be4dc83b1ed11eb", "hubspot", "2026-10-01T10:00:00Z", "***@gmail.com"],
)
def test_the_detector_leaves_ids_amounts_and_masked_values_alone(value: str) -> None:
    assert value_kind([value], set()) is None


def test_the_detector_recognises_columns_of_names_and_personal_column_names() -> None:
    assert value_kind(["Olivia", "Chloe", "James", "Fjordline"], {"olivia", "chloe", "james"}) == (
        "name", "3 of 4 sampled values are given names"
    )  # fmt: skip
    assert value_kind(["Olivia", "Fjordline", "Lumen", "Northfield", "Bags", "Kids", "Home", "Sale", "Tops",
                       "Bottoms", "Shoes", "Hats", "Socks"], {"olivia"}) is None  # fmt: skip
    for column, kind in [("postal_code", "postal_code"), ("city", "city"), ("user_agent", "user_agent"),
                         ("page_url", "url"), ("page_search", "page_search"), ("company", "company"),
                         ("job_title", "job_title"), ("note", "free_text"), ("ip", "ip_address"),
                         ("properties__firstname", "name"), ("email_b", "email")]:  # fmt: skip
        assert name_kind(column) == kind, column
    for column in ("email_source_system", "first_name_level", "email_consent_state", "page_title", "tip"):
        assert name_kind(column) is None, column
    assert NAME_RULES and VALUE_RULES and STREET.pattern


def _untagged(path: Path, tags: Tags) -> tuple[list[str], list[str]]:
    raw_covered = {
        schema
        for (schema, _), meta in tags.relations.items()
        if schema.startswith("raw_") and meta.get("pii_columns") == "all"
    }
    untagged, unflagged = [], []
    holding: set[tuple[str, str]] = set()
    for finding in personal_columns(path):
        relation = (finding.schema, finding.table)
        meta = tags.columns.get(relation, {}).get(finding.column.lower())
        if finding.schema.startswith("raw_"):
            if meta and meta.get("pii") is False:
                untagged.append(f"{finding.schema}.{finding.table}.{finding.column} ({finding.why}, tagged pii: false)")
            elif finding.schema.removesuffix("_staging") not in raw_covered:
                untagged.append(
                    f"{finding.schema}.{finding.table}.{finding.column} ({finding.why}, raw, no source meta)"
                )
            continue
        holding.add(relation)
        if not meta or meta.get("pii") is not True or not meta.get("pii_kind"):
            untagged.append(f"{finding.schema}.{finding.table}.{finding.column} ({finding.kind}: {finding.why})")
    for relation, columns in tags.columns.items():
        if any(meta.get("pii") is True for meta in columns.values()):
            holding.add(relation)
        for name, meta in columns.items():
            if meta.get("pii") is True and not meta.get("pii_kind"):
                untagged.append(f"{relation[0]}.{relation[1]}.{name} (pii without pii_kind)")
    for relation in sorted(holding):
        if (
            tags.kinds.get(relation) in ("model", "snapshot")
            and tags.relations[relation].get("contains_pii") is not True
        ):
            unflagged.append(f"{relation[0]}.{relation[1]}")
    return sorted(set(untagged)), unflagged


def test_every_personal_column_is_tagged_and_every_model_holding_one_is_flagged(
    built_warehouse: BuiltWarehouse,
) -> None:
    assert built_warehouse.outcome.success, built_warehouse.outcome.failures[:5]
    tags = Tags.load(MANIFEST)
    untagged, unflagged = _untagged(built_warehouse.path, tags)
    assert untagged == []
    assert unflagged == []


def test_dlt_staging_datasets_hold_no_rows_after_a_load(built_warehouse: BuiltWarehouse) -> None:
    con = duckdb.connect(str(built_warehouse.path))
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema like 'raw\\_%\\_staging' escape '\\' and table_name not like '\\_dlt\\_%' escape '\\'"
        ).fetchall()
        counts = {f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0] for s, t in tables}
    finally:
        con.close()
    assert tables  # the merges did go through staging datasets
    assert {name: n for name, n in counts.items() if n} == {}


def test_analyst_safe_views_cover_every_mart_and_show_no_personal_value(built_warehouse: BuiltWarehouse) -> None:
    tags = Tags.load(MANIFEST)
    con = duckdb.connect(str(built_warehouse.path))
    try:

        def relations(schema: str) -> dict[str, list[str]]:
            rows = con.execute(
                "select table_name, column_name from information_schema.columns where table_schema = ? "
                "order by table_name, ordinal_position",
                [schema],
            ).fetchall()
            found: dict[str, list[str]] = {}
            for table, column in rows:
                found.setdefault(table, []).append(column)
            return found

        marts, published, safe = relations("marts"), relations("published"), relations("analyst_safe")
        # every mart, every column, same order; the published views (same names as marts) as published__<name>
        covered = {("marts", table, table): columns for table, columns in marts.items()}
        covered |= {("published", table, f"published__{table}"): columns for table, columns in published.items()}
        assert marts and published and safe == {view: columns for (_, _, view), columns in covered.items()}
        leaks = []
        for (schema, table, view), columns in covered.items():
            for column in columns:
                meta = tags.columns[(schema, table)].get(column.lower(), {})
                if meta.get("pii") is not True:
                    continue
                kind = meta["pii_kind"]
                shown = con.execute(
                    f'select count(*) from analyst_safe."{view}" s where s."{column}" in '
                    f'(select m."{column}" from {schema}."{table}" m)'
                ).fetchone()[0]
                if kind == "date_of_birth":
                    shown = con.execute(
                        f'select count(*) from analyst_safe."{view}" '
                        f'where month("{column}") <> 1 or day("{column}") <> 1'
                    ).fetchone()[0]
                if shown:
                    leaks.append(f"{view}.{column} ({kind}): {shown} raw values")
        raw_names = {r[0] for r in con.execute(
            "select first_name from marts.customers where first_name is not null "
            "union select last_name from marts.customers where last_name is not null"
        ).fetchall()}  # fmt: skip
        con.execute("create temp table raw_names as select unnest(?::varchar[]) as name", [sorted(raw_names)])
        text_columns = con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'analyst_safe' and data_type = 'VARCHAR'"
        ).fetchall()
        for table, column in text_columns:
            hit = con.execute(
                f'select count(*) from analyst_safe."{table}" where "{column}" in (select name from raw_names)'
            ).fetchone()[0]
            if hit:
                leaks.append(f"{table}.{column}: {hit} customers' names")
    finally:
        con.close()
    assert leaks == []
    assert personal_columns(built_warehouse.path, schemas=("analyst_safe",), by_name=False) == []
