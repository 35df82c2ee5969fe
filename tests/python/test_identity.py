"""Identity resolution, measured: accuracy against the generator's truth, and stable customer ids.

The stability test drives the real path: CSV contacts written into a drop folder, loaded by the CSV
loader, built by dbt; between builds it adds an unrelated person, a record of an existing customer, and
finally a record that bridges two customers.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion.errors import UserError
from ingestion.evaluate import evaluate, evaluate_warehouse, score

PERSONS_AS_OF = date(2026, 11, 1)
# The identity models and everything they need (seeds, staging), without the other marts.
IDENTITY_RUN = ["run", "--select", "+customers", "+customer_id_merges", "customer_identities", "customer_id_history"]
LEGACY_HEADER = [
    "Customer ID", "First Name", "Last Name", "E-mail Address", "Phone Number", "Street", "Street 2", "City",
    "ZIP", "State/Province", "Country", "Birth Date", "Customer Since", "Last Updated", "Opt Out", "Notes",
]  # fmt: skip


def _contact(contact_id: str, first: str, last: str, since: str, **fields: str) -> list[str]:
    """One legacy_crm row; fields: email, phone, city, zip_code, birth (MM/DD/YYYY)."""
    return [
        contact_id, first, last, fields.get("email", ""), fields.get("phone", ""), "", "", fields.get("city", ""),
        fields.get("zip_code", ""), "", "United States", fields.get("birth", ""), since, "10/01/2026 09:00", "N", "",
    ]  # fmt: skip


def _write_drop_file(data: Path, name: str, rows: list[list[str]]) -> None:
    with (data / "csv_contacts" / "legacy_crm" / name).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(LEGACY_HEADER)
        writer.writerows(rows)


def _query(path: Path, sql: str) -> list[tuple]:
    # Same configuration as dbt's in-process connection (read-write): DuckDB refuses a second
    # connection to one file with another configuration in the same process.
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _identity_map(path: Path) -> dict[tuple[str, str], str]:
    rows = _query(path, "select source_system, source_record_id, customer_id from marts.customer_identities")
    return {(system, record): customer for system, record, customer in rows}


def _run(args: list[str]) -> None:
    from ingestion.dbt_runner import run_dbt

    outcome = run_dbt(args)
    assert outcome.success, outcome.failures


def _load_csv(data: Path) -> None:
    from ingestion.loading import load

    load("csv_contacts", data_dir=data)


@pytest.fixture
def mutable_data(demo_data: Path, tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "data"
    shutil.copytree(demo_data, data)
    yield data


def test_customer_ids_are_stable_and_merges_keep_the_older_id(
    warehouse: Path, mutable_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingestion.demo_kit.servers.run import running_servers
    from ingestion.loading import load

    data = mutable_data
    # Two customers of our own: the same rare name, different dates of birth (so no scored edge may
    # join them), A with an email and no phone, B with a phone and no email. A's record is older.
    _write_drop_file(
        data,
        "identity_test_1.csv",
        [
            _contact(
                "LC-T0001",
                "Zorabel",
                "Quillfeather",
                "01/15/2024",
                email="zorabel.q@qmail-test.org",
                city="Omaha",
                zip_code="68102",
                birth="02/02/1980",
            ),
            _contact(
                "LC-T0002",
                "Zorabel",
                "Quillfeather",
                "03/20/2025",
                phone="(402) 555-0142",
                city="Lincoln",
                zip_code="68508",
                birth="07/07/1970",
            ),
        ],
    )
    with running_servers(data) as servers:
        for name, value in servers.loader_environment().items():
            monkeypatch.setenv(name, value)
        load("all", data_dir=data)
    _run(
        [
            "build",
            "--select",
            "+customers",
            "+customer_id_merges",
            "customer_identities",
            "customer_id_history",
            "--exclude",
            "resource_type:test",
            "resource_type:unit_test",
        ]
    )
    first = _identity_map(warehouse)
    customer_a = first[("legacy_crm", "LC-T0001")]
    customer_b = first[("legacy_crm", "LC-T0002")]
    assert customer_a != customer_b

    # An existing customer with an email, to join; and an unrelated new person.
    joined_system, joined_record, joined_email, joined_first, joined_last = _query(
        warehouse,
        """
        select r.source_system, r.source_record_id, r.email, r.first_name, r.last_name
        from intermediate.int_identity__source_records as r
        where r.source_system = 'hubspot' and r.email is not null and not r.is_role_email
            and r.first_name is not null and r.last_name is not null
        order by r.record_key limit 1
        """,
    )[0]
    joined_customer = first[(joined_system, joined_record)]
    _write_drop_file(
        data,
        "identity_test_2.csv",
        [
            _contact("LC-T0003", joined_first, joined_last, "05/05/2026", email=joined_email),
            _contact(
                "LC-T0004",
                "Ulrike",
                "Zwanzigmark",
                "06/06/2026",
                email="ulrike.zw@unrelated-test.org",
                city="Reno",
                zip_code="89501",
                birth="09/09/1990",
            ),
        ],
    )
    _load_csv(data)
    _run(IDENTITY_RUN)
    second = _identity_map(warehouse)
    assert {key: second[key] for key in first} == first, "an existing record changed its customer id"
    assert second[("legacy_crm", "LC-T0003")] == joined_customer
    assert second[("legacy_crm", "LC-T0004")] not in set(first.values())

    # A record with A's email and B's phone and name bridges the two customers: the older id survives.
    # Built with --full-refresh: every record not in the merge must still keep its id.
    _write_drop_file(
        data,
        "identity_test_3.csv",
        [
            _contact(
                "LC-T0005",
                "Zorabel",
                "Quillfeather",
                "07/01/2026",
                email="zorabel.q@qmail-test.org",
                phone="402-555-0142",
            ),
        ],
    )
    _load_csv(data)
    _run([*IDENTITY_RUN, "--full-refresh"])
    third = _identity_map(warehouse)
    for key in (("legacy_crm", "LC-T0001"), ("legacy_crm", "LC-T0002"), ("legacy_crm", "LC-T0005")):
        assert third[key] == customer_a
    unrelated = {key: value for key, value in second.items() if value not in (customer_a, customer_b)}
    assert {key: third[key] for key in unrelated} == unrelated
    merges = _query(
        warehouse, "select merged_customer_id, surviving_customer_id, merge_reason from marts.customer_id_merges"
    )
    assert [(m, s) for m, s, _ in merges] == [(customer_b, customer_a)]
    assert "LC-T0005" in merges[0][2]
    assert _query(warehouse, f"select count(*) from marts.customers where customer_id = '{customer_b}'") == [(0,)]
    history = _query(
        warehouse,
        "select change_reason from marts.customer_id_history"
        " where record_key = 'legacy_crm|LC-T0002' order by assigned_at",
    )
    assert [reason for (reason,) in history] == ["new_customer", "merge"]


def test_identity_resolution_meets_its_floor_on_the_demo(built_warehouse: Any) -> None:
    mine = ("identity", "customer_id_history", "customer_id_merges", "model.customer360.customers:", "_customers_")
    identity_failures = [
        f for f in built_warehouse.outcome.failures if any(part in f.split(":")[0] + ":" for part in mine)
    ]
    assert identity_failures == []
    scores = evaluate_warehouse(built_warehouse.path, built_warehouse.data / "truth" / "source_records.csv")
    assert scores.records_missing == 0 and scores.records_unlabelled == 0
    # Floors just under the measurement (300 people, seed 7: precision 1.0000 (945 pairs predicted),
    # recall 0.9864, blocking recall 0.9833, 297 customers for 292 people). Over-merging is the costly
    # error: one false pair in 945 already fails the precision floor.
    assert scores.precision >= 0.998, scores
    assert scores.recall >= 0.98, scores
    assert scores.blocking_recall is not None and scores.blocking_recall >= 0.98, scores
    assert scores.true_persons * 0.98 <= scores.customers <= scores.true_persons * 1.03, scores


def test_score_counts_pairs_from_group_sizes() -> None:
    con = duckdb.connect()
    con.execute(
        """
        create table truth as select * from (values
            ('s', '1', 'P1'), ('s', '2', 'P1'), ('s', '3', 'P1'), ('s', '4', 'P2'), ('s', '5', 'P3')
        ) as t(source_system, source_record_id, entity_id)
        """
    )
    # Customer c1 holds 1, 2 (right) and 4 (wrong); 3 is split off; 5 alone.
    con.execute(
        """
        create table predicted as select * from (values
            ('s', '1', 'c1'), ('s', '2', 'c1'), ('s', '4', 'c1'), ('s', '3', 'c2'), ('s', '5', 'c3')
        ) as t(source_system, source_record_id, customer_id)
        """
    )
    scores = score(con, "truth", "predicted")
    # true pairs: P1 has 3 records -> 3; predicted pairs: c1 has 3 -> 3; correct: (1,2) -> 1
    assert (scores.true_pairs, scores.predicted_pairs, scores.correct_pairs) == (3, 3, 1)
    assert scores.precision == pytest.approx(1 / 3) and scores.recall == pytest.approx(1 / 3)
    assert (scores.true_persons, scores.customers) == (3, 3)


def test_evaluate_prints_one_figure_a_line_for_a_labelled_sample(
    built_warehouse: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A labelled sample: the first 100 truth rows only.
    lines = (built_warehouse.data / "truth" / "source_records.csv").read_text(encoding="utf-8").splitlines()
    sample = tmp_path / "sample.csv"
    sample.write_text("\n".join(lines[:101]) + "\n", encoding="utf-8")
    monkeypatch.setenv("CUSTOMER360_DUCKDB_PATH", str(built_warehouse.path))
    assert evaluate(truth=sample) == 0
    out = capsys.readouterr().out.splitlines()
    figures = dict(line.split(": ", 1) for line in out)
    assert {"precision", "recall", "f1", "true_persons", "customers"} <= figures.keys()
    assert figures["records_scored"] == "100"
    assert 0.0 <= float(figures["f1"]) <= 1.0


def test_evaluate_rejects_a_truth_file_without_the_columns(built_warehouse: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("system,record,person\nhubspot,1,P1\n", encoding="utf-8")
    with pytest.raises(UserError, match="source_system, source_record_id, entity_id"):
        evaluate_warehouse(built_warehouse.path, bad)
    with pytest.raises(UserError, match="no truth file"):
        evaluate_warehouse(built_warehouse.path, tmp_path / "missing.csv")


def _declare_absent_sources(path: Path, template: Path) -> None:
    """Empty raw tables, shaped like ``template``'s, for the sources never loaded into ``path`` (staging
    reads every source)."""
    columns = _query(
        template,
        "select schema_name, table_name, column_name, data_type from duckdb_columns() "
        "where database_name = current_database() and schema_name like 'raw\\_%' escape '\\' "
        "and schema_name not like '%\\_staging' escape '\\' order by schema_name, table_name, column_index",
    )
    tables: dict[tuple[str, str], list[str]] = {}
    for schema, table, column, data_type in columns:
        tables.setdefault((schema, table), []).append(f'"{column}" {data_type}')
    present = {(schema, table) for schema, table in _query(path, "select schema_name, table_name from duckdb_tables()")}
    con = duckdb.connect(str(path))
    try:
        for (schema, table), definitions in tables.items():
            if (schema, table) not in present:
                con.execute(f'create schema if not exists "{schema}"')
                con.execute(f'create table "{schema}"."{table}" ({", ".join(definitions)})')
    finally:
        con.close()


def _learnt_parameters(
    root: Path, noise: float, template: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[tuple[str, str], tuple[float, float, str]], float, bool]:
    """Person records of the same people at ``noise``, loaded and built: the learnt (m, u, m_from) per
    level, the learnt prior, and the prior implied by the truth (matching pairs / all pairs)."""
    from ingestion.demo_kit.generate.person_records import generate_person_records
    from ingestion.loading import load

    data = root / f"noise_{noise}"
    path = root / f"noise_{noise}.duckdb"
    monkeypatch.setenv("CUSTOMER360_DUCKDB_PATH", str(path))
    monkeypatch.setenv("CUSTOMER360_PIPELINES_DIR", str(root / f"pipelines_{noise}"))
    generate_person_records(data, 1500, seed=11, as_of=PERSONS_AS_OF, noise=noise, progress=False)
    load("csv_contacts", data_dir=data)
    _declare_absent_sources(path, template)
    _run(
        [
            "build",
            "--select",
            "+int_identity__match_weight_estimates",
            "--exclude",
            "resource_type:test",
            "resource_type:unit_test",
        ]
    )
    rows = _query(
        path,
        "select comparison, level, m_probability, u_probability, m_from, em_converged "
        "from intermediate.int_identity__match_weight_estimates",
    )
    params = {(c, lv): (m, u, source) for c, lv, m, u, source, _ in rows}
    true_prior = _query(
        path,
        f"""
        with truth as (select * from read_csv('{data / "truth" / "source_records.csv"}', all_varchar = true)),
        sizes as (select count(*) as n from truth group by entity_id)
        select sum(n * (n - 1) / 2) / ((sum(n) * (sum(n) - 1)) / 2) from sizes
        """,
    )[0][0]
    return params, float(true_prior), all(converged for *_, converged in rows)


def test_weights_are_learnt_from_the_records_not_fixed(
    built_warehouse: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same people rendered with half and with twice the noise: EM converges on both, learns a
    prior close to the truth's, and learns the noise: clean data trusts exact agreement more, messy data
    gives typo-like levels more weight. Nothing is read from the generator's rates."""
    clean, clean_truth, clean_converged = _learnt_parameters(tmp_path, 0.5, built_warehouse.path, monkeypatch)
    messy, messy_truth, messy_converged = _learnt_parameters(tmp_path, 2.0, built_warehouse.path, monkeypatch)
    assert clean_converged and messy_converged
    for params in (clean, messy):
        for comparison in ("first_name", "last_name", "date_of_birth", "location"):
            assert params[(comparison, "different")][2] == "em", comparison
        assert params[("prior", "match")][2] == "em"
    # The prior: within a factor of two of the true share of matching pairs, for both.
    assert clean_truth / 2 < clean[("prior", "match")][0] < clean_truth * 2
    assert messy_truth / 2 < messy[("prior", "match")][0] < messy_truth * 2

    def m(params: dict[tuple[str, str], tuple[float, float, str]], comparison: str, *levels: str) -> float:
        return sum(params[(comparison, level)][0] for level in levels)

    # Exact agreement among matches: more common in clean data.
    assert m(clean, "first_name", "exact") > m(messy, "first_name", "exact") + 0.05
    assert m(clean, "last_name", "exact") > m(messy, "last_name", "exact") + 0.05
    assert m(clean, "date_of_birth", "exact") > m(messy, "date_of_birth", "exact") + 0.02
    # ... near misses (typos, transposed dates) more common in messy data.
    assert m(messy, "last_name", "fuzzy_high", "fuzzy_low") > m(clean, "last_name", "fuzzy_high", "fuzzy_low")
    assert m(messy, "date_of_birth", "typo") > m(clean, "date_of_birth", "typo")
    assert m(messy, "first_name", "swapped") > m(clean, "first_name", "swapped")
    # u describes different people, who are the same in both: it barely moves.
    assert clean[("last_name", "exact")][1] == pytest.approx(messy[("last_name", "exact")][1], rel=0.5)
