"""CSV for people: business headers, and cells a spreadsheet would run as a formula
neutralised (OWASP "CSV injection"): file names and SP ids come from outside."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

import polars as pl

# What a spreadsheet treats as the start of a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(text: str) -> str:
    """A cell a spreadsheet would evaluate (`=HYPERLINK(...)`, `+1`, `@SUM`) becomes text."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def spreadsheet_safe(column: str) -> pl.Expr:
    """`neutralise_formula` for a Polars column (the per-file CSVs are written by Polars)."""
    value = pl.col(column).cast(pl.String)
    starts_like_formula = "^[" + "".join(re.escape(trigger) for trigger in FORMULA_TRIGGERS) + "]"
    return pl.when(value.str.contains(starts_like_formula)).then("'" + value).otherwise(value)


def csv_cell(value: object) -> str:
    """Numbers and dates plain (machine-readable), text neutralised."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return neutralise_formula(str(value))


def csv_bytes(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    max_rows: int,
    max_bytes: int | None = None,
) -> tuple[bytes, int]:
    """UTF-8 CSV (with BOM, so Excel reads non-ASCII names right) of at most `max_rows`
    rows and `max_bytes` bytes (whole rows only); returns the bytes and the number of rows
    written."""
    line = io.StringIO()
    writer = csv.writer(line, lineterminator="\r\n")
    writer.writerow(headers)
    parts = [("\ufeff" + line.getvalue()).encode("utf-8")]
    size_bytes = len(parts[0])
    rows_written = 0
    for row in rows:
        if rows_written == max_rows:
            break
        line.seek(0)
        line.truncate()
        writer.writerow([csv_cell(value) for value in row])
        encoded = line.getvalue().encode("utf-8")
        if max_bytes is not None and size_bytes + len(encoded) > max_bytes:
            break
        parts.append(encoded)
        size_bytes += len(encoded)
        rows_written += 1
    return b"".join(parts), rows_written
