"""payout_events: appending them, reading what a lead's KPIs were paid, and the projection.

Events are only ever appended (migration 002's trigger refuses anything else). Each one
claims a position in its (lead, KPI) history; the unique index on that position is what
makes a racing writer fail instead of paying twice (see `AppendConflict`).
"""

from __future__ import annotations

import polars as pl
import psycopg
from psycopg import sql

from payout_core.engine.calculate import InvariantViolation
from payout_core.engine.kpis import BALANCES_SCHEMA
from payout_core.engine.products import MINOR_UNITS_PER_UNIT
from payout_core.ledger import db
from payout_core.ledger.copying import copy_frame, copy_out

SEQUENCE_INDEX = "payout_events_lead_kpi_sequence"
ADJUSTMENT_SOURCE_INDEX = "payout_events_adjustment_source"

# engine/kpis.LEAD_FACTS_SCHEMA, read from the payout_calculations row aliased `c`.
LEAD_FACTS_COLUMNS = (
    f"c.date_of_sale, c.basis_facts::text, (c.basis_amount * {MINOR_UNITS_PER_UNIT})::bigint"
)


def _minor(column: str) -> str:
    return f"({column} * {MINOR_UNITS_PER_UNIT})::bigint"


# engine/kpis.BALANCES_SCHEMA of the leads in the temporary table named {lead_ids}:
# migration 005's lead_kpi_balances, which reads only their events, by index.
BALANCES_OF_LEADS = f"""
SELECT b.lead_id, b.kpi, {_minor("b.payin_total_amount")},
       {_minor("b.released_payout_amount")}, {_minor("b.pending_payout_amount")},
       b.pending_event_ids, CASE WHEN b.kpi_rejected THEN 'true' ELSE 'false' END,
       b.last_sequence, {_minor("b.latest_payout_worth_amount")}
FROM lead_kpi_balances(ARRAY(SELECT lead_id FROM {{lead_ids}})) b
"""


def balances_of(cursor: psycopg.Cursor, lead_ids_table: str) -> pl.DataFrame:
    """Where each KPI of these leads stands (kpis.BALANCES_SCHEMA)."""
    return copy_out(
        cursor,
        sql.SQL(BALANCES_OF_LEADS.format(lead_ids=lead_ids_table)),  # type: ignore[arg-type]
        BALANCES_SCHEMA,
    )


def check_release_invariant(conn: psycopg.Connection, lead_ids: str | list[str]) -> None:
    """SPEC §8 before a commit: per lead and KPI, what has been released (net of the
    clawbacks already asked for) never exceeds the larger of its worth now and what the SP
    kept when a clawback was waived (migration 005). `lead_ids`:
    a list, or the name of a temporary table of them. Raises InvariantViolation (a bug:
    nothing is committed)."""
    argument = (
        f"ARRAY(SELECT DISTINCT lead_id FROM {lead_ids})" if isinstance(lead_ids, str) else "%s"
    )
    violations = conn.execute(
        f"SELECT * FROM kpi_release_violations({argument}) LIMIT 5",
        () if isinstance(lead_ids, str) else (lead_ids,),
    ).fetchall()
    if violations:
        raise InvariantViolation(
            "released more than a KPI is worth: "
            + "; ".join(
                f"lead {lead} {kpi}: released {released}, worth {worth}, kept {kept}"
                for lead, kpi, released, worth, kept in violations
            )
        )


class AppendConflict(db.ConflictError):
    """Another writer appended to the same (lead, KPI) history first; start over."""


def append_events(conn: psycopg.Connection, rows: pl.DataFrame) -> None:
    """COPY `event_rows` into payout_events in a savepoint. A position in a lead's KPI
    history that someone else took first raises AppendConflict (retry with fresh facts)."""
    if rows.is_empty():
        return
    try:
        with conn.transaction(), conn.cursor() as cursor:
            copy_frame(cursor, "payout_events", rows)
    except psycopg.errors.UniqueViolation as error:
        if error.diag.constraint_name in (SEQUENCE_INDEX, ADJUSTMENT_SOURCE_INDEX):
            raise AppendConflict(
                f"a lead's KPI history changed while this was computed: {error.diag.message_detail}"
            ) from error
        raise


def refresh_calculations(conn: psycopg.Connection, lead_ids_table: str) -> int:
    """Recompute the KPI columns of these leads' payout_calculations from their events
    (migration 002's `refresh_calculations`); returns how many rows changed."""
    return conn.execute(
        f"SELECT refresh_calculations(ARRAY(SELECT lead_id FROM {lead_ids_table}))"
    ).fetchone()[0]
