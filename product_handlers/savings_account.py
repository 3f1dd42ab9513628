"""Savings Account: paid when the account is opened; KPI2 when enough was invested."""

import polars as pl

from payout_core.engine.products import ZERO, KpiAmounts, ProductHandler, rule


def kpi_amounts(invested_amount_minor: pl.Expr) -> KpiAmounts:
    invested_enough = invested_amount_minor >= rule.min_invested_amount_bound
    return KpiAmounts(
        kpi1_payin=rule.kpi1_payin_amount,
        kpi1_payout=rule.kpi1_payout_amount,
        kpi2_payin=pl.when(invested_enough).then(rule.kpi2_payin_amount).otherwise(ZERO),
        kpi2_payout=pl.when(invested_enough).then(rule.kpi2_payout_amount).otherwise(ZERO),
    )


HANDLER = ProductHandler(
    product_type="Savings Account",
    success_sub_status="Account Opened",
    event_date_column="AccountOpeningDate",
    amount_column="InvestedAmount",
    kpi_amounts=kpi_amounts,
)
