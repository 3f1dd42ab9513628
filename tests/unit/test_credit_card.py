"""Credit Card (SPEC §3.1, §4.1): three milestone KPIs from one module and rows of rules.
Issued pays KPI1, activated KPI2, a first spend of at least MinFirstSpendAmount KPI3;
each may come in a later file, and none is ever taken back."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from payout_core.engine import calculate, kpis, rules
from payout_core.engine.errors import InputFileError
from payout_core.engine.holds import HoldLimits
from payout_core.engine.products import handler_for
from tests.unit.engine_support import by_row, classify_file, lead, leads_frame, write

D = Decimal
CREDIT_CARD = "Credit Card"
HEADER = (
    "SourceType,MediumType,ProductType,TrackingId,CardIssuedDate,ActivationDate,"
    "FirstSpendAmount"
)
RULES = """SourceType,MediumType,ProductType,KPIStartDate,KPIEndDate,KPI1PayinAmount,\
KPI1PayoutAmount,KPI2PayinAmount,KPI2PayoutAmount,KPI3PayinAmount,KPI3PayoutAmount,\
MinFirstSpendAmount
Bank_C,Medium_A,Credit Card,1 10 2023,31 10 2023,700,400,500,300,800,500,5000
"""
RULE_FRAME = rules.rules_frame(rules.parse_rules(RULES, "rules.csv"))


def card(lead_id: str, issued: str = "2 10 2023", activated: str = "", spend: str = "") -> str:
    return f"Bank_C,Medium_A,Credit Card,CC_{lead_id},{issued},{activated},{spend}"


def card_lead(lead_id: str, status: str = "Pending"):
    return lead(lead_id, status, source="Bank_C", product=CREDIT_CARD)


def classified(tmp_path, *rows: str, known: pl.DataFrame | None = None, balances=None):
    text = "\n".join([HEADER, *rows]) + "\n"
    leads = known if known is not None else leads_frame(
        *(card_lead(f"AT-CC00{n}") for n in range(1, 6))
    )
    return classify_file(write(tmp_path, text), leads, RULE_FRAME, balances=balances)


def events(frame: pl.DataFrame) -> list[tuple]:
    made = kpis.events(frame, handler_for(CREDIT_CARD), HoldLimits())
    return [(e["lead_id"], e["kpi"], e["kind"], e["outcome"], D(e["payin_minor"]) / 100,
             D(e["payout_minor"]) / 100) for e in made.iter_rows(named=True)]  # fmt: skip


def test_each_fact_stated_earns_its_kpi_and_the_final_table_counts_every_kpi(tmp_path):
    frame = classified(
        tmp_path,
        card("AT-CC001", activated="3 10 2023", spend="6000"),  # all three
        card("AT-CC002"),  # issued and nothing else: KPI1 alone
        card("AT-CC003", activated="5 10 2023"),  # KPI1 and KPI2
        card("AT-CC004", spend="4999.99"),  # below the bound: KPI1 alone
    )
    assert frame["outcome"].to_list() == ["paid"] * 4
    assert events(frame) == [
        ("AT-CC001", "KPI1", "earned", "paid", D(700), D(400)),
        ("AT-CC002", "KPI1", "earned", "paid", D(700), D(400)),
        ("AT-CC003", "KPI1", "earned", "paid", D(700), D(400)),
        ("AT-CC004", "KPI1", "earned", "paid", D(700), D(400)),
        ("AT-CC001", "KPI2", "earned", "paid", D(500), D(300)),
        ("AT-CC003", "KPI2", "earned", "paid", D(500), D(300)),
        ("AT-CC001", "KPI3", "earned", "paid", D(800), D(500)),
    ]
    paid = calculate.paid_rows(frame, handler_for(CREDIT_CARD))
    first = paid.row(0, named=True)
    # SPEC §5 keeps its KPI1 and KPI2 columns; the totals include KPI3.
    assert (first["kpi1_payout_amount_minor"], first["kpi2_payout_amount_minor"]) == (
        40_000,
        30_000,
    )
    assert (first["total_payin_minor"], first["total_payout_minor"]) == (200_000, 120_000)
    assert paid["sub_status"].unique().to_list() == ["Card Issued"]
    assert paid["basis_facts"][0] == '{"FirstSpendAmount":"6000.00","ActivationDate":"2023-10-03"}'


def test_kpis_reached_later_are_kpi_earned_and_a_milestone_is_never_taken_back(tmp_path):
    from tests.unit.test_kpi_events import leads_with_facts, paid_lead

    issued_only = paid_lead("AT-CC002", product=CREDIT_CARD, basis=None, kpi1=("700", "400", 1))
    issued_only["lead_source_type"] = "Bank_C"
    known = leads_with_facts(issued_only)
    later = classified(
        tmp_path,
        card("AT-CC002", activated="10 10 2023", spend="7500"),
        known=known.leads,
        balances=known.balances,
    )
    assert later["outcome"].to_list() == ["kpi_earned"]
    assert events(later) == [
        ("AT-CC002", "KPI2", "earned", "kpi_earned", D(500), D(300)),
        ("AT-CC002", "KPI3", "earned", "kpi_earned", D(800), D(500)),
    ]

    everything = paid_lead(
        "AT-CC002",
        product=CREDIT_CARD,
        basis=None,
        kpi1=("700", "400", 1),
        kpi2=("500", "300", 1),
    )
    everything["lead_source_type"] = "Bank_C"
    known = leads_with_facts(everything)
    blank_again = classified(tmp_path, card("AT-CC002"), known=known.leads, balances=known.balances)
    assert blank_again["outcome"].to_list() == ["already_paid"]
    assert events(blank_again) == []


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (card("AT-CC001", issued=""), "CardIssuedDate is blank"),
        (card("AT-CC001", activated="soon"), "ActivationDate 'soon' is not a date"),
        (card("AT-CC001", activated="31 09 2023"), "ActivationDate '31 09 2023' is not a date"),
        (card("AT-CC001", spend="5k"), "FirstSpendAmount '5k'"),
        (card("AT-CC001", spend="-5000"), "FirstSpendAmount '-5000' has a sign"),
    ],
)
def test_a_fact_that_is_there_must_be_readable(tmp_path, row, reason):
    [record] = by_row(classified(tmp_path, row)).values()
    assert record["outcome"] == "invalid"
    assert reason in record["reason"]


def test_a_file_without_the_later_facts_columns_reads_them_as_not_known_yet(tmp_path):
    text = "SourceType,MediumType,ProductType,TrackingId,CardIssuedDate\n"
    text += "Bank_C,Medium_A,Credit Card,CC_AT-CC001,2 10 2023\n"
    frame = classify_file(
        write(tmp_path, text), leads_frame(card_lead("AT-CC001")), RULE_FRAME
    )
    assert frame["outcome"].to_list() == ["paid"]
    assert [e[1] for e in events(frame)] == ["KPI1"]


def test_rules_for_credit_card_need_its_columns_and_older_files_still_load():
    without = RULES.replace(",MinFirstSpendAmount", "").replace(",5000\n", "\n")
    with pytest.raises(InputFileError, match="no column MinFirstSpendAmount"):
        rules.parse_rules(without, "rules.csv")
    old_shape = (
        "SourceType,MediumType,ProductType,KPIStartDate,KPIEndDate,KPI1PayinPercentage,"
        "KPI1PayoutPercentage\nBank_B,Medium_A,Personal Loan,1 10 2023,3 10 2023,2.5,1\n"
    )
    [loan] = rules.parse_rules(old_shape, "rules.csv")
    assert loan.parameters["kpi3_payin_amount"] == 0
