"""Corrections that meet held or rejected events (SPEC §8 v3), through the operator's CLI
on real PostgreSQL: what the SP is credited never exceeds what a lead is worth (or what
they kept when a clawback was waived), and what the bank is expected to pay follows the
bank's latest facts whatever is held or rejected."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from tests.integration.sample_ledger import query
from tests.integration.terminal import LEADS, Operator

pytestmark = pytest.mark.integration

D = Decimal


@pytest.fixture
def operator(
    database_url: str, tmp_state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Operator:
    at = Operator(tmp_path, capsys)
    at.rules()
    at.leads(LEADS)
    return at


def final_payout(lead_id: str) -> Decimal:
    [(payout,)] = query(
        os.environ["PAYOUT_DATABASE_URL"],
        "SELECT total_payout FROM payout_calculations WHERE lead_id = %s",
        lead_id,
    )
    return payout


def nonzero(outcomes: dict[str, int]) -> dict[str, int]:
    return {outcome: count for outcome, count in outcomes.items() if count}


# --- 1. a correction on top of a pending clawback --------------------------------------


@pytest.mark.parametrize("decision", ["reject", "approve"])
def test_a_correction_back_while_a_clawback_waits_is_decided_with_it(
    operator: Operator, decision: str
) -> None:
    operator.loan("AT-LOAN1", "43850")  # payout 439, released
    operator.close_cycle()
    assert operator.credited("SP-A") == D(439)
    operator.loan("AT-LOAN1", "40000")  # worth 400: -39 held
    back = operator.loan("AT-LOAN1", "43850")  # worth 439 again, while the -39 waits
    assert nonzero(back["outcomes"]) == {"adjusted": 1}
    held = operator.held()
    assert sorted(D(event["payout_amount"]) for event in held) == [D(-39), D(39)]
    correction = next(event for event in held if D(event["payout_amount"]) == 39)
    assert "decided together with event(s)" in correction["hold_reason"]

    clawback = next(event for event in held if D(event["payout_amount"]) == -39)
    extra = ["--reason", "keep it"] if decision == "reject" else []
    decided = operator.decide(decision, [clawback["event_id"]], "--by", "Chen Checker", *extra)
    assert len(decided) == 2  # the correction that waited with it is decided with it
    operator.close_cycle()
    # Either way the SP ends with what the loan is worth, never 478.
    assert operator.credited("SP-A") == D(439)
    assert final_payout("AT-LOAN1") == D(439)
    assert operator.held() == []
    assert operator.expected_payin("Bank_B") == D(1096)  # 2.5 % of 43850


def test_recalculations_meeting_a_pending_clawback_never_pay_on_top_of_it(
    operator: Operator,
) -> None:
    operator.loan("AT-LOAN1", "43850")
    operator.close_cycle()
    operator.rules(loan_payout="0.9")  # 0.9 % of 43850 = 394.65 -> 395
    assert operator.recalculate()["total_payout"] == "-44.00"
    operator.rules(loan_payout="1")
    assert operator.recalculate()["total_payout"] == "44.00"
    held = operator.held()
    assert len(held) == 2
    operator.decide("reject", [held[0]["event_id"]], "--by", "Chen Checker", "--reason", "keep")
    operator.close_cycle()
    assert operator.credited("SP-A") == D(439)
    assert operator.recalculate()["events"] == 0


def test_after_a_waived_clawback_later_corrections_are_measured_from_what_was_released(
    operator: Operator,
) -> None:
    operator.loan("AT-LOAN1", "43850")
    operator.close_cycle()
    operator.loan("AT-LOAN1", "40000")
    [clawback] = operator.held()
    operator.decide("reject", [clawback["event_id"]], "--by", "Chen", "--reason", "keep it")

    same = operator.loan("AT-LOAN1", "40000")  # the same facts again: nothing new to ask
    assert nonzero(same["outcomes"]) == {"already_paid": 1}
    assert operator.held() == []
    back = operator.loan("AT-LOAN1", "43850")  # worth 439: the SP already holds 439
    assert (back["total_payin"], back["total_payout"]) == ("96.00", "0.00")
    up = operator.loan("AT-LOAN1", "50000")  # worth 500: only what exceeds 439 is paid
    assert (up["total_payin"], up["total_payout"]) == ("154.00", "61.00")
    operator.close_cycle()
    assert operator.credited("SP-A") == D(500)
    assert operator.expected_payin("Bank_B") == D(1250)  # 2.5 % of 50000


def test_a_correction_while_the_earned_kpi_waits_is_decided_with_it(
    operator: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator.limit_events_above("300", monkeypatch)
    operator.loan("AT-LOAN1", "43850")  # 439 > 300: the KPI itself waits
    operator.loan("AT-LOAN1", "40000")
    held = operator.held()
    assert [D(event["payout_amount"]) for event in held] == [D(439), D(-39)]
    earned = held[0]
    operator.decide("approve", [earned["event_id"]], "--by", "Chen Checker")
    operator.close_cycle()
    assert operator.credited("SP-A") == D(400)


# --- 2. a rejected KPI stays rejected; 3. the payin follows the bank -------------------


def test_a_rejected_kpi_is_never_paid_nor_taken_back_and_the_bank_still_owes_its_payin(
    operator: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator.limit_events_above("300", monkeypatch)
    operator.loan("AT-LOAN1", "43850")
    [earned] = operator.held()
    operator.decide("reject", [earned["event_id"]], "--by", "Chen", "--reason", "fraudulent")
    corrected = operator.loan("AT-LOAN1", "40000")
    assert corrected["total_payout"] == "0.00"  # nothing clawed back that was never paid
    operator.rules(loan_payout="1.5")
    assert operator.recalculate()["total_payout"] == "0.00"  # nor paid by a rules correction
    assert operator.held() == []
    operator.close_cycle()
    assert operator.credited("SP-A") == D(0)
    assert final_payout("AT-LOAN1") == D(0)
    # The bank owes 2.5 % of 40000 whatever finance decided about the SP's payout.
    assert operator.expected_payin("Bank_B") == D(1000)
    assert operator.remit("AT-LOAN1", "1000", "UTR-REJ-1")["outcomes"]["matched"] == 1
    assert operator.expected_payin("Bank_B") == D(1000)


def test_after_a_rejected_clawback_the_bank_is_expected_to_pay_what_its_mis_says(
    operator: Operator,
) -> None:
    operator.loan("AT-LOAN1", "43850")
    operator.loan("AT-LOAN1", "1000")  # the bank now says 1000: payin 25, payout 10
    [clawback] = operator.held()
    operator.decide("reject", [clawback["event_id"]], "--by", "Chen", "--reason", "keep")
    assert operator.expected_payin("Bank_B") == D(25)
    assert operator.remit("AT-LOAN1", "25", "UTR-CLAW-1")["outcomes"]["matched"] == 1


# --- 4. a lowered KPI2 bound is paid by recalculation ----------------------------------


def test_a_lowered_kpi2_bound_pays_the_leads_already_above_it(operator: Operator) -> None:
    paid = operator.savings("AT-SAVE1", "1800")  # below the bound of 2000: KPI1 only
    assert paid["total_payout"] == "1000.00"
    operator.rules(savings_bound="1500")
    dry = operator.run("recalculate", "--json", "--dry-run", "--by", "Maya")[0]
    assert (dry["events"], dry["total_payout"]) == (1, "500.00")
    done = operator.recalculate()
    assert (done["events"], done["total_payin"], done["total_payout"]) == (1, "1000.00", "500.00")
    assert query(
        os.environ["PAYOUT_DATABASE_URL"],
        "SELECT kpi, kind, outcome, payout_amount FROM payout_events"
        " WHERE lead_id = 'AT-SAVE1' ORDER BY event_id",
    ) == [("KPI1", "earned", "paid", D(1000)), ("KPI2", "earned", "kpi_earned", D(500))]
    assert operator.recalculate()["events"] == 0
    operator.close_cycle()
    assert operator.credited("SP-C") == D(1500)


def test_leads_recalculation_cannot_price_are_named(operator: Operator) -> None:
    operator.loan("AT-LOAN1", "43850")
    operator.rules(window=("5 10 2023", "9 10 2023"))  # no longer holds 2 10 2023
    result = operator.recalculate()
    assert result["unpriced"] == [
        {
            "lead_id": "AT-LOAN1",
            "reason": "no rule in force for Bank_B / Medium_A / Personal Loan on its "
            "DateOfSale 02 10 2023: left as it is",
        }
    ]


# --- 5. names as people read them --------------------------------------------------------


def test_maker_checker_compares_names_as_people_read_them(operator: Operator) -> None:
    operator.loan("AT-LOAN1", "43850")
    operator.rules(loan_payout="0.5")
    operator.recalculate(by="Alice")
    [clawback] = operator.held()
    event_id = str(clawback["event_id"])
    hidden = operator.refused("holds", "approve", event_id, "--by", "Alice\u200b")
    assert "invisible or control characters (U+200B)" in hidden
    for same in ("ALICE", " Alice ", "\uff21lice"):  # case, spaces, a full-width A
        assert "maker-checker" in operator.refused("holds", "approve", event_id, "--by", same)
    operator.decide("approve", [clawback["event_id"]], "--by", "Bob")
    assert "--by" in operator.refused("recalculate", "--json")  # a recalculation names its maker
    assert "invisible" in operator.refused("recalculate", "--by", "Mallory\u202e")
