"""A later MIS row for a lead paid here (SPEC §4.2, step 6): `kpi_earned`, `adjusted` or
`already_paid`, and why, in words.

Such rows are few (a file is mostly new sales), so `calculate.classify` hands them here as
a small frame of their own, with the lead's facts and what its KPIs were paid joined in
only for them: the bulk of a million-row file never carries those columns. What comes
back (`later_schema`, by row_number) is merged into the classified rows.
"""

from __future__ import annotations

import polars as pl

from payout_core.engine import facts, kpis
from payout_core.engine.kpis import LEAD_FACTS_SCHEMA
from payout_core.engine.products import ProductHandler


def later_schema(handler: ProductHandler) -> dict[str, pl.DataType]:
    """What `weigh` returns per row of the product: outcome, its events per KPI, what they
    add up to, the reasons, and whether the row's facts are new."""
    names = [kpi.name.lower() for kpi in handler.kpis]
    events = [f"{name}_{field}" for name in names for field in kpis.LATER_EVENT_FIELDS]
    return {
        "row_number": pl.Int64,
        "outcome": pl.String,
        **{
            column: pl.String if column.endswith(("_kind", "_status", "_reason")) else pl.Int64
            for column in events
        },
        "net_payin_minor": pl.Int64,
        "net_payout_minor": pl.Int64,
        "later_reason": pl.String,
        **{f"{name}_event_reason": pl.String for name in names},
        # The row was weighed and states other facts than the lead's KPIs stand on: they
        # become the lead's latest facts (SPEC §4.1), whether or not they moved money.
        "new_basis": pl.Boolean,
    }


def lead_facts(leads: pl.DataFrame) -> pl.DataFrame:
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
    known: pl.DataFrame,
    balances: pl.DataFrame,
    rules: pl.DataFrame,
    handler: ProductHandler,
    key_columns: list[str],
    redelivery_of_run: int | None,
) -> pl.DataFrame:
    """`candidates`: rows for Success leads whose keys match (so far `already_paid`),
    without rule columns. `known`: the leads' facts (`lead_facts`); `balances`: where each
    KPI of theirs stands (kpis.BALANCES_SCHEMA). Returns `later_schema` rows, one per
    candidate."""
    schema = later_schema(handler)
    if candidates.is_empty():
        return pl.DataFrame(schema=schema)
    rows = candidates.join(known, on="lead_id", how="left").join(
        kpis.balances_by_lead(balances, handler), on="lead_id", how="left"
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
            pl.when(kpis.any_event(handler, "earned"))
            .then(pl.lit("kpi_earned"))
            .when(kpis.any_event(handler, "adjustment"))
            .then(pl.lit("adjusted"))
            .otherwise(pl.lit("already_paid"))
            .alias("outcome"),
            *kpis.net_columns(handler),
        )
    )
    reasons = {
        f"{kpi.name.lower()}_event_reason": kpis.later_event_reason(kpi, handler)
        for kpi in handler.kpis
    }
    computed = {
        "later_reason": _later_reason(handler, redelivery_of_run),
        **reasons,
        "new_basis": pl.col("blocker").is_null()
        & (pl.col("basis_facts").is_null() | (facts.as_json(handler) != pl.col("basis_facts"))),
    }
    return weighed.select(
        (computed[column].alias(column) if column in computed else pl.col(column))
        for column in schema
    ).cast(schema)  # type: ignore[arg-type]


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
