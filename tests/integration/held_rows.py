"""Held payout events as the ledger holds them, written in plain SQL for the review page's
tests: a lead paid by an MIS run, then a clawback (negative adjustment) that a named person
asked for with a recalculation, written held. The decisions themselves are never written
here: the tests take them through the page, which calls flows/review_decisions.decide."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import psycopg

from tests.integration.ledger_rows import insert_calculation, insert_mis_run, insert_rule

CLAWBACK = (Decimal("-96.00"), Decimal("-39.00"))
EVENT_COLUMNS = (
    "lead_id, sp_id, source_type, medium_type, product_type, kpi, kind, outcome, kpi_sequence,"
    " payin_amount, payout_amount, reason, mis_run_id, recalculation_id, rule_id,"
    " requested_by, status, hold_reason"
)


def insert_held_clawback(
    conn: psycopg.Connection,
    *,
    lead_id: str,
    sp_id: str,
    requested_by: str,
) -> int:
    """Pay `lead_id` (a Bank_B Personal Loan) its KPI1 (1096 / 439), then claw CLAWBACK
    (payin, payout) back by a recalculation `requested_by` asked for, held. Returns the
    held event's id."""
    source_type, product_type, clawback = "Bank_B", "Personal Loan", CLAWBACK
    rule_id = insert_rule(conn, source_type, product_type)
    mis_run_id = insert_mis_run(conn, f"{lead_id}.csv", {"paid": 1}, product_type)
    insert_calculation(
        conn,
        mis_run_id=mis_run_id,
        rule_id=rule_id,
        lead_id=lead_id,
        sp_id=sp_id,
        source_type=source_type,
        product_type=product_type,
        date_of_revenue=date(2023, 10, 3),
        kpi1=("1096.00", "439.00"),
    )
    conn.execute(
        f"INSERT INTO payout_events ({EVENT_COLUMNS}) VALUES (%s, %s, %s, 'Medium_A', %s,"
        " 'KPI1', 'earned', 'paid', 1, 1096, 439, 'KPI1 earned', %s, NULL, %s, NULL,"
        " 'released', NULL)",
        (lead_id, sp_id, source_type, product_type, mis_run_id, rule_id),
    )
    recalculation = conn.execute(
        "INSERT INTO recalculations (requested_by, rule_set_version, leads_examined,"
        " leads_adjusted, event_count, total_payin, total_payout)"
        " VALUES (%s, 1, 1, 1, 1, %s, %s) RETURNING recalculation_id",
        (requested_by, clawback[0], clawback[1]),
    ).fetchone()
    assert recalculation is not None
    event = conn.execute(
        f"INSERT INTO payout_events ({EVENT_COLUMNS}) VALUES (%s, %s, %s, 'Medium_A', %s,"
        " 'KPI1', 'adjustment', 'adjusted', 2, %s, %s, 'KPI1 recalculated under rules v2',"
        " NULL, %s, %s, %s, 'held', 'negative adjustment: money taken back from the SP')"
        " RETURNING event_id",
        (
            lead_id,
            sp_id,
            source_type,
            product_type,
            clawback[0],
            clawback[1],
            recalculation[0],
            rule_id,
            requested_by,
        ),
    ).fetchone()
    assert event is not None
    return int(event[0])
