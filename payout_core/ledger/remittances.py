"""Money in, in PostgreSQL: one unit of work per remittance file, and the receivables.

Bulk paths only (COPY in and out, set-based SQL). Remittance files are recorded one at a
time: each unit of work takes one advisory lock first and reads what was received after
it, so two files racing for the same lead or Reference see each other's receipts (the
unique Reference per bank is the database's backstop).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

import polars as pl
import psycopg
from psycopg import sql

from payout_core.engine import remittance
from payout_core.engine.amounts import minor_text
from payout_core.engine.products import MINOR_UNITS_PER_UNIT
from payout_core.ledger import db
from payout_core.ledger.copying import copy_frame, copy_out
from payout_core.ledger.mis_run import HASH_WORK_MEM

REMITTANCE_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('payout.remittance'))"

OWED_OF_FILE = """
WITH expected AS (
    SELECT e.lead_id, sum(e.payin_amount) AS payin
    FROM payin_events e JOIN remittance_lead_ids f ON f.lead_id = e.lead_id
    GROUP BY e.lead_id
), received AS (
    SELECT r.lead_id, sum(r.amount) AS amount
    FROM remittance_receipts r
    JOIN remittance_lead_ids f ON f.lead_id = r.lead_id
    JOIN leads l ON l.lead_id = r.lead_id AND l.source_type = r.source_type
    GROUP BY r.lead_id
)
SELECT l.lead_id, l.source_type,
       (coalesce(e.payin, 0) * {minor})::bigint, (coalesce(r.amount, 0) * {minor})::bigint
FROM remittance_lead_ids f
JOIN leads l ON l.lead_id = f.lead_id
LEFT JOIN expected e ON e.lead_id = f.lead_id
LEFT JOIN received r ON r.lead_id = f.lead_id
"""
# Of the banks a file names, those no rule and no lead has (leads are probed only for the
# few banks without a rule: no index on leads.source_type, and a known bank is found fast).
BANKS_WITHOUT_RULES = """
SELECT s FROM unnest(%s::text[]) s
WHERE NOT EXISTS (SELECT 1 FROM payin_payout_rules r WHERE r.source_type = s)
"""
BANKS_WITHOUT_LEADS = """
SELECT s FROM unnest(%s::text[]) s
WHERE NOT EXISTS (SELECT 1 FROM leads l WHERE l.source_type = s)
"""
RECORDED_OF_FILE = """
SELECT r.source_type, r.reference
FROM remittance_receipts r JOIN remittance_references f ON f.reference = r.reference
"""
RECEIPT_COLUMNS = [
    "remittance_run_id",
    "row_number",
    "source_type",
    "reference",
    "tracking_id",
    "lead_id",
    "amount",
    "paid_on",
    "outcome",
    "owed_before",
    "reason",
]
REJECTED_COLUMNS = [
    "remittance_run_id",
    "row_number",
    "outcome",
    "reason",
    "source_type",
    "tracking_id",
    "amount_text",
    "paid_on_text",
    "reference",
]


class RemittanceLedger:
    """The ledger side of one remittance file, inside the caller's transaction: a failure
    at any point leaves no run, no receipt and no rejected row."""

    def __init__(self, conn: psycopg.Connection, remittance_run_id: int) -> None:
        self.conn = conn
        self.remittance_run_id = remittance_run_id

    @classmethod
    def begin(
        cls,
        conn: psycopg.Connection,
        *,
        remittance_file: str,
        content_sha256: str,
        etag: str | None,
        started_at: dt.datetime,
    ) -> RemittanceLedger:
        # First, so that everything read below includes what a racing file committed.
        conn.execute(REMITTANCE_LOCK_SQL)
        conn.execute("SELECT set_config('work_mem', %s, true)", (HASH_WORK_MEM,))
        remittance_run_id = conn.execute(
            "INSERT INTO remittance_runs (remittance_file, content_sha256, etag, started_at, "
            "rows_read, outcome_counts, total_received) VALUES (%s, %s, %s, %s, 0, '{}', 0) "
            "RETURNING remittance_run_id",
            (remittance_file, content_sha256, etag, started_at),
        ).fetchone()[0]
        return cls(conn, remittance_run_id)

    def owed_and_recorded(self, rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """What is owed for the file's leads (remittance.OWED_SCHEMA) and which of its
        References are already recorded (remittance.RECORDED_SCHEMA)."""
        lead_ids = rows.get_column("lead_id").drop_nulls().unique().to_frame("lead_id")
        references = rows.get_column("reference").drop_nulls().unique().to_frame("reference")
        with self.conn.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE remittance_lead_ids (lead_id text) ON COMMIT DROP")
            cursor.execute(
                "CREATE TEMP TABLE remittance_references (reference text) ON COMMIT DROP"
            )
            copy_frame(cursor, "remittance_lead_ids", lead_ids)
            copy_frame(cursor, "remittance_references", references)
            cursor.execute("ANALYZE remittance_lead_ids")
            cursor.execute("ANALYZE remittance_references")
            owed = copy_out(
                cursor,
                sql.SQL(OWED_OF_FILE.format(minor=MINOR_UNITS_PER_UNIT)),
                remittance.OWED_SCHEMA,
            )
            recorded = copy_out(cursor, sql.SQL(RECORDED_OF_FILE), remittance.RECORDED_SCHEMA)
        return owed, recorded

    def unknown_banks(self, rows: pl.DataFrame, profiled: frozenset[str]) -> frozenset[str]:
        """The SourceTypes the file states that are no bank: no bank profile (`profiled`),
        no rule and no lead has them."""
        stated = set(rows.get_column("stated_source_type").drop_nulls().unique()) - profiled
        for query in (BANKS_WITHOUT_RULES, BANKS_WITHOUT_LEADS):
            if stated:
                stated = {row[0] for row in self.conn.execute(query, (sorted(stated),))}
        return frozenset(stated)

    def record(self, reconciled: pl.DataFrame) -> None:
        """COPY the receipts and the rejected rows of the file."""
        run_id = pl.lit(self.remittance_run_id, dtype=pl.Int64).alias("remittance_run_id")
        receipts = reconciled.filter(pl.col("outcome").is_in(remittance.RECEIVED_OUTCOMES))
        rejected = reconciled.filter(~pl.col("outcome").is_in(remittance.RECEIVED_OUTCOMES))
        with self.conn.cursor() as cursor:
            # Cannot collide under the lock; if it does, a retry reads it as recorded.
            with db.unique_or_conflict(self.conn, "a Reference was recorded"):
                copy_frame(
                    cursor,
                    "remittance_receipts",
                    receipts.with_columns(
                        run_id,
                        minor_text(pl.col("amount_minor")).alias("amount"),
                        minor_text(pl.col("owed_minor")).alias("owed_before"),
                    ).select(RECEIPT_COLUMNS),
                )
            copy_frame(
                cursor,
                "remittance_rejected_rows",
                rejected.with_columns(run_id).select(REJECTED_COLUMNS),
            )

    def finish(
        self, *, rows_read: int, outcome_counts: dict[str, int], total_received: Decimal
    ) -> None:
        self.conn.execute(
            "UPDATE remittance_runs SET rows_read = %s, outcome_counts = %s, "
            "total_received = %s, finished_at = clock_timestamp() WHERE remittance_run_id = %s",
            (rows_read, json.dumps(outcome_counts), total_received, self.remittance_run_id),
        )


# --- receivables ------------------------------------------------------------------------

# Read from the totals kept per bank and DateOfRevenue (payin_totals_now, migration 009),
# a row per bank and day: the same figures lead_receivables gives lead by lead, without
# reading every event and receipt of the ledger.
RECEIVABLES_BY_BANK = """
SELECT source_type,
       sum(expected_payin)::numeric(18, 2),
       sum(received)::numeric(18, 2),
       sum(outstanding)::numeric(18, 2),
       coalesce(sum(outstanding) FILTER (WHERE age_days <= 30), 0)::numeric(18, 2),
       coalesce(sum(outstanding) FILTER (WHERE age_days BETWEEN 31 AND 60), 0)::numeric(18, 2),
       coalesce(sum(outstanding) FILTER (WHERE age_days > 60), 0)::numeric(18, 2),
       sum(over_received)::numeric(18, 2),
       sum(leads_outstanding)::bigint,
       sum(leads_over_received)::bigint
