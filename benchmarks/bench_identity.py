"""Identity resolution benchmark (not a test): our dbt models vs Splink on the same staged records.

Both sides start from the staged source records of a built warehouse and are scored with the same
pairwise precision / recall / F1 against the generator's truth (ingestion.evaluate.score).

* ours:   `dbt run` of models/intermediate/identity + models/marts/customers (from the staging views
          to customer_identities; wall time includes dbt's own start-up and parse, and is also printed
          from the end of the parse on).
* Splink: Splink (DuckDB backend) on intermediate.int_identity__source_records, the same one row per
          source record, with a comparable configuration: the same blocking keys, the same compared
          fields (names with term frequencies, date of birth, email, phone, postal code, street, city),
          and the links the sources state (Shopify customer/order ids, HubSpot merges) as an exact-match
          key (`source_link_group`); trained the Splink way (prior from deterministic rules, u by random
          sampling, m by expectation maximisation), predicted and clustered at the same threshold.
          Wall time from reading the records to clusters.

Run (after `customer360 demo --customers N` or generate + load + `customer360 build`):

    python -m pip install -e ".[bench]"
    CUSTOMER360_DUCKDB_PATH=... CUSTOMER360_DATA_DIR=... python benchmarks/bench_identity.py

Person-records profiles (`customer360 generate --profile person-records|mixed`, then
`customer360 load csv_contacts`): pass `--profile person-records|mixed` (Splink's configuration for
such data) and, since staging reads every source, `--empty-sources-from DEMO_WAREHOUSE` once to create
empty raw tables for the sources that were never loaded; then `customer360 build`.

Both sides print wall and CPU seconds (the process's, so DuckDB's threads count). The machine may be
shared: run the two back to back (as here) and compare CPU seconds when the load moves.

Options: --skip-ours (score the existing customer_identities without rebuilding), --threshold P.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingestion.evaluate import (
    LINKABLE_RECORDS,
    Scores,
    connect_warehouse,
    default_truth_path,
    score,
    score_linkable,
)
from ingestion.settings import Settings

# Models that build the input both sides use: one row per source record, and its identifiers (for the
# source-stated links Splink gets as `source_link_group`).
SHARED_PREPARATION = (
    "int_identity__segment_observations",
    "int_identity__observations",
    "int_identity__source_records",
    "int_identity__identifiers",
)
# The like-for-like span: from the first model after the shared preparation to the clusters, the work
# Splink's timed span does (read the records, train, predict, cluster).
CLUSTERS_MODEL = "int_identity__clusters"
SOURCE_LINK_TYPES = ("shopify_customer", "shopify_order", "hubspot_contact")
SPLINK_COLUMNS = """
    record_key as unique_id,
    source_system,
    source_record_id,
    given_name_canonical,
    first_name_key,
    last_name_key,
    last_name_phonetic,
    first_name_phonetic,
    cast(date_of_birth as varchar) as date_of_birth,
    case when not is_role_email then email_match_key end as email_match_key,
    case when not is_role_email then email_local_part end as email_local_part,
    phone_e164,
    postal_code,
    address_key,
    city_key,
    region_code
