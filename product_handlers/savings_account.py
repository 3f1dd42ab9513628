"""Savings Account: paid when the account is opened; KPI2 when enough was invested."""

from payout_core.products import KpiAmounts, ProductHandler, rule


def kpi_amounts(invested_amount_minor):
    invested_enough = invested_amount_minor >= rule.min_invested_amount_bound
    return KpiAmounts(
        kpi1_payin=rule.kpi1_payin_amount,
        kpi1_payout=rule.kpi1_payout_amount,
        kpi2_payin=rule.kpi2_payin_amount * invested_enough,
        kpi2_payout=rule.kpi2_payout_amount * invested_enough,
    )


HANDLER = ProductHandler(
    product_type="Savings Account",
    success_sub_status="Account Opened",
    event_date_column="AccountOpeningDate",
    amount_column="InvestedAmount",
    kpi_amounts=kpi_amounts,
)
