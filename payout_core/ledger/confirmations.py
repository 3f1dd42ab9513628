"""Money out, in PostgreSQL: one unit of work per wallet confirmation file, and what the
cycle close does with failed credits (send again; after 3 failures, hold for a person).

A credit gets one answer (UNIQUE credit_id): a re-delivered file finds its answers
recorded and changes nothing. Files are recorded one at a time (an advisory lock), so
racing files see each other's answers.
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import psycopg
from psycopg import sql

from payout_core.engine import confirmations
from payout_core.ledger import db
from payout_core.ledger.copying import copy_frame, copy_out

CONFIRMATION_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('payout.confirmations'))"
FAILURES_BEFORE_HOLD = 3  # SPEC §9: after 3 failures the credit's events wait for a person

CREDITS_OF_FILE = """
SELECT w.credit_id, c.status, c.reference
FROM confirmation_credit_ids f
JOIN wallet_credits w ON w.credit_id = f.credit_id
LEFT JOIN wallet_confirmations c ON c.credit_id = w.credit_id
"""
# The file's References that already confirm a credit (an index on the reference).
REFERENCES_OF_FILE = """
SELECT DISTINCT ON (c.reference) c.reference, c.credit_id
FROM confirmation_references f
JOIN wallet_confirmations c ON c.reference = f.reference AND c.status = 'success'
ORDER BY c.reference, c.confirmation_id
"""
CONFIRMATION_COLUMNS = [
    "credit_id",
    "status",
    "reference",
    "reason",
    "confirmation_run_id",
    "row_number",
]
REJECTED_COLUMNS = [
    "confirmation_run_id",
    "row_number",
    "outcome",
    "reason",
    "credit_id",
    "status_text",
    "reference",
]


class ConfirmationLedger:
    """The ledger side of one confirmation file, inside the caller's transaction."""

    def __init__(self, conn: psycopg.Connection, confirmation_run_id: int) -> None:
        self.conn = conn
        self.confirmation_run_id = confirmation_run_id

    @classmethod
    def begin(
        cls,
        conn: psycopg.Connection,
        *,
        confirmation_file: str,
        content_sha256: str,
        etag: str | None,
        started_at: dt.datetime,
    ) -> ConfirmationLedger:
        conn.execute(CONFIRMATION_LOCK_SQL)
        run_id = conn.execute(
            "INSERT INTO confirmation_runs (confirmation_file, content_sha256, etag, started_at,"
            " rows_read, outcome_counts) VALUES (%s, %s, %s, %s, 0, '{}')"
            " RETURNING confirmation_run_id",
            (confirmation_file, content_sha256, etag, started_at),
        ).fetchone()[0]
        return cls(conn, run_id)

    def credits(self, rows: pl.DataFrame) -> pl.DataFrame:
        """The file's credits that exist, with their recorded answer (CREDITS_SCHEMA)."""
        return self._of_file(rows, "credit_id", CREDITS_OF_FILE, confirmations.CREDITS_SCHEMA)

    def references_in_use(self, rows: pl.DataFrame) -> pl.DataFrame:
        """The file's References that already confirm a credit (REFERENCES_SCHEMA)."""
        return self._of_file(rows, "reference", REFERENCES_OF_FILE, confirmations.REFERENCES_SCHEMA)

    def _of_file(self, rows: pl.DataFrame, column: str, query: str, schema: dict) -> pl.DataFrame:
        """`query` over the file's distinct values of `column`, given to it as the temporary
        table confirmation_<column>s."""
        values = rows.get_column(column).drop_nulls().unique().to_frame(column)
        table = f"confirmation_{column}s"
        with self.conn.cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE {table} ({column} text) ON COMMIT DROP")
            copy_frame(cursor, table, values)
            return copy_out(cursor, sql.SQL(query), schema)

    def record(self, reconciled: pl.DataFrame) -> None:
        run_id = pl.lit(self.confirmation_run_id, dtype=pl.Int64).alias("confirmation_run_id")
        answers = reconciled.filter(pl.col("outcome").is_in(confirmations.RECORDED_OUTCOMES))
        rejected = reconciled.filter(~pl.col("outcome").is_in(confirmations.RECORDED_OUTCOMES))
        with self.conn.cursor() as cursor:
            with db.unique_or_conflict(self.conn, "a credit was answered"):
                copy_frame(
                    cursor,
                    "wallet_confirmations",
                    answers.with_columns(run_id).select(CONFIRMATION_COLUMNS),
                )
            copy_frame(
                cursor,
                "confirmation_rejected_rows",
                rejected.with_columns(run_id, pl.col("outcome_reason").alias("reason")).select(
                    REJECTED_COLUMNS
                ),
            )

    def finish(self, *, rows_read: int, outcome_counts: dict[str, int]) -> None:
        self.conn.execute(
            "UPDATE confirmation_runs SET rows_read = %s, outcome_counts = %s,"
            " finished_at = clock_timestamp() WHERE confirmation_run_id = %s",
            (rows_read, json.dumps(outcome_counts), self.confirmation_run_id),
        )


