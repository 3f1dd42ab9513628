"""The PostgreSQL ledger: leads and rules loading, one unit of work per MIS file, errors.

Bulk paths only: COPY in and out, set-based SQL, never a round trip per row. Money in
the calculation is integer minor units; here it becomes `numeric` text with no float.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl
import psycopg
from psycopg import sql

from payout_core.engine import rules
from payout_core.engine.calculate import KPI_COLUMNS, LEADS_SCHEMA, SUCCESS_COLUMNS
from payout_core.engine.leads import read_leads_file
from payout_core.engine.products import MINOR_UNITS_PER_UNIT, PERCENTAGE_SCALE
from payout_core.errors import TerminalError, clean_error_text
from payout_core.ledger import db

COPY_CHUNK_ROWS = 50_000  # bounds the CSV text of one COPY write


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def copy_frame(cursor: psycopg.Cursor, table: str, frame: pl.DataFrame) -> None:
    """COPY a frame into the table's columns of the same names, in bounded CSV chunks."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    )
    with cursor.copy(statement) as copy:
        for offset in range(0, frame.height, COPY_CHUNK_ROWS):
            buffer = io.BytesIO()
            frame.slice(offset, COPY_CHUNK_ROWS).write_csv(buffer, include_header=False)
            copy.write(buffer.getvalue())


def _copy_out(cursor: psycopg.Cursor, query: sql.Composable, schema: dict) -> pl.DataFrame:
    buffer = io.BytesIO()
    with cursor.copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)) as copy:
        for data in copy:
            buffer.write(data)
    if buffer.tell() == 0:
        return pl.DataFrame(schema=schema)
    buffer.seek(0)
    return pl.read_csv(buffer, has_header=False, schema=schema)


def minor_to_decimal_text(column: str) -> pl.Expr:
    """Integer minor units -> `1234.56`, exactly (amounts are never negative)."""
    minor = pl.col(column)
    return pl.format(
        "{}.{}",
        minor // MINOR_UNITS_PER_UNIT,
        (minor % MINOR_UNITS_PER_UNIT).cast(pl.String).str.zfill(2),
    )


# --- leads ------------------------------------------------------------------------------

# SPEC §3.3: a reload never moves a lead out of Success, never blanks a stored value with an
# empty cell (blank cells arrive as NULL), and never changes the SPId of a lead that has
# payout events: that lead keeps the SP it was paid to (reported by KEPT_SP_IDS), since
# moving it would re-attribute money already paid.
UPSERT_LEADS = """
WITH upserted AS (
    INSERT INTO leads AS l (lead_created_at, sp_id, lead_id, source_type, medium_type,
                            product_type, status, sub_status)
    SELECT lead_created_at, sp_id, lead_id, source_type, medium_type, product_type,
           status, sub_status
    FROM leads_incoming
    ON CONFLICT (lead_id) DO UPDATE SET
        lead_created_at = coalesce(EXCLUDED.lead_created_at, l.lead_created_at),
        sp_id = CASE WHEN EXISTS (SELECT 1 FROM payout_events e WHERE e.lead_id = l.lead_id)
                     THEN l.sp_id ELSE coalesce(EXCLUDED.sp_id, l.sp_id) END,
        source_type = coalesce(EXCLUDED.source_type, l.source_type),
        medium_type = coalesce(EXCLUDED.medium_type, l.medium_type),
        product_type = coalesce(EXCLUDED.product_type, l.product_type),
        -- A stale export must never move a paid lead back out of Success.
        status = CASE WHEN l.status = 'Success' THEN l.status
                      ELSE coalesce(EXCLUDED.status, l.status) END,
        sub_status = CASE WHEN l.status = 'Success' THEN l.sub_status
                          ELSE coalesce(EXCLUDED.sub_status, l.sub_status) END,
        updated_at = now()
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted
"""
KEPT_SP_IDS = """
SELECT i.lead_id, l.sp_id, i.sp_id
FROM leads_incoming i JOIN leads l ON l.lead_id = i.lead_id
WHERE i.sp_id IS DISTINCT FROM l.sp_id
  AND EXISTS (SELECT 1 FROM payout_events e WHERE e.lead_id = l.lead_id)
ORDER BY i.lead_id
"""
KEPT_SP_IDS_LISTED = 10


@dataclass(frozen=True)
class LeadsLoaded:
    inserted: int
    updated: int
    kept_sp_ids: list[tuple[str, str, str]]
    """(LeadId, SPId kept, SPId the export said) of leads with payout events."""