"""


@dataclass
class Result:
    name: str
    scores: Scores
    seconds: float
    cpu_seconds: float = 0.0
    # ours: the same, from the end of dbt's parse (models and the project's hooks only)
    run_seconds: float = 0.0
    run_cpu_seconds: float = 0.0
    # ours: from the first model after the shared preparation starts to the clusters (Splink's span)
    matching_seconds: float = 0.0
    matching_cpu_seconds: float = 0.0


def _truth_relation(truth: Path) -> str:
    return f"read_csv('{str(truth).replace(chr(39), chr(39) * 2)}', header = true, all_varchar = true)"


def run_ours(warehouse: Path, truth: Path, skip_build: bool) -> Result:
    seconds = cpu_seconds = run_wall = run_cpu = 0.0
    if not skip_build:
        from dbt.cli.main import dbtRunner

        root = str(Settings.from_environment().dbt_project())
        parsed: list[tuple[float, float]] = []  # (wall, CPU) when dbt has parsed and starts the run
        matching: list[tuple[float, float]] = []  # (wall, CPU) at the first matching model's start, clusters' end

        def on_event(event: Any) -> None:
            name = event.info.name
            if name == "ConcurrencyLine" and not parsed:
                parsed.append((time.perf_counter(), time.process_time()))
            elif name in ("NodeStart", "NodeFinished"):
                model = event.data.node_info.unique_id.rsplit(".", 1)[-1]
                starts = name == "NodeStart" and not matching and model.startswith("int_identity__")
                starts = starts and model not in SHARED_PREPARATION
                ends = name == "NodeFinished" and model == CLUSTERS_MODEL and len(matching) == 1
                if starts or ends:
                    matching.append((time.perf_counter(), time.process_time()))

        started, cpu_started = time.perf_counter(), time.process_time()
        selection = ["--select", "path:models/intermediate/identity", "path:models/marts/customers"]
        result = dbtRunner(callbacks=[on_event]).invoke(
            ["run", *selection, "--project-dir", root, "--profiles-dir", root]
        )
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        ended, cpu_ended = time.perf_counter(), time.process_time()
        run_wall, run_cpu = (ended - parsed[0][0], cpu_ended - parsed[0][1]) if parsed else (seconds, cpu_seconds)
        if len(matching) != 2:
            raise SystemExit("dbt's events did not show the matching span (first matching model to the clusters)")
        matching_wall, matching_cpu = matching[1][0] - matching[0][0], matching[1][1] - matching[0][1]
        if not result.success:
            raise SystemExit(f"dbt run failed: {result.exception or result.result}")
        # dbt's own figures: executing the models, without its start-up and project parsing; and the
        # matching alone, without the preparation both sides share (Splink reads its output).
        timings = {r.node.name: r.execution_time for r in result.result.results}
        # dbt's results also list the project's on-run-start/-end hooks
        models = {r.node.name: r.execution_time for r in result.result.results if r.node.resource_type == "model"}
        matching = sum(t for name, t in models.items() if name not in SHARED_PREPARATION)
        print(
            f"ours: dbt run {seconds:.1f}s wall, {cpu_seconds:.1f}s CPU (timed: dbt's start-up and parse, then the "
            f"{len(models)} models of models/intermediate/identity and models/marts/customers and the project's "
            f"hooks, no tests); after parsing {run_wall:.1f}s wall, {run_cpu:.1f}s CPU, of which the project's "
            f"on-run hooks {sum(timings.values()) - sum(models.values()):.1f}s; preparing the records both sides "
            f"use {sum(models[n] for n in SHARED_PREPARATION):.1f}s; matching, clustering, ids and golden record "
            f"{matching:.1f}s (model times summed)"
        )
        slowest = sorted(models.items(), key=lambda item: -item[1])[:6]
        print("ours, slowest models: " + ", ".join(f"{name} {t:.1f}s" for name, t in slowest))
    con = connect_warehouse(warehouse)
    try:
        scores = _scores(con, truth, "marts.customer_identities", f"({LINKABLE_RECORDS})")
        return Result("ours (dbt)", scores, seconds, cpu_seconds, run_wall, run_cpu, matching_wall, matching_cpu)
    finally:
        con.close()


def _scores(con: duckdb.DuckDBPyConnection, truth: Path, identities: str, linkable: str) -> Scores:
    scores = score(con, _truth_relation(truth), identities)
    linkable_true, linkable_correct = score_linkable(con, _truth_relation(truth), identities, linkable)
    return replace(scores, linkable_true_pairs=linkable_true, linkable_correct_pairs=linkable_correct)


def _source_link_groups(warehouse: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Records the sources themselves say are one person (union-find over shared source ids)."""
    rows = warehouse.execute(
        f"""
        select 'r:' || record_key, 'i:' || identifier_type || ':' || identifier_value
        from intermediate.int_identity__identifiers
        where identifier_type in {SOURCE_LINK_TYPES} and is_usable
        """
    ).fetchall()
    return {node[2:]: label for node, label in _union_find(rows).items() if node.startswith("r:")}


