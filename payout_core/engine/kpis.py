"""KPIs as events (SPEC §4.1, §4.3): what each row earns, adjusts, or leaves alone, per KPI.

Pure Polars over rows that `calculate.classify` has joined with their lead, the lead's
recorded facts and what its KPIs were paid so far (LEAD_FACTS_SCHEMA), and the rule in
force. For every KPI name of SPEC §5 a row gets four columns, null where it makes no event:

    kpi1_event_kind          'earned' | 'adjustment'
    kpi1_event_payin_minor   amount of the event (an adjustment may be negative)
    kpi1_event_payout_minor
    kpi1_event_sequence      position in the lead's KPI1 history (1 = earned)

A KPI is earned when a row qualifies for it and the lead has no event for it yet (on
`paid`, or later: `kpi_earned`). An earned correctable KPI is adjusted when its worth under
a later row (the rule's amounts for that row's amount) differs from what was paid for it;
an earned milestone never changes with a later row. The worth is exact: integer minor
units, so "new worth - sum paid" has no rounding of its own.
"""

from __future__ import annotations

import polars as pl

from payout_core.engine.amounts import minor_text
from payout_core.engine.products import KPI_NAMES, ZERO, Kpi, ProductHandler

# What the ledger knows of a lead beyond the leads table (null for a lead never paid here).
LEAD_FACTS_SCHEMA = {
    "date_of_sale": pl.Date,
    "basis_amount_minor": pl.Int64,
    **{
        f"{name.lower()}_{column}": pl.Int64
        for name in KPI_NAMES
        for column in ("paid_payin_minor", "paid_payout_minor", "last_sequence")
    },
}
EVENT_FIELDS = ("event_kind", "event_payin_minor", "event_payout_minor", "event_sequence")


def prefix(name: str) -> str:
    return name.lower()


def worth_columns(handler: ProductHandler) -> list[pl.Expr]:
    """Per KPI: whether the row qualifies and what the KPI is worth under it (0 when it
    does not qualify, or the product has no such KPI)."""
    amount = pl.col("amount_minor")
    columns = []
    for name in KPI_NAMES:
        kpi = handler.kpi(name)
        qualifies = kpi.qualifies(amount) if kpi else pl.lit(False)
        for side in ("payin", "payout"):
            worth = getattr(kpi, side)(amount) if kpi else ZERO
            columns.append(
                pl.when(qualifies)
                .then(worth.cast(pl.Int64))
                .otherwise(ZERO)
                .alias(f"{prefix(name)}_{side}_worth_minor")
            )
        columns.append(qualifies.fill_null(False).alias(f"{prefix(name)}_qualifies"))
    return columns


def paid_event_columns(pays: pl.Expr) -> list[pl.Expr]:
    """The four event columns per KPI of a row that pays a Pending lead (`pays`): every
    KPI the row qualifies for is earned, at its worth."""
    columns = []
    for name in KPI_NAMES:
        p = prefix(name)
        earns = pays & pl.col(f"{p}_qualifies")
        columns += [
            pl.when(earns).then(pl.lit("earned")).alias(f"{p}_event_kind"),
            pl.when(earns).then(pl.col(f"{p}_payin_worth_minor")).alias(f"{p}_event_payin_minor"),
            pl.when(earns).then(pl.col(f"{p}_payout_worth_minor")).alias(f"{p}_event_payout_minor"),
            pl.when(earns).then(pl.lit(1, dtype=pl.Int64)).alias(f"{p}_event_sequence"),
        ]
    return columns


def later_event_columns(handler: ProductHandler, *, revisits: pl.Expr) -> list[pl.Expr]:
    """The four event columns per KPI of a later row for a lead paid here, weighed against
    what its KPIs were paid (LEAD_FACTS_SCHEMA) when `revisits`."""
    columns = []
    for name in KPI_NAMES:
        kpi = handler.kpi(name)
        p = prefix(name)
        earned_before = pl.col(f"{p}_last_sequence").fill_null(0) > 0
        earns = revisits & ~earned_before & pl.col(f"{p}_qualifies")
        correctable = kpi is not None and kpi.correctable
        adjusts = revisits & earned_before & _differs(p) if correctable else pl.lit(False)
        columns.append(
            pl.when(earns)
            .then(pl.lit("earned"))
            .when(adjusts)
            .then(pl.lit("adjustment"))
            .otherwise(pl.lit(None, dtype=pl.String))
            .alias(f"{p}_event_kind")
        )
        for side in ("payin", "payout"):
            worth = pl.col(f"{p}_{side}_worth_minor")
            paid = pl.col(f"{p}_paid_{side}_minor").fill_null(0)
            columns.append(
                pl.when(earns)
                .then(worth)
                .when(adjusts)
                .then(worth - paid)
                .alias(f"{p}_event_{side}_minor")
            )
        columns.append(
            pl.when(earns)
            .then(pl.lit(1, dtype=pl.Int64))
            .when(adjusts)
            .then(pl.col(f"{p}_last_sequence") + 1)
            .alias(f"{p}_event_sequence")
        )
    return columns


