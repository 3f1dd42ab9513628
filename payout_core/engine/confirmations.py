"""Money out (SPEC §9): read the wallet team's confirmation file and sort each row.

Pure Polars. A confirmation file has one row per wallet credit executed: `CreditId,
Status (success | failed), Reference, Reason`. Each row gets exactly one outcome, the
first test that decides:

1. invalid   -- CreditId or Status missing, Status neither `success` nor `failed`, or a
                success without the transfer's Reference;
2. unknown   -- no wallet credit has this CreditId (reported, never ignored);
3. duplicate -- the credit's confirmation is already recorded (a re-delivered file), or
                the CreditId appeared earlier in this file (the first one counts, so an
                unknown CreditId repeated is one unknown);
4. invalid   -- a success whose Reference already confirms another credit: one transfer
                cannot pay two credits, so the credit stays unanswered and the row is
                reported for the wallet team to correct;
5. confirmed / failed -- the credit is done / must be sent again (the cycle close does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from payout_core.engine import mis
from payout_core.engine.csv_records import (
    CELLS_COLUMN,
    ROW_NUMBER_COLUMN,
    numbered_rows,
    parse_piece,
    record_chunks,
    refuse_if_not_csv,
    trimmed,
)
from payout_core.engine.errors import ReconciliationFileError
from payout_core.engine.mis_layout import missing_columns_message
from payout_core.engine.remittance import UNPRINTABLE, named_as_reconciliation

CONFIRMATION_COLUMNS = ("CreditId", "Status", "Reference", "Reason")
OUTCOMES = ("confirmed", "failed", "unknown", "duplicate", "invalid")
RECORDED_OUTCOMES = ("confirmed", "failed")  # kept as wallet confirmations
STATUSES = ("success", "failed")
TEXT_MAX_CHARS = 1_000

# What the ledger returns for the CreditIds of a file: one row per existing credit, with
# its recorded confirmation (null when none yet).
CREDITS_SCHEMA = {
    "credit_id": pl.String,
    "recorded_status": pl.String,
    "recorded_reference": pl.String,
}
# The References of a file that already confirm a credit (success answers recorded).
REFERENCES_SCHEMA = {"reference": pl.String, "confirms_credit_id": pl.String}


@dataclass(frozen=True)
class ConfirmationFile:
    file_name: str
    rows: pl.DataFrame
    """row_number, credit_id, status, status_text, reference, reason, invalid_reason."""


def read_file(path: Path, file_name: str) -> ConfirmationFile:
    """The whole file, typed (the MIS reader's CSV rules: a file that is not UTF-8 CSV
    text is refused, a ragged row is invalid)."""
    parts: list[pl.DataFrame] = []
    rows_before = 0
    with named_as_reconciliation():
        refuse_if_not_csv(path, file_name)
        for piece, _, _, header_bytes in record_chunks(path, mis.READ_CHUNK_BYTES):
            parsed = parse_piece(piece, file_name, rows_before + 1, header_bytes)
            header = [name for name in parsed.columns if name != CELLS_COLUMN]
            missing = [column for column in CONFIRMATION_COLUMNS if column not in header]
            if missing and not parts:  # every piece carries the same header
                raise ReconciliationFileError(
                    file_name, missing_columns_message("the wallet team's layout", missing, header)
                )
            parts.append(
                numbered_rows(parsed, rows_before + 1).select(
                    ROW_NUMBER_COLUMN,
                    *CONFIRMATION_COLUMNS,
                    pl.col(CELLS_COLUMN).alias("cells_in_row"),
                )
            )
            rows_before += parsed.height
    rows = pl.concat(parts) if parts else pl.DataFrame()
    if rows.is_empty():
        raise ReconciliationFileError(file_name, "the file has a header row and no data rows")
    return ConfirmationFile(file_name, type_rows(rows))


def type_rows(raw: pl.DataFrame) -> pl.DataFrame:
    status_text = trimmed("Status")
    cells_in_row = (
        pl.col("cells_in_row") if "cells_in_row" in raw.columns else pl.lit(None, pl.Int32)
    )
    typed = raw.select(
        "row_number",
        cells_in_row.alias("cells_in_row"),
        trimmed("CreditId").alias("credit_id"),
        status_text.str.to_lowercase().alias("status"),
        status_text.alias("status_text"),
        trimmed("Reference").alias("reference"),
        # The wallet team's words for people: control characters replaced, not refused.
        trimmed("Reason")
        .str.slice(0, TEXT_MAX_CHARS)
        .str.replace_all(r"[\t\r\n]", " ")
        .str.replace_all(UNPRINTABLE, "\ufffd")
        .alias("reason"),
    )
    credit_id, status, reference = pl.col("credit_id"), pl.col("status"), pl.col("reference")
    invalid_reason = (
        pl.when(pl.col("cells_in_row").is_not_null())
        .then(pl.format("the row has {} cells, more than the header", pl.col("cells_in_row")))
        .when(credit_id.is_null())
        .then(pl.lit("CreditId is blank"))
        .when(credit_id.str.len_chars() > TEXT_MAX_CHARS)
        .then(pl.lit(f"CreditId is longer than {TEXT_MAX_CHARS} characters"))
        .when(status.is_null())
        .then(pl.lit("Status is blank"))
        .when(~status.is_in(STATUSES))
        .then(pl.format("Status '{}' is neither 'success' nor 'failed'", pl.col("status_text")))
        .when((status == "success") & reference.is_null())
        .then(pl.lit("Reference is blank: a success names the transfer"))
        .when(reference.str.len_chars() > TEXT_MAX_CHARS)
        .then(pl.lit(f"Reference is longer than {TEXT_MAX_CHARS} characters"))
        .when(reference.str.contains(UNPRINTABLE))
        .then(
            pl.lit(
                "Reference holds a control or invisible character (such as an escape "
                "sequence): a reference is printable text; the row is not recorded"
            )
        )
    )
    return typed.with_columns(invalid_reason.alias("invalid_reason")).drop("cells_in_row")


def reconcile(
    rows: pl.DataFrame, credits: pl.DataFrame, references: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Typed rows + the file's credits as recorded (CREDITS_SCHEMA) + its References that
    already confirm a credit (REFERENCES_SCHEMA) -> one outcome per row (adds known,
    recorded_status, outcome, reason)."""
    references = (
        pl.DataFrame(schema=REFERENCES_SCHEMA)
        if references is None
        else references.unique("reference", keep="first", maintain_order=True)
    )
    frame = rows.join(
        credits.with_columns(pl.lit(True).alias("known")),
        on="credit_id",
        how="left",
        maintain_order="left",
    ).with_columns(pl.col("known").fill_null(False))
    readable = pl.col("invalid_reason").is_null()
    frame = frame.with_columns(
        (readable & ~pl.when(readable).then(pl.col("credit_id")).is_first_distinct()).alias(
            "repeated"
        )
    )
    # A success naming a Reference that confirms another credit: recorded before, or by an
    # earlier success of this file.
    answering = readable & pl.col("known") & ~pl.col("repeated")
    answering = answering & pl.col("recorded_status").is_null() & (pl.col("status") == "success")
    first_in_file = (
        frame.filter(answering)
        .group_by("reference", maintain_order=True)
        .agg(pl.col("credit_id").first().alias("first_credit_id"))
    )
    frame = (
        frame.join(references, on="reference", how="left", maintain_order="left")
        .join(first_in_file, on="reference", how="left", maintain_order="left")
        .with_columns(
            pl.when(answering)
            .then(
                pl.when(
                    pl.col("confirms_credit_id").is_not_null()
                    & (pl.col("confirms_credit_id") != pl.col("credit_id"))
                )
                .then(pl.col("confirms_credit_id"))
                .when(pl.col("first_credit_id") != pl.col("credit_id"))
                .then(pl.col("first_credit_id"))
            )
            .alias("reference_confirms")
        )
    )
    outcome = (
        pl.when(pl.col("invalid_reason").is_not_null())
        .then(pl.lit("invalid"))
        .when(pl.col("repeated"))
        .then(pl.lit("duplicate"))
        .when(~pl.col("known"))
        .then(pl.lit("unknown"))
        .when(pl.col("recorded_status").is_not_null())
        .then(pl.lit("duplicate"))
        .when(pl.col("reference_confirms").is_not_null())
        .then(pl.lit("invalid"))
        .when(pl.col("status") == "success")
        .then(pl.lit("confirmed"))
        .otherwise(pl.lit("failed"))
        .alias("outcome")
    )
    return frame.with_columns(outcome).with_columns(_reason()).select(RECONCILED_COLUMNS)


