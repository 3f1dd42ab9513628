"""One SP never stops everyone's cycle (issue 21, item 6): a credit larger than the ledger
can write holds that SP's events with the reason, and every other SP is credited."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from payout_core.engine.holds import CANDIDATES_SCHEMA, HoldLimits, plan_cycle

HUGE = "60000000000000.00"  # fits one event (numeric(16, 2)); two of them fit no credit


def candidates(*events: tuple[int, str, str, bool]) -> pl.DataFrame:
    """(event_id, sp_id, payout, approved), every one an earned event."""
    return pl.DataFrame(
        [(event_id, sp, "earned", int(Decimal(payout) * 100), approved, f"L{event_id}", "KPI1")
         for event_id, sp, payout, approved in events],
        schema=CANDIDATES_SCHEMA,
        orient="row",
    )  # fmt: skip


def test_a_credit_too_large_to_write_holds_that_sp_and_the_others_are_credited():
    plan = plan_cycle(
        candidates(
            (1, "SP-BIG", HUGE, False), (2, "SP-BIG", HUGE, False), (3, "SP-1", "439", False)
        ),
        HoldLimits(),
        cycle_number=4,
    )
    assert plan.credits.select("sp_id", "amount_minor").rows() == [("SP-1", 43_900)]
    assert plan.cycle_events.get_column("event_id").to_list() == [3]
    assert plan.holds.get_column("event_id").to_list() == [1, 2]
    assert plan.holds.get_column("hold_reason").unique().to_list() == [
        "the SP's cycle credit of 120,000,000,000,000.00 is more than a wallet credit can hold "
        "(99,999,999,999,999.99): held for a person to check"
    ]


def test_totals_past_int64_are_not_wrapped_into_small_credits():
    # 1,000 events of 92 trillion minor units each: an Int64 sum wraps to a negative number.
    events = [(n, "SP-BIG", "92233720368547.75", False) for n in range(1, 1001)]
    plan = plan_cycle(candidates(*events), HoldLimits(), cycle_number=1)
    assert plan.credits.is_empty() and plan.holds.height == 1000


def test_approved_events_are_never_held_again_they_join_a_credit_when_they_fit_alone():
    plan = plan_cycle(
        candidates((1, "SP-BIG", HUGE, True), (2, "SP-BIG", HUGE, False), (3, "SP-1", "1", False)),
        HoldLimits(),
        cycle_number=2,
    )
    assert plan.holds.get_column("event_id").to_list() == [2]
    assert plan.credits.select("sp_id", "event_count").rows() == [("SP-1", 1), ("SP-BIG", 1)]


def test_approved_events_that_alone_fit_no_credit_wait_out_of_the_cycle():
    plan = plan_cycle(
        candidates((1, "SP-BIG", HUGE, True), (2, "SP-BIG", HUGE, True), (3, "SP-1", "1", False)),
        HoldLimits(),
        cycle_number=2,
    )
    assert plan.holds.is_empty()
    assert plan.credits.get_column("sp_id").to_list() == ["SP-1"]
    assert plan.carried.rows() == [("SP-BIG", 12_000_000_000_000_000, 2)]
