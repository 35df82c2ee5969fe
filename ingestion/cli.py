"""The `customer360` command: demo, generate, serve, load, build, mapping, sync, erase, sql, evaluate, run, report.

User errors (bad paths, unreachable servers, a locked DuckDB file ...) print one line on stderr and exit
with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

from ingestion import settings as defaults
from ingestion.errors import UserError, device_state_error
from ingestion.settings import Settings
from ingestion.sources import LOADED_SOURCES

FEEDBACK_SOURCES = ("mailchimp",)  # loaded on their own (and by `sync`), not by `load all`
DEMO_KIT_COMMANDS = ("demo", "generate", "serve")  # the commands that use ingestion.demo_kit
CHANGED_ONLY = "--changed"  # `build --changed`: only what reads source tables changed since the last complete build


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
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help=f"the dbt project folder (default: ${defaults.PROJECT_DIR_ENV}, else the current folder if it holds "
        "dbt_project.yml, else the source checkout)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="generate demo data, serve it, load it with dlt, run dbt build")
    demo.add_argument("--customers", type=_positive_int, default=5000, help="people to generate (default 5000)")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--as-of", type=_iso_date, default=None, help="last day of generated history")
    demo.add_argument(
        "--data", type=Path, default=None, help=f"data folder (default <project>/{defaults.DEFAULT_DATA_DIR})"
    )

    generate = commands.add_parser("generate", help="write demo data with ground truth to a folder")
    generate.add_argument("--out", type=Path, default=None, help=f"default <project>/{defaults.DEFAULT_DATA_DIR}")
    generate.add_argument("--customers", type=_positive_int, default=5000)
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--as-of", type=_iso_date, default=None)
    generate.add_argument(
        "--profile",
        choices=("demo", "person-records", "mixed", "run-history"),
        default="demo",
        help="demo: every source with truth; person-records: CSV person records (names, addresses, dates of "
        "birth; no email, no phone) with realistic noise; mixed: the same, part of the records with an email",
    )
    generate.add_argument("--noise", type=float, default=1.0, help="person-records/mixed: noise rate multiplier")
    generate.add_argument(
        "--runs", type=_positive_int, default=29, help="run-history: daily runs appended to the warehouse's history"
    )
    generate.add_argument(
        "--planted-outage", default=None, help="run-history: the source that delivers 0 rows in the last run"
    )
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
    serve.add_argument("--mailchimp-port", type=int, default=8703)

    load = commands.add_parser("load", help="load one source (or all) into DuckDB with dlt")
    load.add_argument("source", choices=(*LOADED_SOURCES, *FEEDBACK_SOURCES, "all"))
    load.add_argument("--data", type=Path, default=None, help="demo data folder, for file sources")
    load.add_argument("--path", type=Path, default=None, help="segment: events folder; csv_contacts: drop folder")
    load.add_argument("--mapping", type=Path, default=None, help="csv_contacts: header mapping JSON")
    load.add_argument("--source-name", default=None, help="csv_contacts: the source system name of the drop")

    sync = commands.add_parser(
        "sync", help="feedback in, then the audience and cart triggers out to the email platform (Mailchimp)"
    )
    sync.add_argument("--dry-run", action="store_true", help="print the member diff and counts; write nothing")
    sync.add_argument("--full", action="store_true", help="resend every audience member, changed or not")
    sync.add_argument("--no-triggers", action="store_true", help="sync the audience only, send no trigger")

    # `build` hands everything after it to dbt (main() splits it off before argparse sees it).
    commands.add_parser(
        "build",
        help="run dbt build on the warehouse; every argument after it goes to dbt",
        description="Apply pending erasure requests, then run `dbt build` on the warehouse. Every argument after "
        "`build` goes to dbt build (for example --select +customers, --full-refresh, --vars '{...}'): "
        "`dbt build --help` lists them. Unit tests are left out (they test the SQL's logic on fixed rows, not the "
        "data: CI runs them); --include-unit-tests runs them too. --changed builds only what reads the source tables "
        "that changed since the last complete build (nothing when none did; everything when the project changed or "
        "no build in full ran for 24 h).",
    )

    mapping = commands.add_parser("mapping", help="help with CSV drop mappings")
    mapping_commands = mapping.add_subparsers(dest="mapping_command", required=True)
    suggest = mapping_commands.add_parser(
        "suggest", help="propose a mapping for a CSV drop from its headers and sample values, for review"
    )
    suggest.add_argument("--path", type=Path, required=True, help="the drop folder (its *.csv files)")
    suggest.add_argument("--out", type=Path, default=None, help="write the mapping here (default: print it)")
    suggest.add_argument("--force", action="store_true", help="replace --out if it exists")
    erase = commands.add_parser(
        "erase", help="record erasure requests (salted hashes only); --apply removes the people now"
    )
    erase.add_argument("--email", default=None, help="the person's email address")
    erase.add_argument("--phone", default=None, help="the person's phone in international form (+44 ...)")
    erase.add_argument("--file", type=Path, default=None, help="CSV of requests: email,phone[,reason]")
    erase.add_argument(
        "--hubspot",
        type=Path,
        default=None,
        help="HubSpot gdpr-delete bodies or contact.privacyDeletion webhook events (file or folder)",
    )
    erase.add_argument(
        "--shopify",
        type=Path,
        default=None,
        help="Shopify customers/redact webhook payloads or stored deliveries (file or folder)",
    )
    erase.add_argument("--reason", default="data subject erasure request", help="why (kept in the audit table)")
    erase.add_argument("--apply", action="store_true", help="apply pending requests now, then run dbt build")
    erase.add_argument("--status", action="store_true", help="list the requests (hashes only, when, why, status)")

    sql = commands.add_parser("sql", help="query the warehouse (read-only): one query, or statements from stdin")
    sql.add_argument("query", nargs="?", default=None, help="SQL to run; omit to read statements ending in ';'")

    evaluate = commands.add_parser("evaluate", help="score customer_identities against ground truth")
    evaluate.add_argument("--truth", type=Path, default=None, help="CSV: source_system, source_record_id, entity_id")
    evaluate.add_argument(
        "--errors", type=Path, default=None, help="write sampled false-positive/false-negative pairs (CSV) here"
    )
    run = commands.add_parser("run", help="load all, gate, build, record quality figures, check anomalies, publish")
    run.add_argument("--data", type=Path, default=None, help="demo data folder, for file sources")
    run.add_argument("--vars", default=None, help="dbt --vars for the build (YAML)")

    report = commands.add_parser("report", help="write the monitoring report (one static HTML file)")
    report.add_argument("--out", type=Path, default=None, help="default warehouse/monitoring_report.html")
    return parser


def _demo_kit_command(args: argparse.Namespace, settings: Settings) -> int:
    """demo, generate and serve: the only commands that load the demo kit (lazily, so production never does)."""
    if args.command == "generate" and args.delta:
        from ingestion.demo_kit.generate.delta import generate_delta

        entry = generate_delta(args.out or settings.data_dir, share=args.delta_share)
        print(f"wrote delta {entry['number']} ({len(entry['files'])} new files) to {args.out or settings.data_dir}")
        return 0
    if args.command == "generate":
        if args.profile == "run-history":
            from ingestion.demo_kit.generate.run_history import write_history
            from ingestion.orchestration.steps import connect, warehouse_writer_lock

            with warehouse_writer_lock(settings=settings):
                con = connect(settings)
                try:
                    rows = write_history(con, args.runs, args.as_of or date.today(), args.seed, args.planted_outage)
                except ValueError as error:
                    raise UserError(str(error)) from error
                finally:
                    con.close()
            print(f"appended {args.runs} generated runs ({len(rows):,} figures) to monitoring.run_metrics")
            return 0
        if args.profile != "demo":
            from ingestion.demo_kit.generate.person_records import generate_person_records

            manifest = generate_person_records(
                args.out or settings.data_dir, args.customers, args.seed, args.profile, args.as_of, args.noise
            )
            records = sum(manifest["row_counts"].values())
            print(f"wrote {records:,} records for {args.customers:,} people to {manifest['out']}")
            return 0
        from ingestion.demo_kit.generate import generate

        manifest = generate(args.out or settings.data_dir, customers=args.customers, seed=args.seed, as_of=args.as_of)
        print(f"wrote {sum(manifest['row_counts'].values()):,} rows for {args.customers:,} people to {manifest['out']}")
        return 0
    if args.command == "serve":
        from ingestion.demo_kit.servers.run import serve

        serve(
            args.data or settings.data_dir,
            hubspot_port=args.hubspot_port,
            shopify_port=args.shopify_port,
            mailchimp_port=args.mailchimp_port,
        )
        return 0
    if args.command == "demo":
        from ingestion.demo_kit.demo import run_demo

        return run_demo(
            customers=args.customers, seed=args.seed, as_of=args.as_of, data_dir=args.data, settings=settings
        )
    raise AssertionError(f"unhandled command {args.command}")


def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_environment(project_dir=args.project_dir)  # the one place settings are resolved
    if args.command in DEMO_KIT_COMMANDS:
        return _demo_kit_command(args, settings)
    if args.command == "load":
        from ingestion.loading import LoadAllFailed, LoadAllInterrupted, load

        try:
            summaries = load(
                args.source,
                data_dir=args.data,
                path=args.path,
                mapping=args.mapping,
                source_name=args.source_name,
                settings=settings,
            )
        except (LoadAllFailed, LoadAllInterrupted) as stopped:
            for summary in stopped.committed:  # what did load, before the line that says what stopped it
                print(summary.line())
            raise
        for summary in summaries:
            print(summary.line())
        return 0
    if args.command == "build":
        from ingestion.build_state import changed_refusal
        from ingestion.dbt_runner import print_outcome, production_build_args, run_dbt
        from ingestion.privacy.erasure import apply_pending, print_run

        settings.dbt_project()  # no project folder: say so before touching the warehouse
        changed_only = CHANGED_ONLY in args.dbt_args
        dbt_args = [arg for arg in args.dbt_args if arg != CHANGED_ONLY]
        refusal = changed_refusal(dbt_args) if changed_only else None
        if refusal:
            raise UserError(refusal)
        print_run(apply_pending(settings=settings))  # erasure requests first: no build ever sees an erased person
        build_args = production_build_args(["build", *dbt_args])
        result = run_dbt(build_args, progress=sys.stderr, settings=settings, changed_only=changed_only)
        print_outcome(result)
        return 0 if result.success else 1
    if args.command == "sync":
        from ingestion.activation.sync import sync

        result = sync(dry_run=args.dry_run, full=args.full, triggers=not args.no_triggers, settings=settings)
        print(result.line())
        return 0
    if args.command == "erase":
        from ingestion.privacy.commands import erase

        return erase(args, settings)
    if args.command == "mapping":
        from ingestion.mapping_suggest import suggest_mapping, write_mapping

        suggestion = suggest_mapping(args.path, settings)
        if args.out is None:  # the mapping on stdout (redirect it to a file), the review on stderr
            print(json.dumps(suggestion.mapping, indent=2))
            print("\n".join(suggestion.review()), file=sys.stderr)
            return 0
        write_mapping(suggestion, args.out, args.force)
        print("\n".join(suggestion.review()))
        print(f"wrote {args.out}: review it, then load the drop with it:")
        print(f"  customer360 load csv_contacts --path {args.path} --mapping {args.out} --source-name NAME")
        return 0
    if args.command == "sql":
        from ingestion.sql_shell import run_sql

        return run_sql(settings.duckdb_path, args.query)
    if args.command == "evaluate":
        from ingestion.evaluate import evaluate

        return evaluate(truth=args.truth, errors=args.errors, settings=settings)
    if args.command == "run":
        from ingestion.orchestration.runner import run_command

        return run_command(args.data, ["--vars", args.vars] if args.vars else [], settings)
    if args.command == "report":
        from ingestion.orchestration.report import write_report

        out = write_report(args.out, settings)
        print(f"wrote {out}")
        return 0
    raise AssertionError(f"unhandled command {args.command}")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    # With the airflow extra installed, dlt would also look up every setting in Airflow Variables (a metadata
    # database query per lookup, failing where none is set up): settings and secrets come from env and secrets.toml.
    os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    argv = sys.argv[1:] if argv is None else argv
    dbt_args: list[str] = []
    # the global options before the command: `--project-dir DIR` or `--project-dir=DIR`
    head = (
        argv[:2]
        if argv[:1] == ["--project-dir"]
        else argv[:1]
        if argv[:1] and argv[0].startswith("--project-dir=")
        else []
    )
    if argv[len(head) : len(head) + 1] == ["build"]:
        # argparse cannot pass options it does not know (--select, -s, --vars ...) through a subcommand
        dbt_args = argv[len(head) + 1 :]
        dbt_args = dbt_args[1:] if dbt_args[:1] == ["--"] else dbt_args
        # help is answered here, never handed to a build (argparse prints it and exits 0)
        argv = [*head, "build", "--help"] if {"-h", "--help"} & set(dbt_args) else [*head, "build"]
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
    except Exception as error:
        # a full or read-only disk is the machine's state, not a bug: said in one line (OSError, or DuckDB's own
        # IO error for its file); anything else is raised
        said = device_state_error(error)
        if said is None:
            raise
        print(f"customer360: error: {said}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
