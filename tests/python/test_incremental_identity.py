"""Incremental identity summaries (issue 16): `int_identity__source_records` summarizes again only the records
whose observations changed, and every record when its SQL (or the engine) did, and always ends equal to a full
refresh.

One module-scoped clone of the session's built warehouse. Every summarized row is first marked (a value no
summary writes), so a row the next run did not redo still shows the mark. Then the inputs are changed in
place, in the observations table itself (only `int_identity__source_records` is run, so dbt does not
rebuild them): one observation altered, one record's observations all removed, one observation added to a
record, one summary row deleted and one summary's fingerprint spoiled. One incremental run must redo
exactly the four records that need it, drop the one left without observations, keep every other row as it
was, and equal a full refresh once the marks are set aside.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from conftest import BuiltWarehouse
from test_marts import query

from ingestion.dbt_runner import run_dbt

pytestmark = pytest.mark.slow

MODEL = "int_identity__source_records"
TABLE = f"intermediate.{MODEL}"
OBSERVATIONS = "intermediate.int_identity__observations"
MARK = "marked-before-the-run"  # written into city: no summary writes it
RUN = ["run", "--select", MODEL]


@dataclass
class Plan:
    altered: str  # a record one of whose observations changed city
    emptied: str  # a record whose observations were all removed
    grown: str  # a record that got one more observation
    deleted: str  # a record whose summary row was deleted
    spoiled: str  # a record whose stored fingerprint was spoiled


def _records(where: str, count: int) -> list[str]:
    rows = query(f"select record_key from {TABLE} where {where} order by record_key limit {count}")
    assert len(rows) == count, f"the demo build has fewer than {count} records where {where}"
    return [row[0] for row in rows]


def _mark_every_row() -> None:
    query(f"update {TABLE} set city = '{MARK}'")


def _marked() -> set[str]:
    return {row[0] for row in query(f"select record_key from {TABLE} where city = '{MARK}'")}


def _all_keys() -> set[str]:
    return {row[0] for row in query(f"select record_key from {TABLE}")}


def _rows_without(column: str) -> list[tuple[object, ...]]:
    names = [row[0] for row in query(f"select column_name from (describe {TABLE}) where column_name <> '{column}'")]
    return query(f"select {', '.join(names)} from {TABLE} order by record_key")


@pytest.fixture(scope="module")
def identity_clone(built_warehouse: BuiltWarehouse, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as env:
        built_warehouse.clone(tmp_path_factory.mktemp("incremental_identity"), env)
        yield


def test_a_run_redoes_exactly_the_records_whose_observations_changed(identity_clone: None) -> None:
    several = "observations >= 2 and city is not null"
    altered, emptied, grown = _records(several, 3)
    deleted, spoiled = _records(f"record_key not in ('{altered}', '{emptied}', '{grown}')", 2)
    plan = Plan(altered, emptied, grown, deleted, spoiled)
    keys_before = _all_keys()

    _mark_every_row()
    query(
        f"update {OBSERVATIONS} set city = 'Elsewhere' where record_key = ? "
        f"and observed_at = (select max(observed_at) from {OBSERVATIONS} where record_key = ?)",
        [plan.altered, plan.altered],
    )
    query(f"delete from {OBSERVATIONS} where record_key = ?", [plan.emptied])
    query(
        f"insert into {OBSERVATIONS} select * replace (observed_at + interval 1 day as observed_at) "
        f"from {OBSERVATIONS} where record_key = ? order by observed_at desc limit 1",
        [plan.grown],
    )
    query(f"delete from {TABLE} where record_key = ?", [plan.deleted])
    query(f"update {TABLE} set observations_fingerprint = observations_fingerprint + 1 where record_key = ?", [spoiled])

    outcome = run_dbt(RUN)
    assert outcome.success, outcome.failures

    redone = {plan.altered, plan.grown, plan.deleted, plan.spoiled}
    assert _all_keys() == keys_before - {plan.emptied}, "a record without observations stays, or a record was lost"
    assert _marked() == keys_before - redone - {plan.emptied}, "the run redid other records than the changed ones"
    grown_count = query(f"select observations from {TABLE} where record_key = ?", [plan.grown])[0][0]
    grown_seen = query(f"select count(*) from {OBSERVATIONS} where record_key = ?", [plan.grown])[0][0]
    assert grown_count == grown_seen

    # the redone rows are what a full refresh writes (the marked rows differ from it in city only)
    incremental = {row[1]: row for row in _rows_without("city")}
    assert run_dbt([*RUN, "--full-refresh"]).success
    full = {row[1]: row for row in _rows_without("city")}
    assert incremental == full


def test_a_change_of_the_summary_sql_redoes_every_record(identity_clone: None) -> None:
    """A var the summary renders (the address unit designators) changed: every row is summarized again."""
    _mark_every_row()
    outcome = run_dbt([*RUN, "--vars", "{identity_address_unit_designators: ['apt', 'unit', 'suite', 'ste', 'flat']}"])
    assert outcome.success, outcome.failures
    assert _marked() == set()
    assert query(f"select count(distinct summary_logic_fingerprint) from {TABLE}") == [(1,)]


def test_a_table_written_before_the_fingerprints_is_summarized_whole(identity_clone: None) -> None:
    """The first build after an upgrade: the table lacks the fingerprint columns; the run adds them and redoes
    every row, so the row ids written by the old numbering are all replaced."""
    assert run_dbt([*RUN, "--full-refresh"]).success
    full = _rows_without("city")
    query(f"alter table {TABLE} drop column summary_logic_fingerprint")
    query(f"alter table {TABLE} drop column observations_fingerprint")
    query(f"update {TABLE} set record_id = -record_id, city = '{MARK}'")

    outcome = run_dbt(RUN)
    assert outcome.success, outcome.failures
    assert _marked() == set()
    assert _rows_without("city") == full
