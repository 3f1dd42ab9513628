"""The arithmetic in words (SPEC §10), with the rounding of engine/products.percentage_of."""

from __future__ import annotations

from decimal import Decimal

from payout_core.engine.explanations import event_arithmetic, number_text, worth_words

D = Decimal
LOAN_RULE = {"kpi1_payin_percentage": "2.5", "kpi1_payout_percentage": "1"}


def test_the_issue_s_example_reads_as_written():
    worth = worth_words(
        "KPI1", LOAN_RULE, {"DisbursedAmount": "43850.00"}, "DisbursedAmount", "payin"
    )
    assert worth == (D(1096), "2.5 % × 43,850 = 1,096.25 → 1,096, halves away from zero")


def test_a_half_rounds_away_from_zero():
    worth = worth_words("KPI1", LOAN_RULE, {"DisbursedAmount": "43850"}, "DisbursedAmount")
    assert worth == (D(439), "1 % × 43,850 = 438.5 → 439, halves away from zero")


def test_a_flat_amount_and_a_rule_without_the_kpi():
    assert worth_words("KPI2", {"kpi2_payout_amount": "500.00"}, {}, None) == (
        D(500),
        "a flat 500 under this rule",
    )
    assert worth_words("KPI3", LOAN_RULE, {}, None) is None


def test_an_adjustment_is_worth_now_less_what_was_paid_before():
    words = event_arithmetic(
        kind="adjustment", payout_amount=D("-39"), payout_worth_amount=D("400"), worth=None
    )
    assert words == "worth now 400 − paid before 439 = -39"


def test_an_earned_event_whose_facts_changed_quotes_its_worth_only():
    words = event_arithmetic(
        kind="earned", payout_amount=D("439"), payout_worth_amount=None, worth=(D(400), "x")
    )
    assert words.startswith("439, the KPI's worth when earned")


def test_numbers_read_as_people_write_them():
    assert [number_text(D(t)) for t in ("43850.00", "1096.25", "2.5000", "-39.00")] == [
        "43,850",
        "1,096.25",
        "2.5",
        "-39",
    ]
