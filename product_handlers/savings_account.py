"""Savings Account: KPI1 when the account is opened; KPI2 when enough was invested.

Both are milestones: KPI2 may be earned in a later file than KPI1 (the deposit grew), and
neither is taken back by a later, lower InvestedAmount (SPEC §4.1)."""

from payout_core.engine.products import AMOUNT, MONEY, Fact, Kpi, ProductHandler, RuleParameter

INVESTED_AMOUNT = "InvestedAmount"
KPI1_PAYIN_AMOUNT = RuleParameter("KPI1PayinAmount", MONEY)
KPI1_PAYOUT_AMOUNT = RuleParameter("KPI1PayoutAmount", MONEY)
MIN_INVESTED_AMOUNT_BOUND = RuleParameter("MinInvestedAmountBound", MONEY)
KPI2_PAYIN_AMOUNT = RuleParameter("KPI2PayinAmount", MONEY)
KPI2_PAYOUT_AMOUNT = RuleParameter("KPI2PayoutAmount", MONEY)

HANDLER = ProductHandler(
    product_type="Savings Account",
    success_sub_status="Account Opened",
    event_date_column="AccountOpeningDate",
    facts=(Fact(INVESTED_AMOUNT, AMOUNT),),
    rule_parameters=(
        KPI1_PAYIN_AMOUNT,
        KPI1_PAYOUT_AMOUNT,
        MIN_INVESTED_AMOUNT_BOUND,
        KPI2_PAYIN_AMOUNT,
        KPI2_PAYOUT_AMOUNT,
    ),
    kpis=(
        Kpi(
            "KPI1",
            earned_when="the account is opened",
            correctable=False,
            payin=lambda facts: KPI1_PAYIN_AMOUNT.value,
            payout=lambda facts: KPI1_PAYOUT_AMOUNT.value,
        ),
        Kpi(
            "KPI2",
            earned_when="InvestedAmount reached MinInvestedAmountBound",
            correctable=False,
            payin=lambda facts: KPI2_PAYIN_AMOUNT.value,
            payout=lambda facts: KPI2_PAYOUT_AMOUNT.value,
            qualifies=lambda facts: (
                facts.amount(INVESTED_AMOUNT) >= MIN_INVESTED_AMOUNT_BOUND.value
            ),
        ),
    ),
)
