"""A lead's facts (SPEC §4.1: its latest valid MIS row), beside its DateOfSale: the MIS
columns its product's KPIs read (engine/products.Fact), as the typed frame carries them
(`fact_invested_amount`, ...), in words for people, and as the ledger keeps them
(payout_calculations.basis_facts: {"InvestedAmount": "2616.00"}), so a recalculation can
weigh a lead again under corrected rules. Pure Polars.
"""

from __future__ import annotations

import polars as pl

from payout_core.engine.amounts import amount_minor, minor_text
from payout_core.engine.products import AMOUNT, Fact, ProductHandler

ISO_DATE = "%Y-%m-%d"
SHOWN_DATE = "%d %m %Y"


def _as_text(fact: Fact) -> pl.Expr:
    value = pl.col(fact.frame_column)
    return minor_text(value) if fact.kind is AMOUNT else value.dt.strftime(ISO_DATE)


def as_json(handler: ProductHandler) -> pl.Expr:
    """The row's facts as the ledger keeps them: one JSON object, keys in the product's
    order, null for a fact not known. Canonical: equal facts give equal text. Values are
    digits, dots and dashes (validated amounts and dates): nothing to escape."""
    members = [
        pl.when(pl.col(fact.frame_column).is_null())
        .then(pl.lit(f'"{fact.column}":null'))
        .otherwise(pl.format(f'"{fact.column}":"{{}}"', _as_text(fact)))
        for fact in handler.facts
    ]
    return pl.format("{{{}}}", pl.concat_str(members, separator=",")).alias("basis_facts")


def from_ledger(handler: ProductHandler) -> list[pl.Expr]:
    """The typed fact columns of a lead paid here, from `basis_facts` (JSON text) or, for
    a lead paid before the ledger kept them, `basis_amount_minor` as the product's amount."""
    stored = pl.col("basis_facts").str.json_decode(
        pl.Struct({fact.column: pl.String for fact in handler.facts})
    )
    columns = []
    for fact in handler.facts:
        text = stored.struct.field(fact.column)
        if fact.kind is AMOUNT:
            value = amount_minor(text)
            if fact == handler.amount_fact:
                value = pl.when(pl.col("basis_facts").is_null()).then(
                    pl.col("basis_amount_minor")
                ).otherwise(value)
        else:
            value = text.str.to_date(ISO_DATE, strict=False)
        columns.append(value.alias(fact.frame_column))
    return columns


def in_words(handler: ProductHandler) -> pl.Expr:
    """The facts the row states, for people: "DisbursedAmount 40000.00", or
    "ActivationDate 09 10 2023, FirstSpendAmount 5000.00" (blank: "no ...")."""
    parts = []
    for fact in handler.facts:
        value = pl.col(fact.frame_column)
        shown = minor_text(value) if fact.kind is AMOUNT else value.dt.strftime(SHOWN_DATE)
        parts.append(
            pl.when(value.is_null())
            .then(pl.lit(f"no {fact.column}"))
            .otherwise(pl.format(f"{fact.column} {{}}", shown))
        )
    return pl.concat_str(parts, separator=", ")