def _differs(p: str) -> pl.Expr:
    return pl.any_horizontal(
        pl.col(f"{p}_{side}_worth_minor") != pl.col(f"{p}_paid_{side}_minor").fill_null(0)
        for side in ("payin", "payout")
    )


def any_event(kind: str) -> pl.Expr:
    return pl.any_horizontal(
        (pl.col(f"{prefix(name)}_event_kind") == kind).fill_null(False) for name in KPI_NAMES
    )


def net_columns() -> list[pl.Expr]:
    """What the row's events add up to (0 when it makes none)."""
    return [
        pl.sum_horizontal(
            pl.col(f"{prefix(name)}_event_{side}_minor").fill_null(0) for name in KPI_NAMES
        ).alias(f"net_{side}_minor")
        for side in ("payin", "payout")
    ]


def later_event_reason(kpi: Kpi, handler: ProductHandler) -> pl.Expr:
    """The reason of a later row's event for this KPI, in words (null: no event)."""
    p = prefix(kpi.name)
    kind = pl.col(f"{p}_event_kind")
    amount = minor_text(pl.col("amount_minor"))
    return (
        pl.when(kind.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(kind == "earned")
        .then(
            pl.format(
                f"{kpi.name} earned after the lead was paid: {kpi.earned_when} "
                f"({handler.amount_column} {{}})",
                amount,
            )
        )
        .otherwise(
            pl.format(
                f"{kpi.name} recomputed from {handler.amount_column} {{}}: worth payin {{}}, "
                "payout {}; paid before payin {}, payout {}",
                amount,
                minor_text(pl.col(f"{p}_payin_worth_minor")),
                minor_text(pl.col(f"{p}_payout_worth_minor")),
                minor_text(pl.col(f"{p}_paid_payin_minor").fill_null(0)),
                minor_text(pl.col(f"{p}_paid_payout_minor").fill_null(0)),
            )
        )
    )


def row_event_summary(handler: ProductHandler) -> pl.Expr:
    """For a `kpi_earned` / `adjusted` row, what its events did, in words (the reason in
    the per-file CSV of rows not paid)."""
    parts = []
    for kpi in handler.kpis:
        p = prefix(kpi.name)
        kind = pl.col(f"{p}_event_kind")
        parts.append(
            pl.when(kind.is_not_null()).then(
                pl.format(
                    "{} {}: payin {}, payout {}",
                    pl.lit(kpi.name),
                    pl.when(kind == "earned")
                    .then(pl.lit("earned after the lead was paid"))
                    .otherwise(pl.lit("adjusted")),
                    minor_text(pl.col(f"{p}_event_payin_minor")),
                    minor_text(pl.col(f"{p}_event_payout_minor")),
                )
            )
        )
    return pl.concat_str(
        [*parts, pl.format(f"({handler.amount_column} {{}})", minor_text(pl.col("amount_minor")))],
        separator="; ",
        ignore_nulls=True,
    )


EVENTS_SCHEMA = {
    "lead_id": pl.String,
    "sp_id": pl.String,
    "source_type": pl.String,
    "medium_type": pl.String,
    "product_type": pl.String,
    "kpi": pl.String,
    "kind": pl.String,
    "outcome": pl.String,
    "kpi_sequence": pl.Int64,
    "payin_minor": pl.Int64,
    "payout_minor": pl.Int64,
    "reason": pl.String,
    "rule_id": pl.Int64,
}


def events(classified: pl.DataFrame, handler: ProductHandler) -> pl.DataFrame:
    """One row per event the classified rows make (EVENTS_SCHEMA), KPI by KPI."""
    outcome = pl.col("outcome")
    per_kpi = []
    for kpi in handler.kpis:
        p = prefix(kpi.name)
        kind = pl.col(f"{p}_event_kind")
        per_kpi.append(
            classified.filter(kind.is_not_null()).select(
                "lead_id",
                "sp_id",
                "source_type",
                "medium_type",
                "product_type",
                pl.lit(kpi.name).alias("kpi"),
                kind.alias("kind"),
                pl.when(outcome == "paid")
                .then(pl.lit("paid"))
                .when(kind == "earned")
                .then(pl.lit("kpi_earned"))
                .otherwise(pl.lit("adjusted"))
                .alias("outcome"),
                pl.col(f"{p}_event_sequence").alias("kpi_sequence"),
                pl.col(f"{p}_event_payin_minor").alias("payin_minor"),
                pl.col(f"{p}_event_payout_minor").alias("payout_minor"),
                pl.when(outcome == "paid")
                .then(pl.lit(f"{kpi.name} earned: {kpi.earned_when}"))
                .otherwise(pl.col(f"{p}_event_reason"))
                .alias("reason"),
                "rule_id",
            )
        )
    if not per_kpi:
        return pl.DataFrame(schema=EVENTS_SCHEMA)
    return pl.concat(per_kpi).cast(EVENTS_SCHEMA)  # type: ignore[arg-type]
