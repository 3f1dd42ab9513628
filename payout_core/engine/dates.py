"""Dates as banks and business users write them: the one date parser of the engine.

MIS event dates (per bank profile) and the rules' KPI windows are read by the same code, so
the two can never disagree on what a date is. A date must have the written shape of its
format (SPEC §3.1: `D MM YYYY`, a four-digit year unless a bank's profile says otherwise)
and exist on the calendar; anything else is no date. Only the strftime directives below are
allowed in a format: each one has a fixed written shape, checked before parsing (chrono
alone reads `2 10 23` as the year 23, and `\\d` would let Devanagari digits through).
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

STANDARD_DATE_FORMAT = "%d %m %Y"  # SPEC §3.1: `2 10 2023`, day of 1 or 2 digits
ISO_DATE_FORMAT = "%Y-%m-%d"
# ISO 8601 as databases and banks' systems write it: a date, then optionally a time (T or
# space), a fraction and an offset (Z, ±HH, ±HHMM, ±HH:MM).
ISO_TIMESTAMP = (
    r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ](?P<time>[0-9]{2}:[0-9]{2}(?::[0-9]{2})?)(?P<fraction>\.[0-9]{1,9})?"
    r" ?(?P<offset>Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$"
)

# Directive -> the text it may match (ASCII digits only).
_DIRECTIVE_SHAPES = {
    "d": "[0-9]{1,2}",
    "m": "[0-9]{1,2}",
    "Y": "[0-9]{4}",
    "y": "[0-9]{2}",
    "b": "[A-Za-z]{3}",
    "B": "[A-Za-z]{3,9}",
    "H": "[0-9]{1,2}",
    "M": "[0-9]{2}",
    "S": "[0-9]{2}",
    "%": "%",
}
_DAY, _MONTH, _YEAR = {"d"}, {"m", "b", "B"}, {"Y", "y"}
_EXAMPLE_DAY = dt.date(2023, 10, 2)


def date_format_problem(date_format: object) -> str | None:
    """Why `date_format` cannot be a date format (None when it can)."""
    if not isinstance(date_format, str) or not date_format.strip():
        return "date_format must be a strftime pattern such as '%d %m %Y'"
    directives = re.findall(r"%(.?)", date_format)
    unknown = sorted({d for d in directives if d not in _DIRECTIVE_SHAPES})
    if unknown:
        known = " ".join(f"%{d}" for d in _DIRECTIVE_SHAPES if d != "%")
        return (
            f"date_format {date_format!r} uses {', '.join('%' + d for d in unknown)}; "
            f"allowed: {known}"
        )
    present = set(directives)
    for part, wanted in (("day", _DAY), ("month", _MONTH), ("year", _YEAR)):
        if not present & wanted:
            return f"date_format {date_format!r} has no {part}"
    return None


def date_shape(date_format: str) -> str:
    """The anchored regex of the text `date_format` writes (formats checked beforehand)."""
    pattern, position = [], 0
    for match in re.finditer(r"%(.)", date_format):
        pattern.append(re.escape(date_format[position : match.start()]))
        pattern.append(_DIRECTIVE_SHAPES[match.group(1)])
        position = match.end()
    pattern.append(re.escape(date_format[position:]))
    return "^" + "".join(pattern) + "$"


def parse_dates(text: pl.Expr, date_format: str) -> pl.Expr:
    """Trimmed date text -> Date; null when it is not of the format's shape or no day of
    the calendar (`31 02 2023`)."""
    return (
        pl.when(text.str.contains(date_shape(date_format)))
        .then(text.str.strptime(pl.Date, date_format, strict=False))
        .otherwise(None)
    )


def parse_iso_dates(text: pl.Expr) -> pl.Expr:
    """Trimmed ISO 8601 date or timestamp text -> the calendar day it states, as written
    (`2023-10-05T01:00:00+05:30` is 5 October: the day in the writer's own offset)."""
    return parse_dates(text.str.extract(ISO_TIMESTAMP, 1), ISO_DATE_FORMAT)


def parse_date(text: str, date_format: str = STANDARD_DATE_FORMAT) -> dt.date | None:
    """One date, read exactly as `parse_dates` reads a column of them."""
    column = pl.Series("text", [text.strip()], dtype=pl.String)
    return column.to_frame().select(parse_dates(pl.col("text"), date_format)).item()


def example(date_format: str) -> str:
    """How 2 October 2023 is written in `date_format`, for messages (the standard one as
    SPEC §3.1 writes it: `2 10 2023`)."""
    if date_format == STANDARD_DATE_FORMAT:
        return "2 10 2023"
    return _EXAMPLE_DAY.strftime(date_format)
