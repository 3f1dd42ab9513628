"""The product-handler contract: everything a product declares, stated in one place.

A product is one module in `product_handlers/` that defines `HANDLER = ProductHandler(...)`,
plus rows in the payin/payout rules file. Nothing else changes: the package registers its
modules here when it is imported (the engine itself never imports it), the reader asks the
handler which columns to read, the rules loader which parameters a rule must carry, and
the calculation which KPIs a product pays and whether each is a milestone or correctable.

Money inside the engine is integer minor units (1 unit = 100 minor); percentages are
integer ten-thousandths of a percent (2.5 % = 25_000), so every amount is exact.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

MINOR_UNITS_PER_UNIT = 100
PERCENTAGE_SCALE = 10_000  # percentages are held as integer ten-thousandths of a percent

ZERO = pl.lit(0, dtype=pl.Int64)


class ParameterKind(enum.Enum):
    """What a rule parameter holds, and so how it is read, checked and scaled."""

    PERCENTAGE = "percentage"
    """0 to 100, at most 4 decimals; held as integer ten-thousandths of a percent."""
    MONEY = "money amount"
    """Not negative, at most 2 decimals; held as integer minor units."""

    @property
    def scale(self) -> int:
        return PERCENTAGE_SCALE if self is ParameterKind.PERCENTAGE else MINOR_UNITS_PER_UNIT

    @property
    def suffix(self) -> str:
        return "_e4" if self is ParameterKind.PERCENTAGE else "_minor"


PERCENTAGE = ParameterKind.PERCENTAGE
MONEY = ParameterKind.MONEY


@dataclass(frozen=True)
class RuleParameter:
    """A value a product's rules must carry: a column of the rules file (`header`) and of
    the rules table (its snake_case `name`). A rule of the product that leaves it blank is
    refused; a rule of another product may leave it blank (0, not used)."""

    header: str
    """Column of payin_payout_rules.csv, e.g. "KPI1PayinPercentage"."""
    kind: ParameterKind

    @property
    def name(self) -> str:
        """Column of the rules table: "KPI1PayinPercentage" -> "kpi1_payin_percentage"."""
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", self.header).lower()

    @property
    def frame_column(self) -> str:
        """Column of the calculation's rules frame, in integer units."""
        return self.name + self.kind.suffix

    @property
    def value(self) -> pl.Expr:
        """The matched rule's value, in integer units (see the module docstring)."""
        return pl.col(self.frame_column)


def percentage_of(amount_minor: pl.Expr, percentage_e4: pl.Expr) -> pl.Expr:
    """amount × percentage / 100, rounded to a whole unit, halves away from zero (SPEC §4).

    Integer arithmetic only: amounts are never negative here (the reader rejects them), so
    round-half-up of a non-negative fraction n/d is (2n + d) // 2d.
    """
    denominator = 100 * PERCENTAGE_SCALE * MINOR_UNITS_PER_UNIT
    numerator = amount_minor.cast(pl.Int64) * percentage_e4.cast(pl.Int64)
    whole_units = (2 * numerator + denominator) // (2 * denominator)
    return whole_units * MINOR_UNITS_PER_UNIT


class FactKind(enum.Enum):
    """What an MIS column a product reads beside the event date holds."""

    AMOUNT = "amount"
    """SPEC §3.1's amount: typed as integer minor units."""
    DATE = "date"
    """A day, in the bank's date format: typed as a Date."""


AMOUNT = FactKind.AMOUNT
DATE = FactKind.DATE


@dataclass(frozen=True)
class Fact:
    """An MIS column a product's KPIs read (beside the event date, its DateOfSale)."""

    column: str
    """The standard MIS column name, e.g. "InvestedAmount" (SPEC §3.1)."""
    kind: FactKind
    required: bool = True
    """False: a blank cell is a fact not known yet (a card not activated), not an invalid
    row; a cell that is there must still be a valid value."""

    @property
    def frame_column(self) -> str:
        """Its column in the typed MIS frame: "FirstSpendAmount" -> "fact_first_spend_amount"."""
        return "fact_" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", self.column).lower()

    @property
    def text_column(self) -> str:
        """The cell as written."""
        return self.frame_column + "_text"


class Facts:
    """A row's facts as Polars expressions, by MIS column: what a KPI is computed from."""

    @staticmethod
    def amount(column: str) -> pl.Expr:
        """The amount in integer minor units (null when blank)."""
        return pl.col(Fact(column, AMOUNT).frame_column)

    @staticmethod
    def given(column: str) -> pl.Expr:
        """Whether the row states it (a date or an amount that is not blank)."""
        return pl.col(Fact(column, DATE).frame_column).is_not_null()


FACTS = Facts()


def _always(facts: Facts) -> pl.Expr:
    return pl.lit(True)


KPI_NAME = re.compile(r"KPI[1-9][0-9]*")


