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

from payout_core import db, rules
from payout_core.calculate import KPI_COLUMNS, LEADS_SCHEMA
from payout_core.errors import InputFileError, TerminalError
from payout_core.products import MINOR_UNITS_PER_UNIT

COPY_CHUNK_ROWS = 250_000  # bounds the text buffer of one COPY write
MAX_PROBLEMS_LISTED = 50


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def copy_frame(cursor: psycopg.Cursor, statement: sql.Composable, frame: pl.DataFrame) -> None:
    """COPY a frame in bounded CSV chunks (columns in the statement's order)."""
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


def _problems_or_raise(source: str, problems: list[str]) -> None:
    if not problems:
        return
    shown = problems[:MAX_PROBLEMS_LISTED]
    if len(problems) > MAX_PROBLEMS_LISTED:
        shown.append(f"... and {len(problems) - MAX_PROBLEMS_LISTED} more")
    raise InputFileError(source, shown)


# --- leads ------------------------------------------------------------------------------

LEAD_COLUMNS = {
    "LeadCreatedAt": "lead_created_at",
    "SPId": "sp_id",
    "LeadId": "lead_id",
    "SourceType": "source_type",
    "MediumType": "medium_type",
    "ProductType": "product_type",
    "Status": "status",
    "SubStatus": "sub_status",
}
LEAD_TIMESTAMP_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%d %m %Y")


def read_leads_file(path: Path) -> pl.DataFrame:
    """A leads export -> a frame of `leads` columns, or InputFileError naming each bad row."""
    source = str(path)
    try:
        raw = pl.read_csv(
            path, infer_schema=False, with_column_names=lambda names: [n.strip() for n in names]
        )
    except (OSError, pl.exceptions.PolarsError) as error:
        raise InputFileError(source, [f"not a readable CSV file: {error}"]) from error
    missing = [column for column in LEAD_COLUMNS if column not in raw.columns]
    if missing:
        raise InputFileError(source, [f"required column(s) missing: {', '.join(missing)}"])
    leads = raw.select(
        (pl.int_range(pl.len()) + 1).alias("row_number"),
        *(pl.col(header).str.strip_chars().alias(name) for header, name in LEAD_COLUMNS.items()),
    ).with_columns(
        pl.coalesce(
            pl.col("lead_created_at").str.strptime(pl.Datetime("us"), fmt, strict=False)
            for fmt in LEAD_TIMESTAMP_FORMATS
        ).alias("lead_created_at_parsed")
    )
    _problems_or_raise(source, _lead_problems(leads))
    return leads.select(
        pl.col("lead_created_at_parsed").alias("lead_created_at"),
        *(name for name in LEAD_COLUMNS.values() if name != "lead_created_at"),
    )


def _lead_problems(leads: pl.DataFrame) -> list[str]:
    checks = [
        (pl.col(column).is_null() | (pl.col(column) == ""), f"{header} is blank")
        for header, column in LEAD_COLUMNS.items()
        if header not in ("LeadCreatedAt", "SubStatus")
    ]
    checks.append(
        (
            pl.col("lead_created_at").is_not_null() & pl.col("lead_created_at_parsed").is_null(),
            "LeadCreatedAt is not a timestamp like 2023-10-02 14:30:00",
        )
    )
    checks.append((pl.col("lead_id").is_duplicated(), "LeadId appears more than once"))
    problems = []
    for condition, message in checks:
        for row_number, lead_id in leads.filter(condition).select("row_number", "lead_id").rows():
            problems.append(f"row {row_number} (LeadId {lead_id}): {message}")
    return sorted(problems, key=lambda problem: int(problem.split()[1]))


UPSERT_LEADS = """
WITH upserted AS (
    INSERT INTO leads AS l (lead_created_at, sp_id, lead_id, source_type, medium_type,
                            product_type, status, sub_status)
    SELECT lead_created_at, sp_id, lead_id, source_type, medium_type, product_type,
           status, sub_status
    FROM leads_incoming
    ON CONFLICT (lead_id) DO UPDATE SET
        lead_created_at = EXCLUDED.lead_created_at,
        sp_id = EXCLUDED.sp_id,
        source_type = EXCLUDED.source_type,
        medium_type = EXCLUDED.medium_type,
        product_type = EXCLUDED.product_type,
        -- A stale export must never move a paid lead back out of Success.
        status = CASE WHEN l.status = 'Success' THEN l.status ELSE EXCLUDED.status END,
        sub_status = CASE WHEN l.status = 'Success' THEN l.sub_status
                          ELSE EXCLUDED.sub_status END,
        updated_at = now()
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted
"""


