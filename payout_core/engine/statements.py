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
