"""Plain-SQL payout events for the cycle tests, as the ledger's writers would leave them
(earned KPI events from an MIS run, adjustments from a recalculation someone asked for)."""

from __future__ import annotations

from decimal import Decimal

import psycopg

from payout_core.engine.holds import NEGATIVE_ADJUSTMENT_REASON, event_limit_reason
from tests.integration import ledger_rows


class Ledger:
    """Writes events (and the calculation row of each new lead) into one database."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.rule_id = ledger_rows.insert_rule(conn, "Bank_B", "Personal Loan")
        self.mis_run_id = ledger_rows.insert_mis_run(
            conn, "bank_b.csv", {"paid": 1}, "Personal Loan"
        )
        self._sequences: dict[tuple[str, str], int] = {}

    def _calculation(self, lead_id: str, sp_id: str) -> None:
        exists = self.conn.execute(
            "SELECT 1 FROM payout_calculations WHERE lead_id = %s", (lead_id,)
        ).fetchone()
        if not exists:
            ledger_rows.insert_calculation(
                self.conn,
                mis_run_id=self.mis_run_id,
                rule_id=self.rule_id,
                lead_id=lead_id,
                sp_id=sp_id,
                source_type="Bank_B",
                product_type="Personal Loan",
                date_of_revenue=ledger_rows.PROCESSED_AT.date(),
                kpi1=("0", "0"),
            )

    def event(
        self,
        lead_id: str,
        sp_id: str,
        payout: str,
        *,
        kind: str = "earned",
        kpi: str = "KPI1",
        status: str | None = None,
        requested_by: str | None = None,
    ) -> int:
        """Append one event and refresh the lead's final table; returns its event_id.

        `status` None: as the ledger's writers decide it (a negative adjustment is held).
        """
        clawback = kind == "adjustment" and Decimal(payout) < 0
        if status is None:
            status = "held" if clawback else "released"
        hold_reason = NEGATIVE_ADJUSTMENT_REASON if clawback else event_limit_reason(Decimal(5000))
        self._calculation(lead_id, sp_id)
        # Sequence 1 is the KPI earned; an adjustment comes after it.
        sequence = max(self._sequences.get((lead_id, kpi), 0) + 1, 2 if kind == "adjustment" else 1)
        self._sequences[(lead_id, kpi)] = sequence
        recalculation_id = None
        if kind == "adjustment":
            row = self.conn.execute(
                "INSERT INTO recalculations (requested_by, rule_set_version, leads_examined,"
                " leads_adjusted, event_count, total_payin, total_payout)"
                " VALUES (%s, 1, 1, 1, 1, 0, %s) RETURNING recalculation_id",
                (requested_by or "Operator", Decimal(payout)),
            ).fetchone()
            recalculation_id = row[0]
        row = self.conn.execute(
            "INSERT INTO payout_events (lead_id, sp_id, source_type, medium_type, product_type,"
            " kpi, kind, outcome, kpi_sequence, payin_amount, payout_amount, reason, mis_run_id,"
            " recalculation_id, rule_id, requested_by, status, hold_reason)"
            " VALUES (%s, %s, 'Bank_B', 'Medium_A', 'Personal Loan', %s, %s, %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s, %s, %s) RETURNING event_id",
            (
                lead_id,
                sp_id,
                kpi,
                kind,
                "paid" if kind == "earned" else "adjusted",
                sequence,
                Decimal(payout) * 2,
                Decimal(payout),
                f"{kpi} {kind}",
                None if recalculation_id else self.mis_run_id,
                recalculation_id,
                self.rule_id,
                requested_by,
                status,
                hold_reason if status == "held" else None,
            ),
        ).fetchone()
        self.conn.execute("SELECT refresh_calculations(%s)", ([lead_id],))
        return int(row[0])
