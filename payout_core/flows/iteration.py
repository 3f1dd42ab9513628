"""The summary job: report every processed file and error not yet reported, exactly once.

The body of the timer-triggered function and of `payout summary`. One database
transaction does all of it:

1. `pg_advisory_xact_lock`: two instances firing at once queue here; the second one runs
   only after the first committed (or rolled back), so it sees the rows as already
   reported (or still unreported) and never reports them twice.
2. Lock the unreported runs and errors (FOR UPDATE) — the iteration is exactly these ids;
   files finishing meanwhile are left for the next iteration.
3. Number the iteration and close its payout cycle (ledger/cycles.py): holds, one wallet
   credit per SP, the events each credit pays. The same iteration number is the cycle's.
4. Build the report, send it.
5. Record the iteration and mark exactly those runs, errors and hold decisions reported;
   commit.

An iteration happens when there is anything to report: runs, errors, hold decisions, or a
cycle with something to credit or hold (an approval or a recalculation alone makes one).
After the commit, the cycle's credits CSV goes to the output container (`credit_files`
remembers which did, so a failed upload is retried at the next tick).

A failed send raises before step 4, the transaction rolls back, and the next tick reports
the same rows again. The one window left is a send that succeeds followed by a commit that
fails (database lost in the milliseconds between): then the email goes out twice, which is
why nothing slow happens after the send.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

import psycopg

from payout_core import report
from payout_core.adapters import telemetry
from payout_core.adapters.mail import (
    ACS_MESSAGE_MAX_BYTES,
    Attachment,
    EmailMessage,
    EmailSender,
    EmailSendError,
    sender_from_settings,
)
from payout_core.adapters.storage import credits_blob_name
from payout_core.flows import incentives, statements
from payout_core.flows import iteration_report as reports
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import cycles, holds, iteration_rows, reconciliation_rows, remittances
from payout_core.ledger.iteration_rows import Unreported
from payout_core.settings import Settings

log = logging.getLogger(__name__)

# Any fixed key works as long as every reporter uses the same one; hashtext keeps it readable.
IDEMPOTENCY_NAMESPACE = uuid.UUID("3f1d2c62-7a3e-5b7e-9c51-0d6a8e4b2f10")
# Below this the attachments say almost nothing; a message still too large is the bodies'.
ATTACHMENTS_MIN_BYTES = 64_000


@dataclass(frozen=True)
class SummaryOutcome:
    """What one run of the summary job did; `str()` is the operator's one-line answer."""

    iteration_number: int | None
    mis_file_count: int = 0
    paid_lead_count: int = 0
    error_count: int = 0
    message_id: str | None = None
    """Where the email went: the ACS operation id, or the .eml path of the outbox."""
    cycle: cycles.CycleClose | None = None
    credit_count: int = 0
    """Wallet credits of the cycle, failed ones sent again included."""
    credited_total: Decimal = Decimal(0)
    waiting_count: int = 0
    """Held events waiting for a decision after the close: all of them, not only new."""
    waiting_payout_amount: Decimal = Decimal(0)
    reconciliation_file_count: int = 0
    discrepancy_count: int = 0

    @property
    def email_sent(self) -> bool:
        return self.iteration_number is not None

    def to_json(self) -> dict[str, object]:
        """`payout summary --json`: every field (the cycle's too), money as decimal text."""
        return {"email_sent": self.email_sent, **_json_ready(asdict(self))}

    def __str__(self) -> str:
        if not self.email_sent:
            return "nothing new since the last report: no email sent"
        files = f"{self.mis_file_count} file" + ("" if self.mis_file_count == 1 else "s")
        errors = (
            "no errors"
            if self.error_count == 0
            else f"{self.error_count} error" + ("" if self.error_count == 1 else "s")
        )
        recon = (
            f", {self.reconciliation_file_count} recon file(s) with "
            f"{self.discrepancy_count} discrepancy(ies)"
            if self.reconciliation_file_count
            else ""
        )
        cycle = ""
        if self.cycle is not None:
            cycle = (
                f"; cycle {self.cycle.cycle_number}: {self.credit_count} credit(s), "
                f"total {self.credited_total:.2f}, {self.cycle.held_now_count} newly held at "
                f"this close, {self.waiting_count} waiting for a decision"
                + (f" (payout {self.waiting_payout_amount:.2f})" if self.waiting_count else "")
            )
        return (
            f"iteration {self.iteration_number} reported: {files}, "
            f"{self.paid_lead_count} leads paid{recon}, {errors}{cycle}; "
            f"email: {self.message_id}"
        )


NOTHING_NEW = SummaryOutcome(iteration_number=None)


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if isinstance(value, Decimal) else value


class CreditFileSink(Protocol):
    """Where a cycle's credits CSV goes: the output container, or a local folder."""

    def publish_credits_file(self, blob_name: str, data: bytes) -> None: ...