def load_leads(conn: psycopg.Connection, leads: pl.DataFrame) -> LeadsLoaded:
    """Upsert by LeadId in one transaction (engine/leads.py reads the file)."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE leads_incoming (LIKE leads INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        copy_frame(
            cursor,
            "leads_incoming",
            leads.with_columns(pl.col("lead_created_at").dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00")),
        )
        kept = [tuple(row) for row in cursor.execute(KEPT_SP_IDS).fetchall()]
        inserted, updated = cursor.execute(UPSERT_LEADS).fetchone()
    return LeadsLoaded(int(inserted), int(updated), kept)


def load_leads_file(path: Path) -> str:
    leads = read_leads_file(path)
    with db.connection() as conn:
        loaded = load_leads(conn, leads)
    summary = (
        f"leads: {leads.height} rows from {path}: {loaded.inserted} new, {loaded.updated} updated"
    )
    if loaded.kept_sp_ids:
        listed = ", ".join(
            f"{lead_id} stays with {kept} (export: {said})"
            for lead_id, kept, said in loaded.kept_sp_ids[:KEPT_SP_IDS_LISTED]
        )
        more = len(loaded.kept_sp_ids) - KEPT_SP_IDS_LISTED
        summary += f"; {len(loaded.kept_sp_ids)} lead(s) already paid keep their SPId: {listed}" + (
            f" and {more} more" if more > 0 else ""
        )
    return summary


# --- rules ------------------------------------------------------------------------------

RULE_FIELDS = list(rules.RULE_COLUMNS.values())


def load_rules(
    conn: psycopg.Connection, loaded: list[rules.PayinPayoutRule], source: str, content_sha256: str
) -> str:
    """The file becomes the new version in force; earlier versions stay for history."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('payout.rules'))")
        current = cursor.execute(
            "SELECT rule_set_version, content_sha256 FROM rule_sets "
            "ORDER BY rule_set_version DESC LIMIT 1"
        ).fetchone()
        if current and current[1] == content_sha256:
            return f"rules: unchanged, version {current[0]} stays in force"
        version = (current[0] if current else 0) + 1
        cursor.execute(
            "INSERT INTO rule_sets (rule_set_version, source_file, content_sha256) "
            "VALUES (%s, %s, %s)",
            (version, source, content_sha256),
        )
        cursor.executemany(
            sql.SQL(
                "INSERT INTO payin_payout_rules (rule_set_version, row_number, {}) "
                "VALUES (%s, %s, {})"
            ).format(
                sql.SQL(", ").join(map(sql.Identifier, RULE_FIELDS)),
                sql.SQL(", ").join(sql.Placeholder() * len(RULE_FIELDS)),
            ),
            [
                (version, rule.row_number, *(getattr(rule, name) for name in RULE_FIELDS))
                for rule in loaded
            ],
        )
    return f"rules: version {version} in force, {len(loaded)} rule(s) from {source}"


def load_rules_file(path: Path) -> str:
    loaded = rules.parse_rules_file(path)
    with db.connection() as conn:
        return load_rules(conn, loaded, str(path), sha256_of_file(path))


# In the calculation's integer units (products.py): the same scales as rules.rules_frame.
ACTIVE_RULES = """
SELECT rule_id, source_type, medium_type, product_type, kpi_start_date, kpi_end_date,
       (kpi1_payin_percentage * %(pct)s)::bigint, (kpi1_payout_percentage * %(pct)s)::bigint,
       (kpi1_payin_amount * %(minor)s)::bigint, (kpi1_payout_amount * %(minor)s)::bigint,
       (min_invested_amount_bound * %(minor)s)::bigint,
       (kpi2_payin_amount * %(minor)s)::bigint, (kpi2_payout_amount * %(minor)s)::bigint
FROM payin_payout_rules
WHERE rule_set_version = (SELECT max(rule_set_version) FROM rule_sets)
  AND product_type = %(product_type)s
"""


def active_rules(conn: psycopg.Connection, product_type: str) -> pl.DataFrame:
    """The product's rules in force, in the calculation's integer units."""
    rows = conn.execute(
        ACTIVE_RULES,
        {"product_type": product_type, "pct": PERCENTAGE_SCALE, "minor": MINOR_UNITS_PER_UNIT},
    ).fetchall()
    return pl.DataFrame(rows, schema=rules.RULE_FRAME_SCHEMA, orient="row")


# --- errors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorLogRecord:
    """SPEC §6: CreatedAt, MIS, ErrorType."""

    created_at: dt.datetime
    mis: str
    error_type: str


