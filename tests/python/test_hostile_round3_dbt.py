"""Breaks a hostile tester found in round 3's dbt graph restructure (activation, identity, guard).

Lean: each test starts from a copy of the session's built demo warehouse (`built_warehouse`, 300 people) and
runs at most one small `dbt run --select`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import BuiltWarehouse


def _query(path: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path))  # not read_only: dbt-duckdb may hold the file open in this process
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


# R3-1: `published.email_audience` holds the customer ids of the last publish. When a merge retires
# that id, the customer-level opt-out (an unsubscribe on the person's OTHER address) is keyed by the
# surviving id, so the published row (old id, golden address) passed the guard: still sendable.
def test_published_audience_honours_an_opt_out_after_the_published_id_was_merged_away(
    built_warehouse: BuiltWarehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingestion.dbt_runner import run_dbt

    built_warehouse.clone(tmp_path, monkeypatch)
    path = tmp_path / "warehouse.duckdb"
    # a sendable customer with a HubSpot record whose address is not the golden one
    rows = _query(
        path,
        """select audience.customer_id, audience.email, contacts.id
           from marts.email_audience as audience
           inner join marts.customer_identities as ids
               on audience.customer_id = ids.customer_id and ids.source_system = 'hubspot'
           inner join raw_hubspot.contacts as contacts on cast(contacts.id as varchar) = ids.source_record_id
           -- another mailbox, not a spelling of the same one (plus tags, dots, domain typos)
           where
               split_part(lower(trim(contacts.properties__email)), '@', 2) <> split_part(lower(audience.email), '@', 2)
               and left(lower(trim(contacts.properties__email)), 4) <> left(lower(audience.email), 4)
           order by audience.customer_id limit 1""",
    )
    assert rows, "the demo has no customer with a second address in HubSpot"
    customer_id, email, hubspot_id = rows[0]
    retired = "cus_retired000000"
    con = duckdb.connect(str(path))
    try:
        # the last publish saw this person under an id a later merge retired: every record of the
        # customer held it before the merge (the history says so), the surviving id now
        con.execute("create schema if not exists published")
        con.execute("create table published.email_audience_rows as select * from marts.email_audience")
        con.execute(
            "update published.email_audience_rows set customer_id = ? where customer_id = ?", [retired, customer_id]
        )
        con.execute(
            """insert into intermediate.int_identity__customer_id_history
               select record_key, source_system, source_record_id, ?, null, 'new_customer', record_key,
                      anchor_created_at, assigned_at - interval 30 day, -history_seq, 'an earlier build'
               from intermediate.int_identity__customer_id_history where customer_id = ?""",
            [retired, customer_id],
        )
    finally:
        con.close()
    outcome = run_dbt(["run", "--select", "published_email_audience", "published_cart_abandonment_triggers"])
    assert outcome.success, outcome.failures[:3]
    published = "select count(*) from published.email_audience where customer_id = ?"
    assert _query(path, published, [retired]) == [(1,)]

    # the person unsubscribes, on their other address's HubSpot record
    con = duckdb.connect(str(path))
    try:
        con.execute(
            """update raw_hubspot.contacts
               set properties__hs_email_optout = 'true', updated_at = to_timestamp(cast(_dlt_load_id as double))
               where cast(id as varchar) = ?""",
            [hubspot_id],
        )
    finally:
        con.close()
    live = "select count(*) from marts.email_audience where customer_id = ?"
    assert _query(path, live, [customer_id]) == [(0,)]  # the live audience drops them (customer guard)
    assert _query(path, published, [retired]) == [(0,)], f"{email} still published after the unsubscribe"


# Probe (held): test_graph checks the suppression guard's direct parents only. Through any chain of refs the
# guard and the erasure guard must not read the consent ledger, survivorship, or what they guard.
def test_the_guards_read_nothing_they_guard_through_any_chain(tmp_path: Path) -> None:
    import json

    from conftest import PROJECT_ROOT
    from dbt.cli.main import dbtRunner

    root = str(PROJECT_ROOT)
    result = dbtRunner().invoke(
        ["parse", "--quiet", "--project-dir", root, "--profiles-dir", root, "--target-path", str(tmp_path)]
    )
    assert result.success, result.exception
    nodes = json.loads((tmp_path / "manifest.json").read_text())["nodes"]
    by_name = {node["name"]: unique_id for unique_id, node in nodes.items() if node["resource_type"] == "model"}

    def ancestors(unique_id: str) -> set[str]:
        seen: set[str] = set()
        todo = [unique_id]
        while todo:
            for parent in nodes.get(todo.pop(), {}).get("depends_on", {}).get("nodes", []):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return {parent.split(".")[-1] for parent in seen if parent.startswith(("model.", "snapshot."))}

    guarded = {
        "customers",
        "int_customers__golden_attributes",
        "int_customers__email_consent",
        "int_engagement__consent_signals",
        "email_audience",
        "cart_abandonment_trigger_log",
        "cart_abandonment_triggers",
    }
    for guard in ("int_engagement__suppression_guard", "int_engagement__erasure_guard"):
        assert ancestors(by_name[guard]) & guarded == set(), guard
