"""The product-handler contract: everything a product declares, stated in one place.

A product is one module in `product_handlers/` that defines `HANDLER = ProductHandler(...)`,
plus rows in the payin/payout rules file. Nothing else changes to add one: the registry
below discovers the modules, the reader asks the handler which columns to read, and the
calculation asks it how KPI amounts follow from a rule.

Money inside the engine is integer minor units (1 unit = 100 minor); percentages are
integer ten-thousandths of a percent (2.5 % = 25_000), so every amount is exact.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import polars as pl

MINOR_UNITS_PER_UNIT = 100
PERCENTAGE_SCALE = 10_000  # percentages are held as integer ten-thousandths of a percent

# The columns of a matched rule as the calculation sees them (integers, see module docstring).
rule = SimpleNamespace(
    kpi1_payin_percentage=pl.col("kpi1_payin_percentage_e4"),
    kpi1_payout_percentage=pl.col("kpi1_payout_percentage_e4"),
    kpi1_payin_amount=pl.col("kpi1_payin_amount_minor"),
    kpi1_payout_amount=pl.col("kpi1_payout_amount_minor"),
    min_invested_amount_bound=pl.col("min_invested_amount_bound_minor"),
    kpi2_payin_amount=pl.col("kpi2_payin_amount_minor"),
    kpi2_payout_amount=pl.col("kpi2_payout_amount_minor"),
)

ZERO = pl.lit(0, dtype=pl.Int64)


def percentage_of(amount_minor: pl.Expr, percentage_e4: pl.Expr) -> pl.Expr:
    """amount × percentage / 100, rounded to a whole unit, halves away from zero (SPEC §4).

    Integer arithmetic only: amounts are never negative here (the reader rejects them), so
    round-half-up of a non-negative fraction n/d is (2n + d) // 2d.
    """
    denominator = 100 * PERCENTAGE_SCALE * MINOR_UNITS_PER_UNIT
    numerator = amount_minor.cast(pl.Int64) * percentage_e4.cast(pl.Int64)
    whole_units = (2 * numerator + denominator) // (2 * denominator)
    return whole_units * MINOR_UNITS_PER_UNIT


@dataclass(frozen=True)
class KpiAmounts:
    """Polars expressions, in minor units, over one MIS row joined with its rule."""

    kpi1_payin: pl.Expr
    kpi1_payout: pl.Expr
    kpi2_payin: pl.Expr
    kpi2_payout: pl.Expr


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
    amount_column: str
    """MIS column holding the amount the KPIs are computed from."""
    kpi_amounts: Callable[[pl.Expr], KpiAmounts]
    """Given the row's amount in minor units, the four KPI amounts (see `rule`)."""
    informational_columns: tuple[str, ...] = ()
    """Other columns the layout carries; read if present, never required."""

    @property
    def required_columns(self) -> tuple[str, ...]:
        return (*COMMON_MIS_COLUMNS, self.event_date_column, self.amount_column)


COMMON_MIS_COLUMNS = ("SourceType", "MediumType", "ProductType", "TrackingId")

_registered: dict[str, ProductHandler] = {}
_discovered = False


def register(handler: ProductHandler) -> ProductHandler:
    """Add a product. Shipped products call this through discovery; tests may call it."""
    existing = _registered.get(handler.product_type)
    if existing is not None and existing != handler:
        raise ValueError(f"product {handler.product_type!r} is registered twice")
    _registered[handler.product_type] = handler
    return handler


def unregister(product_type: str) -> None:
    _registered.pop(product_type, None)


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    import product_handlers

    for module_info in pkgutil.iter_modules(product_handlers.__path__):
        module = importlib.import_module(f"product_handlers.{module_info.name}")
        handler = getattr(module, "HANDLER", None)
        if isinstance(handler, ProductHandler):
            register(handler)
    _discovered = True


def all_handlers() -> dict[str, ProductHandler]:
    """Every known product, by ProductType."""
    _discover()
    return dict(_registered)


def handler_for(product_type: str) -> ProductHandler | None:
    return all_handlers().get(product_type)
