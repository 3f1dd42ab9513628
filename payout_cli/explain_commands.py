"""`payout explain LEAD`: a lead's whole story (SPEC §10), text or --json."""

from __future__ import annotations

import argparse
import json
import sys

from payout_cli.common import EXIT_OK, EXIT_USAGE, with_ledger


@with_ledger
def _explain(args: argparse.Namespace) -> int:
    from payout_core.flows.explain import lead_story
    from payout_core.report.explain_text import lead_story_text

    story = lead_story(args.context, args.lead_id)
    if story is None:
        print(f"payout explain: no lead {args.lead_id!r} in the ledger", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(story, ensure_ascii=False))
    else:
        sys.stdout.write(lead_story_text(story))
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:
    explain = commands.add_parser("explain", help="a lead's whole story, every amount explained")
    explain.add_argument("lead_id", metavar="LEAD", help="the LeadId")
    explain.add_argument("--json", action="store_true", help="one JSON object")
    explain.set_defaults(run=_explain)
