"""Plain-SQL fixture rows for the summary tests: runs, calculations and errors as the
engine would leave them, without depending on the engine."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg

PROCESSED_AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def insert_rule(conn: psycopg.Connection, source_type: str, product_type: str) -> int:
    """A rule (and its rule set) for the calculation rows' foreign key."""
    conn.execute(
        "INSERT INTO rule_sets (rule_set_version, source_file, content_sha256)"
        " VALUES (1, 'payin_payout_rules.csv', 'sha') ON CONFLICT DO NOTHING"
    )
    row = conn.execute(
        "INSERT INTO payin_payout_rules (rule_set_version, row_number, source_type,"
        " medium_type, product_type, kpi_start_date, kpi_end_date, parameters)"
        " VALUES (1, 1, %s, 'Medium_A', %s, '2023-10-01', '2023-10-03', '{}')"
        " RETURNING rule_id",
        (source_type, product_type),
    ).fetchone()
    assert row is not None
    return int(row[0])


def insert_mis_run(
    conn: psycopg.Connection,
    mis_file: str,
    outcome_counts: dict[str, int],
    product_type: str,
    totals: tuple[str, str] = ("0", "0"),
) -> int:
    """A finished run; `totals` (payin, payout) are those of the events it made."""
    row = conn.execute(
        "INSERT INTO mis_runs (mis_file, content_sha256, product_type, started_at, rows_read,"
        " outcome_counts, total_payin, total_payout)"
        " VALUES (%s, md5(%s), %s, %s, %s, %s, %s, %s) RETURNING mis_run_id",
        (
            mis_file,
            mis_file,
            product_type,
            PROCESSED_AT,
            sum(outcome_counts.values()),
            json.dumps(outcome_counts),
            *(Decimal(amount) for amount in totals),
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def insert_calculation(
    conn: psycopg.Connection,
    *,
    mis_run_id: int,
    rule_id: int,
    lead_id: str,
    sp_id: str,
    source_type: str,
    product_type: str,
    date_of_revenue: date,
    kpi1: tuple[str, str],
    kpi2: tuple[str, str] = ("0", "0"),
    with_events: bool = False,
) -> None:
    """The final table's row of a lead paid by `mis_run_id`; `with_events`: and the
    released earned events it sums, as the app writes them (a KPI worth 0 has none)."""
    kpi1_payin, kpi1_payout = (Decimal(amount) for amount in kpi1)
    kpi2_payin, kpi2_payout = (Decimal(amount) for amount in kpi2)
    kpis = (("KPI1", kpi1_payin, kpi1_payout), ("KPI2", kpi2_payin, kpi2_payout))
    for kpi, payin, payout in kpis:
        if with_events and (payin or payout):
            conn.execute(
                "INSERT INTO payout_events (lead_id, sp_id, source_type, medium_type,"
                " product_type, kpi, kind, outcome, kpi_sequence, payin_amount, payout_amount,"
                " reason, mis_run_id, rule_id, status)"
                " VALUES (%s, %s, %s, 'Medium_A', %s, %s, 'earned', 'paid', 1, %s, %s,"
                " %s, %s, %s, 'released')",
                (lead_id, sp_id, source_type, product_type, kpi, payin, payout,
                 f"{kpi} earned", mis_run_id, rule_id),
            )  # fmt: skip
    conn.execute(
        "INSERT INTO payout_calculations (created_at, source_type, medium_type, product_type,"
        " sp_id, lead_id, status, sub_status, date_of_sale, date_of_revenue,"
        " kpi1_payin_amount, kpi1_payout_amount, kpi2_payin_amount, kpi2_payout_amount,"
        " total_payin, total_payout, rule_id, mis_run_id)"
        " VALUES (%s, %s, 'Medium_A', %s, %s, %s, 'Success', %s, '2023-10-02', %s,"
        " %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            PROCESSED_AT,
            source_type,
            product_type,
            sp_id,
            lead_id,
            "Account Opened" if product_type == "Savings Account" else "Loan Disbursed",
            date_of_revenue,
            kpi1_payin,
            kpi1_payout,
            kpi2_payin,
            kpi2_payout,
            kpi1_payin + kpi2_payin,
            kpi1_payout + kpi2_payout,
            rule_id,
            mis_run_id,
        ),
    )


def insert_error(conn: psycopg.Connection, mis: str, error_type: str) -> int:
    row = conn.execute(
        "INSERT INTO error_logs (created_at, mis, error_type) VALUES (%s, %s, %s)"
        " RETURNING error_log_id",
        (PROCESSED_AT, mis, error_type),
    ).fetchone()
    assert row is not None
    return int(row[0])
