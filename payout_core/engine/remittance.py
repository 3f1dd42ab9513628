"""Money in (SPEC §9): read a bank's remittance file and match each row to what is owed.

Pure Polars, no I/O beyond reading the file. A remittance file has one row per payment:
`TrackingId, Amount, PaidOn, Reference` (a bank names them its own way in its profile,
config/banks.toml, as for MIS). Cells are read by the MIS reader's rules (engine/mis.py,
amounts.py, dates.py, csv_records.py): the LeadId is the last 8 characters of TrackingId,
an amount is exact decimal text, a ragged row is invalid; PaidOn is in the bank's date
format or ISO 8601.

Each row gets exactly one outcome, the first test that decides:

1. invalid    -- TrackingId, Amount, PaidOn or Reference missing or unreadable;
2. duplicate  -- its Reference is already recorded for the bank (a re-delivered file),
                 or appeared earlier in this file (the first one counts);
3. unexpected -- the lead is not ShiftPay's (or another bank's), or nothing is owed for it;
4. matched / short / over -- the amount equals / is less than / is more than what is
                 owed: the lead's payin (sum of its events) minus what was received before,
                 earlier rows of the same file included.

The bank of a row is the SourceType the file states (a SourceType column, or a bank
profile its headers match), else the SourceType of the row's lead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from payout_core.engine import amounts, dates, mis
from payout_core.engine.amounts import minor_text
from payout_core.engine.banks import BankProfile, BankProfiles
from payout_core.engine.csv_records import (
    CELLS_COLUMN,
    ROW_NUMBER_COLUMN,
    numbered_rows,
    parse_piece,
    record_chunks,
    refuse_if_not_csv,
    trimmed,
)
from payout_core.engine.errors import MisFileError, ReconciliationFileError
from payout_core.engine.mis_layout import candidate_profiles, missing_columns_message

REMITTANCE_COLUMNS = ("TrackingId", "Amount", "PaidOn", "Reference")
OUTCOMES = ("matched", "short", "over", "unexpected", "duplicate", "invalid")
RECEIVED_OUTCOMES = ("unexpected", "short", "over", "matched")  # kept as receipts
REFERENCE_MAX_CHARS = 200
# PaidOn must be a day a payin can have been paid on: not before any ShiftPay lead (1900 is
# a spreadsheet's empty date), not after today anywhere on earth (UTC+14: a bank ahead of
# UTC may already be on the next day).
EARLIEST_PAID_ON = dt.date(2000, 1, 1)
EARLIEST_TIME_ZONE = dt.timedelta(hours=14)
# A Reference is a key (duplicates are found by it) and text people read: a control or
# invisible character (an ANSI escape, a zero-width space) is refused, never stored.
UNPRINTABLE = r"[\p{Cc}\p{Cf}]"

# What the ledger returns for the LeadIds of a file: one row per known lead.
OWED_SCHEMA = {
    "lead_id": pl.String,
    "lead_source_type": pl.String,
    "expected_payin_minor": pl.Int64,
    "received_minor": pl.Int64,
}
# References of the file already recorded as receipts (bank may be null: unknown bank).
RECORDED_SCHEMA = {"source_type": pl.String, "reference": pl.String}


@dataclass(frozen=True)
class RemittanceLayout:
    """Which bank's naming a file uses, and which headers to read."""

    remittance_file: str
    profile: BankProfile
    headers: dict[str, str]
    """Standard column name -> the header this file uses for it."""
    source_type_header: str | None
    """The file's SourceType column, if it has one (the bank of each row)."""
    header_width: int
    """Cells in the header row (rows with more are `invalid`)."""


def inspect_layout(path: Path, remittance_file: str, profiles: BankProfiles) -> RemittanceLayout:
    """Which bank's layout the file is in, from its first records (the MIS reader's rules:
    a file that is not UTF-8 CSV text, or has no data row, is refused)."""
    with named_as_reconciliation():
        refuse_if_not_csv(path, remittance_file)
        first = next(record_chunks(path, mis.LAYOUT_SAMPLE_BYTES), None)
        if first is None:
            raise MisFileError(remittance_file, "the file has a header row and no data rows")
        piece, _, _, header_bytes = first
        sample = parse_piece(piece, remittance_file, 1, header_bytes).drop(CELLS_COLUMN)
    profile = _choose_profile(sample, profiles, remittance_file)
    headers = {column: profile.header_for(column) for column in REMITTANCE_COLUMNS}
    missing = [header for header in headers.values() if header not in sample.columns]
    if missing:
        raise ReconciliationFileError(
            remittance_file, missing_columns_message(profile.name, missing, sample.columns)
        )
    source_type_header = profile.header_for("SourceType")
    return RemittanceLayout(
        remittance_file,
        profile,
        headers,
        source_type_header if source_type_header in sample.columns else None,
        sample.width,
    )