def record_error(mis_file: str, error_type: str) -> ErrorLogRecord:
    """Keep one error record. Both texts are cleaned and capped here (SPEC §6), whoever
    wrote them: a record that cannot be written (a NUL byte, 50 MB of junk) loses the error."""
    mis_file = clean_error_text(mis_file)
    error_type = clean_error_text(error_type)
    with db.connection() as conn:
        created_at = conn.execute(
            "INSERT INTO error_logs (mis, error_type) VALUES (%s, %s) RETURNING created_at",
            (mis_file, error_type),
        ).fetchone()[0]
    return ErrorLogRecord(created_at, mis_file, error_type)


# --- one MIS file: the unit of work -----------------------------------------------------

# A lookup hashes a batch's LeadIds, the final UPDATE the file's paid ones: with 4 MB (a
# server's usual default) both spill to disk.
HASH_WORK_MEM = "64MB"
LEADS_OF_BATCH = """
SELECT l.lead_id, l.sp_id, l.source_type, l.medium_type, l.product_type, l.status
FROM leads l JOIN batch_lead_ids b ON b.lead_id = l.lead_id
"""


def fetch_leads(conn: psycopg.Connection, lead_ids: pl.Series) -> pl.DataFrame:
    """The leads of these LeadIds only (the table may hold millions), in a short read-only
    transaction of its own: see pipeline.py for why it is not the file's transaction."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS batch_lead_ids (lead_id text) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE batch_lead_ids")
        cursor.execute("SELECT set_config('work_mem', %s, true)", (HASH_WORK_MEM,))
        copy_frame(cursor, "batch_lead_ids", lead_ids.to_frame("lead_id"))
        cursor.execute("ANALYZE batch_lead_ids")
        return _copy_out(cursor, sql.SQL(LEADS_OF_BATCH), LEADS_SCHEMA)


CALCULATION_COLUMNS = [*SUCCESS_COLUMNS, "rule_id", "mis_run_id"]  # payout_calculations
# payout_events, from a batch's calculation rows.
EVENT_COLUMNS = [
    pl.col("lead_id"),
    pl.col("sp_id"),
    pl.col("total_payout").alias("payout_amount"),
    pl.col("mis_run_id"),
]

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


class LedgerConflict(TerminalError):
    """The ledger contradicts itself; a person must look before any money moves."""


def calculation_rows(
    paid: pl.DataFrame, processed_at: dt.datetime, mis_run_id: int
) -> pl.DataFrame:
    """SPEC §5 rows of paid leads (calculate.paid_rows) as the ledger stores them: exact
    decimal text for money, the processing timestamp and date, the run that wrote them."""
    money = [*KPI_COLUMNS, "total_payin_minor", "total_payout_minor"]
    return paid.with_columns(
        pl.lit(processed_at.isoformat(sep=" ")).alias("created_at"),
        pl.lit("Success").alias("status"),
        pl.lit(processed_at.date()).alias("date_of_revenue"),
        pl.lit(mis_run_id).alias("mis_run_id"),
        *(minor_to_decimal_text(column).alias(column.removesuffix("_minor")) for column in money),
    ).select(CALCULATION_COLUMNS)


class MisRunLedger:
    """The ledger side of one MIS file, inside the caller's transaction.

    Nothing here commits: the caller's transaction is the unit of work, so a failure at
    any point leaves no calculation, no status change, no payout event and no run row.
    Paid rows are written batch by batch (COPY straight into the ledger tables, whose
    primary keys say "once per lead"); the leads move to Success in one statement at the end.
    """

    def __init__(self, conn: psycopg.Connection, mis_run_id: int) -> None:
        self.conn = conn
        self.mis_run_id = mis_run_id

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
        mis_run_id = conn.execute(
            "INSERT INTO mis_runs (mis_file, content_sha256, etag, product_type, started_at, "
            "rows_read, outcome_counts, total_payin, total_payout) "
            "VALUES (%s, %s, %s, %s, %s, 0, '{}', 0, 0) RETURNING mis_run_id",
            (mis_file, content_sha256, etag, product_type, started_at),
        ).fetchone()[0]
        conn.execute("CREATE TEMP TABLE paid_lead_ids (lead_id text) ON COMMIT DROP")
        conn.execute("SELECT set_config('work_mem', %s, true)", (HASH_WORK_MEM,))
        return cls(conn, mis_run_id)

    def write_paid(self, recorded: pl.DataFrame) -> None:
        """COPY one batch of calculation rows (`calculation_rows`) and their payout events.

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
                    copy_frame(cursor, "payout_events", recorded.select(EVENT_COLUMNS))
            except psycopg.errors.UniqueViolation as error:
                raise self._explain_conflict(cursor, error) from error

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
        return LedgerConflict(
            f"a payout event exists without its calculation: {error.diag.message_detail}"
        )

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