def run_summary(
    sender: EmailSender | None = None,
    *,
    context: Context,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    credit_files: CreditFileSink | None = None,
) -> SummaryOutcome:
    """Report the current iteration if there is anything to report.

    Raises EmailSendError (transient) when the send fails; nothing is marked reported then.
    `credit_files` (a local folder for the CLI) receives the closed cycle's credits CSV
    after the commit.
    """
    settings = context.settings
    with context.unit_of_work() as uow, _payin_balances_kept_beside(context) as payin_kept:
        conn = uow.conn
        iteration_rows.lock_iteration(conn)
        unreported = iteration_rows.select_unreported(conn)
        reconciliation_unreported = reconciliation_rows.select_unreported(conn)
        iteration_number = iteration_rows.next_iteration_number(conn)
        decisions = holds.decisions_since_last_iteration(conn)
        # SPEC §11: the period incentives' true-ups first, so that they join this cycle.
        incentive_events = incentives.evaluate_at_close(
            conn,
            cycle_number=iteration_number,
            today=clock().date(),
            grace_days=settings.incentive_grace_days,
            limits=settings.hold_limits,
            unreported=unreported,
            decided_event_ids=[event.event_id for event in decisions],
        )
        cycle = cycles.prepare_cycle(conn, iteration_number, settings.hold_limits)
        if (
            unreported.is_empty
            and cycle.is_empty
            and not decisions
            and reconciliation_unreported.is_empty
            and not incentive_events
        ):
            log.info("nothing new since the last report: no email sent")
            return NOTHING_NEW
        closed = cycles.close_cycle(conn, cycle)
        payin_kept.result()  # the email's money in reads what the banks owe, kept now
        iteration_report, message = _report_and_email(
            conn,
            unreported,
            iteration_number,
            clock().date(),
            settings,
            cycle_parts=(closed, decisions),
            reconciliation_unreported=reconciliation_unreported,
        )
        # Built only now: with nothing to report, a misconfigured sender costs nothing.
        message_id = (sender or sender_from_settings(settings)).send(message)
        iteration_rows.record_iteration(
            conn,
            unreported,
            number=iteration_number,
            subject=iteration_report.subject(),
            recipients=", ".join(settings.email_recipients),
            message_id=message_id,
        )
        reconciliation_rows.mark_reported(conn, reconciliation_unreported, iteration_number)
        holds.record_decisions_reported(
            conn, [event.decision_id for event in decisions], iteration_number
        )
        uow.commit()
    if credit_files is not None and closed.credit_count:
        publish_credits_file(context, credit_files, iteration_number)
    outcome = SummaryOutcome(
        iteration_number=iteration_number,
        mis_file_count=len(iteration_report.runs),
        paid_lead_count=iteration_report.paid_lead_count,
        error_count=len(iteration_report.errors),
        message_id=message_id,
        cycle=closed,
        **_cycle_and_reconciliation_counts(iteration_report),
    )
    telemetry.iteration_reported(iteration_report)
    log.info("%s", outcome)
    return outcome


@contextmanager
def _payin_balances_kept_beside(context: Context) -> Iterator[Future[int]]:
    """What the banks owe brought up to date on a second connection, in its own
    transaction, while the close runs on the first (migration 015): after a million-row
    file that is 8 s of work the close no longer waits for. Its error, if any, is raised
    when the summary's own work is done."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="payin-balances") as pool:
        kept = pool.submit(_keep_payin_balances, context)
        yield kept
        kept.result()


def _keep_payin_balances(context: Context) -> int:
    with context.unit_of_work() as uow:
        batch_count = remittances.keep_payin_balances(uow.conn)
        uow.commit()
    return batch_count


def _cycle_and_reconciliation_counts(
    iteration_report: report.IterationReport,
) -> dict[str, Any]:
    """The operator's line says what the email says: credits (resent ones included), all
    that waits, reconciliation files and discrepancies."""
    counts: dict[str, Any] = {}
    cycle = iteration_report.cycle
    if cycle is not None:
        counts.update(
            credit_count=cycle.credit_count,
            credited_total=cycle.credit_total,
            waiting_count=cycle.awaiting_count,
            waiting_payout_amount=cycle.awaiting_payout_amount,
        )
    reconciliation = iteration_report.reconciliation
    if reconciliation is not None:
        counts.update(
            reconciliation_file_count=reconciliation.file_count,
            discrepancy_count=reconciliation.discrepancy_count,
        )
    return counts


def publish_credits_file(context: Context, sink: CreditFileSink, cycle_number: int) -> str:
    """Write one committed cycle's credits CSV to `sink`; returns its name."""
    blob_name = credits_blob_name(cycle_number)
    with context.reading() as conn:
        data = reports.credits_file(conn, cycle_number)
    sink.publish_credits_file(blob_name, data)
    statements.publish_statements_file(context, sink, cycle_number)  # SPEC §10, beside it
    return blob_name


def publish_pending_credits_files(context: Context, sink: CreditFileSink) -> list[int]:
    """Publish every cycle's credits CSV not yet in the output container, and remember it.
    Runs after each summary tick, so an upload that failed is retried at the next one."""
    with context.reading() as conn:
        pending = cycles.cycles_without_published_file(conn)
    for cycle_number in pending:
        blob_name = publish_credits_file(context, sink, cycle_number)
        with context.unit_of_work() as uow:
            cycles.record_file_published(uow.conn, cycle_number, blob_name)
            uow.commit()
    return pending


