"""What every operator command shares: exit codes, and how a command that uses the ledger
becomes an entry point."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import wraps

from payout_core.settings import get_settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2  # also a refused setting

Command = Callable[[argparse.Namespace], int]


def with_ledger(command: Command, *, schema_checked: bool = True) -> Command:
    """A command that uses the ledger is an entry point: it reads the settings once, opens
    the ledger's database from them and hands both to the flows (`args.context`), and
    closes the database when it is done. A database older than the code is named as such
    first, with `payout db migrate`, instead of failing mid-command."""

    @wraps(command)
    def run_with_ledger(args: argparse.Namespace) -> int:
        from payout_core.flows.unit_of_work import Context

        args.context = Context.open(get_settings())
        try:
            if schema_checked:  # not for `db migrate`, which makes it so
                args.context.database.check_schema()
            return command(args)
        finally:
            args.context.close()

    return run_with_ledger