def _choose_profile(
    sample: pl.DataFrame, profiles: BankProfiles, remittance_file: str
) -> BankProfile:
    """The bank whose SourceType the rows carry (as for MIS files); without a SourceType
    column, a bank whose own names for the remittance columns are all in the header (e.g.
    `ApplicationRef`); otherwise the standard layout."""
    most_likely = candidate_profiles(sample, profiles)[0]
    if most_likely is not profiles.standard:
        return most_likely
    own_names = [
        profile
        for profile in profiles.by_source_type.values()
        if any(profile.header_for(column) != column for column in REMITTANCE_COLUMNS)
        and all(profile.header_for(column) in sample.columns for column in REMITTANCE_COLUMNS)
    ]
    if len(own_names) > 1:
        names = ", ".join(sorted(str(profile.source_type) for profile in own_names))
        raise ReconciliationFileError(
            remittance_file,
            f"the header fits the layouts of several banks ({names}); "
            "add a SourceType column to say which bank sent it",
        )
    return own_names[0] if own_names else profiles.standard


def latest_paid_on(now: dt.datetime | None = None) -> dt.date:
    """Today, as the day furthest ahead anywhere on earth (`now`: an aware time, default
    the clock)."""
    return ((now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC) + EARLIEST_TIME_ZONE).date()


def read_rows(
    path: Path, layout: RemittanceLayout, latest_paid_on_date: dt.date | None = None
) -> pl.DataFrame:
    """The whole file as the typed frame of `type_rows`, parsed a piece of whole records at
    a time (remittance rows are narrow: a million of them is about 40 MB of CSV). A PaidOn
    after `latest_paid_on_date` (default: `latest_paid_on()`) is invalid."""
    columns = list(dict.fromkeys(layout.headers.values()))
    if layout.source_type_header:
        columns.append(layout.source_type_header)
    parts: list[pl.DataFrame] = []
    rows_before = 0
    with named_as_reconciliation():
        for piece, _, _, header_bytes in record_chunks(path, mis.READ_CHUNK_BYTES):
            parsed = parse_piece(piece, layout.remittance_file, rows_before + 1, header_bytes)
            del piece
            parts.append(
                numbered_rows(parsed, rows_before + 1).select(
                    ROW_NUMBER_COLUMN,
                    *(pl.col(header).alias(column) for column, header in layout.headers.items()),
                    (
                        pl.col(layout.source_type_header)
                        if layout.source_type_header
                        else pl.lit(layout.profile.source_type, dtype=pl.String)
                    ).alias("SourceType"),
                    pl.col(CELLS_COLUMN).alias("cells_in_row"),
                )
            )
            rows_before += parsed.height
    raw = pl.concat(parts) if parts else pl.DataFrame()
    if raw.is_empty():
        raise ReconciliationFileError(
            layout.remittance_file, "the file has a header row and no data rows (blank lines only)"
        )
    return type_rows(raw, layout.profile, layout.header_width, latest_paid_on_date)


@contextmanager
def named_as_reconciliation() -> Iterator[None]:
    """The MIS reader's refusals, named as this kind of file's."""
    try:
        yield
    except ReconciliationFileError:
        raise
    except MisFileError as error:
        raise ReconciliationFileError(error.mis_file, error.cause) from error


def type_rows(
    raw: pl.DataFrame,
    profile: BankProfile,
    header_width: int = 0,
    latest_paid_on_date: dt.date | None = None,
) -> pl.DataFrame:
    """Raw text columns (standard names, `row_number`, `SourceType`, optional
    `cells_in_row`) -> typed rows: row_number, tracking_id, lead_id, stated_source_type,
    amount_minor (Int64 minor units), amount_text, paid_on (Date), paid_on_text,
    reference, invalid_reason (null if readable). PaidOn is in the bank's date format or
    ISO 8601 (a date, or a timestamp: its day as written)."""
    text = {column: trimmed(column) for column in (*REMITTANCE_COLUMNS, "SourceType")}
    paid_on_text = text["PaidOn"]
    cells_in_row = (
        pl.col("cells_in_row") if "cells_in_row" in raw.columns else pl.lit(None, pl.Int32)
    )
    typed = raw.select(
        pl.col("row_number"),
        text["TrackingId"].alias("tracking_id"),
        mis._lead_id(text["TrackingId"]),
        text["SourceType"].alias("stated_source_type"),
        amounts.amount_minor(text["Amount"], profile.thousands_separator).alias("amount_minor"),
        text["Amount"].alias("amount_text"),
        pl.coalesce(
            dates.parse_dates(paid_on_text, profile.date_format),
            dates.parse_iso_dates(paid_on_text),
        ).alias("paid_on"),
        paid_on_text.alias("paid_on_text"),
        text["Reference"].alias("reference"),
        cells_in_row.alias("cells_in_row"),
    )
    latest = latest_paid_on_date or latest_paid_on()
    return typed.with_columns(
        _invalid_reason(profile, header_width, latest).alias("invalid_reason")
    ).drop("cells_in_row")


