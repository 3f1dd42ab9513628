"""Which payout events wait for a person instead of being released (SPEC §8), and how a
payout cycle nets what is released into one wallet credit per SP. Pure: no I/O.

Three rules hold an event:
- its payout is above `PAYOUT_HOLD_EVENT_ABOVE` (known when the event is written);
- it is a negative adjustment, money taken back from an SP (known when it is written);
- its SP's cycle total would be above `PAYOUT_HOLD_SP_CYCLE_ABOVE` (known only when the
  cycle closes, from every event of the SP that would be released in it).

And one guard: an SP's credit larger than the ledger can write (numeric(16, 2)) holds
that SP's events with the reason, so one SP never stops the cycle of every other.

The first two are one rule, `hold_reason_expression`, defined here and nowhere else: the
engine applies it where it builds each event (engine/kpis.py), which is written `held`
with the reason decided then; the cycle close applies the same rule again to whatever was
released (a safety net for a limit set since, `plan_cycle`) and adds the third. An event a
person approved is never held again: its decision is final.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from payout_core.engine.amount_limits import LEDGER_AMOUNT_MAX, LEDGER_AMOUNT_MAX_MINOR
from payout_core.engine.amounts import minor_to_decimal
from payout_core.engine.products import MINOR_UNITS_PER_UNIT

NEGATIVE_ADJUSTMENT_REASON = "negative adjustment: money taken back from the SP"
INCENTIVE_CLAWBACK_REASON = "negative incentive: money taken back from the SP (volume fell)"
EVENT_LIMIT_SETTING = "PAYOUT_HOLD_EVENT_ABOVE"
SP_CYCLE_LIMIT_SETTING = "PAYOUT_HOLD_SP_CYCLE_ABOVE"


@dataclass(frozen=True)
class HoldLimits:
    """The two limits of SPEC §8; None means no limit. Exact amounts (whole cents)."""

    event_payout_above: Decimal | None = None
    sp_cycle_payout_above: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("event_payout_above", "sp_cycle_payout_above"):
            limit = getattr(self, name)
            if limit is not None and (
                not limit.is_finite() or limit < 0 or limit != limit.quantize(Decimal("0.01"))
            ):
                raise ValueError(f"{name} must be a non-negative amount in cents, not {limit}")


def event_limit_reason(limit: Decimal) -> str:
    return f"payout above the per-event limit of {limit:.2f} ({EVENT_LIMIT_SETTING})"


def sp_cycle_limit_reason(total: Decimal, limit: Decimal) -> str:
    return (
        f"the SP's cycle total of {total:.2f} is above the limit of {limit:.2f} "
        f"({SP_CYCLE_LIMIT_SETTING})"
    )


@dataclass(frozen=True)
class LimitCrossed:
    """What a hold reason written by this module says about the limit an event crossed:
    which limit (its setting), its value and, for the SP cycle limit, the total that
    crossed it (for the per-event limit it is the event's own payout)."""

    setting: str
    limit: Decimal
    total: Decimal | None = None


_EVENT_LIMIT_WORDS = re.compile(
    r"payout above the per-event limit of (\d+\.\d{2}) \(" + EVENT_LIMIT_SETTING + r"\)"
)
_SP_CYCLE_LIMIT_WORDS = re.compile(
    r"the SP's cycle total of (-?\d+\.\d{2}) is above the limit of (\d+\.\d{2}) \("
    + SP_CYCLE_LIMIT_SETTING
    + r"\)"
)


def limit_crossed(hold_reason: str | None) -> LimitCrossed | None:
    """The limit in a reason made by `event_limit_reason` or `sp_cycle_limit_reason`
    (the reverse of those two, kept beside them); None for any other reason."""
    text = (hold_reason or "").strip()
    if match := _EVENT_LIMIT_WORDS.fullmatch(text):
        return LimitCrossed(EVENT_LIMIT_SETTING, Decimal(match[1]))
    if match := _SP_CYCLE_LIMIT_WORDS.fullmatch(text):
        return LimitCrossed(SP_CYCLE_LIMIT_SETTING, Decimal(match[2]), Decimal(match[1]))
    return None


def credit_too_large_reason(total: Decimal) -> str:
    return (
        f"the SP's cycle credit of {total:,.2f} is more than a wallet credit can hold "
        f"({LEDGER_AMOUNT_MAX:,}): held for a person to check"
    )


def _to_minor(amount: Decimal) -> int:
    return int(amount * MINOR_UNITS_PER_UNIT)


def hold_reason_expression(
    limits: HoldLimits,
    *,
    payout_amount_minor: str = "payout_amount_minor",
    kind: str = "kind",
) -> pl.Expr:
    """Why each event of a frame (payout in integer minor units, kind 'earned',
    'adjustment' or 'incentive') must wait for a person: a String expression, null where the
    event is released, named `hold_reason`. A negative adjustment, and a negative period
    incentive (SPEC §11: volume fell), is held whatever the limits."""
    payout = pl.col(payout_amount_minor)
    reason = (
        pl.when((pl.col(kind) == "adjustment") & (payout < 0))
        .then(pl.lit(NEGATIVE_ADJUSTMENT_REASON))
        .when((pl.col(kind) == "incentive") & (payout < 0))
        .then(pl.lit(INCENTIVE_CLAWBACK_REASON))
    )
    if limits.event_payout_above is not None:
        reason = reason.when(payout > _to_minor(limits.event_payout_above)).then(
            pl.lit(event_limit_reason(limits.event_payout_above))
        )
    return reason.otherwise(pl.lit(None, dtype=pl.String)).alias("hold_reason")


# --- closing a cycle ------------------------------------------------------------------------

CARRIED_SCHEMA = {"sp_id": pl.String, "amount_minor": pl.Int64, "event_count": pl.Int64}
CANDIDATES_SCHEMA = {
    "event_id": pl.Int64,
    "sp_id": pl.String,
    "kind": pl.String,
    "payout_amount_minor": pl.Int64,
    "approved": pl.Boolean,
    "lead_id": pl.String,
    "kpi": pl.String,
}


def held_together_reason(event_id: pl.Expr) -> pl.Expr:
    return pl.format(
        "waits with event {} of its KPI, held at this close: decided together", event_id
    )


@dataclass(frozen=True)
class CreditBridge:
    """The cycle's credits by where their money came from, payout by payout (SPEC §8;
    read by ledger/iteration_money.credit_sources, shown by report/cycle.bridge_table):
    released from the iteration's files − carried to a later cycle + approved holds of
    earlier iterations + recalculations + earlier events carried in + failed credits sent
    again = the credits total."""

    files_released: Decimal
    files_carried: Decimal
    approved_earlier: Decimal
    recalculations: Decimal
    carried_in: Decimal
    sent_again: Decimal

    @property
    def total(self) -> Decimal:
        return (
            self.files_released
            - self.files_carried
            + self.approved_earlier
            + self.recalculations
            + self.carried_in
            + self.sent_again
        )


@dataclass(frozen=True)
class CyclePlan:
    """What closing one cycle does with its candidate events.

    - `holds` (event_id, hold_reason): events held now; they stay out of the cycle.
    - `credits` (credit_id, sp_id, amount_minor, event_count): one per SP whose net is > 0.
    - `cycle_events` (event_id, credit_id): the events that join the cycle, each under its
      SP's credit; a credit is exactly the sum of its events.
    - `carried` (sp_id, amount_minor, event_count): SPs whose net is ≤ 0. Their events stay
      out of the cycle and are netted again at the SP's next cycle, so "the amount carries"
      without a carry row: every event in a cycle is in exactly one sent credit. (Also an
      SP whose approved events alone come to more than a credit can hold: approved events
      are never held again, so they wait out of the cycle.)
    """

    holds: pl.DataFrame
    credits: pl.DataFrame
    cycle_events: pl.DataFrame
    carried: pl.DataFrame

    @property
    def is_empty(self) -> bool:
        """Nothing to send and nothing newly held (carried SPs alone change nothing)."""
        return self.holds.is_empty() and self.credits.is_empty()


def credit_id(cycle_number: int, sequence: int) -> str:
    """Stable, readable, sortable: 'CR-000012-0003' is cycle 12's third credit."""
    return f"CR-{cycle_number:06d}-{sequence:04d}"


def plan_cycle(candidates: pl.DataFrame, limits: HoldLimits, cycle_number: int) -> CyclePlan:
    """Decide holds, credits and carries for the events that may join cycle `cycle_number`.

    `candidates` (CANDIDATES_SCHEMA): every event released (at creation, or approved by a
    person) and in no cycle yet. Approved events are never held again, but they count in
    their SP's cycle total.
    """
    candidates = candidates.select(
        pl.col(name).cast(dtype) for name, dtype in CANDIDATES_SCHEMA.items()
    )
    creation_rule = hold_reason_expression(limits)
    marked = candidates.with_columns(
        pl.when(pl.col("approved"))
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(creation_rule)
        .alias("hold_reason")
    )
    # A lead's KPI is decided as one (SPEC §8): when the close holds one of its events (a
    # limit set after they were written), the others it would pay wait with it. Else an
    # adjustment is paid while the earned event it corrects waits, and a rejection of that
    # leaves the SP paid for a KPI worth nothing.
    held_keys = (
        marked.filter(pl.col("hold_reason").is_not_null())
        .group_by("lead_id", "kpi")
        .agg(pl.col("event_id").min().alias("held_with"))
    )
    marked = (
        marked.join(held_keys, on=["lead_id", "kpi"], how="left")
        .with_columns(
            pl.when(
                pl.col("hold_reason").is_null()
                & ~pl.col("approved")
                & pl.col("held_with").is_not_null()
            )
            .then(held_together_reason(pl.col("held_with")))
            .otherwise(pl.col("hold_reason"))
            .alias("hold_reason")
        )
        .drop("held_with")
    )
    held_now = [marked.filter(pl.col("hold_reason").is_not_null())]
    remaining = marked.filter(pl.col("hold_reason").is_null())

    if limits.sp_cycle_payout_above is not None:
        limit = limits.sp_cycle_payout_above
        over = _sp_totals(remaining).filter(pl.col("sp_total_minor") > _to_minor(limit))
        # One reason per SP over the limit (few), joined onto its events (maybe many).
        over = over.with_columns(
            pl.col("sp_total_minor")
            .map_elements(
                lambda total: sp_cycle_limit_reason(minor_to_decimal(total), limit),
                return_dtype=pl.String,
            )
            .alias("sp_limit_reason")
        )
        with_total = remaining.join(over, on="sp_id", how="left")
        is_over = pl.col("sp_total_minor").is_not_null() & ~pl.col("approved")
        held_now.append(
            with_total.filter(is_over)
            .with_columns(pl.col("sp_limit_reason").alias("hold_reason"))
            .select(marked.columns)
        )
        remaining = with_total.filter(~is_over).select(marked.columns)

    remaining, too_large_held, too_large_waiting = _hold_credits_too_large(remaining)
    held_now.append(too_large_held.select(marked.columns))
    per_sp = (
        remaining.group_by("sp_id")
        .agg(
            pl.col("payout_amount_minor").sum().alias("amount_minor"),
            pl.len().cast(pl.Int64).alias("event_count"),
        )
        .sort("sp_id")
    )
    credits = per_sp.filter(pl.col("amount_minor") > 0).with_columns(
        (
            pl.lit(f"CR-{cycle_number:06d}-")
            + pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(4)
        ).alias("credit_id")
    )
    cycle_events = (
        remaining.join(credits.select("sp_id", "credit_id"), on="sp_id", how="inner")
        .select("event_id", "credit_id")
        .sort("event_id")
    )
    return CyclePlan(
        holds=pl.concat(held_now).select("event_id", "hold_reason").sort("event_id"),
        credits=credits.select("credit_id", "sp_id", "amount_minor", "event_count"),
        cycle_events=cycle_events,
        carried=pl.concat([per_sp.filter(pl.col("amount_minor") <= 0), too_large_waiting]),
    )


def _sp_totals(events: pl.DataFrame) -> pl.DataFrame:
    """(sp_id, sp_total_minor) of the events, summed in Int128: an Int64 sum wraps around
    silently, and a wrapped total would look small."""
    return events.group_by("sp_id").agg(
        pl.col("payout_amount_minor").cast(pl.Int128).sum().alias("sp_total_minor")
    )


def _hold_credits_too_large(
    remaining: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Split off the SPs whose credit the ledger could not write: (the events left for
    credits, those held now with the reason, the carried rows of approved events that
    wait out of the cycle)."""
    too_large = _sp_totals(remaining).filter(pl.col("sp_total_minor") > LEDGER_AMOUNT_MAX_MINOR)
    if too_large.is_empty():  # the usual case: no join over every candidate
        no_carry = pl.DataFrame(schema=CARRIED_SCHEMA)
        return (
            remaining,
            remaining.clear().with_columns(hold_reason=pl.lit(None, pl.String)),
            no_carry,
        )
    reasons = too_large.with_columns(
        pl.col("sp_total_minor")
        .map_elements(
            lambda total: credit_too_large_reason(minor_to_decimal(total)), return_dtype=pl.String
        )
        .alias("too_large_reason")
    )
    with_reason = remaining.join(reasons, on="sp_id", how="left")
    is_too_large = pl.col("too_large_reason").is_not_null()
    held = with_reason.filter(is_too_large & ~pl.col("approved")).with_columns(
        pl.col("too_large_reason").alias("hold_reason")
    )
    rest = with_reason.filter(~is_too_large | pl.col("approved")).select(remaining.columns)
    # Approved events are never held again: they join a credit if they fit alone, else
    # they wait out of the cycle.
    still_too_large = _sp_totals(rest).filter(pl.col("sp_total_minor") > LEDGER_AMOUNT_MAX_MINOR)
    waiting = rest.filter(pl.col("sp_id").is_in(still_too_large["sp_id"].implode()))
    carried = waiting.group_by("sp_id").agg(
        pl.col("payout_amount_minor").sum().alias("amount_minor"),
        pl.len().cast(pl.Int64).alias("event_count"),
    )
    return rest.join(waiting, on="event_id", how="anti"), held, carried
