"""`payout`: the operator's commands. Each calls the same code the functions call.

The `payout` program adds the local-development commands (host, demo, bench) on top of
these, in localdev/cli.py. Heavy modules are imported inside each command, so that
`payout --help` answers at once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from payout_cli.local_outputs import LocalOutputs
    from payout_core.flows.unit_of_work import Context

from payout_cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, with_ledger

DESCRIPTION = """\
ShiftPay payouts: load rules and leads, process MIS, remittance and wallet confirmation
files, decide held payouts and send the iteration email, with the same code the Azure
Functions app runs. Each command prints its result; --verbose adds progress and
diagnostics. Settings come from the environment (README, "Settings"); locally, the
database is an embedded PostgreSQL under .state/ unless PAYOUT_DATABASE_URL is set."""


@partial(with_ledger, schema_checked=False)
def _migrate(args: argparse.Namespace) -> int:
    from payout_core.ledger import db

    with args.context.reading() as conn:
        applied = db.migrate(conn)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return EXIT_OK


@with_ledger
def _load_rules(args: argparse.Namespace) -> int:
    from payout_core.flows import reference_data

    summary = reference_data.load_rules_file(args.context, Path(args.path))
    print(summary)
    return EXIT_OK


@with_ledger
def _load_leads(args: argparse.Namespace) -> int:
    from payout_core.flows import reference_data

    summary = reference_data.load_leads_file(args.context, Path(args.path))
    print(summary)
    return EXIT_OK


@with_ledger
def _process(args: argparse.Namespace) -> int:
    """Each file on its own: one that fails (or is not there) does not stop the others."""
    from payout_cli import local_outputs

    sink = local_outputs.LocalOutputs(Path(args.output_dir)) if args.output_dir else None
    exit_code = EXIT_OK
    for path_text in args.paths:
        if not _process_one(args.context, Path(path_text), sink, args.json):
            exit_code = EXIT_FAILED
    return exit_code


def _process_one(context: Context, path: Path, sink: LocalOutputs | None, as_json: bool) -> bool:
    from payout_cli import local_outputs
    from payout_core.errors import PayoutError, TerminalError
    from payout_core.flows import mis_processing

    def report_failure(message: str) -> None:
        if as_json:
            print(json.dumps({"file": path.name, "error": message}), flush=True)
        else:
            print(f"FAILED {path}: {message}", file=sys.stderr, flush=True)

    # An operator's typo is not an MIS file's error: said here, recorded nowhere.
    if not path.exists():
        report_failure("no such file")
        return False
    if not path.is_file():
        report_failure("not a file (a directory?); give the MIS files themselves")
        return False
    try:
        result = mis_processing.process_mis_file(path, path.name, context=context, outputs=sink)
    except (PayoutError, OSError) as error:
        cause = str(error.cause) if hasattr(error, "cause") else str(error)
        report_failure(cause)
        if isinstance(error, TerminalError):
            try:
                local_outputs.record_failure(context, path.name, error, sink)
            except PayoutError as not_recorded:
                report_failure(f"the error could not be recorded: {not_recorded}")
        return False
    if as_json:
        print(json.dumps(result.to_json()), flush=True)
    else:
        print(local_outputs.describe_run(result), flush=True)
    return True


@with_ledger
def _recalculate(args: argparse.Namespace) -> int:
    from payout_core.flows import recalculation

    result = recalculation.recalculate(
        args.context,
        product_type=args.product,
        date_from=args.date_from,
        date_to=args.date_to,
        requested_by=args.by,
        dry_run=args.dry_run,
    )
    print(json.dumps(result.to_json()) if args.json else result.describe(), flush=True)
    return EXIT_OK


def _date(text: str) -> dt.date:
    """A DateOfSale bound: 2023-10-01, or SPEC's `1 10 2023`."""
    for date_format in ("%Y-%m-%d", "%d %m %Y"):
        try:
            return dt.datetime.strptime(text.strip(), date_format).date()
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2023-10-01 or '1 10 2023'")


@with_ledger
def _summary(args: argparse.Namespace) -> int:
    from payout_cli import local_outputs
    from payout_core.flows import iteration

    sink = local_outputs.LocalOutputs(Path(args.output_dir)) if args.output_dir else None
    outcome = iteration.run_summary(context=args.context, credit_files=sink)
    print(json.dumps(outcome.to_json()) if args.json else outcome)
    return EXIT_OK


