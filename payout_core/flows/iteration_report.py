"""What one iteration's email shows (SPEC §7, §8, §9), made from the ledger's rows inside
the summary job's transaction: the files and errors, the success summary, the cycle it
just closed, and money in and out."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import psycopg

from payout_core import report
from payout_core.engine import confirmations, remittance
from payout_core.errors import clean_error_text
from payout_core.ledger import (
    cycles,
    iteration_money,
    iteration_rows,
    reconciliation_rows,
    remittances,
)
from payout_core.ledger import incentives as incentive_rows
from payout_core.ledger.holds import HeldEvent
from payout_core.ledger.iteration_rows import Unreported
from payout_core.ledger.reconciliation_rows import UnreportedReconciliation
from payout_core.report.adjustments import AdjustmentLine
from payout_core.report.cycle import CycleReport, DecisionLine, credits_csv
from payout_core.report.formats import INR, Currency
from payout_core.report.incentives import IncentiveEventLine, attachment_share, incentives_csv
from payout_core.report.model import ErrorRecord, MisRunAccounting, SummaryLine
from payout_core.report.reconciliation import (
    BankLine,
    ReconciliationFile,
    ReconciliationReport,
    build_reconciliation_report,
)


def gather_report(
    conn: psycopg.Connection,
    unreported: Unreported,
    *,
    iteration_number: int,
    report_date: date,
    attachments_max_bytes: int,
    currency: Currency = INR,
) -> report.IterationReport:
    """The report of exactly the runs and errors in `unreported`; must run inside a
    transaction (the success rows come through a server-side cursor)."""
    run_ids = list(unreported.mis_run_ids)
    summary = iteration_money.summary_rows(conn, run_ids)
    with iteration_rows.success_rows(conn, run_ids) as success_rows:
        return report.build_report(
            iteration_number=iteration_number,
            report_date=report_date,
            runs=[_run(row) for row in iteration_rows.run_rows(conn, run_ids)],
            errors=[
                _error(row)
                for row in iteration_rows.error_rows(conn, list(unreported.error_log_ids))
            ],
            summary_lines=[SummaryLine(*row[:-1]) for row in summary if not row[-1]],
            summary_total=next(SummaryLine(*row[:-1]) for row in summary if row[-1]),
            success_rows=success_rows,
            attachments_max_bytes=attachments_max_bytes,
            adjustment_lines=[
                AdjustmentLine(*row) for row in iteration_rows.adjustment_rows(conn, unreported)
            ],
            currency=currency,
        )


def _run(row: tuple) -> MisRunAccounting:
    mis_run_id, mis_file, finished_at, rows_read, counts, same_as, same_on, payin, payout = row
    return MisRunAccounting(
        mis_run_id=mis_run_id,
        mis_file=mis_file,
        finished_at=finished_at,
        rows_read=rows_read,
        outcome_counts={str(key): int(value) for key, value in (counts or {}).items()},
        same_content_as=same_as,
        same_content_received_on=same_on,
        total_payin=payin,
        total_payout=payout,
    )


def _error(row: tuple) -> ErrorRecord:
    """Texts cleaned and capped (SPEC §6) even when recorded before they were."""
    error_log_id, created_at, mis, mis_chars, error_type, error_type_chars = row
    return ErrorRecord(
        error_log_id,
        created_at,
        clean_error_text(mis, total_chars=mis_chars),
        clean_error_text(error_type, total_chars=error_type_chars),
    )


def gather_cycle_report(
    conn: psycopg.Connection,
    closed: cycles.CycleClose,
    decisions: Sequence[HeldEvent],
    *,
    credits_blob_name: str,
    attachments_max_bytes: int,
    review_url: str | None,
    unreported: Unreported | None = None,
    currency: Currency = INR,
) -> CycleReport:
    """The cycle's part; with `unreported` it also says where the credits come from and
    how much of what waits the iteration's files made."""
    credits = cycles.list_credits(conn, closed.cycle_number)
    bridge = (
        iteration_money.credit_sources(conn, unreported, closed.cycle_number)
        if unreported is not None
        else None
    )
    files_held_count, files_held_payout = (
        iteration_money.held_from_runs(conn, list(unreported.mis_run_ids))
        if unreported is not None
        else (0, Decimal(0))
    )
    csv_data, rows_in_csv = credits_csv(
        [credit.csv_row() for credit in credits], attachments_max_bytes
    )
    awaiting = cycles.holds_awaiting(conn)
    return CycleReport(
        cycle_number=closed.cycle_number,
        credit_count=len(credits),
        credit_total=sum((credit.amount for credit in credits), start=Decimal(0)),
        event_count=closed.event_count,
        held_now_count=closed.held_now_count,
        carried_sp_count=closed.carried_sp_count,
        carried_total=closed.carried_total,
        awaiting_count=awaiting.count,
        awaiting_payout_amount=awaiting.payout_amount,
        awaiting_oldest_held_at=awaiting.oldest_held_at,
        decisions=tuple(
            DecisionLine(
                event_id=event.event_id,
                lead_id=event.lead_id,
                sp_id=event.sp_id,
                kpi=event.kpi,
                kind=event.kind,
                payout_amount=event.payout_amount,
                decision=event.status,
                decided_by=event.decided_by or "",
                decided_at=event.decided_at,  # type: ignore[arg-type]  # decided: set
                decision_reason=event.decision_reason,
            )
            for event in decisions
        ),
        credits_csv=csv_data,
        credits_rows_in_csv=rows_in_csv,
        credits_blob_name=credits_blob_name,
        review_url=review_url,
        bridge=bridge,
        files_held_count=files_held_count,
        files_held_payout=files_held_payout,
        currency=currency,
        **_incentive_parts(conn, closed.cycle_number, attachments_max_bytes),
    )


