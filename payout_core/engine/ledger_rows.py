"""The rows the engine decided, as the ledger's tables take them: payout_calculations
(SPEC §5) and payout_events, money as exact decimal text (no float on the way), each
event with its status at creation and why. The ledger only stores them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import polars as pl

from payout_core.engine import calculate, kpis
from payout_core.engine.amounts import minor_text
from payout_core.engine.calculate import KPI_COLUMNS, SUCCESS_COLUMNS
from payout_core.engine.holds import HoldLimits
from payout_core.engine.products import ProductHandler

CALCULATION_COLUMNS = [*SUCCESS_COLUMNS, "basis_facts", "rule_id", "mis_run_id"]


@dataclass(frozen=True)
class BatchRecord:
    """What one batch writes, each frame as its table's COPY takes it: the SPEC §5 rows of
    newly paid leads (`calculation_rows`) and their earned KPI events (events.event_rows),
    and the events and new facts of later rows for leads paid before. Built on the worker
    thread, so the file's connection only streams them."""

    calculations: pl.DataFrame
    earned_events: pl.DataFrame
    later_events: pl.DataFrame
    later_facts: pl.DataFrame

    def in_ledger_order(self) -> BatchRecord:
        """Paid rows by LeadId (and KPI). Polars sorts strings bytewise, as the unique
        indexes on lead_id compare (payout_events': text_pattern_ops); each index then
        takes a batch's entries page after page instead of at random (measured: a quarter
        off the write of calculations and events)."""
        return replace(
            self,
            calculations=self.calculations.sort("lead_id"),
            earned_events=self.earned_events.sort("lead_id", "kpi"),
        )


def calculation_rows(
    paid: pl.DataFrame, processed_at: dt.datetime, mis_run_id: int
) -> pl.DataFrame:
    """SPEC §5 rows of paid leads (calculate.paid_rows) as the ledger stores them: exact
    decimal text for money, the processing timestamp and date, the run that wrote them,
    and the facts the KPIs were computed from (engine/facts.as_json)."""
    money = [*KPI_COLUMNS, "total_payin_minor", "total_payout_minor"]
    return paid.with_columns(
        pl.lit(processed_at.isoformat(sep=" ")).alias("created_at"),
        pl.lit("Success").alias("status"),
        pl.lit(processed_at.date()).alias("date_of_revenue"),
        pl.lit(mis_run_id).alias("mis_run_id"),
        *(minor_text(pl.col(column)).alias(column.removesuffix("_minor")) for column in money),
    ).select(CALCULATION_COLUMNS)


def event_rows(
    events: pl.DataFrame,
    *,
    mis_run_id: int | None = None,
    recalculation_id: int | None = None,
    requested_by: str | None = None,
) -> pl.DataFrame:
    """kpis.events() rows (their status at creation and why decided by the engine) as
    payout_events columns: exact decimal text for money, and what made them."""
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
        "status",
        "hold_reason",
        minor_text(pl.col("payin_worth_minor")).alias("payin_worth_amount"),
        minor_text(pl.col("payout_worth_minor")).alias("payout_worth_amount"),
        "mis_row_number",
    )


def batch_record(
    classified: pl.DataFrame,
    handler: ProductHandler,
    *,
    hold_limits: HoldLimits,
    mis_run_id: int,
    processed_at: dt.datetime,
) -> BatchRecord:
    """What one classified batch of an MIS file writes (calculate.classify's rows)."""

    def made_events(rows: pl.DataFrame) -> pl.DataFrame:
        return event_rows(kpis.events(rows, handler, hold_limits), mis_run_id=mis_run_id)

    return BatchRecord(
        calculations=calculation_rows(
            calculate.paid_rows(classified, handler), processed_at, mis_run_id
        ),
        earned_events=made_events(calculate.first_payments(classified)),
        later_events=made_events(calculate.later_rows(classified)),
        later_facts=calculate.later_facts(classified, handler),
    )