def _print_table(headers: tuple[str, ...], rows: list[tuple[str, ...]], numeric: set[int]) -> None:
    from payout_core import report

    table = report.Table(headers, tuple(rows), None, frozenset(numeric))
    print(report.text_table(table))


@with_ledger
def _holds_list(args: argparse.Namespace) -> int:
    from payout_core.ledger import holds

    with args.context.reading() as conn:
        events = holds.list_holds(
            conn, include_decided=args.all, limit=args.limit, after_event_id=args.after
        )
    if args.json:
        for event in events:
            print(json.dumps(event.to_json()), flush=True)
        return EXIT_OK
    if not events:
        print("no held events" if args.all else "no held events await a decision")
        return EXIT_OK
    _print_table(
        ("Event", "Lead", "SP", "KPI", "Kind", "Payout", "Status", "Held because", "Asked by",
         "Decided by", "Why"),
        [(str(e.event_id), e.lead_id, e.sp_id, e.kpi, e.kind, f"{e.payout_amount:,.2f}",
          e.status, e.hold_reason, e.requested_by or "", e.decided_by or "",
          e.decision_reason or "") for e in events],
        {0, 5},
    )  # fmt: skip
    return EXIT_OK


@with_ledger
def _holds_decide(args: argparse.Namespace) -> int:
    from payout_core.flows import review_decisions

    decisions = review_decisions.decide(
        args.context, args.event_ids, decision=args.decision, decided_by=args.by, reason=args.reason
    )
    if args.json:
        for decision in decisions:
            print(json.dumps(decision.to_json()), flush=True)
    else:
        ids = ", ".join(str(decision.event_id) for decision in decisions)
        print(f"{decisions[0].decision} by {decisions[0].decided_by}: event(s) {ids}")
    return EXIT_OK


@with_ledger
def _credits(args: argparse.Namespace) -> int:
    from payout_cli import local_outputs
    from payout_core.errors import TerminalError
    from payout_core.flows import iteration
    from payout_core.ledger import cycles

    with args.context.reading() as conn:
        closed = cycles.cycle_numbers(conn)
        if args.cycle is not None and args.cycle not in closed:
            raise TerminalError(f"no payout cycle {args.cycle} (closed: {len(closed)} cycles)")
        credits = cycles.list_credits(conn, args.cycle)
    if args.output_dir:
        sink = local_outputs.LocalOutputs(Path(args.output_dir))
        for cycle_number in sorted({credit.cycle_number for credit in credits}):
            iteration.publish_credits_file(args.context, sink, cycle_number)
    if args.json:
        for credit in credits:
            print(json.dumps(credit.to_json()), flush=True)
        return EXIT_OK
    if not credits:
        print("no wallet credits")
        return EXIT_OK
    _print_table(
        ("Cycle", "CreditId", "SPId", "Amount", "Events", "Status"),
        [(str(c.cycle_number), c.credit_id, c.sp_id, f"{c.amount:,.2f}", str(c.event_count),
          c.status) for c in credits],
        {0, 3, 4},
    )  # fmt: skip
    return EXIT_OK


