"""`payout demo` (`make demo`): the whole chain on embedded services, from nothing running.

Starts Azurite and an embedded PostgreSQL under `<state_dir>/demo`, loads the sample rules
and leads, drops the sample MIS files (and one broken file) into the inbox container, lets
the local Functions host process them through function_app.py, sends the iteration email
to the local outbox, prints what happened, and stops everything it started.

The demo folder is wiped first, so two runs in a row print the same thing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from localdev import embedded
from payout_core import report
from payout_core.engine.calculate import OUTCOMES
from payout_core.flows import process
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import db
from payout_core.settings import checkout_root, get_settings

log = logging.getLogger(__name__)

DEMO_FOLDER_NAME = "demo"

# The demo's per-event limit holds exactly one sample event (AT-K9R4M's KPI1, payout 1504).
DEMO_HOLD_EVENT_ABOVE = "1500"
DEMO_CHECKER = "Finance Checker"

EXIT_OK = 0
EXIT_FAILED = 1


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set variables for the duration, then put back what was there (the demo may run
    inside a longer process, such as a test session)."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


def _reset(demo_dir: Path) -> None:
    # A previous run's PostgreSQL is stopped by pgserver when it initialises a fresh data
    # folder at the same path; Azurite dies with the process that started it.
    if demo_dir.exists():
        shutil.rmtree(demo_dir)
    demo_dir.mkdir(parents=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    return report.text_table(
        report.Table(
            headers=tuple(headers),
            rows=tuple(tuple("" if value is None else str(value) for value in row) for row in rows),
            total=None,
            right_aligned=frozenset(),
        )
    )


def _upload_samples(samples_dir: Path, container_name: str, folders: tuple[str, ...]) -> list[str]:
    """The sample CSVs of `folders` (in order, each sorted) into a container, as a bank or
    the wallet team would drop them; their names."""
    from payout_core.adapters import storage

    client = storage.service_client(get_settings())
    storage.ensure_containers(client, [container_name])
    container = client.get_container_client(container_name)
    uploaded = []
    for folder in folders:
        for path in sorted((samples_dir / folder).glob("*.csv")):
            with path.open("rb") as data:
                container.upload_blob(path.name, data, overwrite=True)
            uploaded.append(path.name)
    return uploaded


def describe_ledger(context: Context) -> str:
    """The per-file accounting, the success summary and the errors, as printable tables."""
    with context.reading() as conn:
        runs = conn.execute(
            "SELECT mis_file, rows_read, outcome_counts, total_payin, total_payout"
            " FROM mis_runs ORDER BY mis_file, mis_run_id"
        ).fetchall()
        summary = conn.execute(
            "SELECT date_of_revenue, source_type, medium_type, product_type,"
            " count(DISTINCT sp_id), count(*), sum(total_payin), sum(total_payout),"
            " sum(total_payin) - sum(total_payout)"
            " FROM payout_calculations GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
        ).fetchall()
        errors = conn.execute(
            "SELECT created_at, mis, error_type FROM error_logs ORDER BY error_log_id"
        ).fetchall()
    outcome_names = list(OUTCOMES)  # SPEC §4 order, zeros included, as the email shows them
    accounting = _table(
        ["MIS", "rows", *outcome_names, "TotalPayin", "TotalPayout"],
        [(mis_file, rows_read, *(counts.get(name, 0) for name in outcome_names), payin, payout)
         for mis_file, rows_read, counts, payin, payout in runs],
    )  # fmt: skip
    success = _table(
        ["DateOfRevenue", "SourceType", "MediumType", "ProductType", "UniqueSP", "TotalLeads",
         "TotalPayin", "TotalPayout", "Revenue"],
        summary,
    )  # fmt: skip
    error_rows = [(created.isoformat(timespec="seconds"), mis, cause)
                  for created, mis, cause in errors]  # fmt: skip
    error_lines = (
        _table(["CreatedAt", "MIS", "ErrorType"], error_rows)
        if errors
        else "No errors were detected."
    )
    # Not one email's numbers: the ledger after every iteration the demo ran, held events
    # approved since (each email says what it included; samples/README.md shows how).
    return (
        "The ledger after all the demo's iterations together (each email shows its own)\n\n"
        f"Per-file accounting, every file\n{accounting}\n\n"
        "Success summary, every iteration (released events; DateOfRevenue is the day a file "
        f"was processed)\n{success}\n\nErrors, every iteration\n{error_lines}"
    )


def _run_chain(context: Context, samples_dir: Path) -> int:
    from localdev import devhost
    from payout_core.flows import iteration, reference_data

    with context.reading() as conn:
        applied = db.migrate(conn)
    print(f"database: applied {len(applied)} migration(s)")
    print(reference_data.load_rules_file(context, samples_dir / "payin_payout_rules.csv"))
    print(reference_data.load_leads_file(context, samples_dir / "leads.csv"))
    uploaded = _upload_samples(samples_dir, get_settings().mis_container, ("mis", "mis_broken"))
    print(f"uploaded to {get_settings().mis_container}: {', '.join(uploaded)}")

    # None: a developer's local.settings.json must not redirect the demo's services.
    host_exit_code = devhost.run_host(once=True, local_settings_path=None)
    print(f"local Functions host processed the inbox (exit code {host_exit_code})")
    print(iteration.run_summary(context=context))
    _approve_what_is_held(context)
    host_exit_code = max(host_exit_code, _reconcile_samples(context, samples_dir))
    print()
    print(describe_ledger(context))
    print()
    emails = sorted(get_settings().outbox_dir.glob("**/*.eml"))
    for email in emails:
        print(f"email: {email}")
    if not emails:
        print("email: none written (see the summary line above)")
    return EXIT_OK if host_exit_code == 0 else EXIT_FAILED


def _approve_what_is_held(context: Context) -> None:
    """SPEC §8 in a few lines: the event over PAYOUT_HOLD_EVENT_ABOVE waited for a person;
    someone other than its maker approves it, and the next cycle credits it."""
    from payout_core.flows import iteration, review_decisions
    from payout_core.ledger import cycles

    held, _ = review_decisions.waiting_and_decided(context)
    for event in held:
        print(f"held: event {event.event_id} ({event.lead_id}, {event.sp_id}, {event.kpi},"
              f" payout {event.payout_amount}): {event.hold_reason}")  # fmt: skip
    if not held:
        return
    review_decisions.decide(
        context,
        [event.event_id for event in held],
        decision="approve",
        decided_by=DEMO_CHECKER,
        reason="checked against the bank's MIS",
    )
    print(f"approved by {DEMO_CHECKER}: event(s) {', '.join(str(e.event_id) for e in held)}")
    outcome = iteration.run_summary(context=context)
    print(outcome)
    with context.reading() as conn:
        for credit in cycles.list_credits(conn, outcome.iteration_number):
            print(f"  credit {credit.credit_id}: {credit.sp_id} {credit.amount}")


def _reconcile_samples(context: Context, samples_dir: Path) -> int:
    """SPEC §9 in a few lines: the banks' remittances and the wallet team's answers for
    cycle 1 go through their blob triggers; the next cycle sends the failed credit again."""
    from localdev import devhost
    from payout_core.engine import confirmations, remittance
    from payout_core.flows import iteration
    from payout_core.ledger import cycles, remittances

    settings = get_settings()
    _upload_samples(samples_dir, settings.remittance_container, ("remittance",))
    _upload_samples(samples_dir, settings.wallet_confirmation_container, ("wallet_confirmations",))
    exit_code = devhost.run_host(once=True, local_settings_path=None)
    with context.reading() as conn:
        files = conn.execute(
            "SELECT remittance_file, outcome_counts FROM remittance_runs"
            " UNION ALL SELECT confirmation_file, outcome_counts FROM confirmation_runs ORDER BY 1"
        ).fetchall()
        banks = remittances.receivables_by_bank(conn, dt.date(2023, 11, 30))
    order = list(dict.fromkeys([*remittance.OUTCOMES, *confirmations.OUTCOMES]))
    for name, counts in files:
        shown = ", ".join(f"{kind} {counts[kind]}" for kind in order if counts.get(kind))
        print(f"reconciled {name}: {shown}")
    for bank in banks:
        print(f"  {bank.source_type}: expected {bank.expected}, received {bank.received},"
              f" outstanding {bank.outstanding}, over-received {bank.over_received}")  # fmt: skip
    outcome = iteration.run_summary(context=context)
    print(outcome)
    with context.reading() as conn:
        for credit in cycles.list_credits(conn, outcome.iteration_number):
            if credit.replaces_credit_id:
                print(f"  credit {credit.credit_id}: {credit.sp_id} {credit.amount},"
                      f" sent again for {credit.replaces_credit_id}")  # fmt: skip
    return exit_code


def run_demo(state_dir: Path | None = None, samples_dir: Path | None = None) -> int:
    """Run the demo under `<state_dir>/demo` (default PAYOUT_STATE_DIR: `.state` of the
    checkout it runs in) on `samples_dir` (default: that checkout's `samples/`), and return
    an exit code: 0 when every file was handled (processed, or refused with an error
    record)."""
    samples_dir = samples_dir or checkout_root() / "samples"
    demo_dir = (state_dir or get_settings().state_dir).resolve() / DEMO_FOLDER_NAME
    _reset(demo_dir)
    print(f"demo state: {demo_dir}; samples: {samples_dir}")
    azurite = embedded.Azurite(demo_dir / "azurite")
    try:
        azurite.start()
        print(f"Azurite: blob port {azurite.blob_port}, queue port {azurite.queue_port}")
        database_url = embedded.postgres_url(demo_dir)
        print(f"PostgreSQL (embedded): {database_url}")
        environment = {
            "MisStorage": azurite.connection_string,
            "AzureWebJobsStorage": azurite.connection_string,
            "PAYOUT_DATABASE_URL": database_url,
            "PAYOUT_STATE_DIR": str(demo_dir),
            "PAYOUT_OUTBOX_DIR": str(demo_dir / "outbox"),
            "PAYOUT_EMAIL_SENDER": "outbox",
            "PAYOUT_HOLD_EVENT_ABOVE": DEMO_HOLD_EVENT_ABOVE,
            "PAYOUT_HOLD_SP_CYCLE_ABOVE": "",
        }
        with _environment(environment):
            # A context built from earlier settings must not be reused, by the demo or by
            # the functions its local host runs.
            process.PROCESS.close()
            context = Context.open(get_settings())
            try:
                return _run_chain(context, samples_dir)
            finally:
                context.close()
                process.PROCESS.close()
    finally:
        azurite.stop()
        embedded.stop_postgres(demo_dir)
        print("stopped Azurite and PostgreSQL")
