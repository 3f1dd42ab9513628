"""`payout remittance`, `payout receivables`, `payout confirmations`: the operator's
reconciliation commands (SPEC §9). They call the same code the blob triggers call;
commands.py adds them to `payout`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from payout_cli.common import EXIT_FAILED, EXIT_OK, with_ledger


@with_ledger
def _remittance(args: argparse.Namespace) -> int:
    from payout_core.flows import reconciliation_processing

    return _reconcile_files(args, reconciliation_processing.process_remittance_file)


@with_ledger
def _confirmations(args: argparse.Namespace) -> int:
    from payout_core.flows import reconciliation_processing

    return _reconcile_files(args, reconciliation_processing.process_confirmation_file)


def _reconcile_files(args: argparse.Namespace, process: Callable[..., Any]) -> int:
    """Each file on its own, as the trigger takes them: a refused one is recorded and
    reported, and the others still run."""
    from payout_cli import local_outputs
    from payout_core.errors import PayoutError

    exit_code = EXIT_OK
    for path_text in args.paths:
        path = Path(path_text)
        try:
            result = process(path, path.name, context=args.context)
        except PayoutError as error:
            exit_code = EXIT_FAILED
            local_outputs.record_failure(args.context, path.name, error)
            _print_failure(path.name, error, args.json)
            continue
        print(json.dumps(result.to_json()) if args.json else result.describe(), flush=True)
    return exit_code


def _print_failure(file_name: str, error: Exception, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"file": file_name, "error": str(error)}), flush=True)
    else:
        print(f"FAILED {error}", file=sys.stderr)


@with_ledger
def _receivables(args: argparse.Namespace) -> int:
    from payout_core.ledger import remittances

    as_of = args.as_of or dt.datetime.now(dt.UTC).date()
    with args.context.reading() as conn:
        banks = remittances.receivables_by_bank(conn, as_of)
    if args.json:
        for bank in banks:
            print(json.dumps(bank.to_json()))
        return EXIT_OK
    print(f"receivables as of {as_of} (outstanding by days since DateOfRevenue)")
    header = ("SourceType", "expected", "received", "outstanding", "0-30", "31-60", ">60", "over")
    print("  ".join(f"{name:>12}" for name in header))
    for bank in banks:
        values = (
            bank.source_type,
            bank.expected,
            bank.received,
            bank.outstanding,
            bank.outstanding_0_30,
            bank.outstanding_31_60,
            bank.outstanding_over_60,
            bank.over_received,
        )
        print("  ".join(f"{value!s:>12}" for value in values))
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:
    remittance = commands.add_parser(
        "remittance", help="reconcile banks' remittance files (money in) like the trigger"
    )
    remittance.add_argument("paths", nargs="+", metavar="FILE", help="a bank's remittance CSV")
    remittance.add_argument("--json", action="store_true", help="one JSON object per file")
    remittance.set_defaults(run=_remittance)

    confirmations = commands.add_parser(
        "confirmations", help="record the wallet team's confirmation files (money out)"
    )
    confirmations.add_argument("paths", nargs="+", metavar="FILE", help="a confirmations CSV")
    confirmations.add_argument("--json", action="store_true", help="one JSON object per file")
    confirmations.set_defaults(run=_confirmations)

    receivables = commands.add_parser(
        "receivables", help="payin owed, received and outstanding per bank, by age"
    )
    receivables.add_argument("--json", action="store_true", help="one JSON line per SourceType")
    receivables.add_argument(
        "--as-of",
        type=dt.date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="count ages up to this day (default: today, UTC)",
    )
    receivables.set_defaults(run=_receivables)
