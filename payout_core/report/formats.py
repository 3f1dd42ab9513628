"""How numbers, money and moments read in everything finance sees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal


def money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def count_text(count: int) -> str:
    return f"{count:,}"


def timestamp_text(moment: datetime) -> str:
    """UTC, whatever the session time zone: finance compares times across reports."""
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def plural(count: int, singular: str, plural: str) -> str:
    return f"{count:,} {singular if count == 1 else plural}"


@dataclass(frozen=True)
class Currency:
    """The currency amounts are read in (PAYOUT_CURRENCY): its code and symbol. Tables say
    it once in their headers; sentences put the symbol before each amount."""

    code: str = "INR"
    symbol: str = "₹"

    def amount(self, value: Decimal) -> str:
        """`₹1,504.00`, `-₹96.00`."""
        sign = "-" if value < 0 else ""
        return f"{sign}{self.symbol}{money(abs(value))}"

    @property
    def note(self) -> str:
        return f"Amounts are in {self.code} ({self.symbol.strip()})."


INR = Currency()
