"""The rows of one lead's story and one SP's page (SPEC §10): every read is by lead_id,
sp_id or credit_id, through indexes (migration 010), never a scan of the history."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg.rows import dict_row

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


# The events a cycle's statements can show, for all of its SPs at once (a cycle of a
# million-row file has ~100k SPs: one query each took minutes): every event a statement
# does not skip, i.e. all but those an earlier cycle paid. Paid by this cycle or a later
# one (cycle_events_by_cycle), in no cycle (events_outside_cycles and the batches no close
# read yet, 009), or rejected (decided so, or written so: a partial index).
CYCLE_STATEMENT_EVENTS = f"""
SELECT {_EVENT_COLUMNS} {_EVENT_JOINS}
WHERE s.event_id IN (
    SELECT c.event_id FROM cycle_events c WHERE c.cycle_number >= %(cycle)s
    UNION SELECT o.event_id FROM events_outside_cycles o
    UNION SELECT e.event_id FROM event_batches b
          JOIN payout_events e ON e.event_id BETWEEN b.first_event_id AND b.last_event_id
          WHERE NOT EXISTS (SELECT 1 FROM closed_event_batches x WHERE x.batch_id = b.batch_id)
    UNION SELECT d.event_id FROM hold_decisions d WHERE d.decision = 'rejected'
    UNION SELECT r.event_id FROM payout_events r WHERE r.status = 'rejected'
)
AND s.sp_id IN (SELECT w.sp_id FROM wallet_credits w
                WHERE w.cycle_number = %(cycle)s AND w.replaces_credit_id IS NULL
                UNION SELECT p.sp_id FROM cycle_carried_sps p WHERE p.cycle_number = %(cycle)s)
ORDER BY s.sp_id, s.event_id
"""


def cycle_statement_event_rows(conn: psycopg.Connection, cycle_number: int) -> Iterator[Row]:
    """CYCLE_STATEMENT_EVENTS, in SP and event order, through a server-side cursor (a few
    thousand rows in memory at a time). Inside a transaction."""
    with conn.cursor(name="cycle_statement_events", row_factory=dict_row) as cursor:
        cursor.itersize = 5_000
        cursor.execute(CYCLE_STATEMENT_EVENTS, {"cycle": cycle_number})
        yield from cursor


def cycle_credit_rows(conn: psycopg.Connection, cycle_number: int) -> list[Row]:
    """The cycle's credits (sp_credit_rows' columns and the SP), in SP order."""
    return _rows(
        conn,
        """SELECT w.sp_id, w.credit_id, w.cycle_number, w.amount, w.event_count,
                  w.replaces_credit_id, w.created_at, wc.status AS confirmation_status,
                  wc.reference AS confirmation_reference, wc.reason AS confirmation_reason,
                  (SELECT again.credit_id FROM wallet_credits again
                   WHERE again.replaces_credit_id = w.credit_id) AS sent_again_as
           FROM wallet_credits w
           LEFT JOIN wallet_confirmations wc ON wc.credit_id = w.credit_id
           WHERE w.cycle_number = %s ORDER BY w.sp_id, w.cycle_number, w.created_at""",
        (cycle_number,),
    )
