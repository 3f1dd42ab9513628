"""Personal Loan: paid on disbursal, a percentage of the disbursed amount (KPI1 only)."""

import polars as pl

from payout_core.engine.products import ZERO, KpiAmounts, ProductHandler, percentage_of, rule


def kpi_amounts(disbursed_amount_minor: pl.Expr) -> KpiAmounts:
    return KpiAmounts(
        kpi1_payin=percentage_of(disbursed_amount_minor, rule.kpi1_payin_percentage),
        kpi1_payout=percentage_of(disbursed_amount_minor, rule.kpi1_payout_percentage),
        kpi2_payin=ZERO,
        kpi2_payout=ZERO,
    )


HANDLER = ProductHandler(
    product_type="Personal Loan",
    success_sub_status="Loan Disbursed",
    event_date_column="LoanDisbursedDate",
    amount_column="DisbursedAmount",
    kpi_amounts=kpi_amounts,
    informational_columns=("ApprovedAmount", "SanctionedAmount"),
)
