"""Another product with rule parameters no product had: its module (here, a handler this
test registers) and its rules rows are all it takes for `payout process` to pay it end to
end on real PostgreSQL. No migration: rules keep their parameters by name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from payout_cli import commands
from payout_core.engine import products, rules
from payout_core.engine.products import (
    AMOUNT,
    MONEY,
    PERCENTAGE,
    Fact,
    Kpi,
    ProductHandler,
    RuleParameter,
    percentage_of,
)
from payout_core.flows import reference_data
from payout_core.flows.unit_of_work import Context

STORE_CARD = "Store Card"  # a product only this test knows
ACTIVATION_PAYIN_AMOUNT = RuleParameter("ActivationPayinAmount", MONEY)
LIMIT_PAYOUT_PERCENTAGE = RuleParameter("LimitPayoutPercentage", PERCENTAGE)
STORE_CARD_HANDLER = ProductHandler(
    product_type=STORE_CARD,
    success_sub_status="Card Activated",
    event_date_column="CardActivationDate",
    facts=(Fact("CreditLimit", AMOUNT),),
    rule_parameters=(ACTIVATION_PAYIN_AMOUNT, LIMIT_PAYOUT_PERCENTAGE),
    kpis=(
        Kpi(
            "KPI1",
            earned_when="the card is activated",
            correctable=True,  # a corrected credit limit changes the payout
            payin=lambda facts: ACTIVATION_PAYIN_AMOUNT.value,
            payout=lambda facts: percentage_of(
                facts.amount("CreditLimit"), LIMIT_PAYOUT_PERCENTAGE.value
            ),
        ),
    ),
)
LEADS = """LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus
2023-09-28 10:15:32,SP7,AT-CC001,Bank_X,Medium_A,Store Card,Pending,
2023-09-28 10:15:32,SP7,AT-CC002,Bank_X,Medium_A,Store Card,Pending,
"""
MIS = """SourceType,MediumType,ProductType,TrackingId,CardActivationDate,CreditLimit
Bank_X,Medium_A,Store Card,CC_AT-CC001,5 10 2023,150000
Bank_X,Medium_A,Store Card,CC_AT-CC002,5 10 2023,99950
"""


@pytest.fixture
def store_card() -> Iterator[ProductHandler]:
    products.register(STORE_CARD_HANDLER)
    yield STORE_CARD_HANDLER
    products.unregister(STORE_CARD)


def rules_file(folder: Path) -> Path:
    columns = rules.rule_columns()
    assert {"ActivationPayinAmount", "LimitPayoutPercentage"} <= set(columns)
    values = {
        "SourceType": "Bank_X", "MediumType": "Medium_A", "ProductType": STORE_CARD,
        "KPIStartDate": "1 10 2023", "KPIEndDate": "31 10 2023",
        "ActivationPayinAmount": "750", "LimitPayoutPercentage": "0.25",
        "SuccessCriteria": "card activated",
    }  # fmt: skip
    path = folder / "rules.csv"
    path.write_text(
        ",".join(columns) + "\n" + ",".join(values.get(header, "") for header in columns) + "\n"
    )
    return path


def test_a_third_product_with_a_new_rule_parameter_is_paid_end_to_end(
    database_url: str, tmp_path: Path, store_card: ProductHandler, capsys, context: Context
) -> None:
    reference_data.load_rules_file(context, rules_file(tmp_path))
    (tmp_path / "leads.csv").write_text(LEADS)
    reference_data.load_leads_file(context, tmp_path / "leads.csv")
    (tmp_path / "bank_x_cards.csv").write_text(MIS)

    assert commands.main(["process", "--json", str(tmp_path / "bank_x_cards.csv")]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {k: v for k, v in result["outcomes"].items() if v} == {"paid": 2}
    # payout: 0.25 % of 150000 = 375; of 99950 = 249.875 -> 250
    assert (result["total_payin"], result["total_payout"]) == ("1500.00", "625.00")
    with psycopg.connect(database_url) as conn:
        events = conn.execute(
            "SELECT lead_id, kpi, kind, payin_amount, payout_amount, reason FROM payout_events"
            " ORDER BY lead_id"
        ).fetchall()
        calculations = conn.execute(
            "SELECT lead_id, sub_status, total_payin, total_payout FROM payout_calculations"
            " ORDER BY lead_id"
        ).fetchall()
    assert events == [
        ("AT-CC001", "KPI1", "earned", Decimal(750), Decimal(375),
         "KPI1 earned: the card is activated"),
        ("AT-CC002", "KPI1", "earned", Decimal(750), Decimal(250),
         "KPI1 earned: the card is activated"),
    ]  # fmt: skip
    assert calculations == [
        ("AT-CC001", "Card Activated", Decimal(750), Decimal(375)),
        ("AT-CC002", "Card Activated", Decimal(750), Decimal(250)),
    ]

    # A corrected credit limit is adjusted (the product declared KPI1 correctable).
    (tmp_path / "bank_x_cards_2.csv").write_text(MIS.replace("150000", "100000"))
    assert commands.main(["process", "--json", str(tmp_path / "bank_x_cards_2.csv")]) == 0
    corrected = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {k: v for k, v in corrected["outcomes"].items() if v} == {
        "adjusted": 1,
        "already_paid": 1,
    }
    assert (corrected["total_payin"], corrected["total_payout"]) == ("0.00", "-125.00")
