"""Plain-SQL paid leads for the reconciliation tests: a calculation row and payout events
as an MIS file (or a correction) would leave them, for leads of samples/leads.csv."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg

TODAY = datetime.now(UTC).date()


def paid(
    url: str, lead_id: str, payin: str, date_of_revenue: date = TODAY, payout: str = "0"
) -> None:
    """A lead paid: its calculation row and a released KPI1 event."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO payout_calculations (created_at, source_type, medium_type, "
            "product_type, sp_id, lead_id, status, sub_status, date_of_sale, date_of_revenue, "
            "kpi1_payin_amount, kpi1_payout_amount, kpi2_payin_amount, kpi2_payout_amount, "
            "total_payin, total_payout, rule_id, mis_run_id) "
            "SELECT now(), source_type, medium_type, product_type, sp_id, lead_id, 'Success', "
            "'Account Opened', '2023-10-02', %s, %s, %s, 0, 0, %s, %s, 1, 1 "
            "FROM leads WHERE lead_id = %s",
            (date_of_revenue, payin, payout, payin, payout, lead_id),
        )
        _event(conn, lead_id, payin, payout, kind="earned", sequence=1)


def adjusted(url: str, lead_id: str, payin: str, payout: str = "0") -> None:
    """A released adjustment of the lead's KPI1 (as if approved)."""
    with psycopg.connect(url) as conn:
        _event(conn, lead_id, payin, payout, kind="adjustment", sequence=2)


def _event(
    conn: psycopg.Connection, lead_id: str, payin: str, payout: str, kind: str, sequence: int
) -> None:
    conn.execute(
        "INSERT INTO payout_events (lead_id, sp_id, source_type, medium_type, product_type, "
        "kpi, kind, outcome, kpi_sequence, payin_amount, payout_amount, reason, mis_run_id, "
        "rule_id) SELECT lead_id, sp_id, source_type, medium_type, product_type, 'KPI1', %s, "
        "%s, %s, %s, %s, 'test', %s, 1 FROM leads WHERE lead_id = %s",
        (
            kind,
            "paid" if kind == "earned" else "adjusted",
            sequence,
            payin,
            payout,
            sequence,
            lead_id,
        ),
    )
