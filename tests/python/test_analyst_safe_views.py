"""The analyst-safe views' upkeep (macros/privacy/analyst_safe.sql, the on-run-end hook).

Each view is replaced only when its statement changed (its fingerprint is the view's comment), a view
replaced by hand is put back, and each view masks the mart of its name in the marts schema (the published
activation views carry the same names, so theirs are published__<name>).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from conftest import BuiltWarehouse, execute_sql


def _views(path: Path) -> dict[str, tuple[str, str | None]]:
    con = duckdb.connect(str(path))
    try:
        rows = con.execute(
            "select view_name, sql, comment from duckdb_views() where schema_name = 'analyst_safe'"
        ).fetchall()
    finally:
        con.close()
    return {name: (sql, comment) for name, sql, comment in rows}


def test_views_are_replaced_only_when_their_statement_changed(
    built_warehouse: BuiltWarehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingestion.dbt_runner import run_dbt

    built_warehouse.clone(tmp_path, monkeypatch)
    path = tmp_path / "warehouse.duckdb"
    before = _views(path)
    assert before and all((comment or "").startswith("customer360 analyst-safe ") for _, comment in before.values())
    # every view masks the relation its name says: marts.<name>, or published.<name> for published__<name>
    for name, (sql, _) in before.items():
        schema, _, table = name.rpartition("__") if name.startswith("published__") else ("marts", "", name)
        assert f'"{schema}"."{table}"' in sql or f"{schema}.{table}" in sql, (name, sql)
        other = "marts" if schema == "published" else "published"
        assert f'"{other}".' not in sql and f" {other}." not in sql, (name, sql)
    assert {"email_audience", "published__email_audience"} <= before.keys()

    orders_sql, orders_fingerprint = before["orders"]
    execute_sql(
        path,
        # an equivalent body under the right fingerprint: kept if the hook trusts the fingerprint
        "create or replace view analyst_safe.orders as "
        + orders_sql.split(" AS ", 1)[1].rstrip(";")
        + " limit 1000000000",
        f"comment on view analyst_safe.orders is '{orders_fingerprint}'",
        # a view replaced by hand with the personal values in clear (and so without the comment)
        "create or replace view analyst_safe.customers as select * from marts.customers",
    )
    outcome = run_dbt(["run", "--select", "customer_identities"])
    assert outcome.success, outcome.failures[:3]
    after = _views(path)
    assert after["orders"][0].rstrip(";").endswith("1000000000"), "an unchanged view was replaced"
    assert after["customers"] == before["customers"], "the hand-made unmasked view was not put back"
    assert {name: view[1] for name, view in after.items()} == {name: view[1] for name, view in before.items()}