def _incentive_parts(
    conn: psycopg.Connection, cycle_number: int, attachments_max_bytes: int
) -> dict[str, object]:
    """The close's period incentive true-ups (SPEC §11) for the email and its attachment."""
    lines = tuple(
        IncentiveEventLine(*row) for row in incentive_rows.events_of_cycle(conn, cycle_number)
    )
    share = attachment_share(attachments_max_bytes)
    data, rows = incentives_csv(lines, share) if lines else (b"", 0)
    return {"incentives": lines, "incentives_csv": data, "incentives_rows_in_csv": rows}


def credits_file(conn: psycopg.Connection, cycle_number: int) -> bytes:
    """The whole credits CSV of a cycle (for the output container or a local folder)."""
    credits = cycles.list_credits(conn, cycle_number)
    data, _ = credits_csv([credit.csv_row() for credit in credits], sys.maxsize)  # all of them
    return data


def gather_reconciliation_report(
    conn: psycopg.Connection,
    unreported: UnreportedReconciliation,
    *,
    iteration_number: int,
    report_date: date,
    sent_again_count: int,
    attachments_max_bytes: int,
    iteration_unreported: Unreported | None = None,
) -> ReconciliationReport:
    per_bank, discrepancy_count, rows, reused_references = reconciliation_rows.discrepancy_rows(
        conn, unreported
    )
    new_payin = (
        iteration_money.payin_by_bank(conn, iteration_unreported)
        if iteration_unreported is not None
        else {}
    )
    banks = [
        BankLine(
            source_type=bank.source_type,
            expected=bank.expected,
            received=bank.received,
            outstanding=bank.outstanding,
            outstanding_0_30=bank.outstanding_0_30,
            outstanding_31_60=bank.outstanding_31_60,
            outstanding_over_60=bank.outstanding_over_60,
            over_received=bank.over_received,
            discrepancies=int(per_bank.get(bank.source_type, 0)),
            this_iteration_payin=new_payin.get(bank.source_type, Decimal(0)),
        )
        for bank in remittances.receivables_by_bank(conn, report_date)
    ]
    return build_reconciliation_report(
        iteration_number=iteration_number,
        reused_reference_count=reused_references,
        banks=banks,
        remittance_files=_files(conn, "remittance", unreported.remittance_run_ids),
        confirmation_files=_files(conn, "confirmation", unreported.confirmation_run_ids),
        sent_again_count=sent_again_count,
        discrepancy_rows=rows,
        discrepancy_count=discrepancy_count,
        attachments_max_bytes=attachments_max_bytes,
    )


def _files(conn: psycopg.Connection, kind: str, run_ids: tuple[int, ...]) -> list:
    outcomes = remittance.OUTCOMES if kind == "remittance" else confirmations.OUTCOMES
    return [
        ReconciliationFile(name, rows_read, in_order(counts, outcomes), total_received)
        for name, rows_read, counts, total_received in reconciliation_rows.file_rows(
            conn, kind, run_ids
        )
    ]


def in_order(counts: dict[str, int], outcomes: tuple[str, ...]) -> dict[str, int]:
    """Outcome counts as stored (jsonb keeps no order) in the engine's order, zeros included."""
    return {outcome: int(counts.get(outcome, 0)) for outcome in outcomes}