def _report_and_email(
    conn: psycopg.Connection,
    unreported: Unreported,
    iteration_number: int,
    report_date: date,
    settings: Settings,
    *,
    cycle_parts: tuple[cycles.CycleClose, Sequence[holds.HeldEvent]],
    reconciliation_unreported: reconciliation_rows.UnreportedReconciliation,
) -> tuple[report.IterationReport, EmailMessage]:
    """The report and its email, under ACS's 10 MB: if the bodies leave too little room
    for the attachments' budget, the attachments are cut smaller (the ledger is read once:
    after a million-row file, a second read cost 9 s of the close)."""
    attachments_max_bytes = settings.email_attachments_max_bytes
    idempotency_key = iteration_idempotency_key(
        iteration_rows.ledger_created_at(conn), iteration_number
    )
    currency = report.Currency(settings.currency, settings.currency_symbol)
    iteration_report = reports.gather_report(
        conn,
        unreported,
        iteration_number=iteration_number,
        report_date=report_date,
        attachments_max_bytes=attachments_max_bytes,
        currency=currency,
    )
    closed, decisions = cycle_parts
    cycle_report = reports.gather_cycle_report(
        conn,
        closed,
        decisions,
        credits_blob_name=credits_blob_name(iteration_number),
        attachments_max_bytes=attachments_max_bytes,
        review_url=settings.review_url,
        unreported=unreported,
        currency=currency,
    )
    reconciliation_report = reports.gather_reconciliation_report(
        conn,
        reconciliation_unreported,
        iteration_number=iteration_number,
        report_date=report_date,
        sent_again_count=closed.resent_count,
        attachments_max_bytes=attachments_max_bytes,
        iteration_unreported=unreported,
    )
    iteration_report = replace(
        iteration_report, cycle=cycle_report, reconciliation=reconciliation_report
    )
    while True:
        message = iteration_email(iteration_report, idempotency_key=idempotency_key)
        overflow_bytes = message.size_bytes() - ACS_MESSAGE_MAX_BYTES
        if overflow_bytes <= 0:
            return iteration_report, message
        if attachments_max_bytes <= ATTACHMENTS_MIN_BYTES:
            raise EmailSendError(
                f"the iteration email is {message.size_bytes():,} bytes even with its "
                f"attachments cut to {attachments_max_bytes:,}; ACS takes at most "
                f"{ACS_MESSAGE_MAX_BYTES:,}"
            )
        # The budget bounds each attachment: start from the largest one there is, so a
        # budget far above what is attached still shrinks something.
        largest_bytes = message.largest_attachment_bytes()
        attachments_max_bytes = max(
            ATTACHMENTS_MIN_BYTES, min(attachments_max_bytes, largest_bytes) - overflow_bytes
        )
        log.warning(
            "iteration %d: email over %d bytes; attachments cut to %d bytes",
            iteration_number,
            ACS_MESSAGE_MAX_BYTES,
            attachments_max_bytes,
        )
        iteration_report = iteration_report.within(attachments_max_bytes)


def iteration_idempotency_key(ledger_created_at: str, iteration_number: int) -> str:
    """The ACS operation id of an iteration's email: the same on every retry of that
    iteration, different for every iteration of every ledger."""
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{ledger_created_at}/{iteration_number}"))


def iteration_email(
    iteration_report: report.IterationReport, *, idempotency_key: str | None = None
) -> EmailMessage:
    """The report as the message finance receives: both bodies, both CSV attachments."""
    return EmailMessage(
        subject=iteration_report.subject(),
        text_body=report.render_text(iteration_report),
        html_body=report.render_html(iteration_report),
        attachments=(
            Attachment(
                iteration_report.success_file_name, "text/csv", iteration_report.success_csv
            ),
            Attachment(iteration_report.error_file_name, "text/csv", iteration_report.error_csv),
            *_cycle_attachments(iteration_report),
            *_reconciliation_attachments(iteration_report),
        ),
        iteration_number=iteration_report.iteration_number,
        idempotency_key=idempotency_key,
    )


def _cycle_attachments(iteration_report: report.IterationReport) -> tuple[Attachment, ...]:
    cycle = iteration_report.cycle
    if cycle is None:
        return ()
    incentives_file = (
        (Attachment(cycle.incentives_file_name, "text/csv", cycle.incentives_csv),)
        if cycle.incentives
        else ()
    )
    if not cycle.credits_attached:
        return incentives_file
    return (Attachment(cycle.credits_file_name, "text/csv", cycle.credits_csv), *incentives_file)


def _reconciliation_attachments(iteration_report: report.IterationReport) -> tuple[Attachment, ...]:
    reconciliation = iteration_report.reconciliation
    if reconciliation is None or reconciliation.discrepancy_rows_attached == 0:
        return ()
    return (
        Attachment(
            reconciliation.discrepancy_file_name, "text/csv", reconciliation.discrepancy_csv
        ),
    )
