"""What an SP's period incentives are worth, and the true-up a cycle close appends (SPEC §11).
Pure: the ledger measures the SP's paid leads (ledger/incentives.py); this decides.

- An incentive's worth for an SP and period is what its rule gives on the measure (the
  count of the SP's paid leads, or the sum of their amounts) once it reaches the
  Threshold: a bonus, or a rate of the whole measure; rounded to a whole unit, halves away
  from zero.
- A *slot* is what one SP is paid once per period: an exclusivity group (only the incentive
  paying most counts) or an incentive in none. Its events share one ledger key, so moving
  from one slab to the next pays the difference, never both slabs.
- At a close the slot's worth now is weighed against the worth the ledger last recorded
  for it. Unchanged: nothing (a second close, or a close after a person waived an event,
  appends nothing). Changed: the event is the worth now less what stands for the SP (the
  released events and those still awaiting a decision), so an increase after a waived
  clawback pays only what exceeds what the SP already holds (SPEC §8).
- After PAYOUT_INCENTIVE_GRACE_DAYS past its end, a period is final: never evaluated again.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from payout_core.engine.explanations import number_text
from payout_core.engine.holds import HoldLimits, hold_reason_expression
from payout_core.engine.incentive_rules import BONUS, PAID_LEADS, IncentiveRule
from payout_core.engine.products import MINOR_UNITS_PER_UNIT

INCENTIVE_KPI = "INCENTIVE"
"""The `kpi` of every incentive event: with its ledger key in `lead_id`, one history per
SP, slot and period, numbered by kpi_sequence like a lead's KPI."""
INCENTIVE_KIND = "incentive"
MEASURE_WORDS = {
    PAID_LEADS: "paid leads",
    "disbursed_amount": "disbursals",
    "invested_amount": "investments",
}
ZERO = Decimal(0)


@dataclass(frozen=True)
class Measured:
    """One SP's paid leads counted for one incentive rule."""

    lead_count: int
    amount: Decimal

    def of(self, rule: IncentiveRule) -> Decimal:
        return Decimal(self.lead_count) if rule.measure == PAID_LEADS else self.amount


NOTHING_MEASURED = Measured(0, ZERO)


@dataclass(frozen=True)
class SlotBalance:
    """What the ledger holds for one ledger key (SP, slot, period)."""

    standing_amount: Decimal
    """Released events plus those awaiting a decision."""
    released_amount: Decimal
    last_worth_amount: Decimal
    last_sequence: int
    last_incentive_id: str | None


NO_BALANCE = SlotBalance(ZERO, ZERO, ZERO, 0, None)


@dataclass(frozen=True)
class Standing:
    """One SP's slot for one period, as it stands now."""

    key: str
    sp_id: str
    rules: tuple[tuple[int, IncentiveRule], ...]
    """The slot's rules (id, rule), with the winner first when one qualifies."""
    winner: tuple[int, IncentiveRule] | None
    measured: Mapping[int, Measured]
    worth: Decimal
    balance: SlotBalance

    @property
    def shown(self) -> tuple[int, IncentiveRule]:
        """The rule an event of the slot names: the winner, else the one paid last."""
        if self.winner is not None:
            return self.winner
        for rule_id, rule in self.rules:
            if rule.incentive_id == self.balance.last_incentive_id:
                return rule_id, rule
        return self.rules[0]


@dataclass(frozen=True)
class IncentiveEvent:
    """A true-up to append as an `incentive` event."""

    key: str
    sp_id: str
    incentive_rule_id: int
    rule: IncentiveRule
    sequence: int
    payout_amount: Decimal
    worth_amount: Decimal
    measure_amount: Decimal
    reason: str
    hold_reason: str | None


def whole_units(amount: Decimal) -> Decimal:
    """A whole currency unit, halves away from zero (SPEC §4.3, §11)."""
    return amount.quantize(Decimal(1), rounding=ROUND_HALF_UP)


def rule_worth(rule: IncentiveRule, measured: Measured) -> Decimal:
    """What the rule pays on this measure: 0 below the Threshold or with no paid lead."""
    value = measured.of(rule)
    if measured.lead_count == 0 or value < rule.threshold:
        return ZERO
    if rule.kind == BONUS:
        return whole_units(rule.payout_amount or ZERO)
    return whole_units(value * (rule.payout_rate or ZERO) / 100)


def is_final(rule: IncentiveRule, today: dt.date, grace_days: int) -> bool:
    """Past its grace period (SPEC §11): the worth is final, no close evaluates it again."""
    return today > rule.period_end and (today - rule.period_end).days >= grace_days


def ledger_key(sp_id: str, rule: IncentiveRule) -> str:
    """The `lead_id` of the slot's events: one per SP, slot and period."""
    return f"INC:{sp_id}:{rule.slot}:{rule.period_start:%Y-%m-%d}:{rule.period_end:%Y-%m-%d}"


