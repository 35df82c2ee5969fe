"""Fingerprint a warehouse's relations, or compare two fingerprints: proof that a refactor kept the data.

    python tests/relation_fingerprints.py WAREHOUSE.duckdb --schemas main_staging,main_intermediate > a.json
    python tests/relation_fingerprints.py --compare a.json b.json

A fingerprint per relation: its columns (name and type, in order), its row count and the sum of a hash of
each whole row (`sum(hash(row))`: order-free, so two relations with the same rows in any order match).
`--compare` prints one line per relation that differs or exists on one side only, and exits 1 if any does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb


def fingerprints(warehouse: Path, schemas: list[str], read_only: bool = True) -> dict[str, dict[str, object]]:
    """Columns, row count and row-hash sum of every table and view in `schemas` (``read_only=False`` where this
    process already holds the file open, as dbt-duckdb does after an in-process run: DuckDB refuses a
    read-only connection beside it)."""
    con = duckdb.connect(str(warehouse), read_only=read_only)
    try:
        relations = con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_schema in (select unnest($1)) order by 1, 2",
            [schemas],
        ).fetchall()
        result: dict[str, dict[str, object]] = {}
        for schema, name in relations:
            columns = con.execute(
                "select column_name, data_type from information_schema.columns"
                " where table_schema = $1 and table_name = $2 order by ordinal_position",
                [schema, name],
            ).fetchall()
            count, row_hash = con.execute(
                f'select count(*), coalesce(sum(hash(r)), 0) from "{schema}"."{name}" as r'
            ).fetchone() or (0, 0)
            result[f"{schema}.{name}"] = {
                "columns": [f"{column} {data_type}" for column, data_type in columns],
                "rows": int(count),
                "row_hash_sum": str(row_hash),
            }
        return result
    finally:
        con.close()


def differences(before: dict[str, dict[str, object]], after: dict[str, dict[str, object]]) -> list[str]:
    """One line per relation whose fingerprint differs or that exists on one side only."""
    lines = []
    for relation in sorted(before.keys() | after.keys()):
        if relation not in after:
            lines.append(f"{relation}: only before")
        elif relation not in before:
            lines.append(f"{relation}: only after")
        else:
            keys = ("columns", "rows", "row_hash_sum")
            changed = [key for key in keys if before[relation][key] != after[relation][key]]
            if changed:
                lines.append(f"{relation}: {', '.join(changed)} differ")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", nargs="?", type=Path)
    parser.add_argument("--schemas", default="main_staging")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    if args.compare:
        before, after = (json.loads(path.read_text()) for path in args.compare)
        lines = differences(before, after)
        for line in lines:
            print(line)
        print(f"{len(before)} relations before, {len(after)} after, {len(lines)} differ")
        return 1 if lines else 0
    if args.warehouse is None or not args.warehouse.exists():
        print("error: give an existing warehouse file, or --compare BEFORE AFTER", file=sys.stderr)
        return 2
    json.dump(fingerprints(args.warehouse, args.schemas.split(",")), sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
