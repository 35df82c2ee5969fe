"""The `customer360` command: demo | generate | serve | load | build | sql | evaluate.

User errors (bad paths, unreachable servers, a locked DuckDB file ...) print one line on stderr and exit
with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from ingestion import settings
from ingestion.errors import UserError

SOURCES = ("hubspot", "shopify", "segment", "csv_contacts")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="customer360", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="generate demo data, serve it, load it with dlt, run dbt build")
    demo.add_argument("--customers", type=_positive_int, default=5000, help="people to generate (default 5000)")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--as-of", type=_iso_date, default=None, help="last day of generated history")
    demo.add_argument("--data", type=Path, default=None, help=f"data folder (default {settings.DEFAULT_DATA_DIR})")

    generate = commands.add_parser("generate", help="write demo data with ground truth to a folder")
    generate.add_argument("--out", type=Path, default=None, help=f"default {settings.DEFAULT_DATA_DIR}")
    generate.add_argument("--customers", type=_positive_int, default=5000)
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--as-of", type=_iso_date, default=None)
    generate.add_argument(
        "--profile",
        choices=("demo", "person-records", "mixed"),
        default="demo",
        help="demo: every source with truth; person-records: CSV person records (names, addresses, dates of "
        "birth; no email, no phone) with realistic noise; mixed: the same, part of the records with an email",
    )
    generate.add_argument("--noise", type=float, default=1.0, help="person-records/mixed: noise rate multiplier")
    generate.add_argument(
        "--delta",
        action="store_true",
        help="add the next small batch (new people, changed contacts, new orders and events, late events) to "
        "the existing demo folder --out, as new files next to the old ones (none is rewritten)",
    )
    generate.add_argument(
        "--delta-share", type=float, default=0.01, help="--delta: about this share of the people touched (0.01)"
    )

    serve = commands.add_parser("serve", help="serve generated data as local HubSpot and Shopify APIs")
    serve.add_argument("--data", type=Path, default=None)
    serve.add_argument("--hubspot-port", type=int, default=8701)
    serve.add_argument("--shopify-port", type=int, default=8702)

    load = commands.add_parser("load", help="load one source (or all) into DuckDB with dlt")
    load.add_argument("source", choices=(*SOURCES, "all"))
    load.add_argument("--data", type=Path, default=None, help="demo data folder, for file sources")
    load.add_argument("--path", type=Path, default=None, help="segment: events folder; csv_contacts: drop folder")
    load.add_argument("--mapping", type=Path, default=None, help="csv_contacts: header mapping JSON")
    load.add_argument("--source-name", default=None, help="csv_contacts: the source system name of the drop")

    # `build` hands everything after it to dbt (main() splits it off before argparse sees it).
    commands.add_parser("build", help="run dbt build on the warehouse; every argument after it goes to dbt")

    sql = commands.add_parser("sql", help="query the warehouse (read-only): one query, or statements from stdin")
    sql.add_argument("query", nargs="?", default=None, help="SQL to run; omit to read statements ending in ';'")

    evaluate = commands.add_parser("evaluate", help="score customer_identities against ground truth")
    evaluate.add_argument("--truth", type=Path, default=None, help="CSV: source_system, source_record_id, entity_id")
    evaluate.add_argument(
        "--errors", type=Path, default=None, help="write sampled false-positive/false-negative pairs (CSV) here"
    )
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "generate" and args.delta:
        from ingestion.generate.delta import generate_delta

        entry = generate_delta(args.out or settings.data_dir(), share=args.delta_share)
        print(f"wrote delta {entry['number']} ({len(entry['files'])} new files) to {args.out or settings.data_dir()}")
        return 0
    if args.command == "generate":
        if args.profile != "demo":
            from ingestion.generate.person_records import generate_person_records

            manifest = generate_person_records(
                args.out or settings.data_dir(), args.customers, args.seed, args.profile, args.as_of, args.noise
            )
            records = sum(manifest["row_counts"].values())
            print(f"wrote {records:,} records for {args.customers:,} people to {manifest['out']}")
            return 0
        from ingestion.generate import generate

        manifest = generate(args.out or settings.data_dir(), customers=args.customers, seed=args.seed, as_of=args.as_of)
        print(f"wrote {sum(manifest['row_counts'].values()):,} rows for {args.customers:,} people to {manifest['out']}")
        return 0
    if args.command == "serve":
        from ingestion.servers.run import serve

        serve(args.data or settings.data_dir(), hubspot_port=args.hubspot_port, shopify_port=args.shopify_port)
        return 0
    if args.command == "load":
        from ingestion.loading import load

        for summary in load(
            args.source, data_dir=args.data, path=args.path, mapping=args.mapping, source_name=args.source_name
        ):
            print(summary.line())
        return 0
    if args.command == "build":
        from ingestion.dbt_runner import print_outcome, run_dbt

        result = run_dbt(["build", *args.dbt_args], progress=sys.stderr)
        print_outcome(result)
        return 0 if result.success else 1
    if args.command == "demo":
        from ingestion.demo import run_demo

        return run_demo(customers=args.customers, seed=args.seed, as_of=args.as_of, data_dir=args.data)
    if args.command == "sql":
        from ingestion.sql_shell import run_sql

        return run_sql(settings.duckdb_path(), args.query)
    if args.command == "evaluate":
        from ingestion.evaluate import evaluate

        return evaluate(truth=args.truth, errors=args.errors)
    raise AssertionError(f"unhandled command {args.command}")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    argv = sys.argv[1:] if argv is None else argv
    dbt_args: list[str] = []
    if argv[:1] == ["build"]:
        # argparse cannot pass options it does not know (--select, -s, --vars ...) through a subcommand
        dbt_args = argv[1:]
        dbt_args = dbt_args[1:] if dbt_args[:1] == ["--"] else dbt_args
        argv = ["build"]
    args = build_parser().parse_args(argv)
    args.dbt_args = dbt_args
    try:
        return _run(args)
    except UserError as error:
        print(f"customer360: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("customer360: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
