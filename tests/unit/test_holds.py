"""Hold rules, cycle netting, the hold settings, the cycle's part of the email and the
CLI's holds/credits arguments: pure, no services (SPEC §7, §8)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from payout_cli import commands, common
from payout_core.engine.holds import (
    CANDIDATES_SCHEMA,
    NEGATIVE_ADJUSTMENT_REASON,
    HoldLimits,
    credit_id,
    hold_reason_expression,
    plan_cycle,
)
from payout_core.report.cycle import CycleReport, DecisionLine
from payout_core.report.html import render_html
from payout_core.report.text import render_text
from payout_core.settings import Settings
from tests.unit.test_report import make_report

LIMITS = HoldLimits(event_payout_above=Decimal("5000"), sp_cycle_payout_above=Decimal("8000"))


def candidates(*events: tuple[int, str, str, str, bool]) -> pl.DataFrame:
    """(event_id, sp_id, kind, payout, approved) -> the close's candidate frame."""
    return pl.DataFrame(
        {
            "event_id": [event[0] for event in events],
            "sp_id": [event[1] for event in events],
            "kind": [event[2] for event in events],
            "payout_amount_minor": [int(Decimal(event[3]) * 100) for event in events],
            "approved": [event[4] for event in events],
            "lead_id": [f"LEAD-{event[0]}" for event in events],  # a KPI each
            "kpi": ["KPI1" for _ in events],
        },
        schema=CANDIDATES_SCHEMA,
    )


# --- rules at creation -----------------------------------------------------------------------


def hold_reason(payout: Decimal, kind: str, limits: HoldLimits) -> str | None:
    """The one hold rule (engine/holds.hold_reason_expression) on one event."""
    frame = pl.DataFrame({"payout_amount_minor": [int(payout * 100)], "kind": [kind]})
    return frame.select(hold_reason_expression(limits))["hold_reason"][0]


@pytest.mark.parametrize(
    ("payout", "kind", "limits", "held"),
    [
        ("-0.01", "adjustment", HoldLimits(), True),  # every clawback, whatever the limits
        ("0.01", "adjustment", HoldLimits(), False),
        ("5000.01", "earned", LIMITS, True),
        ("5000.00", "earned", LIMITS, False),  # "above" the limit, not at it
        ("5000.01", "adjustment", LIMITS, True),
        ("99999999", "earned", HoldLimits(), False),  # blank limit: no limit
        ("0.00", "earned", HoldLimits(event_payout_above=Decimal("0")), False),
    ],
)
def test_hold_at_creation(payout: str, kind: str, limits: HoldLimits, held: bool):
    reason = hold_reason(Decimal(payout), kind, limits)
    assert (reason is not None) == held
    if held and Decimal(payout) < 0:
        assert reason == NEGATIVE_ADJUSTMENT_REASON


@given(
    payout_minor=st.integers(min_value=-(10**9), max_value=10**9),
    kind=st.sampled_from(["earned", "adjustment"]),
    limit_minor=st.none() | st.integers(min_value=0, max_value=10**9),
)
def test_the_rule_is_spec_8s_words(payout_minor: int, kind: str, limit_minor: int | None):
    limits = HoldLimits(None if limit_minor is None else Decimal(limit_minor) / 100)
    clawback = kind == "adjustment" and payout_minor < 0
    over_the_limit = limit_minor is not None and payout_minor > limit_minor
    reason = hold_reason(Decimal(payout_minor) / 100, kind, limits)
    assert (reason is not None) == (clawback or over_the_limit)
    if clawback:
        assert reason == NEGATIVE_ADJUSTMENT_REASON
    elif over_the_limit:
        assert "PAYOUT_HOLD_EVENT_ABOVE" in reason


@pytest.mark.parametrize("limit", ["0.001", "-1", "NaN"])
def test_a_limit_is_a_non_negative_amount_in_cents(limit: str):
    with pytest.raises(ValueError, match="non-negative amount in cents"):
        HoldLimits(event_payout_above=Decimal(limit))


def test_blank_hold_settings_mean_no_limit_and_amounts_stay_exact(monkeypatch):
    monkeypatch.setenv("PAYOUT_HOLD_EVENT_ABOVE", "")
    monkeypatch.setenv("PAYOUT_HOLD_SP_CYCLE_ABOVE", "10000.10")
    limits = Settings().hold_limits
    assert limits == HoldLimits(None, Decimal("10000.10"))
    monkeypatch.setenv("PAYOUT_HOLD_EVENT_ABOVE", "12.345")
    with pytest.raises(ValueError, match="PAYOUT_HOLD_EVENT_ABOVE"):
        Settings()