# --- the cycle close: failed credits ---------------------------------------------------

# Failed fewer than 3 times: the same money again. Failed 3 times: its events were held
# (below); once every one of them is decided after that, what was approved goes again.
CREDITS_TO_SEND_AGAIN = """
SELECT f.last_credit_id, w.sp_id, w.amount, w.event_count
FROM failed_credit_chains f JOIN wallet_credits w ON w.credit_id = f.last_credit_id
WHERE f.failures < %(failures)s
UNION ALL
SELECT f.last_credit_id, w.sp_id,
       sum(s.payout_amount) FILTER (WHERE s.effective_status = 'released'),
       count(*) FILTER (WHERE s.effective_status = 'released')
FROM failed_credit_chains f
JOIN wallet_credits w ON w.credit_id = f.last_credit_id
JOIN cycle_events e ON e.credit_id = f.first_credit_id
JOIN payout_event_states s ON s.event_id = e.event_id
WHERE f.failures >= %(failures)s
GROUP BY f.last_credit_id, w.sp_id, w.created_at
HAVING bool_and(s.effective_status <> 'held')
   AND max(s.decided_at) > w.created_at
   AND sum(s.payout_amount) FILTER (WHERE s.effective_status = 'released') > 0
ORDER BY 1
"""

HOLD_EVENTS_OF_FAILED_CREDITS = """
INSERT INTO event_holds (event_id, hold_reason, cycle_number)
SELECT s.event_id,
       format('wallet credit %%s failed %%s times (last: %%s, %%s); sent again once approved',
              f.first_credit_id, f.failures, f.last_credit_id,
              coalesce(c.reason, 'no reason given')),
       %(cycle)s
FROM failed_credit_chains f
JOIN wallet_confirmations c ON c.credit_id = f.last_credit_id
JOIN cycle_events e ON e.credit_id = f.first_credit_id
JOIN payout_event_states s ON s.event_id = e.event_id
WHERE f.failures >= %(failures)s AND s.decision_id IS NULL AND s.effective_status = 'released'
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""


def credits_to_send_again(conn: psycopg.Connection) -> list[tuple]:
    """(replaces_credit_id, sp_id, amount, event_count) of each failed credit this cycle
    sends again, in CreditId order."""
    return conn.execute(CREDITS_TO_SEND_AGAIN, {"failures": FAILURES_BEFORE_HOLD}).fetchall()


def hold_credits_failed_too_often(conn: psycopg.Connection, cycle_number: int) -> int:
    """Hold the events of every credit that failed 3 times (they wait for a person, who
    approves or rejects them like any held event); returns how many were held now."""
    held = conn.execute(
        HOLD_EVENTS_OF_FAILED_CREDITS, {"cycle": cycle_number, "failures": FAILURES_BEFORE_HOLD}
    ).fetchall()
    if held:
        # Held now, so no longer counted in the final table of their leads (SPEC §5).
        conn.execute(
            "SELECT refresh_calculations(array(SELECT DISTINCT lead_id FROM payout_events"
            " WHERE event_id = ANY(%s)))",
            ([row[0] for row in held],),
        )
    return len(held)