def _invalid_reason(profile: BankProfile, header_width: int, latest: dt.date) -> pl.Expr:
    date_example = dates.example(profile.date_format)
    tracking_id, paid_on_text, reference = (
        pl.col("tracking_id"),
        pl.col("paid_on_text"),
        pl.col("reference"),
    )
    amount_text = pl.col("amount_text")
    amount_problem = amounts.amount_problem(
        amount_text, mis._quoted(amount_text), "Amount", profile.thousands_separator
    )
    return (
        pl.when(pl.col("cells_in_row").is_not_null())
        .then(
            pl.format(
                f"the row has {{}} cells but the header has {header_width}: a comma in an "
                "unquoted cell?",
                pl.col("cells_in_row"),
            )
        )
        .when(tracking_id.is_null())
        .then(pl.lit("TrackingId is blank"))
        .when(pl.col("lead_id").is_null())
        .then(
            pl.format(
                "TrackingId '{}' is shorter than a LeadId (8 characters)",
                mis._quoted(tracking_id),
            )
        )
        .when(amount_problem.is_not_null())
        .then(amount_problem)
        .when(pl.col("amount_minor") == 0)
        .then(pl.lit("Amount is 0: not a payment"))
        .when(paid_on_text.is_null())
        .then(pl.lit("PaidOn is blank"))
        .when(pl.col("paid_on").is_null())
        .then(
            pl.format(
                f"PaidOn '{{}}' is not a date like '{date_example}' (or ISO 2023-10-02)",
                mis._quoted(paid_on_text),
            )
        )
        .when(pl.col("paid_on") < EARLIEST_PAID_ON)
        .then(
            pl.format(
                f"PaidOn '{{}}' is before {EARLIEST_PAID_ON:%d %m %Y}: no payin is that old "
                "(a spreadsheet's empty date?)",
                mis._quoted(paid_on_text),
            )
        )
        .when(pl.col("paid_on") > latest)
        .then(
            pl.format(
                "PaidOn '{}' is after today: a payment cannot have been made on a later day",
                mis._quoted(paid_on_text),
            )
        )
        .when(reference.is_null())
        .then(pl.lit("Reference is blank"))
        .when(reference.str.len_chars() > REFERENCE_MAX_CHARS)
        .then(pl.lit(f"Reference is longer than {REFERENCE_MAX_CHARS} characters"))
        .when(reference.str.contains(UNPRINTABLE))
        .then(
            pl.lit(
                "Reference holds a control or invisible character (such as an escape "
                "sequence): a reference is printable text; the row is not recorded"
            )
        )
    )


