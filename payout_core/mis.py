"""Read an MIS file: a CSV on disk -> typed Polars frames, in bounded batches.

The only place that parses MIS CSV. Every cell is read as text, so junk in one row can
only make that row `invalid` (with its reason), never fail the rest of the file. What
makes the whole file unreadable (not CSV, columns missing, unknown product) raises one
MisFileError naming the file and the cause.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from payout_core.banks import BankProfile, BankProfiles
from payout_core.errors import MisFileError
from payout_core.products import (
    COMMON_MIS_COLUMNS,
    MINOR_UNITS_PER_UNIT,
    ProductHandler,
    all_handlers,
)

LEAD_ID_LENGTH = 8  # SPEC §3.1: the LeadId is the last 8 characters of TrackingId
LAYOUT_SAMPLE_ROWS = 1_000  # rows read to tell the bank and product of a file
AMOUNT_MAX_INTEGER_DIGITS = 10  # keeps amount × percentage inside Int64 (see products.py)

# The typed frame every later stage sees (column -> meaning):
#   row_number     1 for the first data row after the header
#   tracking_id, lead_id, source_type, medium_type, product_type   text, trimmed
#   event_date     Date, null when unreadable      event_date_text   as written
#   amount_minor   Int64 minor units, null when unreadable   amount_text   as written
#   invalid_reason text, null when the row is readable (SPEC §4 rule 1)


@dataclass(frozen=True)
class MisLayout:
    """What a file is: which product, which bank's naming, which headers to read."""

    mis_file: str
    handler: ProductHandler
    profile: BankProfile
    headers: dict[str, str]
    """Standard column name -> the header this file uses for it."""


def _normalise_header(names: list[str]) -> list[str]:
    return [name.strip() for name in names]


def _read_text(path: Path, mis_file: str, n_rows: int | None) -> pl.DataFrame:
    try:
        return pl.read_csv(
            path,
            n_rows=n_rows,
            infer_schema=False,
            truncate_ragged_lines=True,
            with_column_names=_normalise_header,
        )
    except pl.exceptions.NoDataError as error:
        raise MisFileError(mis_file, "the file is empty") from error
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise MisFileError(mis_file, f"not a readable UTF-8 CSV file ({reason})") from error


def _choose_profile(sample: pl.DataFrame, profiles: BankProfiles) -> BankProfile:
    """The bank is told by the SourceType its rows carry, under whichever header it uses."""
    for header in sorted(profiles.source_type_headers() & set(sample.columns)):
        for source_type in sample[header].drop_nulls().str.strip_chars().unique().sort():
            profile = profiles.by_source_type.get(source_type)
            if profile is not None and profile.header_for("SourceType") == header:
                return profile
    return profiles.standard


def inspect_layout(path: Path, mis_file: str, profiles: BankProfiles) -> MisLayout:
    sample = _read_text(path, mis_file, LAYOUT_SAMPLE_ROWS)
    profile = _choose_profile(sample, profiles)
    product_header = profile.header_for("ProductType")
    if product_header not in sample.columns:
        raise MisFileError(mis_file, _missing_columns_message([product_header], sample.columns))
    products = sample[product_header].drop_nulls().str.strip_chars()
    products = products.filter(products != "")
    if products.is_empty():
        raise MisFileError(mis_file, "no row says which product it is (ProductType is blank)")
    product_type = products[0]
    handler = all_handlers().get(product_type)
    if handler is None:
        known = ", ".join(sorted(all_handlers()))
        raise MisFileError(mis_file, f"unknown product {product_type!r} (known: {known})")
    headers = {column: profile.header_for(column) for column in handler.required_columns}
    missing = [header for header in headers.values() if header not in sample.columns]
    if missing:
        raise MisFileError(mis_file, _missing_columns_message(missing, sample.columns))
    return MisLayout(mis_file, handler, profile, headers)


def _missing_columns_message(missing: list[str], present: list[str]) -> str:
    return (
        f"required column(s) missing: {', '.join(missing)}; "
        f"the header has: {', '.join(present) or 'nothing'}"
    )


def read_batches(path: Path, layout: MisLayout, batch_rows: int) -> Iterator[pl.DataFrame]:
    """Typed frames of at most `batch_rows` rows, in file order, streamed from disk."""
    source = pl.scan_csv(
        path,
        infer_schema=False,
        truncate_ragged_lines=True,
        with_column_names=_normalise_header,
        row_index_name="row_number",
        row_index_offset=1,
    ).select(
        pl.col("row_number").cast(pl.Int64),
        *(pl.col(header).alias(column) for column, header in layout.headers.items()),
    )
    try:
        for raw in source.collect_batches(chunk_size=batch_rows):
            typed = type_rows(raw, layout)
            _refuse_mixed_products(typed, layout)
            yield typed
    except pl.exceptions.PolarsError as error:
        reason = str(error).splitlines()[0]
        raise MisFileError(layout.mis_file, f"not a readable CSV file ({reason})") from error


