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


def csv_cell(value: object, neutralised: bool = True) -> str:
    """Numbers and dates plain (machine-readable), text neutralised unless `neutralised` is
    False (a file machines read: its text is refused at the door instead, see leads.py)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return neutralise_formula(str(value)) if neutralised else str(value)


def base64_size_bytes(raw_size_bytes: int) -> int:
    """How many bytes `raw_size_bytes` take once base64-encoded, as email attachments are."""
    return 4 * ((raw_size_bytes + 2) // 3)


def csv_bytes(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    max_encoded_bytes: int,
    *,
    neutralised: bool = True,
) -> tuple[bytes, int]:
    """UTF-8 CSV (with BOM, so Excel reads non-ASCII names right) of as many whole rows as
    fit in `max_encoded_bytes` once base64-encoded; returns the bytes and the rows written.
    `rows` is consumed only as far as needed. The header always goes in. `neutralised`:
    see `csv_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def csv_row(values: Sequence[object]) -> str:
        """One row as CSV text (one writer for the whole file; a row is measured before
        it is kept, so each goes through the buffer on its own)."""
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    parts = [("\ufeff" + csv_row(headers)).encode("utf-8")]
    size_bytes = len(parts[0])
    rows_written = 0
    for row in rows:
        encoded_row = csv_row([csv_cell(value, neutralised) for value in row]).encode("utf-8")
        if base64_size_bytes(size_bytes + len(encoded_row)) > max_encoded_bytes:
            break
        parts.append(encoded_row)
        size_bytes += len(encoded_row)
        rows_written += 1
    return b"".join(parts), rows_written


def recut_csv(data: bytes, max_encoded_bytes: int) -> tuple[bytes, int]:
    """A CSV `csv_bytes` wrote, cut to as many of its whole rows as fit in
    `max_encoded_bytes`: the email's attachments made smaller without reading the ledger
    again. Its cells are written back as they are (already neutralised)."""
    if not data:
        return data, 0
    headers, *rows = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    return csv_bytes(headers, rows, max_encoded_bytes, neutralised=False)
