"""A later MIS row for a lead paid here (SPEC §4.2, step 6): `kpi_earned`, `adjusted` or
`already_paid`, and why, in words.

Such rows are few (a file is mostly new sales), so `calculate.classify` hands them here as
a small frame of their own, with the lead's facts and what its KPIs were paid joined in
only for them: the bulk of a million-row file never carries those columns. What comes
back (`LATER_COLUMNS`, by row_number) is merged into the classified rows.
"""

from __future__ import annotations

import polars as pl

from payout_core.engine import kpis
from payout_core.engine.kpis import LEAD_FACTS_SCHEMA
from payout_core.engine.products import KPI_NAMES, ProductHandler

EVENT_COLUMNS = [
    f"{name.lower()}_{field}" for name in KPI_NAMES for field in kpis.LATER_EVENT_FIELDS
]
REASON_COLUMNS = ["later_reason", *(f"{name.lower()}_event_reason" for name in KPI_NAMES)]
# What `weigh` returns per row, besides row_number.
LATER_COLUMNS = [
    "outcome",
    *EVENT_COLUMNS,
    "net_payin_minor",
    "net_payout_minor",
    *REASON_COLUMNS,
    "new_basis",
]
LATER_SCHEMA = {
    "row_number": pl.Int64,
    "outcome": pl.String,
    **{
        column: pl.String if column.endswith(("_kind", "_status", "_reason")) else pl.Int64
        for column in EVENT_COLUMNS
    },
    "net_payin_minor": pl.Int64,
    "net_payout_minor": pl.Int64,
    **dict.fromkeys(REASON_COLUMNS, pl.String),
    # The row was weighed and states another amount than the lead's KPIs stand on: its
    # amount becomes the lead's latest fact (SPEC §4.1), whether or not it moved money.
    "new_basis": pl.Boolean,
}


def facts_of(leads: pl.DataFrame) -> pl.DataFrame:
    """(lead_id, LEAD_FACTS_SCHEMA...) of the leads paid here, from a lookup that may or
    may not carry them."""
    if "date_of_sale" not in leads.columns:
        return pl.DataFrame(schema={"lead_id": pl.String, **LEAD_FACTS_SCHEMA})
    present = [name for name in LEAD_FACTS_SCHEMA if name in leads.columns]
    return (
        leads.filter(pl.col("date_of_sale").is_not_null())
        .select("lead_id", *present)
        .with_columns(
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in LEAD_FACTS_SCHEMA.items()
            if name not in present
        )
    )


def weigh(
    candidates: pl.DataFrame,
    *,
    facts: pl.DataFrame,
    balances: pl.DataFrame,
    rules: pl.DataFrame,
    handler: ProductHandler,
    key_columns: list[str],
    redelivery_of_run: int | None,
) -> pl.DataFrame:
    """`candidates`: rows for Success leads whose keys match (so far `already_paid`),
    without rule columns. `balances`: where each KPI of their leads stands
    (kpis.BALANCES_SCHEMA). Returns LATER_SCHEMA rows, one per candidate."""
    if candidates.is_empty():
        return pl.DataFrame(schema=LATER_SCHEMA)
    rows = candidates.join(facts, on="lead_id", how="left").join(
        kpis.balances_by_lead(balances), on="lead_id", how="left"
    )
    # The rule in force for the recorded DateOfSale, whatever date the row states.
    matched = (
        rows.select("row_number", *key_columns, "date_of_sale")
        .join(rules, on=key_columns, how="inner")
        .filter(pl.col("date_of_sale").is_between("kpi_start_date", "kpi_end_date"))
        .drop(*key_columns, "date_of_sale", "kpi_start_date", "kpi_end_date")
    )
    rows = rows.join(matched, on="row_number", how="left").with_columns(
        _blocker(redelivery_of_run).alias("blocker")
    )
    weighed = (
        rows.with_columns(kpis.worth_columns(handler, rule_amounts=True))
        .with_columns(kpis.later_event_columns(handler, revisits=pl.col("blocker").is_null()))
        .with_columns(
            pl.when(kpis.any_event("earned"))
            .then(pl.lit("kpi_earned"))
            .when(kpis.any_event("adjustment"))
            .then(pl.lit("adjusted"))
            .otherwise(pl.lit("already_paid"))
            .alias("outcome"),
            *kpis.net_columns(),
        )
    )
    return weighed.select(
        "row_number",
        "outcome",
        *EVENT_COLUMNS,
        "net_payin_minor",
        "net_payout_minor",
        _later_reason(handler, redelivery_of_run).alias("later_reason"),
        *(
            kpis.later_event_reason(kpi, handler).alias(f"{kpi.name.lower()}_event_reason")
            for kpi in handler.kpis
        ),
        *(
            pl.lit(None, dtype=pl.String).alias(f"{name.lower()}_event_reason")
            for name in KPI_NAMES
            if handler.kpi(name) is None
        ),
        (
            pl.col("blocker").is_null()
            & pl.col("amount_minor").ne_missing(pl.col("basis_amount_minor"))
        ).alias("new_basis"),
    ).cast(LATER_SCHEMA)  # type: ignore[arg-type]


def _blocker(redelivery_of_run: int | None) -> pl.Expr:
    """Why the row is not weighed against what was paid (null: it is)."""
    if redelivery_of_run is not None:
        return pl.lit("redelivery")
    return (
        pl.when(pl.col("date_of_sale").is_null())
        .then(pl.lit("before_system"))
        .when(pl.col("event_date") != pl.col("date_of_sale"))
        .then(pl.lit("other_date"))
        .when(pl.col("rule_id").is_null())
        .then(pl.lit("no_rule"))
    )


def _later_reason(handler: ProductHandler, redelivery_of_run: int | None) -> pl.Expr:
    lead = pl.col("lead_id")
    blocker = pl.col("blocker")
    sale_date = pl.col("date_of_sale").dt.strftime("%d %m %Y")
    return (
        pl.when(pl.col("outcome") != "already_paid")
        .then(kpis.row_event_summary(handler))
        .when(blocker == "redelivery")
        .then(
            pl.format(
                "lead {} was already paid; this file was already processed (MIS run {}), "
                "and a re-delivery changes nothing",
                lead,
                pl.lit(redelivery_of_run),
            )
        )
        .when(blocker == "before_system")
        .then(pl.format("lead {} was already Success before it reached this ledger", lead))
        .when(blocker == "other_date")
        .then(
            pl.format(
                "lead {} was already paid for a sale on {}; this row states {}, so no amount "
                "changes",
                lead,
                sale_date,
                pl.col("event_date").dt.strftime("%d %m %Y"),
            )
        )
        .when(blocker == "no_rule")
        .then(
            pl.format(
                "lead {} was already paid; no rule is in force for its DateOfSale {}, so no "
                "amount changes",
                lead,
                sale_date,
            )
        )
        .otherwise(pl.format("lead {} was already paid; nothing new", lead))
    )
