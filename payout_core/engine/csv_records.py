"""CSV bytes -> whole records -> text frames: what an MIS file must be to be read at all.

A file that is not UTF-8 CSV text (compressed, a spreadsheet, binary, NUL bytes, lines
ending in a bare CR, no line break) is refused as a whole with a plain reason, before a
single row is read: read as CSV it would be 0 rows, or junk rows. Within a CSV, a row with
more cells than the header is not cut to fit (an unquoted `2,616` would become 2): it is
marked with its number of cells, and the reader makes it `invalid`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import polars as pl

from payout_core.engine.errors import MisFileError

HEAD_BYTES = 1024**2  # the start of a file that is checked; also the longest header allowed
CELLS_COLUMN = "__payout_cells_in_row"
"""Added to a parsed piece: the number of cells of a row longer than the header, else null."""
ROW_NUMBER_COLUMN = "row_number"
NAME_SHOWN_MAX_CHARS = 40

# What other kinds of file start with (the first bytes are enough to tell).
_MAGIC_NUMBERS = (
    (b"\x1f\x8b", "gzip-compressed"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook or a zipped file)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel (.xls) or Office document"),
    (b"%PDF", "a PDF document"),
    (b"BZh", "bzip2-compressed"),
    (b"\xfd7zXZ\x00", "xz-compressed"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
    (b"PAR1", "a Parquet file"),
    (b"\xff\xfe", "UTF-16 text"),
    (b"\xfe\xff", "UTF-16 text"),
)
SAVE_AS_CSV = "save it as 'CSV UTF-8 (comma delimited)' and upload that"


def refuse_if_not_csv(path: Path, mis_file: str) -> None:
    """MisFileError with a plain reason when the file cannot be an MIS CSV at all."""
    with path.open("rb") as stream:
        head = stream.read(HEAD_BYTES)
    reason = not_csv_reason(head)
    if reason:
        raise MisFileError(mis_file, reason)


def not_csv_reason(head: bytes) -> str | None:
    """Why a file starting with `head` (up to HEAD_BYTES) is not UTF-8 CSV text, or None."""
    if not head.strip():
        return "the file is empty"
    for magic, kind in _MAGIC_NUMBERS:
        if head.startswith(magic):
            return f"the file is {kind}, not a CSV text file; {SAVE_AS_CSV}"
    if b"\x00" in head:
        return f"the file holds NUL bytes: it is binary data, not a CSV text file; {SAVE_AS_CSV}"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        cut_at_the_end = error.reason == "unexpected end of data" and len(head) == HEAD_BYTES
        if not cut_at_the_end:
            byte = head[error.start]
            return (
                f"the file is not UTF-8 text (byte 0x{byte:02x} at offset {error.start}); "
                f"{SAVE_AS_CSV}"
            )
    first_newline, first_cr = head.find(b"\n"), head.find(b"\r")
    if first_cr >= 0 and (first_newline < 0 or first_cr < first_newline - 1):
        return (
            "lines end with a bare carriage return (CR, the old Mac format), so the file "
            "reads as one line; save it with Windows (CRLF) or Unix (LF) line endings"
        )
    if first_newline < 0 and len(head) == HEAD_BYTES:
        return f"no line break in the first {HEAD_BYTES:,} bytes: not a CSV file with a header row"
    return None


def parse_piece(
    piece: bytes,
    mis_file: str,
    first_row_number: int,
    header_bytes: int,
    columns: list[str] | None = None,
) -> pl.DataFrame:
    """A piece of the file (the header line, then whole records) -> every cell as text.

    With `columns`, only those are read and longer rows are not looked for (a cheap pass
    for the LeadIds). Without, every column is read plus CELLS_COLUMN. Raises MisFileError
    when the piece is not CSV that can be read.
    """
    if b"\x00" in piece:
        raise MisFileError(
            mis_file,
            f"the file holds NUL bytes (near row {first_row_number}): binary data, not CSV text",
        )
    repeated = repeated_columns_problem(header_names(piece[:header_bytes]))
    if repeated:
        raise MisFileError(mis_file, repeated)
    if columns is not None:
        return _read(piece, mis_file, first_row_number, columns=columns, truncate=True)
    try:
        parsed = _read(piece, mis_file, first_row_number, truncate=False)
        return parsed.with_columns(pl.lit(None, dtype=pl.Int32).alias(CELLS_COLUMN))
    except _LongerRows:
        return _with_longer_rows(piece, mis_file, first_row_number, header_bytes)


class _LongerRows(Exception):
    """Polars met a row with more cells than the header."""


def _read(
    piece: bytes,
    mis_file: str,
    first_row_number: int,
    *,
    truncate: bool,
    columns: list[str] | None = None,
) -> pl.DataFrame:
    try:
        return pl.read_csv(
            piece,
            columns=columns,
            infer_schema=False,
            truncate_ragged_lines=truncate,
            with_column_names=_normalise_header,
        )
    except pl.exceptions.NoDataError as error:
        raise MisFileError(mis_file, "the file is empty") from error
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as error:
        message = str(error)
        if "more fields than defined" in message and not truncate:
            raise _LongerRows from error
        reason = unreadable_reason(piece, message, first_row_number)
        raise MisFileError(mis_file, reason) from error


def _normalise_header(names: list[str]) -> list[str]:
    return [name.strip() for name in names]


def header_names(header: bytes) -> list[str]:
    """The column names of a header record, as the readers match them (trimmed)."""
    text = header.decode("utf-8", errors="replace").lstrip("\ufeff")
    return [name.strip() for name in next(csv.reader(io.StringIO(text)), [])]


def repeated_columns_problem(names: list[str]) -> str | None:
    """Why a header cannot be read unambiguously, or None: a column named twice (which of
    the two holds the value cannot be told). Blank names (Excel's empty trailing columns)
    may repeat: nothing is read from them."""
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(names, start=1):
        if name:
            positions.setdefault(name, []).append(position)
    repeated = [
        f"{_shown(name)} (columns {', '.join(map(str, at))})"
        for name, at in positions.items()
        if len(at) > 1
    ]
    if not repeated:
        return None
    return (
        f"the header names {'; '.join(repeated)} more than once, so which one holds the "
        "values cannot be told; keep one column of each name"
    )


def _shown(name: str) -> str:
    return repr(name if len(name) <= NAME_SHOWN_MAX_CHARS else name[:39] + "…")


def unreadable_reason(piece: bytes, message: str, first_row_number: int) -> str:
    """Why Polars could not parse a piece, in plain words: its own message names its
    internals (dtypes, chunk offsets), not the row a person must fix."""
    if "utf-8" in message.lower() or "utf8" in message.lower():
        return f"the file is not UTF-8 text (near row {first_row_number} or after); {SAVE_AS_CSV}"
    unclosed_row = _first_unbalanced_quote_row(piece, first_row_number)
    if unclosed_row is not None:
        return (
            f'row {unclosed_row} has a double quote (") that is never closed, so the rows '
            'after it cannot be told apart; quote a whole cell ("like, this") or none of it'
        )
    misquoted = _first_misquoted_row(piece, first_row_number)
    if misquoted is not None:
        row_number, line = misquoted
        return (
            f"row {row_number} has a double quote in the middle of a cell "
            f'({_shown(line)}); quote a whole cell ("like, this") or none of it'
        )
    return (
        f"not a readable CSV file near row {first_row_number}: its quotes and commas do not "
        f"make rows; {SAVE_AS_CSV}"
    )


def _first_misquoted_row(piece: bytes, first_row_number: int) -> tuple[int, str] | None:
    """The first row (and its text) with a quote that does not enclose a whole cell."""
    header_end = piece.find(b"\n") + 1
    for offset, line in enumerate(_record_lines(piece, header_end)):
        try:
            next(csv.reader([line], strict=True), None)
        except csv.Error:
            return first_row_number + offset, line
    return None


def numbered_rows(parsed: pl.DataFrame, first_row_number: int) -> pl.DataFrame:
    """A parsed piece with ROW_NUMBER_COLUMN (its first row is `first_row_number`), without
    its blank rows: a blank line, or a row whose every cell is empty or spaces (Excel's
    `,,,,`), is no row at all. Blank rows are still counted in the numbering, so row
    numbers stay the file's, as a spreadsheet shows them."""
    numbered = parsed.with_columns(
        (pl.int_range(pl.len(), dtype=pl.Int64) + first_row_number).alias(ROW_NUMBER_COLUMN)
    )
    cells = [name for name in parsed.columns if name != CELLS_COLUMN]
    if not cells:
        return numbered

    def blank(name: str) -> pl.Expr:
        return pl.col(name).is_null() | (pl.col(name).str.strip_chars() == "")

    # Two steps: only rows whose first cell is blank (few) have every cell looked at.
    candidates = numbered.filter(blank(cells[0]))
    if candidates.is_empty():
        return numbered
    every_cell_blank = pl.all_horizontal(blank(name) for name in cells)
    if CELLS_COLUMN in parsed.columns:
        every_cell_blank = every_cell_blank & pl.col(CELLS_COLUMN).is_null()
    blank_rows = candidates.filter(every_cell_blank).get_column(ROW_NUMBER_COLUMN)
    if blank_rows.is_empty():
        return numbered
    return numbered.filter(~pl.col(ROW_NUMBER_COLUMN).is_in(blank_rows.implode()))


def _record_lines(piece: bytes, header_bytes: int) -> pl.Series:
    """The physical lines after the header (no final empty one), as text."""
    text = piece[header_bytes:].decode("utf-8", errors="replace")
    lines = pl.Series("line", [text]).str.split("\n").explode()
    return lines.head(lines.len() - 1) if text.endswith("\n") else lines


def _first_unbalanced_quote_row(piece: bytes, first_row_number: int) -> int | None:
    header_end = piece.find(b"\n") + 1
    odd = _record_lines(piece, header_end).str.count_matches('"', literal=True) % 2 == 1
    positions = odd.arg_true()
    return None if positions.is_empty() else first_row_number + int(positions[0])


def _with_longer_rows(
    piece: bytes, mis_file: str, first_row_number: int, header_bytes: int
) -> pl.DataFrame:
    """The piece read with its longer rows cut to the header (only to keep their row),
    and CELLS_COLUMN saying which rows were longer and how long.

    Counted per line, outside quotes: that is exact when every line is one record. A
    longer row whose extra cells are all blank loses nothing and is read as it is.
    """
    parsed = _read(piece, mis_file, first_row_number, truncate=True)
    lines = _record_lines(piece, header_bytes)
    unquoted = lines.str.replace_all(r'"[^"]*"', "Q")
    one_record_per_line = lines.len() == parsed.height and not (
        (lines.str.count_matches('"', literal=True) % 2 == 1).any()
    )
    if not one_record_per_line:
        raise MisFileError(
            mis_file,
            f"rows near row {first_row_number} have more cells than the header, and cells "
            "there span several lines, so the rows cannot be told apart; quote every cell "
            'that holds a comma ("2,616")',
        )
    per_line = pl.DataFrame({"cells": unquoted.str.split(",")}).select(
        pl.when(
            pl.col("cells").list.slice(parsed.width).list.join("").str.strip_chars() != ""
        ).then(pl.col("cells").list.len().cast(pl.Int32))
    )
    return parsed.with_columns(per_line.to_series().alias(CELLS_COLUMN))


def header_record(stream: BinaryIO, chunk_bytes: int) -> bytes:
    """The header record (its line break included), read from the start of `stream`."""
    buffer = bytearray()
    while more := stream.read(chunk_bytes):
        buffer += more
        header_end = end_of_records(buffer, first_only=True)
        if header_end:
            return bytes(buffer[:header_end])
    return bytes(buffer)  # a header and nothing else, without a final newline


def record_chunks(
    path: Path, chunk_bytes: int, start_offset: int | None = None, end_offset: int | None = None
) -> Iterator[tuple[bytes, int, int, int]]:
    """The file (or its records from `start_offset` to `end_offset`) as pieces of about
    `chunk_bytes`: (the header line plus whole records, first byte offset, end offset,
    the header's length in bytes).

    A record ends at a newline outside double quotes (a quoted field may hold newlines,
    RFC 4180), so no record is cut in two; a record longer than a chunk makes its piece
    longer instead. (A stray quote inside an unquoted field only delays the cut, unless a
    multi-line quoted field follows it: then the piece fails to parse and the file is
    refused, never misread.) Pieces depend only on where reading starts, so the pieces of
    a span are the pieces the whole file had there.
    """
    with path.open("rb") as stream:
        header = header_record(stream, chunk_bytes)
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
            cut = end_of_records(pending)
            if cut:
                piece = b"".join((header, memoryview(pending)[:cut]))  # the one copy
                pending = pending[cut:]
                yield piece, position, position + cut, len(header)
                position += cut
                del piece
    if pending:  # the last record, without a final newline
        yield header + pending, position, position + len(pending), len(header)


def end_of_records(data: bytes | bytearray, first_only: bool = False) -> int:
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


def trimmed(column: str) -> pl.Expr:
    """A text cell without surrounding blanks; null when nothing is left."""
    stripped = pl.col(column).str.strip_chars()
    return pl.when(stripped != "").then(stripped)
