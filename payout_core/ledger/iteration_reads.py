"""Reads of one iteration's rows from the ledger, inside the summary job's transaction,
so the report shows exactly the rows that the same transaction then marks reported."""

from __future__ import annotations

from datetime import date

import psycopg

from payout_core.engine.calculate import SUCCESS_COLUMNS
from payout_core.errors import ERROR_TEXT_MAX_CHARS, clean_error_text
from payout_core.report.adjustments import AdjustmentLine
from payout_core.report.model import (
    ErrorRecord,
    IterationReport,
    MisRunAccounting,
    SummaryLine,
    Unreported,
    build_report,
)

# --- gathering from the ledger ------------------------------------------------------------


# The runs no email reported: those written at or past the last iteration's horizon (the
# oldest transaction still running when it read them; 006_append_only_mis_runs.sql), an
# index range, less those in reported_mis_runs.
UNREPORTED_MIS_RUNS = """
SELECT r.mis_run_id FROM mis_runs r
WHERE r.recorded_xact >= coalesce(
        (SELECT i.mis_runs_horizon FROM iterations i WHERE i.mis_runs_horizon IS NOT NULL
         ORDER BY i.iteration_number DESC LIMIT 1), '0')
  AND NOT EXISTS (SELECT 1 FROM reported_mis_runs x WHERE x.mis_run_id = r.mis_run_id)
ORDER BY r.mis_run_id
"""


def select_unreported(conn: psycopg.Connection) -> Unreported:
    """Lock and return the ids of the runs and errors no iteration has reported yet.

    FOR UPDATE: a concurrent reporter (which the caller's advisory lock should already
    exclude) would block here instead of reporting the same rows. Runs are append-only:
    reported_mis_runs' primary key is what stops a run being reported twice.
    """
    # Taken before the runs are read: every run written by an older transaction is visible
    # to the read below, so it is reported now or was before.
    horizon = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text").fetchone()
    mis_run_ids = conn.execute(UNREPORTED_MIS_RUNS).fetchall()
    error_log_ids = conn.execute(
        "SELECT error_log_id FROM error_logs WHERE reported_at IS NULL"
        " ORDER BY error_log_id FOR UPDATE"
    ).fetchall()
    recalculation_ids = conn.execute(
        "SELECT recalculation_id FROM recalculations WHERE reported_at IS NULL"
        " ORDER BY recalculation_id FOR UPDATE"
    ).fetchall()
    return Unreported(
        mis_run_ids=tuple(row[0] for row in mis_run_ids),
        error_log_ids=tuple(row[0] for row in error_log_ids),
        recalculation_ids=tuple(row[0] for row in recalculation_ids),
        mis_runs_horizon=horizon[0] if horizon else None,
    )


def mark_runs_reported(conn: psycopg.Connection, unreported: Unreported, number: int) -> None:
    """Exactly these runs reported by iteration `number` (a file that finished after the
    report was built is not in it, so it stays unreported)."""
    conn.execute(
        "INSERT INTO reported_mis_runs (mis_run_id, iteration_number)"
        " SELECT unnest(%s::bigint[]), %s",
        (list(unreported.mis_run_ids), number),
    )


def adjustment_lines(conn: psycopg.Connection, unreported: Unreported) -> list[AdjustmentLine]:
    """The iteration's KPIs earned late and adjustments (from its MIS runs and its
    recalculations), per product: the events that are not a lead's first payment."""
    rows = conn.execute(
        """
        SELECT product_type, outcome, count(*), sum(payin_amount), sum(payout_amount)
        FROM payout_events
        WHERE outcome <> 'paid'
          AND (mis_run_id = ANY(%s) OR recalculation_id = ANY(%s))
        GROUP BY product_type, outcome
        ORDER BY product_type, outcome DESC
        """,
        (list(unreported.mis_run_ids), list(unreported.recalculation_ids)),
    ).fetchall()
    return [AdjustmentLine(*row) for row in rows]


def gather_report(
    conn: psycopg.Connection,
    unreported: Unreported,
    *,
    iteration_number: int,
    report_date: date,
    attachments_max_bytes: int,
) -> IterationReport:
    """The report of exactly the runs and errors in `unreported`; must run inside a
    transaction (the success rows come through a server-side cursor)."""
    run_ids = list(unreported.mis_run_ids)
    summary_lines, summary_total = _summary_lines(conn, run_ids)
    with conn.cursor(name="iteration_success_rows") as cursor:
        # Server-side cursor: at most `itersize` rows in memory, and fetching stops where
        # the attachment is full.
        cursor.itersize = 2_000
        cursor.execute(
            f"SELECT {', '.join(SUCCESS_COLUMNS)} FROM payout_calculations"
            " WHERE mis_run_id = ANY(%s) ORDER BY created_at, lead_id",
            (run_ids,),
        )
        return build_report(
            iteration_number=iteration_number,
            report_date=report_date,
            runs=_runs(conn, run_ids),
            errors=_errors(conn, list(unreported.error_log_ids)),
            summary_lines=summary_lines,
            summary_total=summary_total,
            success_rows=cursor,
            attachments_max_bytes=attachments_max_bytes,
            adjustment_lines=adjustment_lines(conn, unreported),
        )


