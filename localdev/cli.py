"""`payout` on a developer's machine: the operator's commands plus host, demo and bench.

Where PAYOUT_DATABASE_URL is unset, the commands use the embedded PostgreSQL under the
state folder: the one place that default lives (the deployed app refuses to start
without the setting).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import signal
import sys
import warnings

from azure.core.exceptions import AzureError

from payout_cli import commands
from payout_cli.common import EXIT_FAILED, Command
from payout_core.settings import get_settings


def _host(args: argparse.Namespace) -> int:
    """The host, with what it needs: the embedded PostgreSQL (started by main when
    PAYOUT_DATABASE_URL is unset) and Azurite when MisStorage is unset. A service that
    stops or does not answer is one line (localdev/host_services.py), never a traceback."""
    from localdev import devhost, host_services

    log = logging.getLogger("payout.host")
    # local.settings.json was loaded by main, before anything read the settings.
    try:
        with host_services.HostServices.started() as services:
            problem = services.problem_at_start()
            if problem:
                log.error("%s", problem)
                return EXIT_FAILED
            _warn_if_not_migrated()
            with contextlib.ExitStack() as serving:
                if args.http_port is not None:
                    from localdev import http_host

                    http_host.review_secret_for_local_use()
                    serving.enter_context(http_host.serving(args.http_port))
                return devhost.run_host(
                    once=args.once, local_settings_path=None, services_up=services.check
                )
    except host_services.ServiceStopped as stopped:
        log.error("%s", stopped)
        return EXIT_FAILED
    except AzureError as error:  # storage failing while the host starts
        cause = str(error).splitlines()[0] if str(error) else type(error).__name__
        log.error("storage failed while the host started (%s): the host stops (exit code 1)", cause)
        return EXIT_FAILED


def _warn_if_not_migrated() -> None:
    """An unmigrated ledger, said once at start-up rather than at every file."""
    from payout_core.errors import ConfigurationError
    from payout_core.flows.unit_of_work import Context

    context = Context.open(get_settings())
    try:
        context.database.check_schema()
    except ConfigurationError as error:
        logging.getLogger("payout.host").warning("%s; files wait in their containers", error)
    finally:
        context.close()


def _demo(args: argparse.Namespace) -> int:
    from localdev import demo

    if not args.verbose:
        # The demo prints its own story (services up, files processed, the accounting, the
        # email's path); the per-step log lines behind it are for `payout -v demo`.
        for name in ("payout_core", "payout", "localdev"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return demo.run_demo()


def _bench(args: argparse.Namespace) -> int:
    from localdev import bench

    if args.explain:
        from localdev import bench_explain

        return bench_explain.run_bench(events=args.rows)
    if args.first_close:
        from localdev import bench_history

        return bench_history.run_first_close(rows=args.rows, leads=args.leads)
    if args.history is not None:
        from localdev import bench_history

        return bench_history.run_bench(events=args.history)
    if args.incentives:
        from localdev import bench_incentives

        return bench_incentives.run_bench(rows=args.rows, leads=args.leads)
    if args.remittance:
        from localdev import bench_remittance

        return bench_remittance.run_bench(rows=args.rows, leads=args.leads)
    return bench.run_bench(
        rows=args.rows, leads=args.leads, batch_rows=args.batch_rows, repeat=args.repeat
    )


def build_parser() -> argparse.ArgumentParser:
    parser = commands.build_parser()
    subcommands = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    host = subcommands.add_parser(
        "host",
        help="run the app locally: the blob, queue and timer triggers (and --http-port)",
        description="Runs the app's functions as the Azure Functions host does, against "
        "MisStorage and PAYOUT_DATABASE_URL. Unset, they are an Azurite and an embedded "
        "PostgreSQL it starts itself, with their data under PAYOUT_STATE_DIR (.state/ of this "
        "checkout). Ctrl-C stops it.",
    )
    host.add_argument("--once", action="store_true", help="process what is waiting, then exit")
    host.add_argument(
        "--http-port",
        type=int,
        help="also serve the review page on this port (http://127.0.0.1:PORT/api/review; "
        "sign in at /.auth/login/dev)",
    )
    host.set_defaults(run=_host, quiet_level=logging.INFO)  # its log is its output

    subcommands.add_parser(
        "demo",
        help="the whole chain on the samples, with its own Azurite and PostgreSQL "
        "(.state/demo/ of this checkout)",
    ).set_defaults(run=_demo)

    bench = subcommands.add_parser(
        "bench", help="time processing a generated MIS file against a plain COPY (README)"
    )
    bench.add_argument("--rows", type=int, default=1_000_000, help="MIS rows to generate")
    bench.add_argument("--leads", type=int, default=4_000_000, help="leads to generate")
    bench.add_argument("--batch-rows", type=int, default=None, help="PAYOUT_MIS_BATCH_ROWS")
    bench.add_argument(
        "--repeat", type=int, default=1, help="timed pairs (the app, then the plain COPY)"
    )
    bench.add_argument(
        "--remittance", action="store_true", help="time a remittance file of --rows rows instead"
    )
    bench.add_argument(
        "--incentives",
        action="store_true",
        help="time a cycle close with period incentives after a file of --rows rows",
    )
    bench.add_argument(
        "--explain",
        action="store_true",
        help="time `payout explain` and one SP's statement on a ledger of --rows events",
    )
    bench.add_argument(
        "--history",
        type=int,
        metavar="EVENTS",
        help="time the periodic work (close, email, holds, receivables, explain) of a "
        "300-row tick over a ledger of EVENTS events against an empty one",
    )
    bench.add_argument(
        "--first-close",
        action="store_true",
        help="time the first `payout summary` after processing a file of --rows rows",
    )
    bench.set_defaults(run=_bench)
    return parser


def use_embedded_database_when_unset() -> None:
    """Point PAYOUT_DATABASE_URL at the embedded server (started on first use) if unset."""
    settings = get_settings()
    if settings.database_url:
        return
    from localdev import embedded

    os.environ["PAYOUT_DATABASE_URL"] = embedded.postgres_url(settings.state_dir)
    get_settings.cache_clear()


class _WithoutKnownNoise(logging.Filter):
    """Drops what local development always logs and nobody can act on."""

    NOISE = ("Auth level is not applied to non http function app",)  # azure-functions

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOISE)


def with_embedded_database(command: Command) -> Command:
    """The command, run after PAYOUT_DATABASE_URL points at the embedded server when unset
    (inside `commands.run`, so a refused setting met here is its one sentence too)."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        use_embedded_database_when_unset()
        return command(args)

    return run


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # pgserver's platformdirs warns on every start where XDG_RUNTIME_DIR is unset (CI, root).
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    commands.configure_logging(args.verbose, getattr(args, "quiet_level", logging.WARNING))
    for handler in logging.getLogger().handlers:
        handler.addFilter(_WithoutKnownNoise())
    if args.run is _host:
        # As Core Tools does, before any setting is read (the database's included).
        from localdev import devhost

        if devhost.load_local_settings(devhost.LOCAL_SETTINGS_PATH):
            get_settings.cache_clear()
        # SIGTERM (docker stop, systemd, a CI runner, a terminal closing) stops the host as
        # Ctrl-C does: the invocation under way is abandoned (its transaction rolls back)
        # and the embedded PostgreSQL stops on the way out. Python's default ends the
        # process at once and left that server running.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    command = args.run
    # demo starts services of its own; every other command (bench too) may need the ledger.
    if command is not _demo:
        args.run = with_embedded_database(command)
    try:
        return commands.run(args)
    except KeyboardInterrupt:
        if command is not _host:
            raise
        logging.getLogger("payout.host").info("stopped while starting")  # run_host: once up
        return 0


if __name__ == "__main__":
    sys.exit(main())
