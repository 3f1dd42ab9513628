"""One iteration's rows in the ledger, read inside the summary job's transaction, so the
report shows exactly the rows that the same transaction then marks reported. Rows only:
flows/iteration_report.py turns them into what the email shows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from payout_core.engine.calculate import SUCCESS_COLUMNS
from payout_core.errors import ERROR_TEXT_MAX_CHARS


@dataclass(frozen=True)
class Unreported:
    """The ids one iteration covers, locked by `select_unreported`."""

    mis_run_ids: tuple[int, ...]
    error_log_ids: tuple[int, ...]
    recalculation_ids: tuple[int, ...] = ()
    mis_runs_horizon: str | None = None
    """The oldest transaction still running when the runs were read (xid8, as text)."""

    @property
    def is_empty(self) -> bool:
        return not self.mis_run_ids and not self.error_log_ids and not self.recalculation_ids


# The runs no email reported: those written at or past the last iteration's horizon (the
# oldest transaction still running when it read them; 006_append_only_mis_runs.sql), an
# index range, less those in reported_mis_runs. Decisions are read the same way (014).
LAST_ITERATION_HORIZON = """coalesce(
        (SELECT i.mis_runs_horizon FROM iterations i WHERE i.mis_runs_horizon IS NOT NULL
         ORDER BY i.iteration_number DESC LIMIT 1), '0')"""
UNREPORTED_MIS_RUNS = f"""
SELECT r.mis_run_id FROM mis_runs r
WHERE r.recorded_xact >= {LAST_ITERATION_HORIZON}
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


def adjustment_rows(conn: psycopg.Connection, unreported: Unreported) -> list[tuple]:
    """(ProductType, outcome, events, payin, payout) of the iteration's KPIs earned late and
    adjustments (from its MIS runs and its recalculations): the events that are not a
    lead's first payment."""
    return conn.execute(
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


@contextmanager
def success_rows(conn: psycopg.Connection, run_ids: list[int]) -> Iterator[psycopg.Cursor]:
    """The SPEC §5 rows of these runs, through a server-side cursor: at most `itersize`
    rows in memory, and fetching stops where the attachment is full. Inside a
    transaction."""
    with conn.cursor(name="iteration_success_rows") as cursor:
        cursor.itersize = 2_000
        cursor.execute(
            f"SELECT {', '.join(SUCCESS_COLUMNS)} FROM payout_calculations"
            " WHERE mis_run_id = ANY(%s) ORDER BY created_at, lead_id",
            (run_ids,),
        )
        yield cursor


# Each run, and the first earlier file under another name with the same content (a file
# re-sent under a new name is processed as a new file; the email says whose bytes it has).
# A re-delivery (the same name and content again) is not flagged: it changed nothing.
RUNS_OF_ITERATION = """
SELECT r.mis_run_id, r.mis_file, r.finished_at, r.rows_read, r.outcome_counts,
       p.mis_file, (p.started_at AT TIME ZONE 'UTC')::date, r.total_payin, r.total_payout
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


def run_rows(conn: psycopg.Connection, run_ids: list[int]) -> list[tuple]:
    """(mis_run_id, MIS file, finished, rows read, outcome counts, the earlier file with
    the same content and the day it came, or nulls, the payin and payout of every event
    the run made) per run."""
    return conn.execute(RUNS_OF_ITERATION, (run_ids,)).fetchall()


def error_rows(conn: psycopg.Connection, error_log_ids: list[int]) -> list[tuple]:
    """(error_log_id, CreatedAt, MIS, its length, ErrorType, its length): the texts cut at
    SPEC §6's length in the database (one error of 50 MB once made an email ACS refused),
    their full lengths beside them for the note of what was cut."""
    return conn.execute(
        "SELECT error_log_id, created_at, left(mis, %(chars)s), length(mis),"
        " left(error_type, %(chars)s), length(error_type) FROM error_logs"
        " WHERE error_log_id = ANY(%(ids)s) ORDER BY created_at, error_log_id",
        {"ids": error_log_ids, "chars": ERROR_TEXT_MAX_CHARS},
    ).fetchall()


def ledger_created_at(conn: psycopg.Connection) -> str:
    """When this ledger database was created (its first migration): with the iteration
    number, it names an iteration uniquely even across a rebuilt database."""
    row = conn.execute("SELECT min(applied_at) FROM schema_migrations").fetchone()
    return row[0].isoformat() if row and row[0] else "unknown"


ITERATION_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('payout.summary'))"


def lock_iteration(conn: psycopg.Connection) -> None:
    """Two reporters firing at once queue here; the second runs only after the first
    committed (or rolled back). READ COMMITTED (the default) matters: the statements after
    the lock take a fresh snapshot, so a reporter that waited sees what the previous one
    committed."""
    conn.execute(ITERATION_LOCK_SQL)


def next_iteration_number(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT coalesce(max(iteration_number), 0) + 1 FROM iterations").fetchone()
    assert row is not None  # an aggregate always returns one row
    return int(row[0])


def record_iteration(
    conn: psycopg.Connection,
    unreported: Unreported,
    *,
    number: int,
    subject: str,
    recipients: str,
    message_id: str,
) -> None:
    """The iteration sent, and exactly its runs, errors and recalculations reported."""
    conn.execute(
        "INSERT INTO iterations (iteration_number, subject, recipients, message_id,"
        " mis_run_count, error_count, mis_runs_horizon)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s::xid8)",
        (
            number,
            subject,
            recipients,
            message_id,
            len(unreported.mis_run_ids),
            len(unreported.error_log_ids),
            unreported.mis_runs_horizon,
        ),
    )
    mark_runs_reported(conn, unreported, number)
    conn.execute(
        "UPDATE error_logs SET reported_at = now(), iteration_number = %s"
        " WHERE error_log_id = ANY(%s)",
        (number, list(unreported.error_log_ids)),
    )
    conn.execute(
        "UPDATE recalculations SET reported_at = now(), iteration_number = %s"
        " WHERE recalculation_id = ANY(%s)",
        (number, list(unreported.recalculation_ids)),
    )
