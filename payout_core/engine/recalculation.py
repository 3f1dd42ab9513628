"""Recalculation (SPEC §4.3): each paid lead weighed again under the rules in force now.

Pure Polars over the paid leads' facts (`PAID_LEADS_SCHEMA`: what payout_calculations
keeps), where each of their KPIs stands (kpis.BALANCES_SCHEMA) and the product's rules in
force. Under those rules, for each KPI of a lead:

- earned already: weighed as a later MIS row is (engine/kpis.py): a correctable KPI
  (Personal Loan KPI1) is worth the rule applied to the lead's latest amount (0 if it no
  longer qualifies); a milestone (both Savings KPIs) is worth its rule's amounts, whatever
  the amount: a later lower MIS amount never takes it back, but a corrected rule does
  change what it is worth (a rule that paid 0.00 by mistake is made good);
- not earned yet: earned now if the lead's latest facts qualify under the corrected rule
  (a lowered KPI2 bound pays the leads already above it), held as the limits say.

A lead with no rule in force now for its DateOfSale, or whose latest amount is unknown
(paid before migration 002 kept it) while its product recomputes from it, cannot be
priced: it is named in `unpriced`, never skipped in silence.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from payout_core.engine import facts, kpis
from payout_core.engine.calculate import KEY_COLUMNS
from payout_core.engine.holds import HoldLimits
from payout_core.engine.kpis import LEAD_FACTS_SCHEMA
from payout_core.engine.products import Kpi, ProductHandler

PAID_LEADS_SCHEMA = {
    "lead_id": pl.String,
    "sp_id": pl.String,
    "source_type": pl.String,
    "medium_type": pl.String,
    "product_type": pl.String,
    **LEAD_FACTS_SCHEMA,
}
UNPRICED_SCHEMA = {"lead_id": pl.String, "reason": pl.String}


@dataclass(frozen=True)
class Reweighed:
    """What a recalculation of one product comes to: its events (kpis.EVENTS_SCHEMA) and
    the leads it could not price, with why (UNPRICED_SCHEMA)."""

    events: pl.DataFrame
    unpriced: pl.DataFrame


def reweigh(
    paid_leads: pl.DataFrame,
    balances: pl.DataFrame,
    rules: pl.DataFrame,
    handler: ProductHandler,
    hold_limits: HoldLimits,
) -> Reweighed:
    """The events that bring the product's paid leads to their worth under `rules`."""
    leads = paid_leads.filter(pl.col("product_type") == handler.product_type)
    matched = (
        leads.select("lead_id", *KEY_COLUMNS, "date_of_sale")
        .join(rules, on=KEY_COLUMNS, how="inner")
        .filter(pl.col("date_of_sale").is_between("kpi_start_date", "kpi_end_date"))
        .drop(*KEY_COLUMNS, "date_of_sale", "kpi_start_date", "kpi_end_date")
    )
    rows = (
        leads.join(matched, on="lead_id", how="left")
        .join(kpis.balances_by_lead(balances, handler), on="lead_id", how="left")
        .with_columns(facts.from_ledger(handler))
    )
    recomputes = any(kpi.correctable for kpi in handler.kpis)
    facts_known = pl.col("basis_facts").is_not_null() | pl.col("basis_amount_minor").is_not_null()
    priced = pl.col("rule_id").is_not_null() & (facts_known if recomputes else pl.lit(True))
    weighed = (
        rows.filter(priced)
        .with_columns(kpis.worth_columns(handler, rule_amounts=True))
        .with_columns(
            kpis.later_event_columns(handler, revisits=pl.lit(True), milestones_follow_rules=True)
        )
        .with_columns(
            pl.lit("recalculated").alias("outcome"),
            *(
                _event_reason(kpi, handler).alias(f"{kpi.name.lower()}_event_reason")
                for kpi in handler.kpis
            ),
        )
    )
    return Reweighed(
        events=kpis.events(weighed, handler, hold_limits),
        unpriced=rows.filter(~priced).select("lead_id", _unpriced_reason(handler)),
    )


def _event_reason(kpi: Kpi, handler: ProductHandler) -> pl.Expr:
    kind = pl.col(f"{kpi.name.lower()}_event_kind")
    rule = pl.format("under the rules in force (rule {})", pl.col("rule_id"))
    return (
        pl.when(kind == "earned")
        .then(
            pl.format(
                f"{kpi.name} earned {{}}: {kpi.earned_when} ({{}})", rule, facts.in_words(handler)
            )
        )
        .otherwise(kpis.adjustment_reason(kpi, pl.format(f"{kpi.name} recalculated {{}}", rule)))
    )


def _unpriced_reason(handler: ProductHandler) -> pl.Expr:
    keys = pl.concat_str([pl.col(column) for column in KEY_COLUMNS], separator=" / ")
    return (
        pl.when(pl.col("rule_id").is_null())
        .then(
            pl.format(
                "no rule in force for {} on its DateOfSale {}: left as it is",
                keys,
                pl.col("date_of_sale").dt.strftime("%d %m %Y"),
            )
        )
        .otherwise(
            pl.lit(
                f"its latest {handler.amount_column} is unknown (paid before the ledger kept "
                "it): left as it is"
            )
        )
        .alias("reason")
    )

