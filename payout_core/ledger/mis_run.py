"""The ledger side of one MIS file: the leads lookup, and the unit of work that records it.

Bulk paths only: COPY in and out, set-based SQL, never a round trip per row. Money in
the calculation is integer minor units; here it becomes `numeric` text with no float.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

import polars as pl
import psycopg
from psycopg import sql

from payout_core.engine.calculate import KPI_COLUMNS, LEADS_SCHEMA, SUCCESS_COLUMNS
from payout_core.engine.kpis import LEAD_FACTS_SCHEMA, minor_text
from payout_core.errors import TerminalError
from payout_core.ledger import db, events
from payout_core.ledger.store import copy_frame, copy_out

# A lookup hashes a batch's LeadIds, the final UPDATE the file's paid ones: with 4 MB (a
# server's usual default) both spill to disk.
HASH_WORK_MEM = "64MB"
# A lead paid here also brings its facts and what its KPIs were paid (for kpi_earned and
# adjusted); the LATERAL probe costs nothing for the others (c.lead_id is null).
LEADS_OF_BATCH = f"""
SELECT l.lead_id, l.sp_id, l.source_type, l.medium_type, l.product_type, l.status,
       c.date_of_sale, (c.basis_amount * 100)::bigint, {events.KPI_HISTORY_COLUMNS}
FROM leads l JOIN batch_lead_ids b ON b.lead_id = l.lead_id
LEFT JOIN payout_calculations c ON c.lead_id = l.lead_id AND l.status = 'Success'
{events.KPI_HISTORY_LATERAL}
"""
LOOKUP_SCHEMA = {**LEADS_SCHEMA, **LEAD_FACTS_SCHEMA}


def fetch_leads(conn: psycopg.Connection, lead_ids: pl.Series) -> pl.DataFrame:
    """The leads of these LeadIds only (the table may hold millions), with the facts of
    those paid here, in a short read-only transaction of its own: see pipeline.py for
    why it is not the file's transaction."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS batch_lead_ids (lead_id text) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE batch_lead_ids")
        cursor.execute("SELECT set_config('work_mem', %s, true)", (HASH_WORK_MEM,))
        copy_frame(cursor, "batch_lead_ids", lead_ids.to_frame("lead_id"))
        cursor.execute("ANALYZE batch_lead_ids")
        return copy_out(cursor, sql.SQL(LEADS_OF_BATCH), LOOKUP_SCHEMA)


CALCULATION_COLUMNS = [*SUCCESS_COLUMNS, "basis_amount", "rule_id", "mis_run_id"]

# The only statement that moves a lead to Success. Conditional (only from Pending), so a
# lead that changed under this file (a racing file, a leads reload) is not counted, and
# the caller starts the file over with fresh facts.
MARK_LEADS_PAID = """
UPDATE leads l
SET status = 'Success', sub_status = %(sub_status)s, updated_at = now()
FROM paid_lead_ids p
WHERE l.lead_id = p.lead_id AND l.status = 'Pending'
"""

# Who holds the calculation rows this file could not write (after a unique violation).
ALREADY_RECORDED = """
SELECT l.lead_id, l.status
FROM paid_lead_ids p
JOIN payout_calculations c ON c.lead_id = p.lead_id AND c.mis_run_id <> %(mis_run_id)s
JOIN leads l ON l.lead_id = p.lead_id
ORDER BY l.status = 'Pending' DESC, l.lead_id
LIMIT 10
"""

# The amount a lead's KPIs are now computed from, for the leads a later row changed.
UPDATE_LATER_FACTS = """
UPDATE payout_calculations c
SET basis_amount = f.basis_amount, updated_at = now()
FROM later_facts f
WHERE c.lead_id = f.lead_id
"""


class LedgerConflict(TerminalError):
    """The ledger contradicts itself; a person must look before any money moves."""


@dataclass(frozen=True)
class BatchRecord:
    """What one batch writes: SPEC §5 rows of newly paid leads, their earned events, and
    the events and new facts of later rows for leads paid before."""

    calculations: pl.DataFrame
    paid_events: pl.DataFrame
    later_events: pl.DataFrame
    later_facts: pl.DataFrame


def calculation_rows(
    paid: pl.DataFrame, processed_at: dt.datetime, mis_run_id: int
) -> pl.DataFrame:
    """SPEC §5 rows of paid leads (calculate.paid_rows) as the ledger stores them: exact
    decimal text for money, the processing timestamp and date, the run that wrote them,
    and the amount the KPIs were computed from."""
    money = [*KPI_COLUMNS, "total_payin_minor", "total_payout_minor", "basis_amount_minor"]
    return paid.with_columns(
        pl.lit(processed_at.isoformat(sep=" ")).alias("created_at"),
        pl.lit("Success").alias("status"),
        pl.lit(processed_at.date()).alias("date_of_revenue"),
        pl.lit(mis_run_id).alias("mis_run_id"),
        *(minor_text(pl.col(column)).alias(column.removesuffix("_minor")) for column in money),
    ).select(CALCULATION_COLUMNS)


def later_fact_rows(later_facts: pl.DataFrame) -> pl.DataFrame:
    """calculate.later_facts rows as text for COPY."""
    return later_facts.select(
        "lead_id", minor_text(pl.col("basis_amount_minor")).alias("basis_amount")
    )


