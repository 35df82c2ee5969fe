"""`customer360 evaluate`: score the identity map (marts.customer_identities) against known truth.

Pairwise metrics over the source records present in both the truth and the map: a pair of records is
*predicted* when both have the same customer_id and *true* when both have the same entity_id.
precision = correct predicted pairs / predicted pairs, recall = correct predicted pairs / true pairs.
Pairs are counted from group sizes (n choose 2), never enumerated, so 1M records score in seconds.

The truth is the generator's ``truth/source_records.csv`` in the data folder, or any labelled sample
given with ``--truth FILE.csv`` (columns source_system, source_record_id, entity_id).

Precision is ``n/a`` when nothing was predicted (no pair to be right or wrong about), recall ``n/a``
when the truth has no pair. Cluster-level figures: persons whose records form exactly one customer
with nothing else in it, persons split over several customers, customers mixing several persons.
Blocking recall: the share of true pairs that the matcher compared at all (a candidate pair of
int_identity__scored_pairs) or linked deterministically (same strong cluster). ``--errors FILE``
writes a sample of false-positive and false-negative pairs with both records' fields and the
matcher's score, for looking at what went wrong.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

from ingestion.errors import UserError, duckdb_locked, is_duckdb_lock_error
from ingestion.settings import Settings, resolve

TRUTH_COLUMNS = ("source_system", "source_record_id", "entity_id")
IDENTITY_TABLE = "marts.customer_identities"


@dataclass(frozen=True)
class Scores:
    precision: float | None  # None: nothing predicted
    recall: float | None  # None: no true pair
    f1: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    records_scored: int
    truth_records: int
    records_missing: int  # in the truth, not in the identity map
    records_unlabelled: int  # in the identity map, not in the truth
    true_persons: int
    customers: int
    # Pairs between records that carry at least one identifying value (a name, email, phone, date of
    # birth, address or a source-stated id). A record with none (a Segment device that never
    # identified) cannot be linked by any method; this recall shows the matcher's share of the rest.
    linkable_true_pairs: int | None = None
    linkable_correct_pairs: int | None = None
    # Cluster level: persons whose records are exactly one customer; persons split over customers;
    # customers holding records of several persons.
    persons_exact: int = 0
    persons_split: int = 0
    customers_mixed: int = 0
    # Blocking: true pairs the matcher compared or linked deterministically (None: not computed).
    blocking_found_pairs: int | None = None
    blocking_true_pairs: int | None = None

    @property
    def blocking_recall(self) -> float | None:
        if self.blocking_found_pairs is None or not self.blocking_true_pairs:
            return None
        return self.blocking_found_pairs / self.blocking_true_pairs

    @property
    def recall_linkable(self) -> float | None:
        if self.linkable_true_pairs is None or self.linkable_correct_pairs is None:
            return None
        return self.linkable_correct_pairs / self.linkable_true_pairs if self.linkable_true_pairs else 1.0

    def lines(self) -> list[str]:
        linkable = (
            []
            if self.recall_linkable is None
            else [f"recall_linkable: {self.recall_linkable:.4f}", f"linkable_true_pairs: {self.linkable_true_pairs}"]
        )
        blocking = (
            []
            if self.blocking_recall is None
            else [f"blocking_recall: {self.blocking_recall:.4f}", f"blocking_true_pairs: {self.blocking_true_pairs}"]
        )
        return [
            f"precision: {_figure(self.precision)}",
            f"recall: {_figure(self.recall)}",
            f"f1: {self.f1:.4f}",
            f"predicted_pairs: {self.predicted_pairs}",
            f"true_pairs: {self.true_pairs}",
            f"correct_pairs: {self.correct_pairs}",
            f"true_persons: {self.true_persons}",
            f"customers: {self.customers}",
            f"persons_exact: {self.persons_exact}",
            f"persons_exact_share: {_figure(self.persons_exact / self.true_persons if self.true_persons else None)}",
            f"persons_split: {self.persons_split}",
            f"customers_mixed: {self.customers_mixed}",
            f"records_scored: {self.records_scored}",
            f"records_missing_from_identities: {self.records_missing}",
            f"records_not_in_truth: {self.records_unlabelled}",
            *linkable,
            *blocking,
        ]


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def default_truth_path(data_dir: Path) -> Path:
    return data_dir / "truth" / "source_records.csv"


def _check_truth_file(path: Path) -> None:
    if not path.is_file():
        raise UserError(
            f"no truth file at {path}; run `customer360 generate` first or pass --truth FILE.csv "
            "(columns source_system, source_record_id, entity_id)"
        )
    with path.open(encoding="utf-8") as handle:
        header = [column.strip().lower() for column in handle.readline().strip().split(",")]
    missing = [column for column in TRUTH_COLUMNS if column not in header]
    if missing:
        raise UserError(f"{path} lacks the column(s) {', '.join(missing)}; expected {', '.join(TRUTH_COLUMNS)}")


def score(con: duckdb.DuckDBPyConnection, truth_relation: str, identity_relation: str) -> Scores:
    """Pairwise scores of ``identity_relation`` (source_system, source_record_id, customer_id) against
    ``truth_relation`` (source_system, source_record_id, entity_id): both are table names or subqueries."""
    row = con.execute(
        f"""
        with truth as (
            select distinct
                cast(source_system as varchar) as source_system,
                cast(source_record_id as varchar) as source_record_id,
                cast(entity_id as varchar) as entity_id
            from {truth_relation}
        ),
        predicted as (
            select
                cast(source_system as varchar) as source_system,
                cast(source_record_id as varchar) as source_record_id,
                cast(customer_id as varchar) as customer_id
            from {identity_relation}
        ),
        scored as (
            select truth.entity_id, predicted.customer_id
            from truth
            inner join predicted using (source_system, source_record_id)
        ),
        true_groups as (
            select count(*) as n, count(distinct customer_id) as customers from scored group by entity_id
        ),
        predicted_groups as (
            select count(*) as n, count(distinct entity_id) as persons from scored group by customer_id
        ),
        both_groups as (
            select entity_id, customer_id, count(*) as n from scored group by entity_id, customer_id
        ),
        true_groups_sized as (select entity_id, count(*) as n from scored group by entity_id),
        predicted_groups_sized as (select customer_id, count(*) as n from scored group by customer_id),
        exact_persons as (
            select count(*) as n
            from both_groups
            inner join true_groups_sized using (entity_id)
            inner join predicted_groups_sized using (customer_id)
            where both_groups.n = true_groups_sized.n and both_groups.n = predicted_groups_sized.n
        )
        select
            (select coalesce(sum(n * (n - 1) / 2), 0) from true_groups),
            (select coalesce(sum(n * (n - 1) / 2), 0) from predicted_groups),
            (select coalesce(sum(n * (n - 1) / 2), 0) from both_groups),
            (select count(*) from scored),
            (select count(*) from truth),
            (select count(*) from truth anti join predicted using (source_system, source_record_id)),
            (select count(*) from predicted anti join truth using (source_system, source_record_id)),
            (select count(*) from true_groups),
            (select count(*) from predicted_groups),
            (select n from exact_persons),
            (select count(*) from true_groups where customers > 1),
            (select count(*) from predicted_groups where persons > 1)
        """
    ).fetchall()[0]  # fetched to the end: DuckDB 2.0 refuses more work on a connection with an open result
    (
        true_pairs, predicted_pairs, correct, scored, truth_records, missing, unlabelled, persons, customers,
        persons_exact, persons_split, customers_mixed,
    ) = (int(value or 0) for value in row)  # fmt: skip
    precision = correct / predicted_pairs if predicted_pairs else None
    recall = correct / true_pairs if true_pairs else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return Scores(
        precision=precision,
        recall=recall,
        f1=f1,
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
        correct_pairs=correct,
        records_scored=scored,
        truth_records=truth_records,
        records_missing=missing,
        records_unlabelled=unlabelled,
        true_persons=persons,
        customers=customers,
        persons_exact=persons_exact,
        persons_split=persons_split,
        customers_mixed=customers_mixed,
    )


LINKABLE_RECORDS = """
    select records.source_system, records.source_record_id
    from intermediate.int_identity__source_records as records
    where coalesce(records.email, records.phone_e164, records.first_name_key, records.last_name_key,
                   records.address_key, records.postal_code, cast(records.date_of_birth as varchar)) is not null
        or exists (
            select 1 from intermediate.int_identity__identifiers as identifiers
            where identifiers.record_key = records.record_key
                and identifiers.identifier_type in ('shopify_customer', 'shopify_order')
        )
