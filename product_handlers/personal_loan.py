"""Personal Loan: paid on disbursal, a percentage of the disbursed amount (KPI1 only).

KPI1 is correctable: a later MIS row with a corrected DisbursedAmount pays or takes back
the difference (SPEC §4.3)."""

from payout_core.engine.products import (
    AMOUNT,
    PERCENTAGE,
    Fact,
    Kpi,
    ProductHandler,
    RuleParameter,
    percentage_of,
)

DISBURSED_AMOUNT = "DisbursedAmount"
KPI1_PAYIN_PERCENTAGE = RuleParameter("KPI1PayinPercentage", PERCENTAGE)
KPI1_PAYOUT_PERCENTAGE = RuleParameter("KPI1PayoutPercentage", PERCENTAGE)

HANDLER = ProductHandler(
    product_type="Personal Loan",
    success_sub_status="Loan Disbursed",
    event_date_column="LoanDisbursedDate",
    facts=(Fact(DISBURSED_AMOUNT, AMOUNT),),
    rule_parameters=(KPI1_PAYIN_PERCENTAGE, KPI1_PAYOUT_PERCENTAGE),
    kpis=(
        Kpi(
            "KPI1",
            earned_when="the loan is disbursed (a percentage of DisbursedAmount)",
            correctable=True,
            payin=lambda facts: percentage_of(
                facts.amount(DISBURSED_AMOUNT), KPI1_PAYIN_PERCENTAGE.value
            ),
            payout=lambda facts: percentage_of(
                facts.amount(DISBURSED_AMOUNT), KPI1_PAYOUT_PERCENTAGE.value
            ),
        ),
    ),
    informational_columns=("ApprovedAmount", "SanctionedAmount"),
)
