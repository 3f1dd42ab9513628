"""Reads of the payout cycle for the iteration email (SPEC §7, §8), inside the summary
job's transaction: the cycle it just closed, the holds awaiting a decision and the
decisions no email has reported yet."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from decimal import Decimal

import psycopg

from payout_core.ledger import cycles
from payout_core.ledger.holds import HeldEvent
from payout_core.report.cycle import CycleReport, DecisionLine, credits_csv


def gather_cycle_report(
    conn: psycopg.Connection,
    closed: cycles.CycleClose,
    decisions: Sequence[HeldEvent],
    *,
    credits_blob_name: str,
    attachments_max_bytes: int,
    review_url: str | None,
) -> CycleReport:
    credits = cycles.list_credits(conn, closed.cycle_number)
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
    )


def credits_file(conn: psycopg.Connection, cycle_number: int) -> bytes:
    """The whole credits CSV of a cycle (for the output container or a local folder)."""
    credits = cycles.list_credits(conn, cycle_number)
    data, _ = credits_csv([credit.csv_row() for credit in credits], sys.maxsize)  # all of them
    return data
