"""Migrations move an existing ledger forward without losing a row."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from importlib import resources

import psycopg
import pytest

from payout_core.ledger import db
from tests.support import postgres

D = Decimal
MIGRATIONS = resources.files("payout_core.ledger") / "migrations"


@pytest.fixture
def ledger_at_001(postgres_server_url: str) -> Iterator[str]:
    """A database holding 001's schema and a paid savings lead (KPI1 and KPI2) and a paid
    loan, written as 001's one-row-per-lead ledger wrote them."""
    name = f"at_001_{uuid.uuid4().hex[:8]}"
    url = postgres.create_database(postgres_server_url, name)
    with psycopg.connect(url) as conn:
        conn.execute(db.MIGRATIONS_TABLE)
        conn.execute((MIGRATIONS / "001_ledger.sql").read_text())
        conn.execute("INSERT INTO schema_migrations (version) VALUES ('001_ledger.sql')")
        conn.execute(
            """
            INSERT INTO payout_calculations VALUES
            ('2023-10-05 09:00+00', 'Bank_A', 'Medium_A', 'Savings Account', 'SP1', 'AT-00001',
             'Success', 'Account Opened', '2023-10-02', '2023-10-05',
             1500, 1000, 1000, 500, 2500, 1500, 7, 1),
            ('2023-10-05 09:00+00', 'Bank_B', 'Medium_A', 'Personal Loan', 'SP2', 'AT-00002',
             'Success', 'Loan Disbursed', '2023-10-02', '2023-10-05',
             1096, 439, 0, 0, 1096, 439, 8, 1)
            """
        )
        conn.execute(
            "INSERT INTO payout_events (lead_id, sp_id, payout_amount, created_at, mis_run_id)"
            " VALUES ('AT-00001', 'SP1', 1500, '2023-10-05 09:00+00', 1),"
            " ('AT-00002', 'SP2', 439, '2023-10-05 09:00+00', 1)"
        )
    yield url
    postgres.drop_database(postgres_server_url, name)


def test_old_events_become_earned_kpi_events_with_the_same_amounts(ledger_at_001: str) -> None:
    with psycopg.connect(ledger_at_001) as conn:
        applied = db.migrate(conn)
        assert "002_correctable_ledger.sql" in applied
        events = conn.execute(
            "SELECT lead_id, sp_id, product_type, kpi, kind, outcome, kpi_sequence,"
            " payin_amount, payout_amount, mis_run_id, rule_id, status FROM payout_events"
            " ORDER BY lead_id, kpi"
        ).fetchall()
        calculations = conn.execute(
            "SELECT lead_id, total_payin, total_payout, basis_amount FROM payout_calculations"
            " ORDER BY lead_id"
        ).fetchall()
        assert (
            conn.execute("SELECT refresh_calculations(ARRAY['AT-00001', 'AT-00002'])").fetchone()[0]
            == 0
        )  # the calculations already equal the sums of their events
    assert events == [
        ("AT-00001", "SP1", "Savings Account", "KPI1", "earned", "paid", 1, D(1500), D(1000), 1, 7,
         "released"),
        ("AT-00001", "SP1", "Savings Account", "KPI2", "earned", "paid", 1, D(1000), D(500), 1, 7,
         "released"),
        ("AT-00002", "SP2", "Personal Loan", "KPI1", "earned", "paid", 1, D(1096), D(439), 1, 8,
         "released"),
    ]  # fmt: skip
    assert calculations == [
        ("AT-00001", D(2500), D(1500), None),
        ("AT-00002", D(1096), D(439), None),
    ]


def test_an_old_event_without_its_calculation_stops_the_migration(ledger_at_001: str) -> None:
    with psycopg.connect(ledger_at_001) as conn:
        conn.execute(
            "INSERT INTO payout_events (lead_id, sp_id, payout_amount, mis_run_id)"
            " VALUES ('AT-00009', 'SP9', 10, 1)"
        )
        conn.commit()
        with pytest.raises(psycopg.errors.RaiseException, match="AT-00009"):
            db.migrate(conn)
        conn.rollback()
        # Nothing half-applied: the old table and its rows are still there.
        assert conn.execute("SELECT count(*) FROM payout_events").fetchone()[0] == 3
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 1


def test_events_held_before_their_reason_was_kept_keep_their_reason_and_wait(
    postgres_server_url: str,
) -> None:
    """Written held by the ledger before 005 (no hold_reason column then): after 007 the
    reason 003 gave them is recorded once, they still wait, and no SQL decides a hold."""
    name = f"at_004_{uuid.uuid4().hex[:8]}"
    url = postgres.create_database(postgres_server_url, name)
    try:
        with psycopg.connect(url) as conn:
            conn.execute(db.MIGRATIONS_TABLE)
            for script in db.migration_scripts():
                if script.name >= "005":
                    break
                conn.execute(script.read_text())
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (script.name,))
            conn.execute(
                "INSERT INTO payout_events (lead_id, sp_id, source_type, medium_type,"
                " product_type, kpi, kind, outcome, kpi_sequence, payin_amount, payout_amount,"
                " reason, mis_run_id, rule_id, status) VALUES"
                " ('AT-00003', 'SP3', 'Bank_B', 'Medium_A', 'Personal Loan', 'KPI1', 'earned',"
                "  'paid', 1, 20000, 8000, 'KPI1 earned', 1, 1, 'held'),"
                " ('AT-00003', 'SP3', 'Bank_B', 'Medium_A', 'Personal Loan', 'KPI1', 'adjustment',"
                "  'adjusted', 2, -100, -40, 'KPI1 adjusted', 2, 1, 'held')"
            )
            conn.commit()
            assert "007_one_hold_rule.sql" in db.migrate(conn)
            states = conn.execute(
                "SELECT kind, effective_status, hold_reason FROM payout_event_states"
                " ORDER BY event_id"
            ).fetchall()
            functions = conn.execute(
                "SELECT count(*) FROM pg_proc WHERE proname = 'hold_reason_at_creation'"
            ).fetchone()
        assert states == [
            ("earned", "held", "payout above the per-event limit (PAYOUT_HOLD_EVENT_ABOVE)"),
            ("adjustment", "held", "negative adjustment: money taken back from the SP"),
        ]
        assert functions == (0,)
    finally:
        postgres.drop_database(postgres_server_url, name)