def load_leads(conn: psycopg.Connection, leads: pl.DataFrame) -> tuple[int, int]:
    """Upsert by LeadId in one transaction; returns (inserted, updated)."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE leads_incoming (LIKE leads INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        columns = leads.columns
        copy_frame(
            cursor,
            sql.SQL("COPY leads_incoming ({}) FROM STDIN (FORMAT csv)").format(
                sql.SQL(", ").join(map(sql.Identifier, columns))
            ),
            leads.with_columns(pl.col("lead_created_at").dt.strftime("%Y-%m-%d %H:%M:%S+00")),
        )
        inserted, updated = cursor.execute(UPSERT_LEADS).fetchone()
    return int(inserted), int(updated)


def load_leads_file(path: Path) -> str:
    leads = read_leads_file(path)
    with db.connection() as conn:
        inserted, updated = load_leads(conn, leads)
    return f"leads: {leads.height} rows from {path}: {inserted} new, {updated} updated"


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


ACTIVE_RULES = """
SELECT rule_id, source_type, medium_type, product_type, kpi_start_date, kpi_end_date,
       (kpi1_payin_percentage * 10000)::bigint, (kpi1_payout_percentage * 10000)::bigint,
       (kpi1_payin_amount * 100)::bigint, (kpi1_payout_amount * 100)::bigint,
       (min_invested_amount_bound * 100)::bigint,
       (kpi2_payin_amount * 100)::bigint, (kpi2_payout_amount * 100)::bigint
FROM payin_payout_rules
WHERE rule_set_version = (SELECT max(rule_set_version) FROM rule_sets)
  AND product_type = %s
"""


def active_rules(conn: psycopg.Connection, product_type: str) -> pl.DataFrame:
    """The product's rules in force, in the calculation's integer units."""
    rows = conn.execute(ACTIVE_RULES, (product_type,)).fetchall()
    return pl.DataFrame(rows, schema=rules.RULE_FRAME_SCHEMA, orient="row")


# --- errors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorLogRecord:
    """SPEC §6: CreatedAt, MIS, ErrorType."""

    created_at: dt.datetime
    mis: str
    error_type: str


def record_error(mis_file: str, error_type: str) -> ErrorLogRecord:
    with db.connection() as conn:
        created_at = conn.execute(
            "INSERT INTO error_logs (mis, error_type) VALUES (%s, %s) RETURNING created_at",
            (mis_file, error_type),
        ).fetchone()[0]
    return ErrorLogRecord(created_at, mis_file, error_type)


# --- one MIS file: the unit of work -----------------------------------------------------

STAGING_TABLES = """
CREATE TEMP TABLE batch_lead_ids (lead_id text) ON COMMIT DROP;
CREATE TEMP TABLE paid_staging (
    lead_id text, sp_id text, source_type text, medium_type text, product_type text,
    sub_status text, date_of_sale date,
    kpi1_payin_amount numeric, kpi1_payout_amount numeric,
    kpi2_payin_amount numeric, kpi2_payout_amount numeric,
    total_payin numeric, total_payout numeric, rule_id bigint, row_number bigint
) ON COMMIT DROP;
"""
STAGED_COLUMNS = [
    "lead_id", "sp_id", "source_type", "medium_type", "product_type", "sub_status",
    "date_of_sale", *(column.removesuffix("_minor") for column in KPI_COLUMNS),
    "total_payin", "total_payout", "rule_id", "row_number",
]  # fmt: skip

# The only statement that moves money. The transition is conditional (only from Pending),
# so two files racing for one lead pay it once: the loser's UPDATE waits on the row lock,
# then sees Success and skips it. The payout_events primary key is the last line of
# defence: a lead someone set back to Pending by hand fails the file instead of paying twice.
RECORD_PAID = """
WITH transitioned AS (
    UPDATE leads l
    SET status = 'Success', sub_status = s.sub_status, updated_at = now()
    FROM paid_staging s
    WHERE l.lead_id = s.lead_id AND l.status = 'Pending'
    RETURNING l.lead_id
), calculated AS (
    INSERT INTO payout_calculations AS c (
        created_at, source_type, medium_type, product_type, sp_id, lead_id, status,
        sub_status, date_of_sale, date_of_revenue, kpi1_payin_amount, kpi1_payout_amount,
        kpi2_payin_amount, kpi2_payout_amount, total_payin, total_payout, rule_id, mis_run_id)
    SELECT %(created_at)s, s.source_type, s.medium_type, s.product_type, s.sp_id, s.lead_id,
           'Success', s.sub_status, s.date_of_sale, %(date_of_revenue)s, s.kpi1_payin_amount,
           s.kpi1_payout_amount, s.kpi2_payin_amount, s.kpi2_payout_amount, s.total_payin,
           s.total_payout, s.rule_id, %(mis_run_id)s
    FROM paid_staging s JOIN transitioned t ON t.lead_id = s.lead_id
    ON CONFLICT (lead_id) DO UPDATE SET
        created_at = EXCLUDED.created_at, source_type = EXCLUDED.source_type,
        medium_type = EXCLUDED.medium_type, product_type = EXCLUDED.product_type,
        sp_id = EXCLUDED.sp_id, status = EXCLUDED.status, sub_status = EXCLUDED.sub_status,
        date_of_sale = EXCLUDED.date_of_sale, date_of_revenue = EXCLUDED.date_of_revenue,
        kpi1_payin_amount = EXCLUDED.kpi1_payin_amount,
        kpi1_payout_amount = EXCLUDED.kpi1_payout_amount,
        kpi2_payin_amount = EXCLUDED.kpi2_payin_amount,
        kpi2_payout_amount = EXCLUDED.kpi2_payout_amount,
        total_payin = EXCLUDED.total_payin, total_payout = EXCLUDED.total_payout,
        rule_id = EXCLUDED.rule_id, mis_run_id = EXCLUDED.mis_run_id
    RETURNING c.lead_id, c.sp_id, c.total_payin, c.total_payout
), events AS (
    INSERT INTO payout_events (lead_id, sp_id, payout_amount, mis_run_id)
    SELECT lead_id, sp_id, total_payout, %(mis_run_id)s FROM calculated
    RETURNING 1
)
SELECT count(*), coalesce(sum(total_payin), 0.00), coalesce(sum(total_payout), 0.00),
       (SELECT count(*) FROM events)