def run_splink(
    warehouse_path: Path,
    truth: Path,
    threshold: float,
    model_out: Path | None = None,
    profile: str = "demo",
    one_location: bool = False,
) -> list[Result]:
    from splink import DuckDBAPI

    logging.getLogger("splink").setLevel(logging.WARNING)
    started, cpu_started = time.perf_counter(), time.process_time()
    warehouse = connect_warehouse(warehouse_path)
    try:
        table = warehouse.sql(
            f"select {SPLINK_COLUMNS} from intermediate.int_identity__source_records"
        ).to_arrow_table()
        groups = _source_link_groups(warehouse)
        linkable = warehouse.sql(LINKABLE_RECORDS).to_arrow_table()
    finally:
        warehouse.close()
    con = duckdb.connect()
    # DuckDB 2.0: a connection with an unfinished result refuses other work, so every statement here is
    # fetched before Splink takes the connection over.
    con.register("records_arrow", table)
    con.execute("create table link_groups (unique_id varchar, source_link_group varchar)").fetchall()
    if groups:
        con.executemany("insert into link_groups values (?, ?)", list(groups.items()))
    con.execute(
        """
        create table records as
        select records_arrow.*, link_groups.source_link_group
        from records_arrow left join link_groups using (unique_id)
        """
    ).fetchall()
    con.unregister("records_arrow")
    con.register("linkable_arrow", linkable)
    con.execute("create table linkable as select * from linkable_arrow").fetchall()
    con.unregister("linkable_arrow")
    db_api = DuckDBAPI(connection=con)
    linker = (
        _demo_linker(db_api)
        if profile == "demo"
        else _person_linker(db_api, with_email=profile == "mixed", one_location=one_location)
    )
    label = "Splink, one location" if one_location else "Splink"
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if model_out is not None:
        linker.misc.save_model_to_json(str(model_out), overwrite=True)

    results = []
    for cut in sorted({threshold, 0.9, 0.999}):
        clustered = (
            clusters
            if cut == threshold
            else linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, cut)
        )
        con.execute(
            f"""
            create or replace table splink_clusters as
            select records.source_system, records.source_record_id, cast(clustered.cluster_id as varchar) as customer_id
            from {clustered.physical_name} as clustered
            inner join records using (unique_id)
            """
        ).fetchall()
        name = f"{label} @ {cut}" + (" (timed)" if cut == threshold else "")
        timed = (seconds, cpu_seconds) if cut == threshold else (0.0, 0.0)
        results.append(Result(name, _scores(con, truth, "splink_clusters", "linkable"), *timed))

        if not groups:
            continue
        # The same predictions clustered together with the source-stated links as certain edges, as
        # our side does: Splink's model alone needs other agreeing fields to overcome its prior.
        pairs = con.execute(
            f"select unique_id_l, unique_id_r from {predictions.physical_name} where match_probability >= {cut}"
        ).fetchall()
        labels = _union_find([*pairs, *((record, "group:" + group) for record, group in groups.items())])
        con.execute("create or replace table splink_linked (unique_id varchar, customer_id varchar)").fetchall()
        con.executemany(
            "insert into splink_linked values (?, ?)",
            [(node, label) for node, label in labels.items() if not node.startswith("group:")],
        )
        con.execute(
            """
            create or replace table splink_clusters as
            select records.source_system, records.source_record_id,
                coalesce(splink_linked.customer_id, records.unique_id) as customer_id
            from records left join splink_linked using (unique_id)
            """
        ).fetchall()
        results.append(
            Result(f"{label} @ {cut} + source links", _scores(con, truth, "splink_clusters", "linkable"), 0.0)
        )
    return results


def _demo_linker(db_api: Any) -> Any:
    """The demo's comparable configuration: source links, emails and phones as well as persons' fields."""
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on

    settings_creator = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.ExactMatch("source_link_group"),
            cl.JaroWinklerAtThresholds("given_name_canonical", [0.92, 0.8]).configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("last_name_key", [0.92, 0.8]).configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("date_of_birth", [1]),
            cl.EmailComparison("email_match_key"),
            cl.ExactMatch("phone_e164"),
            cl.ExactMatch("postal_code"),
            cl.JaroWinklerAtThresholds("address_key", [0.9]),
            cl.ExactMatch("city_key").configure(term_frequency_adjustments=True),
        ],
        # The same blocking keys as var identity_blocking_rules, plus the deterministic keys (which our
        # side links as strong edges before blocking).
        blocking_rules_to_generate_predictions=[
            block_on("source_link_group"),
            block_on("email_match_key"),
            block_on("phone_e164"),
            block_on("postal_code", "substr(last_name_key, 1, 1)"),
            block_on("date_of_birth", "substr(given_name_canonical, 1, 1)"),
            block_on("last_name_phonetic", "given_name_canonical"),
            block_on("email_local_part"),
            block_on("regexp_extract(email_local_part, '[0-9]{3,}')"),
            block_on("given_name_canonical", "city_key", "substr(last_name_key, 1, 1)"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(db_api.register("records"), settings_creator)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("source_link_group"), block_on("email_match_key")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("email_match_key"), record_sample_proportion=1.0
    )
    # A date-of-birth block for the second round: household members share postal code and surname,
    # and EM on such a block learns households as matches.
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth"), record_sample_proportion=1.0
    )
    return linker


