"""`customer360 erase`: record requests from the command line, a CSV file or the vendors' own shapes."""

from __future__ import annotations

import argparse
import sys

from ingestion.errors import UserError
from ingestion.privacy import identifiers
from ingestion.privacy.erasure import apply_pending, print_run, record_requests, status_lines
from ingestion.settings import Settings


def erase(args: argparse.Namespace, settings: Settings) -> int:
    requests: list[identifiers.ErasureRequest] = []
    if args.email or args.phone:
        requests.append(identifiers.from_cli(args.email, args.phone, args.reason))
    if args.file:
        requests += identifiers.from_csv(args.file, args.reason)
    if args.hubspot:
        requests += identifiers.from_hubspot(args.hubspot, args.reason)
    if args.shopify:
        requests += identifiers.from_shopify(args.shopify, args.reason)
    if not (requests or args.apply or args.status):
        raise UserError("erase needs --email, --phone, --file, --hubspot or --shopify (or --apply / --status)")
    if not args.reason.strip():
        raise UserError("--reason must say why")
    if requests:
        ids = record_requests(requests, settings=settings)
        print(f"recorded {len(ids)} erasure request(s) as salted hashes: {', '.join(ids)}")
        if not args.apply:
            print("they are applied by the next `customer360 build` (or now: `customer360 erase --apply`)")
    if args.status:
        for line in status_lines(settings=settings):
            print(line)
    if args.apply:
        from ingestion.dbt_runner import print_outcome, production_build_args, run_dbt

        print_run(apply_pending(settings=settings))
        result = run_dbt(production_build_args(["build"]), progress=sys.stderr, settings=settings)
        print_outcome(result)
        return 0 if result.success else 1
    return 0