def standings(
    sp_ids: Iterable[str],
    rules: Mapping[int, IncentiveRule],
    measured: Mapping[tuple[str, int], Measured],
    balances: Mapping[str, SlotBalance],
) -> list[Standing]:
    """Every slot of these SPs under these rules, with its worth now (best of the slot)."""
    slots: dict[tuple[str, str], list[tuple[int, IncentiveRule]]] = {}
    for sp_id in sorted(set(sp_ids)):
        for rule_id, rule in sorted(rules.items()):
            slots.setdefault((sp_id, ledger_key(sp_id, rule)), []).append((rule_id, rule))
    result = []
    for (sp_id, key), slot_rules in slots.items():
        measures = {
            rule_id: measured.get((sp_id, rule_id), NOTHING_MEASURED) for rule_id, _ in slot_rules
        }
        worths = [
            (rule_worth(rule, measures[rule_id]), -rule_id, rule_id, rule)
            for rule_id, rule in slot_rules
        ]
        best = max(worths, key=lambda item: (item[0], item[1]))
        winner = (best[2], best[3]) if best[0] > 0 else None
        ordered = tuple(sorted(slot_rules, key=lambda item: item != winner))
        result.append(
            Standing(
                key=key,
                sp_id=sp_id,
                rules=ordered,
                winner=winner,
                measured=measures,
                worth=best[0] if winner else ZERO,
                balance=balances.get(key, NO_BALANCE),
            )
        )
    return result


def true_ups(standings_now: Iterable[Standing], limits: HoldLimits) -> list[IncentiveEvent]:
    """The events a close appends: one per slot whose worth changed since the ledger last
    recorded it and differs from what stands for the SP; held by the one hold rule."""
    events = []
    for standing in standings_now:
        balance = standing.balance
        if standing.worth == balance.last_worth_amount:
            continue
        difference = standing.worth - balance.standing_amount
        if difference == 0:
            continue
        rule_id, rule = standing.shown
        measure_amount = standing.measured[rule_id].of(rule)
        events.append(
            IncentiveEvent(
                key=standing.key,
                sp_id=standing.sp_id,
                incentive_rule_id=rule_id,
                rule=rule,
                sequence=balance.last_sequence + 1,
                payout_amount=difference,
                worth_amount=standing.worth,
                measure_amount=measure_amount,
                reason=event_words(rule, measure_amount, standing.worth, balance.standing_amount),
                hold_reason=None,
            )
        )
    return _with_holds(events, limits)


def _with_holds(events: list[IncentiveEvent], limits: HoldLimits) -> list[IncentiveEvent]:
    """The one hold rule (engine/holds.py) on these events, as on every other event."""
    if not events:
        return events
    reasons = (
        pl.DataFrame(
            {
                "kind": [INCENTIVE_KIND] * len(events),
                "payout_amount_minor": [
                    int(event.payout_amount * MINOR_UNITS_PER_UNIT) for event in events
                ],
            },
            schema={"kind": pl.String, "payout_amount_minor": pl.Int64},
        )
        .select(hold_reason_expression(limits))
        .get_column("hold_reason")
        .to_list()
    )
    return [
        replace(event, hold_reason=reason) for event, reason in zip(events, reasons, strict=True)
    ]


def period_words(start: dt.date, end: dt.date) -> str:
    """ "October 2023" for a calendar month, else "1 Oct 2023 – 14 Oct 2023"."""
    month_end = calendar.monthrange(start.year, start.month)[1]
    if start.day == 1 and end == start.replace(day=month_end):
        return f"{start:%B %Y}"
    return f"{start.day} {start:%b %Y} – {end.day} {end:%b %Y}"


def signed(amount: Decimal) -> str:
    """+1,520 / −1,070."""
    return ("+" if amount >= 0 else "−") + number_text(abs(amount))


def worth_words(rule: IncentiveRule, measure_amount: Decimal, worth: Decimal) -> str:
    """ "October 2023 disbursals 203,850 ≥ 200,000: 1 % = 2,039"."""
    head = f"{period_words(rule.period_start, rule.period_end)} {MEASURE_WORDS[rule.measure]}"
    measure = number_text(measure_amount)
    if worth == 0:
        return f"{head} {measure} < {number_text(rule.threshold)}: nothing"
    if rule.kind == BONUS:
        return f"{head} {measure} ≥ {number_text(rule.threshold)}: bonus {number_text(worth)}"
    rate = number_text(rule.payout_rate or ZERO)
    return f"{head} {measure} ≥ {number_text(rule.threshold)}: {rate} % = {number_text(worth)}"


def event_words(
    rule: IncentiveRule, measure_amount: Decimal, worth: Decimal, paid_before: Decimal
) -> str:
    """The event's line in words (statements, the review page, the email):
    "PL-SLAB-2: October 2023 disbursals 203,850 ≥ 200,000: 1 % = 2,039; paid before 519;
    +1,520"."""
    return (
        f"{rule.incentive_id}: {worth_words(rule, measure_amount, worth)}; "
        f"paid before {number_text(paid_before)}; {signed(worth - paid_before)}"
    )
