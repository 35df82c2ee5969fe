"""The id history survives its move from the mart into intermediate (issue 12).

Until issue 12 the state that keeps customer ids stable lived in the mart `customer_id_history`
(`full_refresh: false`); now it lives in `int_identity__customer_id_history` and the mart is its public
copy. A warehouse built before the move holds its history only in the mart's table: the first build
after the switch must continue from it, not mint the ids again. The test builds, keeps the history as the
old layout left it (the mart's table only, with ids no fresh build would mint), switches, rebuilds and
finds the old rows and ids; a `--full-refresh` after that rebuilds nothing and duplicates nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

# The models of the move; their inputs (staging, identity) are built once by the first run.
MOVED = [
    "int_identity__customer_id_history",
    "customer_id_history",
    "int_identity__customer_map",
    "customer_identities",
]
HISTORY_COLUMNS = "record_key, customer_id, previous_customer_id, change_reason, anchor_record_key, history_seq"


def _query(path: Path, sql: str) -> list[tuple]:
    # a fresh read-write connection per call, closed after it: dbt runs in this process between calls
    con = duckdb.connect(str(path))
    try:
        cursor = con.execute(sql)
        return cursor.fetchall() if cursor.description else []
    finally:
        con.close()


def _run(args: list[str]) -> None:
    from ingestion.dbt_runner import run_dbt

    outcome = run_dbt(args)
    assert outcome.success, outcome.failures


def test_a_history_built_before_the_move_carries_over(warehouse: Path, demo_data: Path, tmp_path: Path) -> None:
    from ingestion.loading import load

    data = tmp_path / "data"
    shutil.copytree(demo_data / "csv_contacts", data / "csv_contacts")
    load("csv_contacts", data_dir=data)
    _run(
        [
            "build",
            "--select",
            "+customer_identities",
            "customer_id_history",
            "--exclude",
            "resource_type:test",
            "resource_type:unit_test",
        ]
    )

    # The old layout: the history only in the mart's table, with ids of its own (as merges and splits
    # over time leave them: not what minting from the anchors today would give).
    fresh = _query(warehouse, "select customer_id from marts.customer_id_history")
    assert fresh and all(len(customer_id) == 20 for (customer_id,) in fresh)
    _query(
        warehouse,
        """
        update marts.customer_id_history set
            customer_id = 'cus_old' || substr(customer_id, 5),
            previous_customer_id = 'cus_old' || substr(previous_customer_id, 5);
        """,
    )
    _query(warehouse, "drop table intermediate.int_identity__customer_id_history")
    legacy = _query(warehouse, f"select {HISTORY_COLUMNS} from marts.customer_id_history order by history_seq")
    assert legacy and all(row[1].startswith("cus_old") for row in legacy)

    # The switch: the first build of the new layout adopts the mart's rows and continues from them.
    _run(["run", "--select", *MOVED, "--full-refresh"])
    history_sql = f"select {HISTORY_COLUMNS} from intermediate.int_identity__customer_id_history order by history_seq"
    assert _query(warehouse, history_sql) == legacy, "the history did not carry over as it was"
    assert _query(warehouse, f"select {HISTORY_COLUMNS} from marts.customer_id_history order by history_seq") == legacy
    mapped = _query(warehouse, "select customer_id from marts.customer_identities")
    assert len(mapped) == len({row[0] for row in legacy})
    assert all(customer_id.startswith("cus_old") for (customer_id,) in mapped), "ids were minted again"

    # From now on the intermediate table is the state: --full-refresh leaves it, nothing is adopted twice.
    _run(["run", "--select", *MOVED, "--full-refresh"])
    assert _query(warehouse, history_sql) == legacy
