"""Period incentives, pure (SPEC §11): reading incentive_rules.csv, an SP's worth per
slot, exclusivity, and the true-up a close appends."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from payout_core.engine.errors import InputFileError
from payout_core.engine.holds import INCENTIVE_CLAWBACK_REASON, HoldLimits
from payout_core.engine.incentive_rules import parse_incentive_rules
from payout_core.engine.incentives import (
    NO_BALANCE,
    Measured,
    SlotBalance,
    is_final,
    ledger_key,
    period_words,
    rule_worth,
    standings,
    true_ups,
)

D = Decimal
HEADER = (
    "IncentiveId,SourceType,ProductType,PeriodStart,PeriodEnd,Measure,Threshold,Kind,"
    "PayoutAmount,PayoutRate,ExclusivityGroup\n"
)
SLABS = (
    "PL-SLAB-1,,Personal Loan,1 10 2023,31 10 2023,disbursed_amount,100000,rate,,0.5,PL\n"
    "PL-SLAB-2,,Personal Loan,1 10 2023,31 10 2023,disbursed_amount,200000,rate,,1,PL\n"
)
BONUS = "SA-3,Bank_A,Savings Account,1 10 2023,31 10 2023,paid_leads,3,bonus,700,,\n"


def rules(text: str) -> dict[int, object]:
    return dict(enumerate(parse_incentive_rules(HEADER + text, "incentive_rules.csv"), start=1))


def refusal(text: str) -> str:
    with pytest.raises(InputFileError) as refused:
        parse_incentive_rules(HEADER + text, "incentive_rules.csv")
    return str(refused.value)


def test_the_sample_columns_read_as_rules():
    slab_1, slab_2, bonus = rules(SLABS + BONUS).values()
    assert (slab_1.incentive_id, slab_1.source_type, slab_1.kind, slab_1.payout_rate) == (
        "PL-SLAB-1",
        None,
        "rate",
        D("0.5"),
    )
    assert (slab_2.slot, slab_2.fact_column) == ("PL", "DisbursedAmount")
    assert (bonus.slot, bonus.source_type, bonus.payout_amount, bonus.fact_column) == (
        "SA-3",
        "Bank_A",
        D("700"),
        None,
    )


@pytest.mark.parametrize(
    ("row", "cause"),
    [
        (
            ",,Personal Loan,1 10 2023,31 10 2023,paid_leads,3,bonus,5,,",
            "row 1: IncentiveId is blank",
        ),
        (
            "X,,Mortgage,1 10 2023,31 10 2023,paid_leads,3,bonus,5,,",
            "ProductType 'Mortgage' is unknown",
        ),
        (
            "X,,Personal Loan,31 10 2023,1 10 2023,paid_leads,3,bonus,5,,",
            "PeriodEnd 01 10 2023 is before",
        ),
        ("X,,Personal Loan,1 13 2023,31 10 2023,paid_leads,3,bonus,5,,", "PeriodStart '1 13 2023'"),
        ("X,,Personal Loan,1 10 2023,31 10 2023,volume,3,bonus,5,,", "Measure 'volume' is none of"),
        ("X,,Personal Loan,1 10 2023,31 10 2023,paid_leads,3,slab,5,,", "Kind 'slab' is none of"),
        ("X,,Personal Loan,1 10 2023,31 10 2023,paid_leads,,bonus,5,,", "Threshold is blank"),
        ("X,,Personal Loan,1 10 2023,31 10 2023,paid_leads,2.5,bonus,5,,", "more than 0 decimals"),
        ("X,,Personal Loan,1 10 2023,31 10 2023,paid_leads,3,bonus,,,", "PayoutAmount is blank"),
        ("X,,Personal Loan,1 10 2023,31 10 2023,paid_leads,3,bonus,5,1,", "a bonus has none"),
        ("X,,Personal Loan,1 10 2023,31 10 2023,disbursed_amount,3,rate,,,", "PayoutRate is blank"),
        ("X,,Personal Loan,1 10 2023,31 10 2023,disbursed_amount,3,rate,,101,", "too large"),
        ("X,,Personal Loan,1 10 2023,31 10 2023,paid_leads,3,rate,,1,", "paid_leads is a count"),
        ("X,,Personal Loan,1 10 2023,31 10 2023,invested_amount,3,rate,,1,", "do not have"),
        ("X,,Personal Loan,1 10 2023,31 10 2023,paid_leads,-3,bonus,5,,", "Threshold '-3'"),
    ],
)
def test_a_bad_row_is_refused_naming_the_file_row_and_cause(row: str, cause: str):
    message = refusal(row + "\n")
    assert "incentive_rules.csv: refused, nothing loaded" in message
    assert cause in message and "row 1" in message


def test_overlapping_versions_of_one_incentive_are_refused_naming_both_rows():
    message = refusal(
        SLABS + "PL-SLAB-1,,Personal Loan,15 10 2023,14 11 2023,disbursed_amount,1,rate,,2,PL\n"
    )
    assert "rows 1 and 3: periods overlap for IncentiveId PL-SLAB-1" in message
    # Consecutive versions are fine.
    later = "PL-SLAB-1,,Personal Loan,1 11 2023,30 11 2023,disbursed_amount,1,rate,,2,PL\n"
    assert len(rules(SLABS + later)) == 3


def test_a_file_without_rules_or_a_required_column_is_refused():
    assert "holds no incentive rules" in refusal("")
    with pytest.raises(InputFileError, match=r"required column.*Threshold"):
        parse_incentive_rules("IncentiveId,ProductType\nX,Personal Loan\n", "f.csv")


def test_worth_is_rounded_half_away_from_zero_and_zero_below_the_threshold():
    slab_1, slab_2 = rules(SLABS).values()
    assert rule_worth(slab_1, Measured(2, D("103850"))) == D(519)  # 519.25
    assert rule_worth(slab_1, Measured(1, D("100100"))) == D(501)  # 500.50 -> 501
    assert rule_worth(slab_2, Measured(2, D("103850"))) == 0
    assert rule_worth(slab_2, Measured(3, D("200000"))) == D(2000)  # reaching is enough (≥)


def test_a_bonus_counts_paid_leads():
    (bonus,) = rules(BONUS).values()
    assert rule_worth(bonus, Measured(2, D(0))) == 0
    assert rule_worth(bonus, Measured(3, D(0))) == D(700)
    assert rule_worth(bonus, Measured(30, D(0))) == D(700)


def slot(measure: str, leads: int = 3, balance: SlotBalance = NO_BALANCE):
    slabs = rules(SLABS)
    key = ledger_key("SP-A", slabs[1])
    measured = {("SP-A", rule_id): Measured(leads, D(measure)) for rule_id in slabs}
    [standing] = standings(["SP-A"], slabs, measured, {key: balance})
    return standing


def test_only_the_best_incentive_of_an_exclusivity_group_counts():
    standing = slot("203850")
    assert (standing.worth, standing.winner[1].incentive_id) == (D(2039), "PL-SLAB-2")
    assert standing.key == "INC:SP-A:PL:2023-10-01:2023-10-31"


def test_the_worked_example_true_ups():
    [first] = true_ups([slot("103850", 2)], HoldLimits())
    assert (first.payout_amount, first.rule.incentive_id, first.sequence, first.hold_reason) == (
        D(519),
        "PL-SLAB-1",
        1,
        None,
    )
    [second] = true_ups(
        [slot("203850", balance=SlotBalance(D(519), D(519), D(519), 1, "PL-SLAB-1"))], HoldLimits()
    )
    assert (second.payout_amount, second.sequence) == (D(1520), 2)
    assert second.reason == (
        "PL-SLAB-2: October 2023 disbursals 203,850 ≥ 200,000: 1 % = 2,039; paid before 519; +1,520"
    )
    paid = SlotBalance(D(2039), D(2039), D(2039), 2, "PL-SLAB-2")
    [third] = true_ups([slot("193850", balance=paid)], HoldLimits())
    assert (third.payout_amount, third.hold_reason) == (D(-1070), INCENTIVE_CLAWBACK_REASON)
    assert third.reason.endswith("0.5 % = 969; paid before 2,039; −1,070")


def test_nothing_is_appended_when_the_worth_is_what_the_ledger_last_recorded():
    paid = SlotBalance(D(519), D(519), D(519), 1, "PL-SLAB-1")
    assert true_ups([slot("103850", 2, paid)], HoldLimits()) == []
    # A person waived the +519 (rejected): it is not proposed again while nothing changes.
    waived = SlotBalance(D(0), D(0), D(519), 1, "PL-SLAB-1")
    assert true_ups([slot("103850", 2, waived)], HoldLimits()) == []


def test_after_a_waived_clawback_an_increase_pays_only_what_exceeds_what_the_sp_holds():
    kept = SlotBalance(D(2039), D(2039), D(969), 3, "PL-SLAB-1")  # -1070 rejected
    [event] = true_ups([slot("210000", balance=kept)], HoldLimits())
    assert event.payout_amount == D(2100 - 2039)


def test_an_incentive_above_the_event_limit_is_held():
    [event] = true_ups([slot("203850")], HoldLimits(event_payout_above=D(1000)))
    assert "per-event limit" in event.hold_reason


def test_a_period_is_final_after_its_grace_days():
    (bonus,) = rules(BONUS).values()
    assert not is_final(bonus, dt.date(2023, 10, 15), 45)
    assert not is_final(bonus, dt.date(2023, 12, 14), 45)  # 44 days after the end
    assert is_final(bonus, dt.date(2023, 12, 15), 45)
    assert not is_final(bonus, dt.date(2023, 10, 31), 0)  # still open on its last day
    assert is_final(bonus, dt.date(2023, 11, 1), 0)


def test_periods_in_words():
    assert period_words(dt.date(2023, 10, 1), dt.date(2023, 10, 31)) == "October 2023"
    assert period_words(dt.date(2023, 10, 1), dt.date(2023, 10, 14)) == "1 Oct 2023 – 14 Oct 2023"


def test_the_sample_file_loads():
    from payout_core.engine.incentive_rules import parse_incentive_rules_file
    from payout_core.settings import PROJECT_ROOT

    loaded = parse_incentive_rules_file(PROJECT_ROOT / "samples" / "incentive_rules.csv")
    assert [rule.incentive_id for rule in loaded] == [
        "PL-SLAB-1",
        "PL-SLAB-2",
        "SA-20-ACCOUNTS",
        "CC-FORTNIGHT",
    ]


def test_a_spreadsheet_or_binary_file_is_refused_as_not_csv(tmp_path):
    from payout_core.engine.incentive_rules import parse_incentive_rules_file

    workbook = tmp_path / "incentive_rules.xlsx"
    workbook.write_bytes(b"PK\x03\x04 a zipped workbook")
    with pytest.raises(InputFileError, match="ZIP archive"):
        parse_incentive_rules_file(workbook)