RECONCILED_COLUMNS = [
    "row_number",
    "credit_id",
    "status",
    "status_text",
    "reference",
    "reason",
    "outcome",
    "outcome_reason",
]


def _reason() -> pl.Expr:
    outcome, credit_id = pl.col("outcome"), pl.col("credit_id")
    recorded = pl.col("recorded_status")
    return (
        pl.when((outcome == "invalid") & pl.col("reference_confirms").is_not_null())
        .then(
            pl.format(
                "Reference '{}' already confirms {}: one transfer cannot pay two credits; "
                "{} is not recorded, check with the wallet team",
                pl.col("reference"),
                pl.col("reference_confirms"),
                credit_id,
            )
        )
        .when(outcome == "invalid")
        .then(pl.col("invalid_reason"))
        .when(outcome == "unknown")
        .then(pl.format("CreditId '{}' is not a wallet credit of any cycle", credit_id))
        .when((outcome == "duplicate") & recorded.is_not_null() & (recorded != pl.col("status")))
        .then(
            pl.format(
                "{} is already recorded as {} (reference {}); this row says {}: "
                "check with the wallet team",
                credit_id,
                recorded,
                pl.col("recorded_reference").fill_null("none"),
                pl.col("status"),
            )
        )
        .when((outcome == "duplicate") & recorded.is_not_null())
        .then(pl.format("{} is already recorded as {}", credit_id, recorded))
        .when(outcome == "duplicate")
        .then(pl.format("{} appears earlier in this file", credit_id))
        .when(outcome == "failed")
        .then(pl.col("reason").fill_null("failed, no reason given"))
        .alias("outcome_reason")
    )


def outcome_counts(reconciled: pl.DataFrame) -> dict[str, int]:
    counted = dict(reconciled.get_column("outcome").value_counts().iter_rows())
    return {outcome: int(counted.get(outcome, 0)) for outcome in OUTCOMES}
