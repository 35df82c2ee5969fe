"""`customers.customer_created_at` is "customer since": first seen in any source (issue 10 point 10).

It used to be the time the first build assigned the customer id, so every customer of the demo had the
same value. Here it is recomputed in Python from the staging models themselves (every `stg_*` model with
a source record id and a creation time), not from the identity layer's records: the earliest creation
time any of the customer's records states, else when its first record was loaded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb


def test_customer_created_at_is_first_seen_in_any_source(built_warehouse: Any) -> None:
    con = duckdb.connect(str(built_warehouse.path))
    try:
        models = [
            name
            for (name,) in con.execute(
                "select table_name from information_schema.columns where table_schema = 'staging' "
                "and table_name like 'stg\\_%' escape '\\' "
                "and column_name in ('source_system', 'source_record_id', 'source_created_at', 'loaded_at') "
                "group by table_name having count(*) = 4 order by 1"
            ).fetchall()
        ]
        created: dict[tuple[str, str], datetime | None] = {}
        loaded: dict[tuple[str, str], datetime] = {}
        for model in models:
            for system, record, created_at, loaded_at in con.execute(
                f"select source_system, source_record_id, source_created_at, loaded_at from staging.{model} "
                "where source_record_id is not null"
            ).fetchall():
                key = (system, record)
                if created_at is not None:
                    created[key] = min(created.get(key) or created_at, created_at)
                loaded[key] = min(loaded.get(key, loaded_at), loaded_at)
        identities = con.execute(
            "select customer_id, source_system, source_record_id from marts.customer_identities"
        ).fetchall()
        got = dict(con.execute("select customer_id, customer_created_at from marts.customers").fetchall())
    finally:
        con.close()
    assert {"stg_hubspot__contacts", "stg_shopify__customers", "stg_shopify__orders", "stg_segment__events"} <= set(
        models
    ), models
    records: dict[str, list[tuple[str, str]]] = {}
    for customer, system, record in identities:
        records.setdefault(customer, []).append((system, record))
    expected = {}
    for customer, keys in records.items():
        stated = [created[k] for k in keys if k in created]
        expected[customer] = min(stated) if stated else min(loaded[k] for k in keys if k in loaded)
    wrong = {c: (got.get(c), expected[c]) for c in expected if got.get(c) != expected[c]}
    assert not wrong, f"{len(wrong)} of {len(expected)} customers differ, e.g. {list(wrong.items())[:3]}"
    assert set(got) == set(expected)
    # the bug: one build time for every customer
    assert len(set(got.values())) > 0.9 * len(got)
