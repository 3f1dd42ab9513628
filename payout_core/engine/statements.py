"""A statement per SP per cycle (SPEC §10), worked out from the SP's events alone.

Pure. An event is *available* to a cycle from the moment it could be paid: when it was
written released, or when a person approved it (held events and rejected ones never are
until then). Cycle N's statement of an SP takes every event of the SP available by N's
close that no earlier cycle paid:

- brought in: those already available at the previous close (carried over then);
- lines: those that became available since;
- credit: those cycle N paid (each event is in exactly one credit);
- carried out: the rest (the SP's net was zero or less, or they wait out of the cycle).

So lines + brought in = credit + carried out, exactly, by construction from the ledger's
rows; the credit is checked against the credit row the close wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import polars as pl

ZERO = Decimal("0")


def available_at(event: dict[str, Any]) -> datetime | None:
    """When the event could first be paid; None: not (yet) payable."""
    ever_held = event["hold_reason"] is not None or event["status_at_creation"] == "held"
    if event["status_at_creation"] == "rejected":
        return None
    if ever_held:
        return event["decided_at"] if event["decision"] == "approved" else None
    return event["created_at"]


@dataclass
class Statement:
    sp_id: str
    cycle_number: int
    closed_at: datetime
    lines: list[dict[str, Any]] = field(default_factory=list)
    brought_in: list[dict[str, Any]] = field(default_factory=list)
    carried_out: list[dict[str, Any]] = field(default_factory=list)
    paid_in_cycle: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    credits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def lines_total(self) -> Decimal:
        return _total(self.lines)

    @property
    def brought_in_total(self) -> Decimal:
        return _total(self.brought_in)

    @property
    def credit_total(self) -> Decimal:
        return _total(self.paid_in_cycle)

    @property
    def carried_out_total(self) -> Decimal:
        return _total(self.carried_out)

    @property
    def held_total(self) -> Decimal:
        return _total(self.held)

    @property
    def ties_out(self) -> bool:
        return self.lines_total + self.brought_in_total == (
            self.credit_total + self.carried_out_total
        )


def _total(events: list[dict[str, Any]]) -> Decimal:
    return sum((event["payout_amount"] for event in events), ZERO)


def statement(
    sp_id: str,
    cycle_number: int,
    closed_at: datetime,
    previous_closed_at: datetime | None,
    events: list[dict[str, Any]],
    credits: list[dict[str, Any]],
) -> Statement:
    """`events`: every event of the SP (ledger/lead_story_rows.sp_event_rows); `credits`:
    the SP's credits (sp_credit_rows), of which this cycle's are shown with their fate."""
    result = Statement(sp_id=sp_id, cycle_number=cycle_number, closed_at=closed_at)
    for event in events:
        paid_in = event["cycle_number"]
        available = available_at(event)
        if paid_in is not None and paid_in < cycle_number:
            continue
        if paid_in == cycle_number or (available is not None and available <= closed_at):
            came_before = (
                previous_closed_at is not None
                and available is not None
                and available <= previous_closed_at
            )
            (result.brought_in if came_before else result.lines).append(event)
            (result.paid_in_cycle if paid_in == cycle_number else result.carried_out).append(event)
            continue
        if _held_at_close(event, closed_at):
            result.held.append(event)
        elif _rejected_by_close(event, previous_closed_at, closed_at):
            result.rejected.append(event)
    result.credits = [credit for credit in credits if credit["cycle_number"] == cycle_number]
    return result


def _held_at_close(event: dict[str, Any], closed_at: datetime) -> bool:
    held_at = event["held_at"]
    if held_at is None or held_at > closed_at:
        return False
    return event["decided_at"] is None or event["decided_at"] > closed_at


def _rejected_by_close(
    event: dict[str, Any], previous_closed_at: datetime | None, closed_at: datetime
) -> bool:
    if event["status_at_creation"] == "rejected":
        moment = event["created_at"]
    elif event["decision"] == "rejected":
        moment = event["decided_at"]
    else:
        return False
    return moment <= closed_at and (previous_closed_at is None or moment > previous_closed_at)


# --- the cycle's statements file, every SP at once -----------------------------------------

PART_BROUGHT_IN = "brought in"
PART_LINE = "line"


def statement_file_lines(
    events: pl.DataFrame,
    cycle_number: int,
    closed_at_us: int,
    previous_closed_at_us: int | None,
) -> pl.DataFrame:
    """`statement`'s brought-in events and lines for every SP of a cycle at once, as the
    statements file lists them: per SP (in id order), brought in first, then lines, each
    in event order; `part` says which, `paid_here` whether this cycle's credit paid it,
    `statement_cycle` the cycle.
    `events`: ledger/lead_story_rows.cycle_statement_events (times in epoch
    microseconds). The same rule as `statement` and `available_at`, column-wise: a cycle
    of a million-row file has a million and a half events, too many for dicts."""
    status = pl.col("status_at_creation")
    ever_held = pl.col("hold_reason").is_not_null() | (status == "held")
    available_us = (
        pl.when(status == "rejected")
        .then(None)
        .when(ever_held)
        .then(pl.when(pl.col("decision") == "approved").then(pl.col("decided_at_us")))
        .otherwise(pl.col("created_at_us"))
    )
    paid_in = pl.col("cycle_number")
    paid_here = (paid_in == cycle_number).fill_null(False)
    paid_earlier = (paid_in < cycle_number).fill_null(False)
    came_before = (
        (pl.col("available_us") <= previous_closed_at_us).fill_null(False)
        if previous_closed_at_us is not None
        else pl.lit(False)
    )
    return (
        events.with_columns(available_us=available_us)
        .filter(
            ~paid_earlier & (paid_here | (pl.col("available_us") <= closed_at_us).fill_null(False))
        )
        .with_columns(
            part=pl.when(came_before).then(pl.lit(PART_BROUGHT_IN)).otherwise(pl.lit(PART_LINE)),
            paid_here=paid_here,
            statement_cycle=pl.lit(cycle_number, dtype=pl.Int64),
        )
        .sort("sp_id", pl.col("part") != PART_BROUGHT_IN, "event_id")
    )