def _add_cycle_commands(commands: argparse._SubParsersAction) -> None:
    holds = commands.add_parser("holds", help="held payout events and their approval")
    holds_commands = holds.add_subparsers(dest="holds_command", required=True)
    holds_list = holds_commands.add_parser("list", help="events awaiting a decision")
    holds_list.add_argument("--all", action="store_true", help="decided events too")
    holds_list.add_argument("--json", action="store_true", help="one JSON object per event")
    holds_list.add_argument("--limit", type=int, help="a page: at most this many events")
    holds_list.add_argument(
        "--after", type=int, metavar="EVENT_ID", help="the next page: those listed after this one"
    )
    holds_list.set_defaults(run=_holds_list)
    for decision, help_text in (
        ("approve", "release held events into the next cycle"),
        ("reject", "never pay held events (a reason is required)"),
    ):
        decide = holds_commands.add_parser(decision, help=help_text)
        decide.add_argument("event_ids", nargs="+", type=int, metavar="EVENT_ID", help="held event")
        decide.add_argument("--by", required=True, help="the person deciding")
        decide.add_argument("--reason", help="why (required to reject)")
        decide.add_argument("--json", action="store_true", help="one JSON object per decision")
        decide.set_defaults(run=_holds_decide, decision=decision)

    credits = commands.add_parser("credits", help="wallet credits of the payout cycles")
    credits.add_argument("--cycle", type=int, help="one cycle (default: every cycle)")
    credits.add_argument("--json", action="store_true", help="one JSON object per credit")
    credits.add_argument("--output-dir", help="also write each cycle's credits CSV here")
    credits.set_defaults(run=_credits)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="payout", description=DESCRIPTION)
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also log progress and diagnostics (services starting, each file's stages, "
        "the Azure SDK's requests)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    db_parser = commands.add_parser("db", help="database administration")
    db_commands = db_parser.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("migrate", help="apply pending migrations").set_defaults(run=_migrate)

    rules = commands.add_parser("rules", help="payin/payout rules")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True)
    rules_load = rules_commands.add_parser("load", help="load a rules CSV as the new version")
    rules_load.add_argument("path", help="the rules CSV (samples/payin_payout_rules.csv's columns)")
    rules_load.set_defaults(run=_load_rules)

    leads = commands.add_parser("leads", help="the leads table")
    leads_commands = leads.add_subparsers(dest="leads_command", required=True)
    leads_load = leads_commands.add_parser("load", help="upsert leads from a CSV export")
    leads_load.add_argument("path", help="the leads export CSV")
    leads_load.set_defaults(run=_load_leads)

    process = commands.add_parser("process", help="process local MIS files like the trigger")
    process.add_argument("paths", nargs="+", metavar="PATH", help="an MIS CSV")
    process.add_argument("--json", action="store_true", help="one JSON object per file")
    process.add_argument("--output-dir", help="also write the per-file CSVs here")
    process.set_defaults(run=_process)

    recalculate = commands.add_parser(
        "recalculate",
        help="re-weigh paid leads under the rules in force now; append adjustments",
    )
    recalculate.add_argument("--product", help="one ProductType (default: every product)")
    recalculate.add_argument(
        "--from", dest="date_from", type=_date, help="first DateOfSale (inclusive)"
    )
    recalculate.add_argument("--to", dest="date_to", type=_date, help="last DateOfSale (inclusive)")
    recalculate.add_argument(
        "--by",
        required=True,
        help="who asks for it (kept on its events: that person cannot approve what it holds)",
    )
    recalculate.add_argument("--dry-run", action="store_true", help="show it, write nothing")
    recalculate.add_argument("--json", action="store_true", help="one JSON object")
    recalculate.set_defaults(run=_recalculate)

    summary = commands.add_parser("summary", help="send the iteration email now")
    summary.add_argument("--output-dir", help="also write the cycle's credits CSV here")
    summary.add_argument("--json", action="store_true", help="one JSON object")
    summary.set_defaults(run=_summary)
    _add_cycle_commands(commands)
    from payout_cli import reconciliation_commands

    reconciliation_commands.add_commands(commands)
    from payout_cli import explain_commands

    explain_commands.add_commands(commands)
    from payout_cli import incentive_commands

    incentive_commands.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def configure_logging(verbose: bool, quiet_level: int = logging.WARNING) -> None:
    """Quiet by default: a command prints its result and logs warnings and errors only
    (`quiet_level`; the host, whose log is its output, INFO). `-v` shows everything
    (DEBUG), the Azure SDK's HTTP requests and responses included."""
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger().setLevel(logging.DEBUG if verbose else quiet_level)
    # pgserver logs every pg_ctl call it makes at INFO; an operator needs none of it. The
    # Azure SDK logs every HTTP request with its headers at INFO (its HttpLoggingPolicy):
    # a wall of headers for each blob touched. The pool warns at each failed attempt to
    # connect, while the command (or the host) says in one line that the database is down.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    logging.getLogger("azure").setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("psycopg.pool").setLevel(logging.INFO if verbose else logging.ERROR)


def run(args: argparse.Namespace) -> int:
    """Run the parsed command: logging set up, the app's own errors (and files that are not
    there) as one line, not a traceback."""
    configure_logging(args.verbose, getattr(args, "quiet_level", logging.WARNING))
    from payout_core.errors import PayoutError, SettingError

    try:
        return args.run(args)
    except SettingError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except PayoutError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