# Each run, and the first earlier file under another name with the same content (a file
# re-sent under a new name is processed as a new file; the email says whose bytes it has).
# A re-delivery (the same name and content again) is not flagged: it changed nothing.
RUNS_OF_ITERATION = """
SELECT r.mis_run_id, r.mis_file, r.finished_at, r.rows_read, r.outcome_counts,
       p.mis_file, (p.started_at AT TIME ZONE 'UTC')::date
FROM mis_runs r
LEFT JOIN LATERAL (
    SELECT p.mis_file, p.started_at FROM mis_runs p
    WHERE p.content_sha256 = r.content_sha256 AND p.mis_run_id < r.mis_run_id
      AND p.mis_file <> r.mis_file
      AND NOT EXISTS (SELECT 1 FROM mis_runs q
                      WHERE q.content_sha256 = r.content_sha256 AND q.mis_file = r.mis_file
                        AND q.mis_run_id < r.mis_run_id)
    ORDER BY p.mis_run_id LIMIT 1
) p ON true
WHERE r.mis_run_id = ANY(%s)
ORDER BY r.mis_run_id
"""


def _runs(conn: psycopg.Connection, run_ids: list[int]) -> list[MisRunAccounting]:
    rows = conn.execute(RUNS_OF_ITERATION, (run_ids,)).fetchall()
    return [
        MisRunAccounting(
            mis_run_id=row[0],
            mis_file=row[1],
            finished_at=row[2],
            rows_read=row[3],
            outcome_counts={str(key): int(value) for key, value in (row[4] or {}).items()},
            same_content_as=row[5],
            same_content_received_on=row[6],
        )
        for row in rows
    ]


def _errors(conn: psycopg.Connection, error_log_ids: list[int]) -> list[ErrorRecord]:
    """Texts cleaned and capped (SPEC §6) even when recorded before they were: one error of
    50 MB once made an email ACS refused (over 10 MB)."""
    rows = conn.execute(
        "SELECT error_log_id, created_at, left(mis, %(chars)s), length(mis),"
        " left(error_type, %(chars)s), length(error_type) FROM error_logs"
        " WHERE error_log_id = ANY(%(ids)s) ORDER BY created_at, error_log_id",
        {"ids": error_log_ids, "chars": ERROR_TEXT_MAX_CHARS},
    ).fetchall()
    return [
        ErrorRecord(
            error_log_id,
            created_at,
            clean_error_text(mis, total_chars=mis_chars),
            clean_error_text(error_type, total_chars=error_type_chars),
        )
        for error_log_id, created_at, mis, mis_chars, error_type, error_type_chars in rows
    ]


def _summary_lines(
    conn: psycopg.Connection, run_ids: list[int]
) -> tuple[list[SummaryLine], SummaryLine]:
    # GROUPING SETS gives the groups and the total in one pass; the total's UniqueSP counts
    # each SP once across groups, which summing the groups would not.
    rows = conn.execute(
        """
        SELECT date_of_revenue, source_type, medium_type, product_type,
               count(DISTINCT sp_id), count(*),
               coalesce(sum(total_payin), 0), coalesce(sum(total_payout), 0),
               GROUPING(date_of_revenue) = 1 AS is_total
        FROM payout_calculations
        WHERE mis_run_id = ANY(%s)
        GROUP BY GROUPING SETS ((date_of_revenue, source_type, medium_type, product_type), ())
        ORDER BY is_total, date_of_revenue, source_type, medium_type, product_type
        """,
        (run_ids,),
    ).fetchall()
    lines = [SummaryLine(*row[:8]) for row in rows if not row[8]]
    total = next(SummaryLine(*row[:8]) for row in rows if row[8])
    return lines, total


def ledger_created_at(conn: psycopg.Connection) -> str:
    """When this ledger database was created (its first migration): with the iteration
    number, it names an iteration uniquely even across a rebuilt database."""
    row = conn.execute("SELECT min(applied_at) FROM schema_migrations").fetchone()
    return row[0].isoformat() if row and row[0] else "unknown"
