"""The product-handler contract: a product is one module plus rules rows, nothing else."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

import product_handlers
from payout_core.engine import calculate, mis, products, rules
from payout_core.engine.banks import load_bank_profiles
from payout_core.engine.products import AMOUNT, MONEY, Fact, Kpi, ProductHandler, RuleParameter
from payout_core.errors import InputFileError, MisFileError
from tests.unit.engine_support import (
    RULES_HEADER,
    amounts,
    by_row,
    classify_file,
    lead,
    leads_frame,
    write,
)

REPO = Path(__file__).resolve().parents[2]
UNIT_TESTS = Path(__file__).resolve().parent
D = Decimal

CREDIT_CARD = "Gift Card"  # the test product of this module (not the shipped Credit Card)


# A fixed KPI1 on activation, no KPI2, paid from the same rule parameters as Savings
# Account's KPI1.
KPI1_PAYIN_AMOUNT = RuleParameter("KPI1PayinAmount", MONEY)
KPI1_PAYOUT_AMOUNT = RuleParameter("KPI1PayoutAmount", MONEY)

CREDIT_CARD_HANDLER = ProductHandler(
    product_type=CREDIT_CARD,
    success_sub_status="Card Activated",
    event_date_column="CardActivationDate",
    facts=(Fact("CreditLimit", AMOUNT),),
    rule_parameters=(KPI1_PAYIN_AMOUNT, KPI1_PAYOUT_AMOUNT),
    kpis=(
        Kpi(
            "KPI1",
            earned_when="the card is activated",
            correctable=False,
            payin=lambda facts: KPI1_PAYIN_AMOUNT.value,
            payout=lambda facts: KPI1_PAYOUT_AMOUNT.value,
        ),
    ),
)

CARD_RULES = f"""{RULES_HEADER}
Bank_X,Medium_A,Gift Card,1 10 2023,31 10 2023,,,750,400,,,,"Card activated
within the window"
Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,1500,1000,2000,1000,500,x
"""

CARD_MIS = """SourceType,MediumType,ProductType,TrackingId,CardActivationDate,CreditLimit
Bank_X,Medium_A,Gift Card,CC_AT-CC001,5 10 2023,150000
Bank_X,Medium_A,Gift Card,CC_AT-CC002,5 11 2023,90000
Bank_X,Medium_A,Gift Card,CC_AT-CC003,5 10 2023,not much
Bank_X,Medium_A,Gift Card,CC_AT-CC001,6 10 2023,150000
"""


@pytest.fixture
def credit_card() -> Iterator[ProductHandler]:
    products.register(CREDIT_CARD_HANDLER)
    yield CREDIT_CARD_HANDLER
    products.unregister(CREDIT_CARD)


def shipped_handlers() -> dict[str, ProductHandler]:
    """Handlers defined by the modules in product_handlers/ (not those tests register)."""
    found = {}
    for module_info in pkgutil.iter_modules(product_handlers.__path__):
        module = importlib.import_module(f"product_handlers.{module_info.name}")
        handler = getattr(module, "HANDLER", None)
        if isinstance(handler, ProductHandler):
            found[handler.product_type] = handler
    return found


# --- adding a product from a test module -------------------------------------------------


def test_registered_product_loads_rules_and_classifies_mis_to_paid(tmp_path, credit_card):
    card_rules = rules.parse_rules(CARD_RULES, "rules.csv")
    assert card_rules[0].product_type == CREDIT_CARD
    assert card_rules[0].kpi1_payin_amount == 750
    leads = leads_frame(
        *(lead(f"AT-CC00{n}", source="Bank_X", product=CREDIT_CARD) for n in (1, 2, 3))
    )
    path = write(tmp_path, CARD_MIS, "bank_x_credit_card.csv")
    layout = mis.inspect_layout(path, path.name, load_bank_profiles(REPO / "config/banks.toml"))
    assert layout.handler is credit_card
    classified = classify_file(path, leads, rules.rules_frame(card_rules))
    rows = by_row(classified)
    assert [rows[n]["outcome"] for n in (1, 2, 3, 4)] == [
        "paid",
        "no_active_rule",
        "invalid",
        "duplicate",
    ]
    assert amounts(rows[1]) == (D(750), D(400), D(0), D(0), D(750), D(400))
    assert "CreditLimit" in rows[3]["reason"] and "not much" in rows[3]["reason"]
    paid = calculate.paid_rows(classified, credit_card)
    assert paid["sub_status"].to_list() == ["Card Activated"]
    assert paid["lead_id"].to_list() == ["AT-CC001"]


def test_registered_product_requires_its_own_columns(tmp_path, credit_card):
    text = CARD_MIS.replace("CardActivationDate", "ActivatedOn")
    with pytest.raises(MisFileError) as caught:
        classify_file(write(tmp_path, text), leads_frame())
    assert "CardActivationDate" in caught.value.cause


def test_unregistered_product_is_unknown_again(tmp_path):
    products.register(CREDIT_CARD_HANDLER)
    products.unregister(CREDIT_CARD)
    assert CREDIT_CARD not in products.all_handlers()
    with pytest.raises(MisFileError) as caught:
        classify_file(write(tmp_path, CARD_MIS), leads_frame())
    assert CREDIT_CARD in caught.value.cause
    with pytest.raises(InputFileError, match="Gift Card"):
        rules.parse_rules(CARD_RULES, "rules.csv")


def test_a_second_different_handler_for_one_product_is_refused(credit_card):
    products.register(credit_card)  # the same handler again is harmless
    with pytest.raises(ValueError, match="Gift Card"):
        products.register(replace(credit_card, success_sub_status="Card Issued"))
    assert products.handler_for(CREDIT_CARD) is credit_card


# --- the shipped products -------------------------------------------------------------------


def test_registry_discovers_both_shipped_handlers():
    handlers = products.all_handlers()
    assert handlers["Savings Account"].success_sub_status == "Account Opened"
    assert handlers["Savings Account"].event_date_column == "AccountOpeningDate"
    assert handlers["Savings Account"].amount_column == "InvestedAmount"
    assert handlers["Personal Loan"].success_sub_status == "Loan Disbursed"
    assert handlers["Personal Loan"].event_date_column == "LoanDisbursedDate"
    assert handlers["Personal Loan"].amount_column == "DisbursedAmount"
    assert {"Savings Account", "Personal Loan"} <= set(shipped_handlers())
    for product_type, handler in shipped_handlers().items():
        assert handlers[product_type] is handler


def test_every_shipped_product_has_a_sample_mis_file_rules_and_a_test_module():
    """Contract: adding a product module without a sample, rules rows and tests fails here."""
    profiles = load_bank_profiles(REPO / "config" / "banks.toml")
    sample_products: dict[str, list[str]] = {}
    for path in sorted((REPO / "samples" / "mis").glob("*.csv")):
        layout = mis.inspect_layout(path, path.name, profiles)
        rows = pl.concat(list(mis.read_batches(path, layout, 10_000)))
        assert rows.height > 0, path.name
        assert set(rows["product_type"].drop_nulls()) == {layout.handler.product_type}
        sample_products.setdefault(layout.handler.product_type, []).append(path.name)

    sample_rules = rules.parse_rules_file(REPO / "samples" / "payin_payout_rules.csv")
    products_with_rules = {sample_rule.product_type for sample_rule in sample_rules}

    test_texts = {
        path.name: path.read_text(encoding="utf-8")
        for path in UNIT_TESTS.glob("test_*.py")
        if path.name != Path(__file__).name
    }
    shipped = shipped_handlers()
    assert shipped
    for product_type in shipped:
        assert product_type in sample_products, f"no samples/mis/ file of {product_type!r}"
        assert product_type in products_with_rules, f"no sample rules for {product_type!r}"
        mentioning = [name for name, text in test_texts.items() if product_type in text]
        assert mentioning, f"no unit test module mentions {product_type!r}"


def test_handler_declares_required_columns_from_its_own_fields():
    handler = products.handler_for("Personal Loan")
    assert handler.required_columns == (
        "SourceType",
        "MediumType",
        "ProductType",
        "TrackingId",
        "LoanDisbursedDate",
        "DisbursedAmount",
    )
    assert set(handler.informational_columns) == {"ApprovedAmount", "SanctionedAmount"}
