"""Credit Card: three milestones (SPEC §3.1, §4.1). KPI1 when the card is issued, KPI2
when the customer activated it, KPI3 when the first statement's spend reached
MinFirstSpendAmount. Fixed amounts; each may come in a later file than the others, and
none is taken back. A row with a CardIssuedDate and nothing else pays KPI1 alone."""

from payout_core.engine.products import (
    AMOUNT,
    DATE,
    MONEY,
    Fact,
    Kpi,
    ProductHandler,
    RuleParameter,
)

ACTIVATION_DATE = "ActivationDate"
FIRST_SPEND_AMOUNT = "FirstSpendAmount"
KPI1_PAYIN_AMOUNT = RuleParameter("KPI1PayinAmount", MONEY)
KPI1_PAYOUT_AMOUNT = RuleParameter("KPI1PayoutAmount", MONEY)
KPI2_PAYIN_AMOUNT = RuleParameter("KPI2PayinAmount", MONEY)
KPI2_PAYOUT_AMOUNT = RuleParameter("KPI2PayoutAmount", MONEY)
KPI3_PAYIN_AMOUNT = RuleParameter("KPI3PayinAmount", MONEY)
KPI3_PAYOUT_AMOUNT = RuleParameter("KPI3PayoutAmount", MONEY)
MIN_FIRST_SPEND_AMOUNT = RuleParameter("MinFirstSpendAmount", MONEY)

HANDLER = ProductHandler(
    product_type="Credit Card",
    success_sub_status="Card Issued",
    event_date_column="CardIssuedDate",
    facts=(
        Fact(FIRST_SPEND_AMOUNT, AMOUNT, required=False),
        Fact(ACTIVATION_DATE, DATE, required=False),
    ),
    rule_parameters=(
        KPI1_PAYIN_AMOUNT,
        KPI1_PAYOUT_AMOUNT,
        KPI2_PAYIN_AMOUNT,
        KPI2_PAYOUT_AMOUNT,
        KPI3_PAYIN_AMOUNT,
        KPI3_PAYOUT_AMOUNT,
        MIN_FIRST_SPEND_AMOUNT,
    ),
    kpis=(
        Kpi(
            "KPI1",
            earned_when="the card is issued",
            correctable=False,
            payin=lambda facts: KPI1_PAYIN_AMOUNT.value,
            payout=lambda facts: KPI1_PAYOUT_AMOUNT.value,
        ),
        Kpi(
            "KPI2",
            earned_when="the card is activated",
            correctable=False,
            payin=lambda facts: KPI2_PAYIN_AMOUNT.value,
            payout=lambda facts: KPI2_PAYOUT_AMOUNT.value,
            qualifies=lambda facts: facts.given(ACTIVATION_DATE),
        ),
        Kpi(
            "KPI3",
            earned_when="FirstSpendAmount reached MinFirstSpendAmount",
            correctable=False,
            payin=lambda facts: KPI3_PAYIN_AMOUNT.value,
            payout=lambda facts: KPI3_PAYOUT_AMOUNT.value,
            qualifies=lambda facts: (
                facts.amount(FIRST_SPEND_AMOUNT) >= MIN_FIRST_SPEND_AMOUNT.value
            ),
        ),
    ),
)