# --- closing a cycle -------------------------------------------------------------------------


def test_one_credit_per_sp_is_the_net_of_its_events_and_a_net_of_zero_or_less_carries():
    plan = plan_cycle(
        candidates(
            (1, "SP-1", "earned", "439", False),
            (2, "SP-1", "adjustment", "-39", True),  # an approved clawback nets
            (3, "SP-2", "earned", "10", False),
            (4, "SP-2", "adjustment", "-10", True),  # net 0: not sent
            (5, "SP-3", "adjustment", "-5", True),  # net < 0: not sent
        ),
        HoldLimits(),
        cycle_number=12,
    )
    assert plan.holds.is_empty()
    assert plan.credits.rows() == [("CR-000012-0001", "SP-1", 40000, 2)]
    assert plan.cycle_events.rows() == [(1, "CR-000012-0001"), (2, "CR-000012-0001")]
    assert plan.carried.sort("sp_id").rows() == [("SP-2", 0, 2), ("SP-3", -500, 1)]


def test_limits_hold_events_and_approved_events_are_never_held_again():
    plan = plan_cycle(
        candidates(
            (1, "SP-1", "earned", "6000", False),  # over the per-event limit
            (2, "SP-1", "earned", "100", False),
            (3, "SP-2", "earned", "4000", False),  # SP-2 totals 9000 > 8000: all held
            (4, "SP-2", "earned", "5000", False),
            (5, "SP-3", "earned", "7000", True),  # approved: counts, never held again
            (6, "SP-3", "earned", "2000", False),  # SP-3 totals 9000: this one is held
            (7, "SP-4", "adjustment", "-1", False),  # not held at creation: held now
        ),
        LIMITS,
        cycle_number=3,
    )
    holds = dict(plan.holds.rows())
    assert sorted(holds) == [1, 3, 4, 6, 7]
    assert "PAYOUT_HOLD_EVENT_ABOVE" in holds[1]
    assert "9000.00" in holds[3] and "PAYOUT_HOLD_SP_CYCLE_ABOVE" in holds[3]
    assert holds[7] == NEGATIVE_ADJUSTMENT_REASON
    assert plan.credits.select("sp_id", "amount_minor").rows() == [
        ("SP-1", 10000),
        ("SP-3", 700000),
    ]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["SP-1", "SP-2", "SP-3"]),
            st.sampled_from(["earned", "adjustment"]),
            st.integers(min_value=-(10**6), max_value=10**6),
            st.booleans(),
        ),
        max_size=30,
    )
)
def test_every_candidate_is_held_credited_or_carried_exactly_once(events):
    frame = candidates(
        *(
            (number, sp, kind, str(Decimal(amount) / 100), approved)
            for number, (sp, kind, amount, approved) in enumerate(events)
        )
    )
    plan = plan_cycle(frame, LIMITS, cycle_number=1)
    held = set(plan.holds["event_id"])
    credited = set(plan.cycle_events["event_id"])
    assert not held & credited
    carried_sps = set(plan.carried["sp_id"])
    rest = frame.filter(~pl.col("event_id").is_in(list(held | credited)))
    assert set(rest["sp_id"]) <= carried_sps
    assert (plan.credits["amount_minor"] > 0).all()
    for credit, sp, amount, count in plan.credits.rows():
        events_of_credit = frame.filter(
            pl.col("event_id").is_in(
                plan.cycle_events.filter(pl.col("credit_id") == credit)["event_id"].to_list()
            )
        )
        assert set(events_of_credit["sp_id"]) == {sp}
        assert events_of_credit["payout_amount_minor"].sum() == amount
        assert events_of_credit.height == count
    assert not set(plan.holds["event_id"]) & set(frame.filter("approved")["event_id"])


def test_credit_ids_are_stable_and_sort_by_cycle_then_sequence():
    assert credit_id(12, 3) == "CR-000012-0003"
    assert sorted([credit_id(2, 10), credit_id(10, 1), credit_id(2, 9)]) == [
        credit_id(2, 9),
        credit_id(2, 10),
        credit_id(10, 1),
    ]


# --- the email ------------------------------------------------------------------------------


