"""What an MIS file is, told from its first records: which bank's layout (profile), which
product, which header holds each standard column. Anything that makes the whole file
unreadable is found here, before a row is read, and raises one MisFileError.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from payout_core.engine.banks import BankProfile, BankProfiles, standard_columns
from payout_core.engine.csv_records import (
    CELLS_COLUMN,
    parse_piece,
    record_chunks,
    refuse_if_not_csv,
)
from payout_core.engine.errors import MisFileError
from payout_core.engine.products import (
    COMMON_MIS_COLUMNS,
    ProductHandler,
    all_handlers,
    handler_for,
)

LAYOUT_SAMPLE_BYTES = 1024**2  # the first records, read to tell the bank and product of a file
QUOTED_CELL_MAX_CHARS = 60  # a cell quoted in a message is cut after this many characters
HEADER_NAMES_LISTED = 12


@dataclass(frozen=True)
class MisLayout:
    """What a file is: which product, which bank's naming, which headers to read."""

    mis_file: str
    handler: ProductHandler
    profile: BankProfile
    headers: dict[str, str]
    """Standard column name -> the header this file uses for it."""
    header_width: int | None = None
    """Cells in the header row (rows with more are `invalid`)."""
    foreign_source_types: frozenset[str] = field(default_factory=frozenset)
    """SourceTypes whose rows this layout cannot read (they have a profile of their own)."""


def inspect_layout(path: Path, mis_file: str, profiles: BankProfiles) -> MisLayout:
    """Which bank's layout and which product the file is, from its first records."""
    refuse_if_not_csv(path, mis_file)
    first = next(record_chunks(path, LAYOUT_SAMPLE_BYTES), None)
    if first is None:
        raise MisFileError(mis_file, "the file has a header row and no data rows")
    piece, _, _, header_bytes = first
    sample = parse_piece(piece, mis_file, 1, header_bytes).drop(CELLS_COLUMN)
    del piece
    _refuse_headerless(sample, profiles, mis_file)
    if sample.select(pl.all().str.strip_chars().replace("", None).is_null().all()).row(0) == (
        (True,) * sample.width
    ):
        raise MisFileError(
            mis_file, "the file has a header row and no data rows (blank lines only)"
        )
    attempts: list[MisFileError] = []
    for profile in candidate_profiles(sample, profiles):
        try:
            return _layout_for(sample, profile, profiles, mis_file)
        except MisFileError as error:
            attempts.append(error)
    raise attempts[0]


def _refuse_headerless(sample: pl.DataFrame, profiles: BankProfiles, mis_file: str) -> None:
    """A first line with no MIS column name is data, not a header."""
    known = standard_columns()
    for profile in profiles.by_source_type.values():
        known.update(profile.columns.values())
    if not known & set(sample.columns):
        for separator, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if sample.width == 1 and separator in sample.columns[0]:
                raise MisFileError(
                    mis_file,
                    f"cells are separated by {name}, not commas; save it as 'CSV UTF-8 "
                    "(comma delimited)'",
                )
        raise MisFileError(
            mis_file,
            "the first line is not a header row of MIS column names (it reads: "
            f"{_listing(sample.columns)}); expected names such as "
            f"{', '.join(COMMON_MIS_COLUMNS)}",
        )


def candidate_profiles(sample: pl.DataFrame, profiles: BankProfiles) -> list[BankProfile]:
    """The layouts the file may be in, the most likely first: the bank whose SourceType
    most sampled rows carry (under the header that bank uses for it), then the standard."""
    rows_by_source_type: Counter[str] = Counter()
    for source_type, profile in profiles.by_source_type.items():
        header = profile.header_for("SourceType")
        if header in sample.columns:
            rows_by_source_type[source_type] = int(
                (sample[header].str.strip_chars() == source_type).sum()
            )
    banks = [
        profiles.by_source_type[source_type]
        for source_type, rows in rows_by_source_type.most_common()
        if rows > 0
    ]
    return [*banks, profiles.standard]


def _layout_for(
    sample: pl.DataFrame, profile: BankProfile, profiles: BankProfiles, mis_file: str
) -> MisLayout:
    product_header = profile.header_for("ProductType")
    if product_header not in sample.columns:
        raise MisFileError(
            mis_file, missing_columns_message(profile.name, [product_header], sample.columns)
        )
    products = sample[product_header].drop_nulls().str.strip_chars()
    products = products.filter(products != "")
    if products.is_empty():
        raise MisFileError(mis_file, "no row says which product it is (ProductType is blank)")
    product_type = products[0]
    handler = handler_for(product_type)
    if handler is None:
        known = ", ".join(sorted(all_handlers()))
        raise MisFileError(mis_file, f"unknown product {_cut(product_type)!r} (known: {known})")
    headers = {column: profile.header_for(column) for column in handler.required_columns}
    missing = [header for header in headers.values() if header not in sample.columns]
    if missing:
        raise MisFileError(mis_file, missing_columns_message(profile.name, missing, sample.columns))
    # A fact that may be unknown yet is read when the file has its column at all.
    for fact in handler.facts:
        if not fact.required and profile.header_for(fact.column) in sample.columns:
            headers[fact.column] = profile.header_for(fact.column)
    configured = set(profiles.by_source_type)
    foreign = configured if profile.source_type is None else set()
    return MisLayout(
        mis_file,
        handler,
        profile,
        headers,
        header_width=sample.width,
        foreign_source_types=frozenset(foreign),
    )


def missing_columns_message(layout_name: str, missing: list[str], present: list[str]) -> str:
    """The refusal of a file whose header lacks columns of its layout (MIS, remittance and
    wallet confirmation files alike)."""
    return (
        f"required column(s) missing for {layout_name}: {', '.join(missing)}; "
        f"the header has: {_listing(present) or 'nothing'}"
    )


def _listing(names: list[str]) -> str:
    shown = [_cut(name, 40) for name in names[:HEADER_NAMES_LISTED]]
    if len(names) > HEADER_NAMES_LISTED:
        shown.append(f"… and {len(names) - HEADER_NAMES_LISTED:,} more")
    return ", ".join(shown)


def _cut(text: str, max_chars: int = QUOTED_CELL_MAX_CHARS) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"
