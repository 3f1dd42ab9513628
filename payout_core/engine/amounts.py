"""Amounts as MIS cells write them (SPEC §3.1), read exactly into integer minor units.

An amount is ASCII digits with at most one '.' and at most 2 decimals, surrounding spaces
ignored (the reader trims cells); no sign, exponent, currency sign, non-ASCII digits or
thousands separators, unless the bank's profile declares a separator. All vectorised.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from payout_core.engine.products import MINOR_UNITS_PER_UNIT

AMOUNT_MAX_INTEGER_DIGITS = 10  # keeps amount × percentage inside Int64 (see products.py)

# SPEC §3.1: ASCII digits, at most one '.', at most 2 decimals. ([0-9], not \d: \d is any
# script's digits.) With a declared thousands separator, the digits before the '.' may be
# grouped by threes, or the Indian way (1,00,000); the separators are then dropped.
_PLAIN_AMOUNT = r"^(?:[0-9]+(?:\.[0-9]{0,2})?|\.[0-9]{1,2})$"
_DIGITS_LIMIT = rf"^[0-9]{{0,{AMOUNT_MAX_INTEGER_DIGITS}}}(?:\.[0-9]{{0,2}})?$"
# Both at once, for the usual case of no separator (one regex per row on the hot path).
_PLAIN_AMOUNT_WITHIN_LIMIT = (
    rf"^(?:[0-9]{{1,{AMOUNT_MAX_INTEGER_DIGITS}}}(?:\.[0-9]{{0,2}})?|\.[0-9]{{1,2}})$"
)


def _grouped_amount(separator: str) -> str:
    s = _regex_escape(separator)
    groups = rf"(?:[0-9]{{1,3}}(?:{s}[0-9]{{3}})+|[0-9]{{1,2}}(?:{s}[0-9]{{2}})*{s}[0-9]{{3}})"
    return rf"^{groups}(?:\.[0-9]{{0,2}})?$"


def _regex_escape(text: str) -> str:
    return "".join(f"\\x{{{ord(character):x}}}" for character in text)


def _amount_grammar(amount_text: pl.Expr, separator: str | None) -> pl.Expr:
    """True when the text is an amount of SPEC §3.1 (before the size limit)."""
    plain = amount_text.str.contains(_PLAIN_AMOUNT)
    if separator is None:
        return plain
    return plain | amount_text.str.contains(_grouped_amount(separator))


def _without_separator(amount_text: pl.Expr, separator: str | None) -> pl.Expr:
    if separator is None:
        return amount_text
    return amount_text.str.replace_all(separator, "", literal=True)


def amount_problem(
    amount_text: pl.Expr, shown: pl.Expr, amount_column: str, separator: str | None
) -> pl.Expr:
    """Why an amount cannot be used, or null when it can (`shown`: the text as quoted)."""
    digits = _without_separator(amount_text, separator)

    def problem(words: str) -> pl.Expr:
        return pl.format(f"{amount_column} '{{}}' {words}", shown)

    return (
        pl.when(amount_text.is_null())
        .then(pl.lit(f"{amount_column} is blank"))
        .when(amount_text.str.contains(r"^[+-]"))
        .then(problem("has a sign; an amount is digits only (never negative)"))
        .when(amount_text.str.contains(r"[^\x00-\x7f]"))
        .then(problem("has characters that are not ASCII (digits must be 0-9)"))
        .when(amount_text.str.contains(r"^[0-9.]*[eE]"))
        .then(problem("is in exponent form; write the amount in full"))
        .when(amount_text.str.contains(r"[0-9],[0-9]") & pl.lit(separator is None))
        .then(
            problem(
                "has a thousands separator, which this bank's profile does not declare "
                "(config/banks.toml thousands_separator)"
            )
        )
        .when(amount_text.str.contains(r"\.[0-9]{3,}$"))
        .then(problem("has more than 2 decimal places"))
        .when(~_amount_grammar(amount_text, separator))
        .then(
            problem(
                "is not an amount (ASCII digits, at most one '.' and 2 decimals"
                + (f", digits grouped by {separator!r}" if separator else "")
                + ")"
            )
        )
        .when(~digits.str.contains(_DIGITS_LIMIT))
        .then(problem("is too large"))
    )


def amount_minor(amount_text: pl.Expr, separator: str | None = None) -> pl.Expr:
    """Exact decimal text -> integer minor units, with no float on the way."""
    digits = _without_separator(amount_text, separator)
    parts = digits.str.split_exact(".", 1)
    units = parts.struct.field("field_0").replace("", "0").cast(pl.Int64, strict=False)
    fraction = parts.struct.field("field_1").fill_null("").str.pad_end(2, "0")
    minor = units * MINOR_UNITS_PER_UNIT + fraction.cast(pl.Int64, strict=False)
    if separator is None:
        usable = amount_text.str.contains(_PLAIN_AMOUNT_WITHIN_LIMIT)
    else:
        usable = _amount_grammar(amount_text, separator) & digits.str.contains(_DIGITS_LIMIT)
    return pl.when(usable).then(minor)


def minor_text(minor: pl.Expr) -> pl.Expr:
    """Integer minor units -> `-1234.56`, exactly (no float on the way): how money is
    written to the ledger (numeric) and for people."""
    magnitude = minor.abs()
    return pl.format(
        "{}{}.{}",
        pl.when(minor < 0).then(pl.lit("-")).otherwise(pl.lit("")),
        magnitude // MINOR_UNITS_PER_UNIT,
        (magnitude % MINOR_UNITS_PER_UNIT).cast(pl.String).str.zfill(2),
    )


def minor_to_decimal(minor: int) -> Decimal:
    """Integer minor units -> an exact Decimal (`-9600` -> `-96.00`)."""
    return Decimal(int(minor)).scaleb(-2)