"""


def score_linkable(
    con: duckdb.DuckDBPyConnection,
    truth_relation: str,
    identity_relation: str,
    linkable_relation: str = f"({LINKABLE_RECORDS})",
) -> tuple[int, int]:
    """True and correctly predicted pairs among records that carry some identifying value
    (``linkable_relation``: source_system, source_record_id; by default computed from the warehouse)."""
    return tuple(  # type: ignore[return-value]
        int(value)
        for value in con.execute(
            f"""
            with linkable as (select * from {linkable_relation} as linkable_records),
            scored as (
                select
                    cast(truth.entity_id as varchar) as entity_id,
                    cast(predicted.customer_id as varchar) as customer_id
                from {truth_relation} as truth
                inner join linkable
                    on cast(truth.source_system as varchar) = linkable.source_system
                    and cast(truth.source_record_id as varchar) = linkable.source_record_id
                inner join {identity_relation} as predicted
                    on linkable.source_system = predicted.source_system
                    and linkable.source_record_id = predicted.source_record_id
            ),
            true_groups as (select count(*) as n from scored group by entity_id),
            both_groups as (select count(*) as n from scored group by entity_id, customer_id)
            select
                (select coalesce(sum(n * (n - 1) / 2), 0) from true_groups),
                (select coalesce(sum(n * (n - 1) / 2), 0) from both_groups)
            """
        ).fetchall()[0]
    )


def score_blocking(con: duckdb.DuckDBPyConnection, truth_relation: str) -> tuple[int, int]:
    """True pairs between source records (in the truth) that were linked deterministically or proposed by
    blocking, and all true pairs. Enumerates true pairs (persons hold few records)."""
    return tuple(  # type: ignore[return-value]
        int(value or 0)
        for value in con.execute(
            f"""
            with labelled as (
                select records.record_id, clusters.strong_cluster_id, cast(truth.entity_id as varchar) as entity_id
                from {truth_relation} as truth
                inner join intermediate.int_identity__source_records as records
                    on cast(truth.source_system as varchar) = records.source_system
                    and cast(truth.source_record_id as varchar) = records.source_record_id
                inner join intermediate.int_identity__strong_clusters as clusters using (record_id)
            ),
            true_pairs as (
                select a.record_id as record_id_a, b.record_id as record_id_b,
                    a.strong_cluster_id = b.strong_cluster_id as same_strong_cluster
                from labelled as a
                inner join labelled as b on a.entity_id = b.entity_id and a.record_id < b.record_id
            )
            select
                count(*) filter (where true_pairs.same_strong_cluster or candidates.record_id_a is not null),
                count(*)
            from true_pairs
            left join intermediate.int_identity__scored_pairs as candidates using (record_id_a, record_id_b)
            """
        ).fetchall()[0]
    )


ERROR_FIELDS = (
    "first_name", "last_name", "date_of_birth", "email", "phone_e164", "address_line1", "postal_code", "city",
    "region_code",
)  # fmt: skip


def write_errors(con: duckdb.DuckDBPyConnection, truth_relation: str, out: Path, per_kind: int = 200) -> int:
    """Write up to ``per_kind`` false-positive and false-negative pairs (a fixed, hash-ordered sample) with
    both records' fields and the matcher's decision to CSV ``out``; return the rows written."""
    fields = ",\n".join(f"a.{field} as {field}_a, b.{field} as {field}_b" for field in ERROR_FIELDS)
    escaped = str(out).replace("'", "''")
    con.execute(
        f"""
        copy (
            with labelled as (
                select records.*, cast(truth.entity_id as varchar) as entity_id, identities.customer_id
                from {truth_relation} as truth
                inner join intermediate.int_identity__source_records as records
                    on cast(truth.source_system as varchar) = records.source_system
                    and cast(truth.source_record_id as varchar) = records.source_record_id
                inner join {IDENTITY_TABLE} as identities
                    on records.source_system = identities.source_system
                    and records.source_record_id = identities.source_record_id
            ),
            false_negatives as (
                select 'false_negative' as error, a.record_id as id_a, b.record_id as id_b
                from labelled as a
                inner join labelled as b
                    on a.entity_id = b.entity_id and a.record_id < b.record_id and a.customer_id <> b.customer_id
                order by hash(a.record_id, b.record_id)
                limit {per_kind}
            ),
            false_positives as (
                select 'false_positive' as error, a.record_id as id_a, b.record_id as id_b
                from labelled as a
                inner join labelled as b
                    on a.customer_id = b.customer_id and a.record_id < b.record_id and a.entity_id <> b.entity_id
                order by hash(a.record_id, b.record_id)
                limit {per_kind}
            ),
            errors as (select * from false_negatives union all select * from false_positives)
            select
                errors.error,
                a.record_key as record_key_a,
                b.record_key as record_key_b,
                a.entity_id as entity_id_a,
                b.entity_id as entity_id_b,
                a.customer_id as customer_id_a,
                b.customer_id as customer_id_b,
                coalesce(pairs.decision, 'not compared') as decision,
                pairs.match_probability,
                pairs.blocking_rules,
                {fields}
            from errors
            inner join labelled as a on errors.id_a = a.record_id
            inner join labelled as b on errors.id_b = b.record_id
            left join intermediate.int_identity__scored_pairs as pairs
                on errors.id_a = pairs.record_id_a and errors.id_b = pairs.record_id_b
            order by errors.error, a.record_key, b.record_key
        ) to '{escaped}' (header, delimiter ',')
        """
    ).fetchall()
    return int(con.execute(f"select count(*) from read_csv('{escaped}', header = true)").fetchall()[0][0])


def _read_csv(path: Path) -> str:
    escaped = str(path).replace("'", "''")
    return f"read_csv('{escaped}', header = true, all_varchar = true)"


def connect_warehouse(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """Read-only, so other readers may share the file; inside a process that already holds the file
    read-write (dbt run in-process, e.g. in tests) DuckDB only accepts the same configuration."""
    try:
        return duckdb.connect(str(warehouse), read_only=True)
    except duckdb.ConnectionException as error:
        if "different configuration" not in str(error):
            raise
        return duckdb.connect(str(warehouse))


def evaluate_warehouse(warehouse: Path, truth: Path, errors: Path | None = None) -> Scores:
    """Score the warehouse's customer_identities against a truth CSV (and write sampled errors to
    ``errors``, when given)."""
    _check_truth_file(truth)
    if not warehouse.is_file():
        raise UserError(f"no warehouse at {warehouse}; run `customer360 demo` or load + build first")
    try:
        con = connect_warehouse(warehouse)
    except duckdb.Error as error:
        if is_duckdb_lock_error(error):
            raise duckdb_locked(warehouse) from error
        raise
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'marts' and table_name = 'customer_identities'"
        ).fetchall()[0][0]
        if not exists:
            raise UserError(f"{warehouse} has no {IDENTITY_TABLE}; run `customer360 build` first")
        scores = score(con, _read_csv(truth), IDENTITY_TABLE)
        has_intermediate = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'intermediate' "
            "and table_name in ('int_identity__source_records', 'int_identity__identifiers')"
        ).fetchall()[0][0]
        if has_intermediate == 2:
            linkable_true, linkable_correct = score_linkable(con, _read_csv(truth), IDENTITY_TABLE)
            scores = replace(scores, linkable_true_pairs=linkable_true, linkable_correct_pairs=linkable_correct)
            found, true_pairs = score_blocking(con, _read_csv(truth))
            scores = replace(scores, blocking_found_pairs=found, blocking_true_pairs=true_pairs)
            if errors is not None:
                try:
                    write_errors(con, _read_csv(truth), errors)
                except duckdb.IOException as error:
                    raise UserError(f"cannot write {errors}: {error}") from error
        elif errors is not None:
            raise UserError(f"{warehouse} has no identity intermediate tables; --errors needs them")
        return scores
    finally:
        con.close()


def evaluate(truth: Path | None, errors: Path | None = None, settings: Settings | None = None) -> int:
    """The CLI command: print one figure a line, return the exit status."""
    settings = resolve(settings)
    truth_path = (truth or default_truth_path(settings.data_dir)).expanduser().resolve()
    scores = evaluate_warehouse(settings.duckdb_path, truth_path, errors)
    if errors is not None:
        print(f"wrote sampled false-positive and false-negative pairs to {errors}", file=sys.stderr)
    print(f"scoring {IDENTITY_TABLE} in {settings.duckdb_path} against {truth_path}", file=sys.stderr)
    for line in scores.lines():
        print(line)
    return 0
