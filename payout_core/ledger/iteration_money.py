"""Where one iteration's money went, read inside the summary job's transaction: the events
its MIS files made by state (released, held, rejected), what it added to each bank's
payin, and what makes up the cycle's wallet credits. Rows only: flows/iteration_report.py
turns them into the email's tie-out (SPEC §7, §8)."""

from __future__ import annotations

from decimal import Decimal

import psycopg

from payout_core.engine.holds import CreditBridge
from payout_core.ledger.iteration_rows import Unreported

# One row per (DateOfRevenue, SourceType, MediumType, ProductType) and a total row
# (is_total): the events the iteration's files made, by their state now. The date is the
# lead's final-table row's (its processing day); every event of a paid lead has one.
# The distinct counts compare ids byte by byte (COLLATE "C"): the same count, and after a
# million-row file 3.2 s instead of 5.2 s (the database's collation sorts them for people).
SUMMARY_BY_STATE = """
SELECT e.revenue_date, e.source_type, e.medium_type, e.product_type,
       count(DISTINCT e.sp_id COLLATE "C"), count(DISTINCT e.lead_id COLLATE "C"),
       coalesce(sum(e.payin_amount) FILTER (WHERE e.effective_status = 'released'), 0),
       coalesce(sum(e.payout_amount) FILTER (WHERE e.effective_status = 'released'), 0),
       coalesce(sum(e.payin_amount) FILTER (WHERE e.effective_status = 'held'), 0),
       coalesce(sum(e.payout_amount) FILTER (WHERE e.effective_status = 'held'), 0),
       coalesce(sum(e.payin_amount) FILTER (WHERE e.effective_status = 'rejected'), 0),
       coalesce(sum(e.payout_amount) FILTER (WHERE e.effective_status = 'rejected'), 0),
       GROUPING(e.source_type) = 1 AS is_total
FROM (SELECT s.*, coalesce(c.date_of_revenue, (s.created_at AT TIME ZONE 'UTC')::date)
                  AS revenue_date
      FROM payout_event_states s
      LEFT JOIN payout_calculations c ON c.lead_id = s.lead_id
      WHERE s.mis_run_id = ANY(%s)) e
GROUP BY GROUPING SETS ((e.revenue_date, e.source_type, e.medium_type, e.product_type), ())
ORDER BY is_total, e.revenue_date, e.source_type, e.medium_type, e.product_type
"""


def summary_rows(conn: psycopg.Connection, run_ids: list[int]) -> list[tuple]:
    """(date, SourceType, MediumType, ProductType, SPs, leads, payin and payout released,
    held, rejected, is_total) of the events these runs made; the total row is last and
    always there (zeros when the runs made no event)."""
    return conn.execute(SUMMARY_BY_STATE, (run_ids,)).fetchall()


def held_from_runs(conn: psycopg.Connection, run_ids: list[int]) -> tuple[int, Decimal]:
    """(count, payout) of the events these runs made that wait for a decision now."""
    row = conn.execute(
        "SELECT count(*), coalesce(sum(payout_amount), 0) FROM payout_event_states"
        " WHERE mis_run_id = ANY(%s) AND effective_status = 'held'",
        (run_ids,),
    ).fetchone()
    assert row is not None  # an aggregate always returns one row
    return int(row[0]), row[1]


def payin_by_bank(conn: psycopg.Connection, unreported: Unreported) -> dict[str, Decimal]:
    """Per SourceType, the payin of the iteration's events (its files' and its
    recalculations'): what it added to what each bank owes, whatever the holds."""
    rows = conn.execute(
        "SELECT source_type, sum(payin_amount) FROM payout_events"
        " WHERE mis_run_id = ANY(%s) OR recalculation_id = ANY(%s) GROUP BY source_type",
        (list(unreported.mis_run_ids), list(unreported.recalculation_ids)),
    ).fetchall()
    return {source_type: amount for source_type, amount in rows}


# Each event of the cycle counted once, in this order: the iteration's files, an approval,
# a recalculation, else an earlier event carried in.
CYCLE_EVENT_SOURCES = """
SELECT
  coalesce(sum(s.payout_amount) FILTER (WHERE s.mis_run_id = ANY(%(runs)s)), 0),
  coalesce(sum(s.payout_amount) FILTER (WHERE NOT coalesce(s.mis_run_id = ANY(%(runs)s), false)
                                          AND s.decision = 'approved'), 0),
  coalesce(sum(s.payout_amount) FILTER (WHERE NOT coalesce(s.mis_run_id = ANY(%(runs)s), false)
                                          AND s.decision IS NULL
                                          AND s.recalculation_id IS NOT NULL), 0),
  coalesce(sum(s.payout_amount) FILTER (WHERE NOT coalesce(s.mis_run_id = ANY(%(runs)s), false)
                                          AND s.decision IS NULL
                                          AND s.recalculation_id IS NULL), 0)
FROM cycle_events c JOIN payout_event_states s ON s.event_id = c.event_id
WHERE c.cycle_number = %(cycle)s
"""
FILES_RELEASED_NOT_IN_CYCLE = """
SELECT coalesce(sum(payout_amount), 0) FROM payout_event_states
WHERE mis_run_id = ANY(%(runs)s) AND effective_status = 'released'
  AND coalesce(cycle_number, -1) <> %(cycle)s
"""


def credit_sources(
    conn: psycopg.Connection, unreported: Unreported, cycle_number: int
) -> CreditBridge:
    """The cycle's credits by where their money came from."""
    params = {"runs": list(unreported.mis_run_ids), "cycle": cycle_number}
    in_cycle = conn.execute(CYCLE_EVENT_SOURCES, params).fetchone()
    carried = conn.execute(FILES_RELEASED_NOT_IN_CYCLE, params).fetchone()
    sent_again = conn.execute(
        "SELECT coalesce(sum(amount), 0) FROM wallet_credits"
        " WHERE cycle_number = %s AND replaces_credit_id IS NOT NULL",
        (cycle_number,),
    ).fetchone()
    assert in_cycle is not None and carried is not None and sent_again is not None  # aggregates
    # Released by the files: paid in this cycle (in_cycle[0]) or carried to a later one.
    return CreditBridge(
        files_released=in_cycle[0] + carried[0],
        files_carried=carried[0],
        approved_earlier=in_cycle[1],
        recalculations=in_cycle[2],
        carried_in=in_cycle[3],
        sent_again=sent_again[0],
    )