@dataclass(frozen=True)
class Kpi:
    """One KPI of a product, earned on its own (SPEC §4.1). Amounts are Polars expressions
    over the row's facts (`Facts`) and the matched rule's parameters (`.value`)."""

    name: str
    """"KPI1", "KPI2", "KPI3", ...: SPEC §5's final table has columns for KPI1 and KPI2;
    every KPI is in its totals and in the per-KPI sums (payout_calculation_kpis)."""
    earned_when: str
    """In words, for reasons people read: "the account is opened"."""
    correctable: bool
    """True: recomputed from a corrected MIS amount, the difference paid or taken back
    (Personal Loan KPI1). False: a milestone, earned once and never taken back by a later
    lower amount (both Savings KPIs); a rules correction still changes what it is worth."""
    payin: Callable[[Facts], pl.Expr]
    payout: Callable[[Facts], pl.Expr]
    qualifies: Callable[[Facts], pl.Expr] = _always
    """Whether a row with these facts earns the KPI (default: every sale does)."""


@dataclass(frozen=True)
class ProductHandler:
    """What a product declares. MIS column names are the standard ones (SPEC §3.1); a bank
    with other names or date formats maps them in config/banks.toml, not here."""

    product_type: str
    """ProductType as it appears in MIS files, rules and leads, e.g. "Savings Account"."""
    success_sub_status: str
    """Lead SubStatus once paid, e.g. "Account Opened"."""
    event_date_column: str
    """MIS column holding the day the sale happened (DateOfSale)."""
    facts: tuple[Fact, ...]
    """The other MIS columns the KPIs read. The first amount among them is the row's
    amount people see (in reasons, the rejected rows' CSV)."""
    rule_parameters: tuple[RuleParameter, ...]
    """What each of the product's rules must carry (and the KPIs read)."""
    kpis: tuple[Kpi, ...]
    """The KPIs the product pays."""
    informational_columns: tuple[str, ...] = ()
    """Other columns the layout carries; read if present, never required."""

    def __post_init__(self) -> None:
        names = [kpi.name for kpi in self.kpis]
        if not names or len(set(names)) != len(names) or not all(map(KPI_NAME.fullmatch, names)):
            raise ValueError(
                f"{self.product_type}: KPIs must be distinct names KPI1, KPI2, ..., got {names}"
            )
        if not self.facts:
            raise ValueError(f"{self.product_type}: a product reads at least one fact")

    @property
    def amount_fact(self) -> Fact | None:
        """The row's amount people see: the first amount among the facts."""
        return next((fact for fact in self.facts if fact.kind is AMOUNT), None)

    @property
    def amount_column(self) -> str:
        """Its MIS column name (the first fact's, when the product reads no amount)."""
        return (self.amount_fact or self.facts[0]).column

    @property
    def required_columns(self) -> tuple[str, ...]:
        required = (fact.column for fact in self.facts if fact.required)
        return (*COMMON_MIS_COLUMNS, self.event_date_column, *required)

    @property
    def optional_columns(self) -> tuple[str, ...]:
        """Columns read when the file has them: facts that may be unknown yet, and the
        informational ones."""
        facts = (fact.column for fact in self.facts if not fact.required)
        return (*facts, *self.informational_columns)

    def kpi(self, name: str) -> Kpi | None:
        return next((kpi for kpi in self.kpis if kpi.name == name), None)


COMMON_MIS_COLUMNS = ("SourceType", "MediumType", "ProductType", "TrackingId")

_registered: dict[str, ProductHandler] = {}


def register(handler: ProductHandler) -> ProductHandler:
    """Add a product. The shipped ones register themselves when the product_handlers
    package is imported (the flows import it); tests may register one of their own."""
    existing = _registered.get(handler.product_type)
    if existing is not None and existing != handler:
        raise ValueError(f"product {handler.product_type!r} is registered twice")
    for parameter in handler.rule_parameters:
        for other in _registered.values():
            clash = next((p for p in other.rule_parameters if p.header == parameter.header), None)
            if clash is not None and clash != parameter:
                raise ValueError(
                    f"rule parameter {parameter.header} is a {parameter.kind.value} for "
                    f"{handler.product_type} but a {clash.kind.value} for {other.product_type}"
                )
    _registered[handler.product_type] = handler
    return handler


def unregister(product_type: str) -> None:
    _registered.pop(product_type, None)


def all_handlers() -> dict[str, ProductHandler]:
    """Every known product, by ProductType."""
    if not _registered:
        raise RuntimeError("no product is registered: import product_handlers first")
    return dict(_registered)


def handler_for(product_type: str) -> ProductHandler | None:
    return all_handlers().get(product_type)


def all_rule_parameters() -> tuple[RuleParameter, ...]:
    """Every parameter some product declares, once each, in the products' order: the
    numeric columns of the rules file and the rules table."""
    found: dict[str, RuleParameter] = {}
    for handler in all_handlers().values():
        for parameter in handler.rule_parameters:
            found.setdefault(parameter.header, parameter)
    return tuple(found.values())
