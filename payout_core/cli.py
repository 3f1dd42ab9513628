"""`payout`: the operator's commands. Each calls the same code the functions call.

The `payout` program adds the local-development commands (host, demo, bench) on top of
these, in localdev/cli.py; this module knows nothing of them.

Heavy modules are imported inside each command so `payout --help` stays instant.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from payout_core import cli_reconciliation

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _migrate(_: argparse.Namespace) -> int:
    from payout_core.ledger import db

    with db.connection() as conn:
        applied = db.migrate(conn)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return EXIT_OK


def _load_rules(args: argparse.Namespace) -> int:
    from payout_core.ledger import store

    summary = store.load_rules_file(Path(args.path))
    print(summary)
    return EXIT_OK


def _load_leads(args: argparse.Namespace) -> int:
    from payout_core.ledger import store

    summary = store.load_leads_file(Path(args.path))
    print(summary)
    return EXIT_OK


def _process(args: argparse.Namespace) -> int:
    from payout_core import outputs, pipeline
    from payout_core.errors import PayoutError

    sink = outputs.LocalOutputs(Path(args.output_dir)) if args.output_dir else None
    exit_code = EXIT_OK
    for path_text in args.paths:
        path = Path(path_text)
        try:
            result = pipeline.process_mis_file(path, path.name, outputs=sink)
        except PayoutError as error:
            exit_code = EXIT_FAILED
            outputs.record_failure(path.name, error, sink)
            if args.json:
                print(json.dumps({"file": path.name, "error": str(error)}), flush=True)
            else:
                print(f"FAILED {error}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(result.to_json()), flush=True)
        else:
            print(outputs.describe_run(result), flush=True)
    return exit_code


def _summary(_: argparse.Namespace) -> int:
    from payout_core import summary

    outcome = summary.run_summary()
    print(outcome)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="payout", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True)

    db_parser = commands.add_parser("db", help="database administration")
    db_commands = db_parser.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("migrate", help="apply pending migrations").set_defaults(run=_migrate)

    rules = commands.add_parser("rules", help="payin/payout rules")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True)
    rules_load = rules_commands.add_parser("load", help="load a rules CSV as the new version")
    rules_load.add_argument("path")
    rules_load.set_defaults(run=_load_rules)

    leads = commands.add_parser("leads", help="the leads table")
    leads_commands = leads.add_subparsers(dest="leads_command", required=True)
    leads_load = leads_commands.add_parser("load", help="upsert leads from a CSV export")
    leads_load.add_argument("path")
    leads_load.set_defaults(run=_load_leads)

    process = commands.add_parser("process", help="process local MIS files like the trigger")
    process.add_argument("paths", nargs="+", metavar="PATH")
    process.add_argument("--json", action="store_true", help="one JSON object per file")
    process.add_argument("--output-dir", help="also write the per-file CSVs here")
    process.set_defaults(run=_process)

    commands.add_parser("summary", help="send the iteration email now").set_defaults(run=_summary)
    cli_reconciliation.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Run the parsed command: logging set up, the app's own errors as one line, not a
    traceback."""
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # pgserver logs every pg_ctl call it makes at INFO; an operator needs none of it.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    from payout_core.errors import PayoutError

    try:
        return args.run(args)
    except PayoutError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
