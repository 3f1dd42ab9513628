"""An event's amount in words (SPEC §10): the arithmetic a person can redo by hand.

Pure: given the rule's parameters (snake_case names, exact numbers, as the rules table
keeps them) and the lead's facts (MIS column -> text), it says how the payout came to be,
with the same rounding as engine/products.percentage_of (a whole unit, halves away
from zero)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


def number_text(value: Decimal) -> str:
    """43850.00 -> "43,850"; 1096.25 -> "1,096.25"; 2.5000 -> "2.5"."""
    text = f"{value:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def worth_words(
    kpi: str,
    parameters: dict[str, object],
    facts: dict[str, object],
    amount_column: str | None,
    side: str = "payout",
) -> tuple[Decimal, str] | None:
    """What the KPI's payin or payout (`side`) is worth under these facts and this rule,
    and the sum that makes it: (1096, "2.5 % × 43,850 = 1,096.25 → 1,096, halves away from
    zero"). None when the rule has neither a percentage nor an amount for this KPI."""
    prefix = kpi.lower()
    percentage = _decimal(parameters.get(f"{prefix}_{side}_percentage"))
    amount = _decimal(facts.get(amount_column)) if amount_column else None
    if percentage is not None and percentage != 0 and amount is not None:
        exact = amount * percentage / 100
        rounded = exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return rounded, (
            f"{number_text(percentage)} % × {number_text(amount)} = {number_text(exact)}"
            f" → {number_text(rounded)}, halves away from zero"
        )
    flat = _decimal(parameters.get(f"{prefix}_{side}_amount"))
    if flat is not None:
        return flat, f"a flat {number_text(flat)} under this rule"
    return None


def event_arithmetic(
    *,
    kind: str,
    payout_amount: Decimal,
    payout_worth_amount: Decimal | None,
    worth: tuple[Decimal, str] | None,
) -> str:
    """The event's payout in words. An earned event is the KPI's worth; an adjustment is
    the worth now less what was paid before. `worth` is the worth under the lead's latest
    facts (a corrected amount changes them: then only the worth recorded is quoted)."""
    if kind == "earned":
        if worth is not None and worth[0] == payout_amount:
            return worth[1]
        corrected = "(its facts were corrected since)"
        return f"{number_text(payout_amount)}, the KPI's worth when earned {corrected}"
    if payout_worth_amount is None:
        return f"an adjustment of {number_text(payout_amount)}"
    before = payout_worth_amount - payout_amount
    head = f"worth now {number_text(payout_worth_amount)} − paid before {number_text(before)}"
    words = f"{head} = {number_text(payout_amount)}"
    if worth is not None and worth[0] == payout_worth_amount:
        words += f" (worth now: {worth[1]})"
    return words
