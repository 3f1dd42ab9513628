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
from typing import BinaryIO

import polars as pl

from payout_core.engine.banks import BankProfile, BankProfiles
from payout_core.engine.products import (
    COMMON_MIS_COLUMNS,
    MINOR_UNITS_PER_UNIT,
    ProductHandler,
    all_handlers,
    handler_for,
)
from payout_core.errors import MisFileError

LEAD_ID_LENGTH = 8  # SPEC §3.1: the LeadId is the last 8 characters of TrackingId
LAYOUT_SAMPLE_ROWS = 1_000  # rows read to tell the bank and product of a file
LAYOUT_SAMPLE_BYTES = 1024**2
AMOUNT_MAX_INTEGER_DIGITS = 10  # keeps amount × percentage inside Int64 (see products.py)
READ_CHUNK_BYTES = 16 * 1024**2  # CSV parsed at a time; with the batch size, bounds memory

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


def _read_text(
    source: Path | bytes, mis_file: str, n_rows: int | None = None, columns: list[str] | None = None
) -> pl.DataFrame:
    try:
        return pl.read_csv(
            source,
            n_rows=n_rows,
            columns=columns,
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
    # The first MiB of records is plenty for the sample; Polars given the whole file of a
    # 650 MB MIS would parse far more than the rows asked for.
    first_records = next(_record_chunks(path, LAYOUT_SAMPLE_BYTES), None)
    sample = _read_text(first_records[0] if first_records else path, mis_file, LAYOUT_SAMPLE_ROWS)
    profile = _choose_profile(sample, profiles)
    product_header = profile.header_for("ProductType")
    if product_header not in sample.columns:
        raise MisFileError(mis_file, _missing_columns_message([product_header], sample.columns))
    products = sample[product_header].drop_nulls().str.strip_chars()
    products = products.filter(products != "")
    if products.is_empty():
        raise MisFileError(mis_file, "no row says which product it is (ProductType is blank)")
    product_type = products[0]
    handler = handler_for(product_type)
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
    for piece, piece_start, piece_end in _record_chunks(path, chunk_bytes):
        if start_offset is None:
            start_offset = piece_start
        tracking_ids = _read_text(piece, layout.mis_file, columns=[tracking_id_header])
        del piece
        rows += tracking_ids.height
        lead_ids.append(
            tracking_ids.select(_lead_id(_trimmed(tracking_id_header)))
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
    columns = list(dict.fromkeys(layout.headers.values()))
    chunk_bytes = chunk_bytes or READ_CHUNK_BYTES
    rows_before = span.first_row_number - 1 if span else 0
    pieces = (
        _record_chunks(path, chunk_bytes, span.start_offset, span.end_offset)
        if span
        else _record_chunks(path, chunk_bytes)
    )
    for piece, _, _ in pieces:
        parsed = _read_text(piece, layout.mis_file, columns=columns)
        del piece
        if parsed.is_empty():  # a piece of blank lines only
            continue
        # Batches of even size: a piece of 258k rows is two of 129k, not 250k and a
        # straggler of 8k (the writer then waits on the straggler's preparation).
        batch_count = -(-parsed.height // batch_rows)
        size = -(-parsed.height // batch_count)
        for offset in range(0, parsed.height, size):
            yield _typed_batch(parsed.slice(offset, size), layout, rows_before + offset + 1)
        rows_before += parsed.height


def _typed_batch(parsed: pl.DataFrame, layout: MisLayout, first_row_number: int) -> pl.DataFrame:
    raw = parsed.select(
        (pl.int_range(pl.len(), dtype=pl.Int64) + first_row_number).alias("row_number"),
        *(pl.col(header).alias(column) for column, header in layout.headers.items()),
    )
    typed = type_rows(raw, layout)
    _refuse_mixed_products(typed, layout)
    return typed


def _header(stream: BinaryIO, chunk_bytes: int) -> bytes:
    """The header record (its line break included), read from the start of `stream`."""
    buffer = bytearray()
    while more := stream.read(chunk_bytes):
        buffer += more
        header_end = _end_of_records(buffer, first_only=True)
        if header_end:
            return bytes(buffer[:header_end])
    return bytes(buffer)  # a header and nothing else, without a final newline


def _record_chunks(
    path: Path, chunk_bytes: int, start_offset: int | None = None, end_offset: int | None = None
) -> Iterator[tuple[bytes, int, int]]:
    """The file (or its records from `start_offset` to `end_offset`) as pieces of about
    `chunk_bytes`: (the header line plus whole records, first byte offset, end offset).

    A record ends at a newline outside double quotes (a quoted field may hold newlines,
    RFC 4180), so no record is cut in two; a record longer than a chunk makes its piece
    longer instead. (A stray quote inside an unquoted field only delays the cut, unless a
    multi-line quoted field follows it: then the piece fails to parse and the file is
    refused, never misread.) Pieces depend only on where reading starts, so the pieces of
    a span are the pieces the whole file had there.
    """
    with path.open("rb") as stream:
        header = _header(stream, chunk_bytes)
        position = len(header) if start_offset is None else start_offset
        stream.seek(position)
        pending = bytearray()
        while True:
            to_read = (
                chunk_bytes
                if end_offset is None
                else min(chunk_bytes, end_offset - position - len(pending))
            )
            more = stream.read(to_read) if to_read > 0 else b""
            if not more:
                break
            pending += more
            del more
            cut = _end_of_records(pending)
            if cut:
                piece = b"".join((header, memoryview(pending)[:cut]))  # the one copy
                pending = pending[cut:]
                yield piece, position, position + cut
                position += cut
                del piece
    if pending:  # the last record, without a final newline
        yield header + pending, position, position + len(pending)


def _end_of_records(data: bytes | bytearray, first_only: bool = False) -> int:
    """Offset just past the last (or the first) newline outside quotes; 0 if none."""
    if first_only:
        newline = data.find(b"\n")
        while newline >= 0 and data.count(b'"', 0, newline) % 2:
            newline = data.find(b"\n", newline + 1)
        return newline + 1
    newline = data.rfind(b"\n")
    quotes_before = data.count(b'"', 0, newline) if newline >= 0 else 0
    while newline >= 0 and quotes_before % 2:
        previous = data.rfind(b"\n", 0, newline)
        quotes_before -= data.count(b'"', previous + 1, newline)
        newline = previous
    return newline + 1


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
    text = {
        column: _trimmed(column) for column in (*COMMON_MIS_COLUMNS, date_column, amount_column)
    }
    tracking_id = text["TrackingId"]
    typed = raw.select(
        pl.col("row_number"),
        tracking_id.alias("tracking_id"),
        _lead_id(tracking_id).alias("lead_id"),
        text["SourceType"].alias("source_type"),
        text["MediumType"].alias("medium_type"),
        text["ProductType"].alias("product_type"),
        text[date_column]
        .str.strptime(pl.Date, layout.profile.date_format, strict=False)
        .alias("event_date"),
        text[date_column].alias("event_date_text"),
        _amount_minor(text[amount_column]).alias("amount_minor"),
        text[amount_column].alias("amount_text"),
    )
    # A row is readable when all three parsed; only the few that are not get their reason
    # spelled out (formatting a sentence for every row was most of this function's time).
    unreadable = typed.filter(
        pl.any_horizontal(pl.col("lead_id", "event_date", "amount_minor").is_null())
    ).select("row_number", _invalid_reason(layout).alias("invalid_reason"))
    return typed.join(unreadable, on="row_number", how="left", maintain_order="left")


def _invalid_reason(layout: MisLayout) -> pl.Expr:
    """Why a row cannot be read (SPEC §4 rule 1), the first failing check first."""
    date_column = layout.handler.event_date_column
    date_example = dt.date(2023, 10, 2).strftime(layout.profile.date_format)
    tracking_id, date_text = pl.col("tracking_id"), pl.col("event_date_text")
    return (
        pl.when(tracking_id.is_null())
        .then(pl.lit("TrackingId is blank"))
        .when(pl.col("lead_id").is_null())
        .then(pl.format("TrackingId '{}' is shorter than a LeadId (8 characters)", tracking_id))
        .when(date_text.is_null())
        .then(pl.lit(f"{date_column} is blank"))
        .when(pl.col("event_date").is_null())
        .then(pl.format(f"{date_column} '{{}}' is not a date like '{date_example}'", date_text))
        .otherwise(_amount_problem(pl.col("amount_text"), layout.handler.amount_column))
    )


def _lead_id(tracking_id: pl.Expr) -> pl.Expr:
    """SPEC §3.1: the last 8 characters of the (trimmed) TrackingId; null when shorter."""
    return (
        pl.when(tracking_id.str.len_chars() >= LEAD_ID_LENGTH)
        .then(tracking_id.str.slice(-LEAD_ID_LENGTH))
        .alias("lead_id")
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
