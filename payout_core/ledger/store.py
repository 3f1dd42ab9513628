"""The PostgreSQL ledger: leads and rules loading, errors, and the COPY helpers the other
ledger modules share (one MIS file's unit of work is mis_run.py, events are events.py).

Bulk paths only: COPY in and out, set-based SQL, never a round trip per row. Money in
the calculation is integer minor units; here it becomes `numeric` text with no float.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import psycopg
from psycopg import sql

from payout_core.engine import rules
from payout_core.engine.leads import read_leads_file
from payout_core.engine.products import all_rule_parameters
from payout_core.errors import ConfigurationError, clean_error_text
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


def copy_out(
    cursor: psycopg.Cursor,
    query: sql.Composable,
    schema: dict,
    params: dict[str, object] | None = None,
) -> pl.DataFrame:
    """The rows of `query` as a frame of `schema`, through COPY (CSV)."""
    buffer = io.BytesIO()
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)
    with cursor.copy(statement, params) as copy:
        for data in copy:
            buffer.write(data)
    if buffer.tell() == 0:
        return pl.DataFrame(schema=schema)
    buffer.seek(0)
    return pl.read_csv(buffer, has_header=False, schema=schema)


# --- leads ------------------------------------------------------------------------------

# SPEC §3.3: a reload never moves a lead out of Success, never blanks a stored value with an
# empty cell (blank cells arrive as NULL), and never changes the SPId, SourceType,
# MediumType or ProductType of a lead that has payout events: that lead keeps the SP it
# was paid to and the bank and product its money was computed for (REFUSED_CHANGES lists
# each refused change), since moving it would re-attribute money already paid and send
# its corrections and receivables to the wrong bank. One probe of its events per lead.
UPSERT_LEADS = """
WITH upserted AS (
    INSERT INTO leads AS l (lead_created_at, sp_id, lead_id, source_type, medium_type,
                            product_type, status, sub_status)
    SELECT lead_created_at, sp_id, lead_id, source_type, medium_type, product_type,
           status, sub_status
    FROM leads_incoming
    ON CONFLICT (lead_id) DO UPDATE SET
        lead_created_at = coalesce(EXCLUDED.lead_created_at, l.lead_created_at),
        (sp_id, source_type, medium_type, product_type) = (
            SELECT CASE WHEN p.paid THEN l.sp_id ELSE coalesce(EXCLUDED.sp_id, l.sp_id) END,
                   CASE WHEN p.paid THEN l.source_type
                        ELSE coalesce(EXCLUDED.source_type, l.source_type) END,
                   CASE WHEN p.paid THEN l.medium_type
                        ELSE coalesce(EXCLUDED.medium_type, l.medium_type) END,
                   CASE WHEN p.paid THEN l.product_type
                        ELSE coalesce(EXCLUDED.product_type, l.product_type) END
            FROM (SELECT EXISTS (SELECT 1 FROM payout_events e WHERE e.lead_id = l.lead_id)
                         AS paid) p
        ),
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
# What the upsert will refuse to change, per lead and column (LeadId, column, value kept,
# value the export said): only leads whose export differs are looked at further.
REFUSED_CHANGES = """
SELECT i.lead_id, v.name, v.kept, v.said
FROM leads_incoming i
JOIN leads l ON l.lead_id = i.lead_id
CROSS JOIN LATERAL (VALUES
    (1, 'SPId', l.sp_id, i.sp_id, false),
    (2, 'SourceType', l.source_type, i.source_type, false),
    (3, 'MediumType', l.medium_type, i.medium_type, false),
    (4, 'ProductType', l.product_type, i.product_type, false),
    (5, 'Status', l.status, i.status, true),
    (6, 'SubStatus', l.sub_status, i.sub_status, true)
) AS v (position, name, kept, said, kept_once_success)
WHERE (l.sp_id, l.source_type, l.medium_type, l.product_type, l.status, l.sub_status)
      IS DISTINCT FROM (coalesce(i.sp_id, l.sp_id), coalesce(i.source_type, l.source_type),
                        coalesce(i.medium_type, l.medium_type),
                        coalesce(i.product_type, l.product_type), coalesce(i.status, l.status),
                        coalesce(i.sub_status, l.sub_status))
  AND v.said IS NOT NULL AND v.said IS DISTINCT FROM v.kept
  AND CASE WHEN v.kept_once_success THEN l.status = 'Success'
           ELSE EXISTS (SELECT 1 FROM payout_events e WHERE e.lead_id = l.lead_id) END
ORDER BY i.lead_id, v.position
"""


@dataclass(frozen=True)
class RefusedChange:
    """A change an export asked for and the reload refused (the lead is paid)."""

    lead_id: str
    column: str
    kept: str | None
    said: str

    def describe(self) -> str:
        if self.column == "SPId":
            return f"{self.lead_id} stays with {self.kept} (export: {self.said})"
        return f"{self.lead_id} {self.column} stays {self.kept or '(blank)'} (export: {self.said})"


@dataclass(frozen=True)
class LeadsLoaded:
    inserted: int
    updated: int
    refused_changes: list[RefusedChange]

    @property
    def kept_sp_ids(self) -> list[tuple[str, str | None, str]]:
        """(LeadId, SPId kept, SPId the export said) of leads with payout events."""
        return [
            (change.lead_id, change.kept, change.said)
            for change in self.refused_changes
            if change.column == "SPId"
        ]


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
        # Its real size, not a guess from an unanalyzed table: a reload of a few leads then
        # checks their payout events through the index instead of scanning the ledger.
        cursor.execute("ANALYZE leads_incoming")
        refused = [RefusedChange(*row) for row in cursor.execute(REFUSED_CHANGES).fetchall()]
        inserted, updated = cursor.execute(UPSERT_LEADS).fetchone()
    return LeadsLoaded(int(inserted), int(updated), refused)


def load_leads_file(path: Path) -> str:
    """Load the export; the summary lists every change refused, one per line."""
    leads = read_leads_file(path)
    with db.connection() as conn:
        loaded = load_leads(conn, leads)
    summary = (
        f"leads: {leads.height} rows from {path}: {loaded.inserted} new, {loaded.updated} updated"
    )
    if loaded.refused_changes:
        summary += (
            f"; {len(loaded.refused_changes)} change(s) refused: a lead already paid keeps "
            "its SP, bank, channel and product, and stays Success:"
        )
        summary += "".join(f"\n  {change.describe()}" for change in loaded.refused_changes)
    return summary


# --- rules ------------------------------------------------------------------------------


def _rule_fields() -> list[str]:
    """Columns of payin_payout_rules a rule is stored in (every product's parameters)."""
    return [name for name in rules.rule_columns().values()]


def load_rules(
    conn: psycopg.Connection, loaded: list[rules.PayinPayoutRule], source: str, content_sha256: str
) -> str:
    """The file becomes the new version in force; earlier versions stay for history."""
    rule_fields = _rule_fields()
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('payout.rules'))")
        _check_rule_columns(cursor, rule_fields)
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
                sql.SQL(", ").join(map(sql.Identifier, rule_fields)),
                sql.SQL(", ").join(sql.Placeholder() * len(rule_fields)),
            ),
            [
                (version, rule.row_number, *(getattr(rule, name) for name in rule_fields))
                for rule in loaded
            ],
        )
    return f"rules: version {version} in force, {len(loaded)} rule(s) from {source}"