def _refuse_mixed_products(typed: pl.DataFrame, layout: MisLayout) -> None:
    """One file, one product: a row of another product would be paid by the wrong rules."""
    product_type = layout.handler.product_type
    others = typed.filter(
        pl.col("product_type").is_not_null() & (pl.col("product_type") != product_type)
    )
    if not others.is_empty():
        first = others.row(0, named=True)
        raise MisFileError(
            layout.mis_file,
            f"row {first['row_number']} is ProductType {first['product_type']!r} but the file "
            f"is {product_type!r}; one product per file ({others.height} such row(s) here)",
        )


def type_rows(raw: pl.DataFrame, layout: MisLayout) -> pl.DataFrame:
    """Raw text columns (standard names) -> the typed frame described at the top."""
    handler = layout.handler
    date_column, amount_column = handler.event_date_column, handler.amount_column
    read_columns = (*COMMON_MIS_COLUMNS, date_column, amount_column)
    text = {column: _trimmed(column) for column in read_columns}
    tracking_id = text["TrackingId"]
    date_text = text[date_column]
    event_date = date_text.str.strptime(pl.Date, layout.profile.date_format, strict=False)
    amount_text = text[amount_column]
    date_example = dt.date(2023, 10, 2).strftime(layout.profile.date_format)
    invalid_reason = (
        pl.when(tracking_id.is_null())
        .then(pl.lit("TrackingId is blank"))
        .when(tracking_id.str.len_chars() < LEAD_ID_LENGTH)
        .then(pl.format("TrackingId '{}' is shorter than a LeadId (8 characters)", tracking_id))
        .when(date_text.is_null())
        .then(pl.lit(f"{date_column} is blank"))
        .when(event_date.is_null())
        .then(pl.format(f"{date_column} '{{}}' is not a date like '{date_example}'", date_text))
        .otherwise(_amount_problem(amount_text, amount_column))
    )
    return raw.select(
        pl.col("row_number"),
        tracking_id.alias("tracking_id"),
        pl.when(tracking_id.str.len_chars() >= LEAD_ID_LENGTH)
        .then(tracking_id.str.slice(-LEAD_ID_LENGTH))
        .alias("lead_id"),
        text["SourceType"].alias("source_type"),
        text["MediumType"].alias("medium_type"),
        text["ProductType"].alias("product_type"),
        event_date.alias("event_date"),
        date_text.alias("event_date_text"),
        _amount_minor(amount_text).alias("amount_minor"),
        amount_text.alias("amount_text"),
        invalid_reason.alias("invalid_reason"),
    )


def _trimmed(column: str) -> pl.Expr:
    trimmed = pl.col(column).str.strip_chars()
    return pl.when(trimmed != "").then(trimmed)


_NUMBER_PATTERN = r"^-?\d+(\.\d+)?$"
_AMOUNT_PATTERN = rf"^\d{{1,{AMOUNT_MAX_INTEGER_DIGITS}}}(\.\d{{1,2}})?$"


def _amount_problem(amount_text: pl.Expr, amount_column: str) -> pl.Expr:
    """Why an amount cannot be used, or null when it can."""
    return (
        pl.when(amount_text.is_null())
        .then(pl.lit(f"{amount_column} is blank"))
        .when(~amount_text.str.contains(_NUMBER_PATTERN))
        .then(pl.format(f"{amount_column} '{{}}' is not a number", amount_text))
        .when(amount_text.str.starts_with("-"))
        .then(pl.format(f"{amount_column} '{{}}' is negative", amount_text))
        .when(amount_text.str.contains(r"\.\d{3,}$"))
        .then(pl.format(f"{amount_column} '{{}}' has more than 2 decimal places", amount_text))
        .when(~amount_text.str.contains(_AMOUNT_PATTERN))
        .then(pl.format(f"{amount_column} '{{}}' is too large", amount_text))
    )


def _amount_minor(amount_text: pl.Expr) -> pl.Expr:
    """Exact decimal text -> integer minor units, with no float on the way."""
    parts = amount_text.str.split_exact(".", 1)
    units = parts.struct.field("field_0").cast(pl.Int64, strict=False)
    fraction = parts.struct.field("field_1").fill_null("").str.pad_end(2, "0")
    minor = units * MINOR_UNITS_PER_UNIT + fraction.cast(pl.Int64, strict=False)
    return pl.when(amount_text.str.contains(_AMOUNT_PATTERN)).then(minor)
