"""Read an MIS file: a CSV on disk -> typed Polars frames, in bounded batches.

The only place that parses MIS CSV. Every cell is read as text, so junk in one row can
only make that row `invalid` (with its reason), never fail the rest of the file. What
makes the whole file unreadable (not CSV, columns missing, unknown product) raises one
MisFileError naming the file and the cause (mis_layout.py, csv_records.py). What a cell
may hold is SPEC §3.1 (dates.py, amounts.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from payout_core.engine import amounts, dates
from payout_core.engine.csv_records import (
    CELLS_COLUMN,
    ROW_NUMBER_COLUMN,
    numbered_rows,
    parse_piece,
    record_chunks,
    trimmed,
)
from payout_core.engine.errors import MisFileError
from payout_core.engine.mis_layout import (
    LAYOUT_SAMPLE_BYTES,
    QUOTED_CELL_MAX_CHARS,
    MisLayout,
    inspect_layout,
)
from payout_core.engine.products import AMOUNT, COMMON_MIS_COLUMNS, Fact

__all__ = ["LAYOUT_SAMPLE_BYTES", "MisLayout", "Span", "inspect_layout", "read_batches"]

LEAD_ID_LENGTH = 8  # SPEC §3.1: the LeadId is the last 8 characters of TrackingId
# CSV parsed at a time; with the batch size, bounds memory. Small enough that the first
# batch reaches the database about a second after the file is opened: the writer, not the
# reader, is the bottleneck, and it idles until then (with 16 MiB it idled 3.8 s of a
# million-row file, the time to read, look up and classify the first quarter million).
READ_CHUNK_BYTES = 4 * 1024**2

# The typed frame every later stage sees (column -> meaning):
#   row_number     1 for the first data row after the header
#   tracking_id, lead_id, source_type, medium_type, product_type   text, trimmed
#   event_date     Date, null when unreadable      event_date_text   as written
#   fact_...       each fact of the product (products.Fact): Int64 minor units for an
#                  amount, Date for a date; null when blank or unreadable
#   fact_..._text  as written
#   amount_minor   the product's amount (its first amount fact), as its fact column
#   amount_text    the product's amount as written (the rejected rows' CSV shows it)
#   invalid_reason text, null when the row is readable (SPEC §4 rule 1)


@dataclass(frozen=True)
class Span:
    """A run of whole records of a file, and the LeadIds they hold (unique, no nulls)."""

    start_offset: int
    """Byte offset of its first record."""
    end_offset: int
    """Byte offset just past its last record."""
    first_row_number: int
    lead_ids: pl.Series


def read_spans(
    path: Path, layout: MisLayout, span_rows: int, chunk_bytes: int | None = None
) -> Iterator[Span]:
    """The file cut into spans of whole pieces, each at least `span_rows` rows (but the
    last), with their LeadIds: a cheap pass (one column parsed) so that the leads of a
    whole span can be looked up at once, then its batches read with `read_batches`."""
    tracking_id_header = layout.headers["TrackingId"]
    chunk_bytes = chunk_bytes or READ_CHUNK_BYTES
    start_offset = None
    first_row_number = 1
    rows = 0
    lead_ids: list[pl.Series] = []
    for piece, piece_start, piece_end, header_bytes in record_chunks(path, chunk_bytes):
        if start_offset is None:
            start_offset = piece_start
        tracking_ids = parse_piece(
            piece,
            layout.mis_file,
            first_row_number + rows,
            header_bytes,
            columns=[tracking_id_header],
        )
        del piece
        rows += tracking_ids.height
        lead_ids.append(
            tracking_ids.select(_lead_id(trimmed(tracking_id_header)))
            .to_series()
            .drop_nulls()
            .unique()
        )
        if rows >= span_rows:
            yield Span(start_offset, piece_end, first_row_number, _unique(lead_ids))
            start_offset, first_row_number, rows, lead_ids = None, first_row_number + rows, 0, []
    if start_offset is not None:
        yield Span(start_offset, piece_end, first_row_number, _unique(lead_ids))


def _unique(parts: list[pl.Series]) -> pl.Series:
    return pl.concat(parts).unique().alias("lead_id")


def read_batches(
    path: Path,
    layout: MisLayout,
    batch_rows: int,
    chunk_bytes: int | None = None,
    span: Span | None = None,
) -> Iterator[pl.DataFrame]:
    """Typed frames of at most `batch_rows` rows, in file order, streamed from disk: of
    the whole file, or of one span of it (`read_spans`, same `chunk_bytes`).

    The file is parsed a piece of whole records at a time, so memory stays bounded however
    large the file is. (Polars' streaming scan was tried: it reads hundreds of MB ahead of
    a consumer that waits on the database.)
    """
    chunk_bytes = chunk_bytes or READ_CHUNK_BYTES
    rows_before = span.first_row_number - 1 if span else 0
    pieces = (
        record_chunks(path, chunk_bytes, span.start_offset, span.end_offset)
        if span
        else record_chunks(path, chunk_bytes)
    )
    for piece, _, _, header_bytes in pieces:
        # Every column is read, not only the layout's: a row longer than the header is
        # found only so (see csv_records).
        parsed = parse_piece(piece, layout.mis_file, rows_before + 1, header_bytes)
        # Only a quoted cell can hold a line break: without a quote, no row to look at.
        quoted = piece.find(b'"', header_bytes) >= 0
        del piece
        if parsed.is_empty():  # a piece of blank lines only
            continue
        # Batches of even size: a piece of 258k rows is two of 129k, not 250k and a
        # straggler of 8k (the writer then waits on the straggler's preparation).
        batch_count = -(-parsed.height // batch_rows)
        size = -(-parsed.height // batch_count)
        for offset in range(0, parsed.height, size):
            batch = parsed.slice(offset, size)
            typed = _typed_batch(batch, layout, rows_before + offset + 1, quoted)
            if not typed.is_empty():  # blank lines are no rows
                yield typed
        rows_before += parsed.height


def _typed_batch(
    parsed: pl.DataFrame, layout: MisLayout, first_row_number: int, quoted: bool
) -> pl.DataFrame:
    raw = numbered_rows(parsed, first_row_number).select(
        ROW_NUMBER_COLUMN,
        *(pl.col(header).alias(column) for column, header in layout.headers.items()),
        pl.col(CELLS_COLUMN).alias("cells_in_row"),
    )
    typed = type_rows(raw, layout, cells_may_span_lines=quoted)
    _refuse_mixed_products(typed, layout)
    return typed


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


def type_rows(
    raw: pl.DataFrame, layout: MisLayout, cells_may_span_lines: bool = True
) -> pl.DataFrame:
    """Raw text columns (standard names) -> the typed frame described at the top.
    `cells_may_span_lines=False` (no quote in the text) skips looking for line breaks."""
    handler = layout.handler
    date_column = handler.event_date_column
    read = (*COMMON_MIS_COLUMNS, date_column, *(fact.column for fact in handler.facts))
    # A fact that may be unknown yet may also be a column the file does not have.
    text = {
        column: trimmed(column) if column in raw.columns else pl.lit(None, pl.String)
        for column in read
    }
    tracking_id = text["TrackingId"]
    cells_in_row = (
        pl.col("cells_in_row") if "cells_in_row" in raw.columns else pl.lit(None, pl.Int32)
    )
    typed = raw.select(
        pl.col("row_number"),
        tracking_id.alias("tracking_id"),
        _lead_id(tracking_id).alias("lead_id"),
        text["SourceType"].alias("source_type"),
        text["MediumType"].alias("medium_type"),
        text["ProductType"].alias("product_type"),
        dates.parse_dates(text[date_column], layout.profile.date_format).alias("event_date"),
        text[date_column].alias("event_date_text"),
        *(_typed_fact(fact, text[fact.column], layout) for fact in handler.facts),
        *(text[fact.column].alias(fact.text_column) for fact in handler.facts),
        text[handler.amount_column].alias("amount_text"),
        cells_in_row.alias("cells_in_row"),
        # A line break inside a cell the row is read by: legal CSV, but no TrackingId,
        # date or amount holds one; it is a quote opened on one line and closed on another,
        # which merged rows into one.
        (
            pl.any_horizontal(
                expression.str.contains("\n", literal=True) for expression in text.values()
            ).fill_null(False)
            if cells_may_span_lines
            else pl.lit(False)
        ).alias("spans_lines"),
    )
    # A row is readable when everything it needs parsed and it is of this layout; only the
    # few that are not get their reason spelled out (formatting a sentence for every row
    # was most of this function's time).
    unreadable = typed.filter(
        pl.any_horizontal(pl.col("lead_id", "event_date").is_null())
        | pl.any_horizontal(_unreadable_fact(fact) for fact in handler.facts)
        | pl.col("cells_in_row").is_not_null()
        | pl.col("spans_lines")
        | _foreign_source_type(layout).is_not_null()
    ).select("row_number", _invalid_reason(layout).alias("invalid_reason"))
    readable = pl.col("invalid_reason").is_null()
    values = ["event_date", *(fact.frame_column for fact in handler.facts)]
    amount = handler.amount_fact
    return (
        typed.drop("cells_in_row", "spans_lines")
        .join(unreadable, on="row_number", how="left", maintain_order="left")
        # An invalid row carries no value to compute with.
        .with_columns(pl.when(readable).then(pl.col(value)).alias(value) for value in values)
        .with_columns(
            (pl.col(amount.frame_column) if amount else pl.lit(None, pl.Int64)).alias(
                "amount_minor"
            )
        )
    )


def _typed_fact(fact: Fact, text: pl.Expr, layout: MisLayout) -> pl.Expr:
    if fact.kind is AMOUNT:
        value = amounts.amount_minor(text, layout.profile.thousands_separator)
    else:
        value = dates.parse_dates(text, layout.profile.date_format)
    return value.alias(fact.frame_column)


def _unreadable_fact(fact: Fact) -> pl.Expr:
    """A required fact that is blank or unreadable; an optional one that is there but
    unreadable (a blank optional fact is one not known yet)."""
    value, written = pl.col(fact.frame_column), pl.col(fact.text_column)
    if fact.required:
        return value.is_null()
    return written.is_not_null() & value.is_null()


def _fact_problem(fact: Fact, layout: MisLayout) -> pl.Expr:
    """Why a fact of the row cannot be used, or null when it can."""
    written = pl.col(fact.text_column)
    if fact.kind is AMOUNT:
        problem = amounts.amount_problem(
            written, _quoted(written), fact.column, layout.profile.thousands_separator
        )
    else:
        problem = (
            pl.when(written.is_null())
            .then(pl.lit(f"{fact.column} is blank"))
            .otherwise(_not_a_date(fact.column, written, layout))
        )
    return pl.when(_unreadable_fact(fact)).then(problem)


def _not_a_date(column: str, written: pl.Expr, layout: MisLayout) -> pl.Expr:
    example = dates.example(layout.profile.date_format)
    return pl.format(
        f"{column} '{{}}' is not a date like '{example}' (a day of the calendar, written so)",
        _quoted(written),
    )


def _invalid_reason(layout: MisLayout) -> pl.Expr:
    """Why a row cannot be read (SPEC §3.1, §4 rule 1), the first failing check first."""
    date_column = layout.handler.event_date_column
    tracking_id, date_text = pl.col("tracking_id"), pl.col("event_date_text")
    header_width = layout.header_width or 0
    return (
        pl.when(pl.col("cells_in_row").is_not_null())
        .then(
            pl.format(
                f"the row has {{}} cells but the header has {header_width}: a comma in an "
                "unquoted cell? (an amount like 2,616 is refused unless quoted and its bank "
                "declares a thousands separator)",
                pl.col("cells_in_row"),
            )
        )
        .when(pl.col("spans_lines"))
        .then(
            pl.lit(
                "a cell of this row spans several lines: a double quote opened on one line "
                "and closed on another merged rows into one; quote each cell on its own line"
            )
        )
        .when(_foreign_source_type(layout).is_not_null())
        .then(_foreign_source_type(layout))
        .when(tracking_id.is_null())
        .then(pl.lit("TrackingId is blank"))
        .when(pl.col("lead_id").is_null())
        .then(
            pl.format(
                "TrackingId '{}' is shorter than a LeadId (8 characters)", _quoted(tracking_id)
            )
        )
        .when(date_text.is_null())
        .then(pl.lit(f"{date_column} is blank"))
        .when(pl.col("event_date").is_null())
        .then(_not_a_date(date_column, date_text, layout))
        .otherwise(pl.coalesce(_fact_problem(fact, layout) for fact in layout.handler.facts))
    )


def _foreign_source_type(layout: MisLayout) -> pl.Expr:
    """Why a row's SourceType cannot be read in this file's layout, or null: a bank with a
    profile of its own writes its dates and columns its own way, so its row in another
    bank's file (or the standard layout) would be read by the wrong profile."""
    source_type = pl.col("source_type")
    own = layout.profile.source_type
    if own is not None:
        foreign = source_type.is_not_null() & (source_type != own)
        message = f"SourceType '{{}}' in a file in {own}'s layout (config/banks.toml)"
    elif layout.foreign_source_types:
        foreign = source_type.is_in(sorted(layout.foreign_source_types))
        message = (
            "SourceType '{}' has a layout of its own (config/banks.toml), but this file is "
            "in the standard layout; send its rows in a file of its own"
        )
    else:
        return pl.lit(None, pl.String)
    return pl.when(foreign).then(pl.format(message, _quoted(source_type)))


def _lead_id(tracking_id: pl.Expr) -> pl.Expr:
    """SPEC §3.1: the last 8 characters of the (trimmed) TrackingId; null when shorter."""
    return (
        pl.when(tracking_id.str.len_chars() >= LEAD_ID_LENGTH)
        .then(tracking_id.str.slice(-LEAD_ID_LENGTH))
        .alias("lead_id")
    )


def _quoted(text: pl.Expr) -> pl.Expr:
    """A cell as a reason quotes it: cut after QUOTED_CELL_MAX_CHARS."""
    return (
        pl.when(text.str.len_chars() > QUOTED_CELL_MAX_CHARS)
        .then(text.str.slice(0, QUOTED_CELL_MAX_CHARS - 1) + "…")
        .otherwise(text)
    )