def load_rules_file(path: Path) -> str:
    loaded = rules.parse_rules_file(path)
    with db.connection() as conn:
        return load_rules(conn, loaded, str(path), sha256_of_file(path))


def _check_rule_columns(cursor: psycopg.Cursor, rule_fields: list[str]) -> None:
    """A product whose rule parameter has no column yet needs its migration first."""
    present = {
        row[0]
        for row in cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'payin_payout_rules' AND table_schema = current_schema()"
        )
    }
    missing = [name for name in rule_fields if name not in present]
    if missing:
        raise ConfigurationError(
            f"the rules table has no column {', '.join(missing)}: a product declares a rule "
            "parameter that no migration has added yet"
        )


def active_rules(conn: psycopg.Connection, product_type: str) -> pl.DataFrame:
    """The product's rules in force, in the calculation's integer units (the same scales
    as rules.rules_frame)."""
    parameters = all_rule_parameters()
    query = sql.SQL(
        "SELECT rule_id, source_type, medium_type, product_type, kpi_start_date, kpi_end_date"
        "{} FROM payin_payout_rules"
        " WHERE rule_set_version = (SELECT max(rule_set_version) FROM rule_sets)"
        " AND product_type = %s"
    ).format(
        sql.SQL("").join(
            sql.SQL(", ({} * {})::bigint").format(
                sql.Identifier(parameter.name), sql.Literal(parameter.kind.scale)
            )
            for parameter in parameters
        )
    )
    rows = conn.execute(query, (product_type,)).fetchall()
    return pl.DataFrame(rows, schema=rules.rule_frame_schema(), orient="row")


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
