"""The rows of one lead's story and one SP's page (SPEC §10): every read is by lead_id,
sp_id or credit_id, through indexes (migration 010), never a scan of the history."""

from __future__ import annotations

from typing import Any

import polars as pl
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from payout_core.ledger.copying import copy_out

Row = dict[str, Any]

_EVENT_COLUMNS = """
    s.event_id, s.lead_id, s.sp_id, s.product_type, s.kpi, s.kind, s.kpi_sequence,
    s.payin_amount, s.payout_amount, s.payin_worth_amount, s.payout_worth_amount,
    s.reason, s.status_at_creation, s.effective_status, s.created_at,
    s.hold_reason, s.held_at, s.decision, s.decided_by, s.decided_at, s.decision_reason,
    s.cycle_number, s.credit_id,
    s.mis_run_id, m.mis_file, e.mis_row_number, s.recalculation_id,
    coalesce(s.requested_by, rc.requested_by) AS requested_by,
    s.rule_id, p.rule_set_version, p.row_number AS rule_row_number, p.kpi_start_date,
    p.kpi_end_date, p.parameters::text AS rule_parameters, rs.source_file AS rules_file,
    w.amount AS credit_amount, wc.status AS confirmation_status,
    wc.reference AS confirmation_reference, wc.reason AS confirmation_reason,
    (SELECT again.credit_id FROM wallet_credits again
     WHERE again.replaces_credit_id = s.credit_id) AS sent_again_as
"""
_EVENT_JOINS = """
    FROM payout_event_states s
    JOIN payout_events e ON e.event_id = s.event_id
    LEFT JOIN mis_runs m ON m.mis_run_id = s.mis_run_id
    LEFT JOIN recalculations rc ON rc.recalculation_id = s.recalculation_id
    LEFT JOIN payin_payout_rules p ON p.rule_id = s.rule_id
    LEFT JOIN rule_sets rs ON rs.rule_set_version = p.rule_set_version
    LEFT JOIN wallet_credits w ON w.credit_id = s.credit_id
    LEFT JOIN wallet_confirmations wc ON wc.credit_id = s.credit_id
"""


def _rows(conn: psycopg.Connection, query: str, params: tuple[object, ...]) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cursor:
        return list(cursor.execute(query, params).fetchall())


def lead_row(conn: psycopg.Connection, lead_id: str) -> Row | None:
    """The lead and its row of the final table (null columns when it was never paid)."""
    rows = _rows(
        conn,
        """SELECT l.lead_id, l.sp_id, l.product_type, l.source_type, l.medium_type,
                  l.status, l.sub_status, l.updated_at,
                  c.status AS paid_status, c.date_of_sale, c.date_of_revenue,
                  c.created_at AS success_at, c.basis_facts::text AS basis_facts,
                  c.total_payin, c.total_payout
           FROM (SELECT %s::text AS lead_id) wanted
           LEFT JOIN leads l ON l.lead_id = wanted.lead_id
           LEFT JOIN payout_calculations c ON c.lead_id = wanted.lead_id
           WHERE l.lead_id IS NOT NULL OR c.lead_id IS NOT NULL""",
        (lead_id,),
    )
    return rows[0] if rows else None


def lead_event_rows(conn: psycopg.Connection, lead_id: str) -> list[Row]:
    return _rows(
        conn,
        f"SELECT {_EVENT_COLUMNS} {_EVENT_JOINS} WHERE s.lead_id = %s ORDER BY s.event_id",
        (lead_id,),
    )


def lead_receipt_rows(conn: psycopg.Connection, lead_id: str) -> list[Row]:
    return _rows(
        conn,
        """SELECT r.receipt_id, r.reference, r.amount, r.paid_on, r.outcome, r.owed_before,
                  r.reason, r.row_number, run.remittance_file
           FROM remittance_receipts r
           JOIN remittance_runs run ON run.remittance_run_id = r.remittance_run_id
           WHERE r.lead_id = %s ORDER BY r.receipt_id""",
        (lead_id,),
    )


def sp_event_rows(conn: psycopg.Connection, sp_id: str) -> list[Row]:
    """Every event of an SP (through payout_events_by_sp), with its cycle and credit."""
    return _rows(
        conn,
        f"SELECT {_EVENT_COLUMNS} {_EVENT_JOINS} WHERE s.sp_id = %s ORDER BY s.event_id",
        (sp_id,),
    )


def sp_credit_rows(conn: psycopg.Connection, sp_id: str) -> list[Row]:
    """The SP's wallet credits, each with its confirmation and the credit that resent it."""
    return _rows(
        conn,
        """SELECT w.credit_id, w.cycle_number, w.amount, w.event_count, w.replaces_credit_id,
                  w.created_at, wc.status AS confirmation_status,
                  wc.reference AS confirmation_reference, wc.reason AS confirmation_reason,
                  (SELECT again.credit_id FROM wallet_credits again
                   WHERE again.replaces_credit_id = w.credit_id) AS sent_again_as
           FROM wallet_credits w
           LEFT JOIN wallet_confirmations wc ON wc.credit_id = w.credit_id
           WHERE w.sp_id = %s ORDER BY w.cycle_number, w.created_at""",
        (sp_id,),
    )