FROM calculated
"""

LOST_TO_ANOTHER_FILE = """
SELECT s.row_number, s.lead_id, s.source_type, s.medium_type, s.product_type
FROM paid_staging s
WHERE NOT EXISTS (SELECT 1 FROM payout_calculations c
                  WHERE c.lead_id = s.lead_id AND c.mis_run_id = %(mis_run_id)s)
ORDER BY s.row_number
"""


class LedgerConflict(TerminalError):
    """The ledger contradicts itself; a person must look before any money moves."""


@dataclass(frozen=True)
class PaidWritten:
    paid_count: int
    total_payin: Decimal
    total_payout: Decimal
    lost_to_another_file: pl.DataFrame
    """Rows that were paid in the calculation but whose lead another file paid first."""


class MisRunLedger:
    """The ledger side of one MIS file, inside the caller's transaction.

    Nothing here commits: the caller's transaction is the unit of work, so a failure at
    any point leaves no calculation, no status change, no payout event and no run row.
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
        conn.execute(STAGING_TABLES)
        return cls(conn, mis_run_id)

    def fetch_leads(self, lead_ids: pl.Series) -> pl.DataFrame:
        """The leads of these LeadIds only: the table may hold millions."""
        with self.conn.cursor() as cursor:
            cursor.execute("TRUNCATE batch_lead_ids")
            copy_frame(
                cursor,
                sql.SQL("COPY batch_lead_ids (lead_id) FROM STDIN (FORMAT csv)"),
                lead_ids.to_frame("lead_id"),
            )
            cursor.execute("ANALYZE batch_lead_ids")
            return _copy_out(
                cursor,
                sql.SQL(
                    "SELECT l.lead_id, l.sp_id, l.source_type, l.medium_type, l.product_type, "
                    "l.status FROM leads l JOIN batch_lead_ids b ON b.lead_id = l.lead_id"
                ),
                LEADS_SCHEMA,
            )

    def stage_paid(self, paid: pl.DataFrame) -> None:
        if paid.is_empty():
            return
        money = [*KPI_COLUMNS, "total_payin_minor", "total_payout_minor"]
        staged = paid.with_columns(
            minor_to_decimal_text(column).alias(column) for column in money
        ).rename({column: column.removesuffix("_minor") for column in money})
        with self.conn.cursor() as cursor:
            copy_frame(
                cursor,
                sql.SQL("COPY paid_staging ({}) FROM STDIN (FORMAT csv)").format(
                    sql.SQL(", ").join(map(sql.Identifier, STAGED_COLUMNS))
                ),
                staged.select(STAGED_COLUMNS),
            )

    def record_paid(self, processed_at: dt.datetime) -> PaidWritten:
        with self.conn.cursor() as cursor:
            cursor.execute("ANALYZE paid_staging")
            staged_count = cursor.execute("SELECT count(*) FROM paid_staging").fetchone()[0]
            parameters = {
                "created_at": processed_at,
                "date_of_revenue": processed_at.date(),
                "mis_run_id": self.mis_run_id,
            }
            try:
                paid_count, total_payin, total_payout, event_count = cursor.execute(
                    RECORD_PAID, parameters
                ).fetchone()
            except psycopg.errors.UniqueViolation as error:
                raise LedgerConflict(
                    "a Pending lead already has a payout event (was it reset by hand?); "
                    f"refusing to pay it twice: {error.diag.message_detail}"
                ) from error
            if event_count != paid_count:
                raise RuntimeError(f"{paid_count} leads paid but {event_count} payout events")
            lost = pl.DataFrame(
                cursor.execute(LOST_TO_ANOTHER_FILE, parameters).fetchall()
                if paid_count < staged_count
                else [],
                schema={
                    "row_number": pl.Int64,
                    "lead_id": pl.String,
                    "source_type": pl.String,
                    "medium_type": pl.String,
                    "product_type": pl.String,
                },
                orient="row",
            )
        return PaidWritten(int(paid_count), total_payin, total_payout, lost)

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
