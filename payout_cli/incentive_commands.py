"""`payout incentives load FILE | show [--sp SPID] [--json]`: period incentives (SPEC §11)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from payout_cli.common import EXIT_OK, with_ledger


@with_ledger
def _load(args: argparse.Namespace) -> int:
    from payout_core.flows import incentives

    print(incentives.load_incentives_file(args.context, Path(args.path)))
    return EXIT_OK


@with_ledger
def _show(args: argparse.Namespace) -> int:
    from payout_core import report
    from payout_core.flows import incentives

    lines = incentives.show(
        args.context,
        sp_id=args.sp,
        today=dt.datetime.now(dt.UTC).date(),
        grace_days=args.context.settings.incentive_grace_days,
    )
    if args.json:
        for line in lines:
            print(json.dumps(line.to_json()), flush=True)
        return EXIT_OK
    if not lines:
        print("no period incentives" + (f" for SP {args.sp}" if args.sp else ""))
        return EXIT_OK
    table = report.Table(
        ("SPId", "IncentiveId", "Period", "Measure", "Worth", "Paid", "Final"),
        tuple(
            (
                line.sp_id,
                line.incentive_id,
                f"{line.period_start:%d %m %Y} - {line.period_end:%d %m %Y}",
                f"{line.measure_name} {line.measure:,}",
                f"{line.worth:,.2f}",
                f"{line.paid:,.2f}",
                "final" if line.final else "open",
            )
            for line in lines
        ),
        None,
        frozenset({4, 5}),
    )
    print(report.text_table(table))
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:
    incentives = commands.add_parser("incentives", help="period incentives (SPEC §11)")
    incentive_commands = incentives.add_subparsers(dest="incentives_command", required=True)
    load = incentive_commands.add_parser(
        "load", help="load incentive_rules.csv as the new version in force"
    )
    load.add_argument("path", help="the incentive rules CSV (samples/incentive_rules.csv)")
    load.set_defaults(run=_load)
    show = incentive_commands.add_parser(
        "show", help="per SP, incentive and period: measure, worth now, paid, final"
    )
    show.add_argument("--sp", help="one SPId")
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    show.set_defaults(run=_show)