def _location_comparison() -> Any:
    """Street, postal code, city and region as ONE comparison (most specific level first), as ours: the
    documented separate comparisons count one shared home four times, so households merge."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    def both(column: str) -> str:
        return f"{column}_l is not null and {column}_r is not null"

    return cl.CustomComparison(
        output_column_name="location",
        comparison_levels=[
            cll.CustomLevel(
                "coalesce(address_key_l, postal_code_l, city_key_l, region_code_l) is null "
                "or coalesce(address_key_r, postal_code_r, city_key_r, region_code_r) is null"
            ).configure(is_null_level=True),
            cll.CustomLevel(
                f"{both('address_key')} and address_key_l = address_key_r "
                "and (postal_code_l = postal_code_r or city_key_l = city_key_r)",
                "same street line",
            ),
            cll.CustomLevel(f"{both('postal_code')} and postal_code_l = postal_code_r", "same postal code"),
            cll.CustomLevel(f"{both('city_key')} and city_key_l = city_key_r", "same city"),
            cll.CustomLevel(f"{both('region_code')} and region_code_l = region_code_r", "same region"),
            cll.ElseLevel(),
        ],
    )


def _person_linker(db_api: Any, with_email: bool, one_location: bool = False) -> Any:
    """Person records (names, addresses, dates of birth; an email on some records in `mixed`): Splink's
    documented setup for such data (its name, date-of-birth and email comparisons with their default
    thresholds, term frequencies on names and city), blocking on the same keys as ours, trained the
    documented way (prior from a deterministic rule at an assumed recall, u by random sampling, m by
    EM on two blocks)."""
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on
    from splink.blocking_rule_library import CustomRule

    location = (
        [_location_comparison()]
        if one_location
        else [
            cl.ExactMatch("postal_code"),
            cl.JaroWinklerAtThresholds("address_key", [0.9]),
            cl.ExactMatch("city_key").configure(term_frequency_adjustments=True),
            cl.ExactMatch("region_code"),
        ]
    )
    comparisons = [
        cl.NameComparison("first_name_key").configure(term_frequency_adjustments=True),
        cl.NameComparison("last_name_key").configure(term_frequency_adjustments=True),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True),
        *location,
    ]

    # ours, rule by rule (var identity_blocking_rules): the date of birth with a shared name initial in
    # either position, the phonetic surname and given name within a region
    def initials(left: str, right: str) -> Any:
        return CustomRule(f"l.date_of_birth = r.date_of_birth and substr(l.{left}, 1, 1) = substr(r.{right}, 1, 1)")

    blocking = [
        block_on("date_of_birth", "substr(first_name_key, 1, 1)"),
        block_on("date_of_birth", "substr(last_name_key, 1, 1)"),
        initials("first_name_key", "last_name_key"),
        initials("last_name_key", "first_name_key"),
        block_on("postal_code", "substr(last_name_key, 1, 2)"),
        block_on("first_name_key", "last_name_key"),
        block_on("last_name_phonetic", "given_name_canonical", "region_code"),
        block_on("first_name_phonetic", "last_name_phonetic"),
        block_on("given_name_canonical", "city_key", "substr(last_name_key, 1, 1)"),
    ]
    if with_email:
        comparisons.append(cl.EmailComparison("email_match_key"))
        blocking.append(block_on("email_match_key"))
    settings_creator = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(db_api.register("records"), settings_creator)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name_key", "last_name_key", "date_of_birth")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name_key", "last_name_key"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    return linker


def _union_find(edges: list[tuple[str, str]]) -> dict[str, str]:
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in edges:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)
    return {node: find(node) for node in list(parent)}


def declare_absent_sources(warehouse: Path, template: Path) -> int:
    """Empty raw tables, shaped like ``template``'s (a warehouse with every source loaded), for the
    sources never loaded into ``warehouse``: staging reads every source, and a person-records warehouse
    holds one CSV drop only. Returns the tables created."""
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(f"attach '{str(template).replace(chr(39), chr(39) * 2)}' as template (read_only)").fetchall()
        present = set(
            con.execute(
                "select schema_name, table_name from duckdb_tables() where database_name = current_database()"
            ).fetchall()
        )
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'template' "
            "and schema_name like 'raw\\_%' escape '\\' and schema_name not like '%\\_staging' escape '\\'"
        ).fetchall()
        created = 0
        for schema, table in tables:
            if (schema, table) not in present:
                con.execute(f'create schema if not exists "{schema}"').fetchall()
                con.execute(
                    f'create table "{schema}"."{table}" as select * from template."{schema}"."{table}" limit 0'
                ).fetchall()
                created += 1
        return created
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", type=Path, default=None, help="default: DATA/truth/source_records.csv")
    parser.add_argument("--threshold", type=float, default=0.99, help="Splink clustering match probability")
    parser.add_argument("--skip-ours", action="store_true", help="score customer_identities without rebuilding")
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument("--splink-model", type=Path, default=None, help="save Splink's trained model (JSON) here")
    parser.add_argument(
        "--profile",
        choices=("demo", "person-records", "mixed"),
        default="demo",
        help="the generator profile of the loaded data (selects Splink's comparable configuration)",
    )
    parser.add_argument(
        "--empty-sources-from",
        type=Path,
        default=None,
        help="a warehouse with every source loaded: empty raw tables like its are created for absent sources",
    )
    args = parser.parse_args(argv)
    # As the customer360 command does (ingestion/cli.py): dlt (which the project's dbt plugin asks for the
    # erasure salt) would otherwise import Airflow, when installed, to look for secrets there (~5-10 s).
    os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")
    settings = Settings.from_environment()
    warehouse = settings.duckdb_path
    if args.empty_sources_from is not None:
        print(f"created {declare_absent_sources(warehouse, args.empty_sources_from)} empty raw tables")
    truth = (args.truth or default_truth_path(settings.data_dir)).resolve()
    print(f"load average before the run: {' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1 / 5 / 15 min)")
    results = [run_ours(warehouse, truth, skip_build=args.skip_ours)]
    if not args.skip_splink:
        results.extend(run_splink(warehouse, truth, args.threshold, args.splink_model, args.profile))
        if args.profile != "demo":
            # Also Splink with street, postal code, city and region as one comparison, as ours.
            results.extend(run_splink(warehouse, truth, args.threshold, None, args.profile, one_location=True))
    print(f"records: {results[0].scores.records_scored:,}  true persons: {results[0].scores.true_persons:,}")
    print(
        f"{'method':<32} {'precision':>9} {'recall':>8} {'f1':>8} {'recall*':>8} {'customers':>10} {'seconds':>8} "
        f"{'cpu s':>7}"
    )
    for result in results:
        s = result.scores
        seconds = f"{result.seconds:8.1f}" if result.seconds else f"{'-':>8}"
        cpu = f"{result.cpu_seconds:7.1f}" if result.seconds else f"{'-':>7}"
        print(
            f"{result.name:<32} {s.precision:9.4f} {s.recall:8.4f} {s.f1:8.4f} {s.recall_linkable or 0:8.4f} "
            f"{s.customers:10,} {seconds} {cpu}"
        )
        if result.run_seconds:
            print(f"{'  ... after dbt parsed':<76} {result.run_seconds:8.1f} {result.run_cpu_seconds:7.1f}")
        if result.matching_seconds:
            print(
                f"{'  ... matching: source records to clusters':<76} {result.matching_seconds:8.1f} "
                f"{result.matching_cpu_seconds:7.1f}"
            )
    print("recall* = recall over pairs of records that carry at least one identifying value")
    print(
        "matching = ours from the first model after the shared preparation to the clusters: the span Splink's "
        "time covers (read the prepared records, train, predict, cluster); ours also runs ids, history and "
        "the golden record, which Splink does not"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