class MisRunLedger:
    """The ledger side of one MIS file, inside the caller's transaction.

    Nothing here commits: the caller's transaction is the unit of work, so a failure at
    any point leaves no calculation, no status change, no payout event and no run row.
    Paid rows are written batch by batch (COPY straight into the ledger tables, whose
    unique indexes say "once per lead" and "once per position in a KPI's history"); the
    leads move to Success, and the calculations of leads a later row changed are
    refreshed from their events, in one statement each at the end.
    """

    def __init__(
        self, conn: psycopg.Connection, mis_run_id: int, redelivery_of_run: int | None
    ) -> None:
        self.conn = conn
        self.mis_run_id = mis_run_id
        self.redelivery_of_run = redelivery_of_run

    @classmethod
    def begin(
        cls,
        conn: psycopg.Connection,
        *,
        mis_file: str,
        content_sha256: str,
        etag: str | None,
        product_type: str,
        started_at: dt.datetime,
    ) -> MisRunLedger:
        redelivery_of_run = conn.execute(
            "SELECT max(mis_run_id) FROM mis_runs WHERE content_sha256 = %s", (content_sha256,)
        ).fetchone()[0]
        mis_run_id = conn.execute(
            "INSERT INTO mis_runs (mis_file, content_sha256, etag, product_type, started_at, "
            "rows_read, outcome_counts, total_payin, total_payout) "
            "VALUES (%s, %s, %s, %s, %s, 0, '{}', 0, 0) RETURNING mis_run_id",
            (mis_file, content_sha256, etag, product_type, started_at),
        ).fetchone()[0]
        conn.execute("CREATE TEMP TABLE paid_lead_ids (lead_id text) ON COMMIT DROP")
        conn.execute(
            "CREATE TEMP TABLE later_facts (lead_id text, basis_amount numeric) ON COMMIT DROP"
        )
        conn.execute("SELECT set_config('work_mem', %s, true)", (HASH_WORK_MEM,))
        return cls(conn, mis_run_id, redelivery_of_run)

    def write(self, batch: BatchRecord) -> None:
        self.write_paid(batch.calculations, batch.paid_events)
        if not batch.later_facts.is_empty():
            with self.conn.cursor() as cursor:
                copy_frame(cursor, "later_facts", later_fact_rows(batch.later_facts))
        events.append_events(self.conn, batch.later_events)

    def write_paid(self, recorded: pl.DataFrame, paid_events: pl.DataFrame) -> None:
        """COPY one batch of calculation rows (`calculation_rows`) and their earned events.

        A lead that already has a calculation row raises: ConflictError when another file
        paid it meanwhile (a retry sees it as already paid), LedgerConflict when the lead is
        still Pending (someone reset it by hand: paying again would pay twice).
        """
        if recorded.is_empty():
            return
        with self.conn.cursor() as cursor:
            copy_frame(cursor, "paid_lead_ids", recorded.select("lead_id"))
            try:
                with self.conn.transaction():  # a savepoint: the conflict can be explained
                    copy_frame(cursor, "payout_calculations", recorded)
            except psycopg.errors.UniqueViolation as error:
                raise self._explain_conflict(cursor, error) from error
            try:
                with self.conn.transaction():
                    copy_frame(cursor, "payout_events", paid_events)
            except psycopg.errors.UniqueViolation as error:
                raise LedgerConflict(
                    "a payout event exists for a lead without its calculation (edited by "
                    f"hand?); refusing to pay it twice: {error.diag.message_detail}"
                ) from error
            held = paid_events.filter(pl.col("status") == "held")
            if not held.is_empty():
                # The rows above counted every KPI; the final table sums released events only.
                cursor.execute(
                    "SELECT refresh_calculations(%s)", (held["lead_id"].unique().to_list(),)
                )

    def _explain_conflict(
        self, cursor: psycopg.Cursor, error: psycopg.errors.UniqueViolation
    ) -> Exception:
        holders = cursor.execute(ALREADY_RECORDED, {"mis_run_id": self.mis_run_id}).fetchall()
        pending = [lead_id for lead_id, status in holders if status == "Pending"]
        if pending:
            return LedgerConflict(
                f"lead(s) {', '.join(pending)} are Pending but already have a payout "
                "calculation (were they reset by hand?); refusing to pay them twice"
            )
        if holders:
            return db.ConflictError(
                f"lead(s) {', '.join(lead_id for lead_id, _ in holders)} were paid by another "
                "MIS file while this one was processed"
            )
        return LedgerConflict(f"unexpected duplicate calculation: {error.diag.message_detail}")

    def mark_leads_paid(self, sub_status: str, paid_count: int) -> None:
        """Every lead written as paid moves Pending -> Success, or the file starts over."""
        with self.conn.cursor() as cursor:
            cursor.execute("ANALYZE paid_lead_ids")
            updated = cursor.execute(MARK_LEADS_PAID, {"sub_status": sub_status}).rowcount
        if updated != paid_count:
            raise db.ConflictError(
                f"{paid_count - updated} of {paid_count} lead(s) stopped being Pending while "
                "this file was processed (another file or a leads reload)"
            )

    def refresh_later_leads(self) -> None:
        """The leads a later row changed: their new facts, and KPI columns = their events."""
        with self.conn.cursor() as cursor:
            cursor.execute(UPDATE_LATER_FACTS)
            events.refresh_calculations(self.conn, "later_facts")

    def finish(
        self,
        *,
        rows_read: int,
        outcome_counts: dict[str, int],
        total_payin: Decimal,
        total_payout: Decimal,
    ) -> None:
        self.conn.execute(
            "UPDATE mis_runs SET rows_read = %s, outcome_counts = %s, total_payin = %s, "
            "total_payout = %s, finished_at = clock_timestamp() WHERE mis_run_id = %s",
            (rows_read, json.dumps(outcome_counts), total_payin, total_payout, self.mis_run_id),
        )
