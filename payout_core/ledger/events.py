"""payout_events: appending them, reading what a lead's KPIs were paid, and the projection.

Events are only ever appended (migration 002's trigger refuses anything else). Each one
claims a position in its (lead, KPI) history; the unique index on that position is what
makes a racing writer fail instead of paying twice (see `AppendConflict`).
"""

from __future__ import annotations

import polars as pl
import psycopg

from payout_core.engine.amounts import minor_text
from payout_core.engine.holds import HoldLimits, status_at_creation_expression
from payout_core.engine.products import KPI_NAMES, MINOR_UNITS_PER_UNIT
from payout_core.ledger import db
from payout_core.ledger.store import copy_frame

SEQUENCE_INDEX = "payout_events_lead_kpi_sequence"
ADJUSTMENT_SOURCE_INDEX = "payout_events_adjustment_source"


def _kpi_history_lateral() -> str:
    """A LATERAL join giving, for the lead of the payout_calculations row aliased `c`,
    KPI by KPI what was paid so far (minor units) and the last position in its history."""
    sums = [
        f"(sum(p.paid_{side}_amount) FILTER (WHERE p.kpi = '{name}')"
        f" * {MINOR_UNITS_PER_UNIT})::bigint AS {name.lower()}_paid_{side}_minor"
        for name in KPI_NAMES
        for side in ("payin", "payout")
    ]
    positions = [
        f"max(p.last_sequence) FILTER (WHERE p.kpi = '{name}')::bigint"
        f" AS {name.lower()}_last_sequence"
        for name in KPI_NAMES
    ]
    return (
        f"LEFT JOIN LATERAL (SELECT {', '.join(sums + positions)}"
        " FROM lead_kpi_paid p WHERE p.lead_id = c.lead_id) h ON true"
    )


KPI_HISTORY_LATERAL = _kpi_history_lateral()
_KPI_HISTORY_COLUMNS = ", ".join(
    f"h.{name.lower()}_{column}"
    for name in KPI_NAMES
    for column in ("paid_payin_minor", "paid_payout_minor", "last_sequence")
)
# engine/kpis.LEAD_FACTS_SCHEMA, read from the payout_calculations row aliased `c` and its
# KPI_HISTORY_LATERAL: what a later MIS row or a recalculation is weighed against.
LEAD_FACTS_COLUMNS = (
    f"c.date_of_sale, (c.basis_amount * {MINOR_UNITS_PER_UNIT})::bigint, {_KPI_HISTORY_COLUMNS}"
)


class AppendConflict(db.ConflictError):
    """Another writer appended to the same (lead, KPI) history first; start over."""


def event_rows(
    events: pl.DataFrame,
    *,
    hold_limits: HoldLimits,
    mis_run_id: int | None = None,
    recalculation_id: int | None = None,
    requested_by: str | None = None,
) -> pl.DataFrame:
    """kpis.events() rows as payout_events columns: exact decimal text for money, what
    made them, and the status at creation: 'held' for a negative adjustment or a payout
    over PAYOUT_HOLD_EVENT_ABOVE (engine/holds.py; `hold_limits` from the settings),
    else 'released'."""
    return events.select(
        "lead_id",
        "sp_id",
        "source_type",
        "medium_type",
        "product_type",
        "kpi",
        "kind",
        "outcome",
        "kpi_sequence",
        minor_text(pl.col("payin_minor")).alias("payin_amount"),
        minor_text(pl.col("payout_minor")).alias("payout_amount"),
        "reason",
        pl.lit(mis_run_id, dtype=pl.Int64).alias("mis_run_id"),
        pl.lit(recalculation_id, dtype=pl.Int64).alias("recalculation_id"),
        "rule_id",
        pl.lit(requested_by, dtype=pl.String).alias("requested_by"),
        status_at_creation_expression(hold_limits, payout_amount_minor="payout_minor"),
    )


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
