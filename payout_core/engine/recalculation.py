"""Recalculation (SPEC §4.3): each paid lead's worth under the rules in force now, and the
adjustment for every KPI whose worth differs from what it was paid.

Pure Polars over the paid leads' facts (`PAID_LEADS_SCHEMA`: what payout_calculations
keeps, and what each KPI was paid so far) and the product's rules in force. What a KPI is
worth now:

- a correctable KPI (Personal Loan KPI1): the rule's amounts for the recorded basis amount
  (the MIS amount its KPIs were last computed from), 0 if that amount no longer qualifies;
- a milestone KPI (both Savings KPIs), once earned: the rule's amounts, whatever the
  amount. A later lower MIS amount never takes a milestone back, but a corrected rule does
  change what it is worth (a rule that paid 0.00 by mistake is made good here).

Only KPIs the lead has earned are weighed: earning one needs an MIS row (a fact), never a
rules change alone. A lead with no rule in force now for its DateOfSale, or a correctable
KPI whose basis amount is unknown (paid before migration 002 kept it), is left as it is.
"""

from __future__ import annotations

import polars as pl

from payout_core.engine.amounts import minor_text
from payout_core.engine.calculate import KEY_COLUMNS
from payout_core.engine.kpis import EVENTS_SCHEMA, LEAD_FACTS_SCHEMA, prefix
from payout_core.engine.products import ZERO, Kpi, ProductHandler

PAID_LEADS_SCHEMA = {
    "lead_id": pl.String,
    "sp_id": pl.String,
    "source_type": pl.String,
    "medium_type": pl.String,
    "product_type": pl.String,
    **LEAD_FACTS_SCHEMA,
}


def adjustments(
    paid_leads: pl.DataFrame, rules: pl.DataFrame, handler: ProductHandler
) -> pl.DataFrame:
    """One `adjustment` event (kpis.EVENTS_SCHEMA) per earned KPI whose worth under the
    rules in force differs from the sum of its events."""
    with_rule = (
        paid_leads.filter(pl.col("product_type") == handler.product_type)
        .join(rules, on=KEY_COLUMNS, how="inner")
        .filter(pl.col("date_of_sale").is_between("kpi_start_date", "kpi_end_date"))
        .with_columns(pl.col("basis_amount_minor").alias("amount_minor"))
    )
    per_kpi = [_kpi_adjustments(with_rule, kpi) for kpi in handler.kpis]
    if not per_kpi:
        return pl.DataFrame(schema=EVENTS_SCHEMA)
    return pl.concat(per_kpi).cast(EVENTS_SCHEMA)  # type: ignore[arg-type]


def _kpi_adjustments(leads: pl.DataFrame, kpi: Kpi) -> pl.DataFrame:
    p = prefix(kpi.name)
    amount = pl.col("amount_minor")
    worth = {}
    for side in ("payin", "payout"):
        rule_amount = getattr(kpi, side)(amount).cast(pl.Int64)
        worth[side] = (
            pl.when(amount.is_null())
            .then(pl.lit(None, dtype=pl.Int64))  # basis unknown: cannot be recomputed
            .when(kpi.qualifies(amount))
            .then(rule_amount)
            .otherwise(ZERO)
            if kpi.correctable
            else rule_amount
        )
    delta = {side: worth[side] - pl.col(f"{p}_paid_{side}_minor") for side in worth}
    return (
        leads.filter(pl.col(f"{p}_last_sequence").is_not_null())
        .with_columns(
            worth["payin"].alias("worth_payin_minor"),
            worth["payout"].alias("worth_payout_minor"),
            delta["payin"].alias("payin_minor"),
            delta["payout"].alias("payout_minor"),
        )
        .filter(
            pl.col("worth_payin_minor").is_not_null()
            & pl.col("worth_payout_minor").is_not_null()
            & ((pl.col("payin_minor") != 0) | (pl.col("payout_minor") != 0))
        )
        .select(
            "lead_id",
            "sp_id",
            *KEY_COLUMNS,
            pl.lit(kpi.name).alias("kpi"),
            pl.lit("adjustment").alias("kind"),
            pl.lit("adjusted").alias("outcome"),
            (pl.col(f"{p}_last_sequence") + 1).alias("kpi_sequence"),
            "payin_minor",
            "payout_minor",
            pl.format(
                f"{kpi.name} recalculated under the rules in force (rule {{}}): worth payin "
                "{}, payout {}; paid before payin {}, payout {}",
                pl.col("rule_id"),
                minor_text(pl.col("worth_payin_minor")),
                minor_text(pl.col("worth_payout_minor")),
                minor_text(pl.col(f"{p}_paid_payin_minor")),
                minor_text(pl.col(f"{p}_paid_payout_minor")),
            ).alias("reason"),
            "rule_id",
        )
    )