def cycle_report(**changes) -> CycleReport:
    values = {
        "cycle_number": 7,
        "credit_count": 2,
        "credit_total": Decimal("1939.00"),
        "event_count": 3,
        "held_now_count": 1,
        "carried_sp_count": 0,
        "carried_total": Decimal("0"),
        "awaiting_count": 2,
        "awaiting_payout_amount": Decimal("-39.00"),
        "awaiting_oldest_held_at": datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
        "decisions": (
            DecisionLine(
                4,
                "AT-00001",
                "<b>SP</b>",
                "KPI1",
                "adjustment",
                Decimal("-39"),
                "approved",
                "Ravi",
                datetime(2026, 11, 21, 9, 0, tzinfo=UTC),
                None,
            ),
        ),
        "credits_csv": b"csv",
        "credits_rows_in_csv": 2,
        "credits_blob_name": "credits/wallet_credits_cycle_7.csv",
        "review_url": "https://review.shiftpay.example/holds",
    }
    values.update(changes)
    return CycleReport(**values)


def test_the_email_says_credits_holds_and_decisions_and_links_the_review_page():
    from dataclasses import replace

    iteration = replace(make_report(), cycle=cycle_report())
    text = render_text(iteration)
    assert "Payout cycle 7: wallet credits and holds" in text
    assert "Credited in this cycle: 2 wallet credits, total ₹1,939.00 (3 payout events)." in text
    assert (
        "Waiting for a decision: 2 events, payout -₹39.00, the oldest held since "
        "2026-11-20 08:00:00 UTC" in text
    )
    assert "https://review.shiftpay.example/holds" in text
    assert "Decided since the last email: 1 event." in text
    html = render_html(iteration)
    assert '<a href="https://review.shiftpay.example/holds"' in html
    assert "&lt;b&gt;SP&lt;/b&gt;" in html and "<b>SP</b>" not in html
    assert "wallet_credits_cycle_7.csv: 2 rows" in text


def test_no_link_when_nothing_is_held_and_a_large_credits_file_is_not_attached():
    quiet = cycle_report(awaiting_count=0, decisions=(), credits_rows_in_csv=1, credit_count=5)
    blocks = [block for block in quiet.blocks() if isinstance(block, str)]
    assert "Nothing is held: no event waits for a decision." in blocks
    assert "No hold was decided since the last email." in blocks
    assert not quiet.credits_attached
    assert "credits/wallet_credits_cycle_7.csv" in quiet.attachment_note()


# --- the CLI's arguments -------------------------------------------------------------------


def test_holds_and_credits_arguments():
    parser = commands.build_parser()
    args = parser.parse_args(["holds", "reject", "3", "4", "--by", "Meera", "--reason", "dup"])
    assert (args.decision, args.event_ids, args.by, args.reason) == (
        "reject",
        [3, 4],
        "Meera",
        "dup",
    )
    args = parser.parse_args(["holds", "list", "--all", "--json"])
    assert args.all and args.json
    args = parser.parse_args(["credits", "--cycle", "2", "--json"])
    assert (args.cycle, args.json) == (2, True)
    for wrong in (["holds", "approve", "--by", "x"], ["holds", "approve", "1"],
                  ["holds", "approve", "one", "--by", "x"]):  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(wrong)
        assert exit_info.value.code == common.EXIT_USAGE


def test_a_kpi_held_at_the_close_keeps_its_other_events_waiting_with_it():
    """A limit set after a payment and its correction were written: the close holds the
    payment, and the correction of the same lead's KPI waits with it (a rejection of the
    payment must not leave the correction paid); another KPI and an approved event go on."""
    frame = candidates(
        (1, "SP-1", "earned", "400", False),
        (2, "SP-1", "adjustment", "39", False),
        (3, "SP-1", "earned", "200", False),
        (4, "SP-1", "adjustment", "10", True),
    ).with_columns(
        lead_id=pl.Series(["AT-1", "AT-1", "AT-1", "AT-1"]),
        kpi=pl.Series(["KPI1", "KPI1", "KPI2", "KPI1"]),
    )
    plan = plan_cycle(frame, HoldLimits(event_payout_above=Decimal("300")), cycle_number=2)
    held = dict(plan.holds.select("event_id", "hold_reason").iter_rows())
    assert set(held) == {1, 2}
    assert held[2] == "waits with event 1 of its KPI, held at this close: decided together"
    assert plan.cycle_events["event_id"].to_list() == [3, 4]