def sp_exists(conn: psycopg.Connection, sp_id: str) -> bool:
    row = conn.execute(
        """SELECT EXISTS (SELECT 1 FROM payout_events WHERE sp_id = %s)
                  OR EXISTS (SELECT 1 FROM leads WHERE sp_id = %s)""",
        (sp_id, sp_id),
    ).fetchone()
    return bool(row and row[0])


def cycle_close_times(conn: psycopg.Connection, cycle_number: int) -> tuple[Any, Any] | None:
    """(this cycle's close, the previous cycle's close or None); None: no such cycle."""
    row = conn.execute(
        """SELECT c.closed_at,
                  (SELECT p.closed_at FROM payout_cycles p
                   WHERE p.cycle_number < c.cycle_number
                   ORDER BY p.cycle_number DESC LIMIT 1)
           FROM payout_cycles c WHERE c.cycle_number = %s""",
        (cycle_number,),
    ).fetchone()
    return (row[0], row[1]) if row else None


def statement_sp_ids(conn: psycopg.Connection, cycle_number: int) -> list[str]:
    """The SPs with a statement for the cycle: credited in it, or carried over by it."""
    rows = conn.execute(
        """SELECT sp_id FROM wallet_credits
           WHERE cycle_number = %(cycle)s AND replaces_credit_id IS NULL
           UNION SELECT sp_id FROM cycle_carried_sps WHERE cycle_number = %(cycle)s
           ORDER BY sp_id""",
        {"cycle": cycle_number},
    ).fetchall()
    return [row[0] for row in rows]


# The events a cycle's statements can show, for some of its SPs at once (a cycle of a
# million-row file has ~100k SPs: one query each took minutes; one read of them all made
# dicts of 1.5M wide rows for 23 s): every event of these SPs that no earlier cycle paid,
# through payout_events_by_sp. Only the columns the statements file uses, times as exact
# epoch microseconds, unordered: the frame is sorted by whoever reads it.
CYCLE_STATEMENT_EVENTS = """
SELECT s.sp_id, s.event_id, s.lead_id, s.product_type, s.kpi, s.kind, s.payout_amount,
       s.reason, s.status_at_creation, s.hold_reason, s.decision, s.decided_by,
       (extract(epoch FROM s.created_at) * 1000000)::bigint AS created_at_us,
       (extract(epoch FROM s.decided_at) * 1000000)::bigint AS decided_at_us,
       s.recalculation_id, coalesce(s.requested_by, rc.requested_by) AS requested_by,
       m.mis_file, p.rule_set_version, s.cycle_number, s.credit_id
FROM payout_event_states s
LEFT JOIN mis_runs m ON m.mis_run_id = s.mis_run_id
LEFT JOIN recalculations rc ON rc.recalculation_id = s.recalculation_id
LEFT JOIN payin_payout_rules p ON p.rule_id = s.rule_id
WHERE s.sp_id = ANY(%(sp_ids)s) AND (s.cycle_number IS NULL OR s.cycle_number >= %(cycle)s)
"""
CYCLE_STATEMENT_EVENTS_SCHEMA = {
    "sp_id": pl.String, "event_id": pl.Int64, "lead_id": pl.String,
    "product_type": pl.String, "kpi": pl.String, "kind": pl.String,
    "payout_amount": pl.String,  # numeric(16, 2) as PostgreSQL prints it: exact text
    "reason": pl.String, "status_at_creation": pl.String, "hold_reason": pl.String,
    "decision": pl.String, "decided_by": pl.String, "created_at_us": pl.Int64,
    "decided_at_us": pl.Int64, "recalculation_id": pl.Int64, "requested_by": pl.String,
    "mis_file": pl.String, "rule_set_version": pl.Int64, "cycle_number": pl.Int64,
    "credit_id": pl.String,
}  # fmt: skip


def cycle_statement_events(
    conn: psycopg.Connection, cycle_number: int, sp_ids: list[str]
) -> pl.DataFrame:
    """CYCLE_STATEMENT_EVENTS of these SPs as a frame (CYCLE_STATEMENT_EVENTS_SCHEMA),
    through COPY."""
    with conn.cursor() as cursor:
        return copy_out(
            cursor,
            sql.SQL(CYCLE_STATEMENT_EVENTS),
            CYCLE_STATEMENT_EVENTS_SCHEMA,
            {"cycle": cycle_number, "sp_ids": sp_ids},
        )