def reconcile(
    rows: pl.DataFrame,
    owed: pl.DataFrame,
    recorded: pl.DataFrame,
    unknown_banks: frozenset[str] = frozenset(),
) -> pl.DataFrame:
    """Typed rows (in file order) + what is owed per known lead (OWED_SCHEMA) + the
    references already recorded (RECORDED_SCHEMA) + the SourceTypes the file states that
    are no bank (no lead, rule or bank profile has them) -> one outcome per row.

    Adds: source_type (the row's bank, may be null), owed_minor (owed when the row
    arrived, null if no lead of that bank), outcome, reason (null for `matched`).
    """
    stated = pl.col("stated_source_type")
    frame = rows.join(owed, on="lead_id", how="left", maintain_order="left").with_columns(
        pl.coalesce("stated_source_type", "lead_source_type").alias("source_type"),
        pl.when(pl.col("invalid_reason").is_null() & stated.is_in(sorted(unknown_banks)))
        .then(
            pl.format(
                "SourceType '{}' is no bank ShiftPay knows (no lead, rule or bank profile has it)",
                mis._quoted(stated),
            )
        )
        .otherwise(pl.col("invalid_reason"))
        .alias("invalid_reason"),
    )
    readable = pl.col("invalid_reason").is_null()
    already_recorded = (
        frame.filter(readable)
        .select("row_number", "source_type", "reference")
        .join(recorded, on=["source_type", "reference"], how="semi", nulls_equal=True)
        .get_column("row_number")
    )
    key = pl.struct("source_type", "reference")
    frame = frame.with_columns(
        pl.col("row_number").is_in(already_recorded.implode()).alias("already_recorded"),
        # A repeat only among readable rows: an invalid row's reference is not a payment.
        (readable & ~pl.when(readable).then(key).is_first_distinct()).alias("repeated"),
    )
    counted = (
        readable
        & ~pl.col("already_recorded")
        & ~pl.col("repeated")
        & pl.col("lead_source_type").is_not_null()
        & (pl.col("source_type") == pl.col("lead_source_type"))
    )
    amount_counted = pl.when(counted).then(pl.col("amount_minor")).otherwise(0)
    received_before = (
        pl.col("received_minor") + amount_counted.cum_sum().over("lead_id") - amount_counted
    )
    frame = frame.with_columns(
        counted.alias("counted"),
        pl.when(counted).then(pl.col("expected_payin_minor") - received_before).alias("owed_minor"),
    )
    return frame.with_columns(_outcome()).with_columns(_reason()).select(RECONCILED_COLUMNS)


RECONCILED_COLUMNS = [
    "row_number",
    "tracking_id",
    "lead_id",
    "source_type",
    "reference",
    "amount_minor",
    "amount_text",
    "paid_on",
    "paid_on_text",
    "owed_minor",
    "outcome",
    "reason",
]


def _outcome() -> pl.Expr:
    amount, owed = pl.col("amount_minor"), pl.col("owed_minor")
    return (
        pl.when(pl.col("invalid_reason").is_not_null())
        .then(pl.lit("invalid"))
        .when(pl.col("already_recorded") | pl.col("repeated"))
        .then(pl.lit("duplicate"))
        .when(~pl.col("counted") | (owed <= 0))
        .then(pl.lit("unexpected"))
        .when(amount == owed)
        .then(pl.lit("matched"))
        .when(amount < owed)
        .then(pl.lit("short"))
        .otherwise(pl.lit("over"))
        .alias("outcome")
    )


def _reason() -> pl.Expr:
    amount, owed = minor_text(pl.col("amount_minor")), minor_text(pl.col("owed_minor"))
    lead_id, reference, bank = pl.col("lead_id"), pl.col("reference"), pl.col("source_type")
    outcome = pl.col("outcome")
    return (
        pl.when(outcome == "invalid")
        .then(pl.col("invalid_reason"))
        .when(pl.col("already_recorded"))
        .then(
            pl.format(
                "Reference '{}' is already recorded for {}", reference, bank.fill_null("this bank")
            )
        )
        .when(pl.col("repeated"))
        .then(pl.format("Reference '{}' appears earlier in this file", reference))
        .when(pl.col("lead_source_type").is_null())
        .then(pl.format("{} is not a ShiftPay lead", lead_id))
        .when(~pl.col("counted"))
        .then(pl.format("{} is a lead of {}, not of {}", lead_id, pl.col("lead_source_type"), bank))
        .when(outcome == "unexpected")
        .then(
            pl.format(
                "nothing is owed for {} (payin {}, received before {})",
                lead_id,
                minor_text(pl.col("expected_payin_minor")),
                minor_text(pl.col("expected_payin_minor") - pl.col("owed_minor")),
            )
        )
        .when(outcome == "short")
        .then(
            pl.format(
                "{} received of {} owed: {} short",
                amount,
                owed,
                minor_text(pl.col("owed_minor") - pl.col("amount_minor")),
            )
        )
        .when(outcome == "over")
        .then(
            pl.format(
                "{} received, {} owed: {} over",
                amount,
                owed,
                minor_text(pl.col("amount_minor") - pl.col("owed_minor")),
            )
        )
        .alias("reason")
    )


def outcome_counts(reconciled: pl.DataFrame) -> dict[str, int]:
    """Every outcome, zeros included, in OUTCOMES order."""
    counted = dict(reconciled.get_column("outcome").value_counts().iter_rows())
    return {outcome: int(counted.get(outcome, 0)) for outcome in OUTCOMES}


def received_total_minor(reconciled: pl.DataFrame) -> int:
    """What the file's receipts add up to (every row that is money received)."""
    receipts = reconciled.filter(pl.col("outcome").is_in(RECEIVED_OUTCOMES))
    return int(receipts.get_column("amount_minor").sum() or 0)
