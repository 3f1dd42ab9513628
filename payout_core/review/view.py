"""What the review page shows, from the held and decided events: pure, no I/O.

The held list is read whole (a hold waits for a person: there are tens, not millions) and
filtered here, so the filters can offer only products and SPs that have something held
and the totals can say how much is held overall as well as in the filtered view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from payout_core.engine.holds import (
    EVENT_LIMIT_SETTING,
    NEGATIVE_ADJUSTMENT_REASON,
    limit_crossed,
)
from payout_core.report.formats import INR, Currency
from payout_core.review.forms import Message
from payout_core.review.signed_in import Reviewer

MAX_ROWS_SHOWN = 500
MAX_FILTER_CHARS = 200


class EventRow(Protocol):
    """The fields of ledger.holds.HeldEvent the page shows (kept structural so the view
    stays free of the database layer)."""

    event_id: int
    lead_id: str
    sp_id: str
    product_type: str
    kpi: str
    kind: str
    payin_amount: Decimal
    payout_amount: Decimal
    reason: str
    hold_reason: str
    status: str
    requested_by: str | None
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    mis_file: str | None


@dataclass(frozen=True)
class Filters:
    product_type: str | None = None
    sp_id: str | None = None

    @classmethod
    def from_params(cls, params: dict[str, str]) -> Filters:
        def one(name: str) -> str | None:
            value = (params.get(name) or "").strip()
            return value[:MAX_FILTER_CHARS] or None

        return cls(product_type=one("product"), sp_id=one("sp"))

    @property
    def active(self) -> bool:
        return bool(self.product_type or self.sp_id)

    def keeps(self, event: EventRow) -> bool:
        return (self.product_type in (None, event.product_type)) and (
            self.sp_id in (None, event.sp_id)
        )

    def as_params(self) -> dict[str, str]:
        params = {"product": self.product_type, "sp": self.sp_id}
        return {name: value for name, value in params.items() if value}


@dataclass(frozen=True)
class Totals:
    event_count: int
    payin_amount: Decimal
    payout_amount: Decimal
    oldest_created_at: datetime | None

    @classmethod
    def of(cls, events: Sequence[EventRow]) -> Totals:
        return cls(
            event_count=len(events),
            payin_amount=sum((event.payin_amount for event in events), Decimal("0")),
            payout_amount=sum((event.payout_amount for event in events), Decimal("0")),
            oldest_created_at=min((event.created_at for event in events), default=None),
        )


@dataclass(frozen=True)
class ReviewView:
    reviewer: Reviewer
    now: datetime
    filters: Filters
    held_shown: list[EventRow]
    held_matching: Totals
    held_everywhere: Totals
    product_choices: list[str]
    sp_choices: list[str]
    decided: list[EventRow]
    form_token: str
    message: Message | None = None
    currency: Currency = INR
    all_selected: bool = False
    """Every row shown is ticked (the page's "Select all" link, per filter)."""

    @property
    def rows_left_out(self) -> int:
        return self.held_matching.event_count - len(self.held_shown)


def build_view(
    *,
    reviewer: Reviewer,
    now: datetime,
    filters: Filters,
    held: Sequence[EventRow],
    decided: Sequence[EventRow],
    form_token: str,
    message: Message | None = None,
    currency: Currency = INR,
    all_selected: bool = False,
) -> ReviewView:
    matching = [event for event in held if filters.keeps(event)]
    return ReviewView(
        reviewer=reviewer,
        now=now,
        filters=filters,
        held_shown=matching[:MAX_ROWS_SHOWN],
        held_matching=Totals.of(matching),
        held_everywhere=Totals.of(held),
        product_choices=sorted({event.product_type for event in held}),
        sp_choices=sorted({event.sp_id for event in held}),
        decided=sorted(decided, key=lambda event: event.decided_at or now, reverse=True)[
            :MAX_ROWS_SHOWN
        ],
        form_token=form_token,
        message=message,
        currency=currency,
        all_selected=all_selected,
    )


def why_held(event: EventRow, currency: Currency = INR) -> str:
    """Why an event waits, once: the limit's value and the amount that crossed it (the
    event's own reason, what the KPI came to, is its own column)."""
    amount = currency.amount
    crossed = limit_crossed(event.hold_reason)
    if crossed is not None and crossed.total is None:
        return (
            f"Payout {amount(event.payout_amount)} is above the per-event limit of "
            f"{amount(crossed.limit)} ({crossed.setting}) by "
            f"{amount(event.payout_amount - crossed.limit)}."
        )
    if crossed is not None and crossed.total is not None:
        return (
            f"The SP's cycle total {amount(crossed.total)} is above the SP cycle limit of "
            f"{amount(crossed.limit)} ({crossed.setting}) by "
            f"{amount(crossed.total - crossed.limit)}; this payout of "
            f"{amount(event.payout_amount)} is part of it."
        )
    if event.hold_reason == NEGATIVE_ADJUSTMENT_REASON:
        return (
            f"Money taken back from the SP ({amount(event.payout_amount)}): every "
            "clawback waits for a person."
        )
    if EVENT_LIMIT_SETTING in event.hold_reason:  # held before the limit's value was kept
        return (
            f"Payout {amount(event.payout_amount)} is above the per-event limit "
            f"({EVENT_LIMIT_SETTING}) as it was then; its value was not recorded."
        )
    return event.hold_reason


def requested_by(event: EventRow) -> str:
    """Who asked for the change that made the event: the person who ran a
    recalculation, or the MIS file that paid it."""
    if event.requested_by:
        return event.requested_by
    return f"MIS file {event.mis_file}" if event.mis_file else "an MIS file"


def age_text(since: datetime, now: datetime) -> str:
    """How long something has waited, in the largest unit that says it: `3 d 4 h`."""
    seconds = max(0, int((now - since).total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {rest // 60} min" if rest // 60 else f"{hours} h"
    return f"{rest // 60} min"