FROM (
    SELECT *, %(as_of)s::date - date_of_revenue AS age_days FROM payin_totals_now
) t
GROUP BY source_type
HAVING sum(lead_count) > 0
ORDER BY source_type
"""


@dataclass(frozen=True)
class BankReceivables:
    """What one bank (SourceType) owes, by age since DateOfRevenue (SPEC §9).

    `outstanding` is what is owed and not yet received, lead by lead; a lead that received
    more than it is worth (an over-payment, or a negative adjustment after a full
    remittance) counts in `over_received` instead, so expected - received =
    outstanding - over_received.
    """

    source_type: str
    expected: Decimal
    received: Decimal
    outstanding: Decimal
    outstanding_0_30: Decimal
    outstanding_31_60: Decimal
    outstanding_over_60: Decimal
    over_received: Decimal
    leads_outstanding: int
    leads_over_received: int

    def to_json(self) -> dict[str, object]:
        return {
            name: value if isinstance(value, int | str) else str(value)
            for name, value in self.__dict__.items()
        }


def receivables_by_bank(conn: psycopg.Connection, as_of: dt.date) -> list[BankReceivables]:
    rows = conn.execute(RECEIVABLES_BY_BANK, {"as_of": as_of}).fetchall()
    return [BankReceivables(*row) for row in rows]


def keep_payin_balances(conn: psycopg.Connection) -> int:
    """Bring what the banks owe up to date for the leads of every event batch not kept yet
    (migration 015); returns how many batches. Its own transaction: the caller commits."""
    row = conn.execute("SELECT keep_payin_balances()").fetchone()
    return int(row[0]) if row else 0
