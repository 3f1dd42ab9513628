"""What every operator command shares: exit codes, and how a command that uses the ledger
becomes an entry point."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import wraps

from payout_core.settings import get_settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

Command = Callable[[argparse.Namespace], int]


def with_ledger(command: Command) -> Command:
    """A command that uses the ledger is an entry point: it reads the settings once, opens
    the ledger's database from them and hands both to the flows (`args.context`), and
    closes the database when it is done."""

    @wraps(command)
    def run_with_ledger(args: argparse.Namespace) -> int:
        from payout_core.flows.unit_of_work import Context

        args.context = Context.open(get_settings())
        try:
            return command(args)
        finally:
            args.context.close()

    return run_with_ledger
