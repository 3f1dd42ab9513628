"""Read a leads export (SPEC §3.3): CSV -> the frame `payout leads load` upserts.

The export comes from ShiftPay's app database, so LeadCreatedAt is written as databases
write timestamps (`2023-09-26 13:06:43.444`, `2023-09-26T13:06:43Z`,
`2023-09-26T13:06:43.5+05:30`; no offset means UTC). A file with any bad row is refused
whole, naming each row and cause, so a half-read export never replaces good leads.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from payout_core.engine.csv_records import (
    HEAD_BYTES,
    ROW_NUMBER_COLUMN,
    header_names,
    not_csv_reason,
    numbered_rows,
    record_chunks,
    repeated_columns_problem,
    trimmed,
    unreadable_reason,
)
from payout_core.engine.dates import ISO_TIMESTAMP, STANDARD_DATE_FORMAT, parse_dates
from payout_core.engine.errors import InputFileError
from payout_core.engine.mis import LEAD_ID_LENGTH

MAX_PROBLEMS_LISTED = 50
READ_CHUNK_BYTES = 16 * 1024**2  # of the export parsed at a time: about 200,000 leads
LEAD_COLUMNS = {
    "LeadCreatedAt": "lead_created_at",
    "SPId": "sp_id",
    "LeadId": "lead_id",
    "SourceType": "source_type",
    "MediumType": "medium_type",
    "ProductType": "product_type",
    "Status": "status",
    "SubStatus": "sub_status",
}
# Recognised in any letter case, stored as written here (SPEC §3.3). Other statuses are
# kept as they are: they are never paid.
CANONICAL_STATUSES = ("Pending", "Success")
# An SPId a spreadsheet would run as a formula (OWASP "CSV injection": =, +, -, @ first) or
# holding a control character (a tab, a line break) is refused here, so the files machines
# read (the wallet credits CSV) can carry every SPId exactly as it is.
FORMULA_LIKE_SP_ID = r"^[=+\-@]|\p{Cc}"

TIMESTAMP_EXAMPLES = "2023-09-26 13:06:43.444, 2023-09-26T13:06:43Z or 2023-09-26T13:06:43+05:30"


def read_leads_file(path: Path) -> pl.DataFrame:
    """A leads export -> a frame of `leads` columns (blank cells null), or InputFileError
    naming each bad row. Read a piece of whole records at a time: parsed whole, a 4M-lead
    export (316 MB) peaked at 2.2 GB."""
    source = str(path)
    try:
        with path.open("rb") as stream:
            head = stream.read(HEAD_BYTES)
        reason = not_csv_reason(head)
        if reason:
            raise InputFileError(source, [reason])
        pieces, problems, rows_before = [], [], 0
        for piece, _, _, header_bytes in record_chunks(path, READ_CHUNK_BYTES):
            raw = _read_piece(piece, source, header_bytes, rows_before + 1)
            del piece
            parsed, piece_problems = parse_leads(raw, source, rows_before)
            pieces.append(parsed)
            problems += piece_problems
            rows_before += raw.height  # blank rows count in the numbering
    except OSError as error:
        raise InputFileError(source, [f"cannot read the file: {error}"]) from error
    if not pieces:  # a header and nothing else
        _require_columns(_read_piece(head, source, len(head), 1).columns, source)
    leads = pl.concat(pieces) if pieces else pl.DataFrame()
    if leads.is_empty():
        raise InputFileError(source, ["the file has a header row and no leads"])
    problems += _duplicate_problems(leads)
    _raise_problems(source, [text for _, text in sorted(problems, key=lambda found: found[0])])
    return leads.drop("row_number")


def _read_piece(
    piece: bytes, source: str, header_bytes: int, first_row_number: int
) -> pl.DataFrame:
    repeated = repeated_columns_problem(header_names(piece[:header_bytes]))
    if repeated:
        raise InputFileError(source, [repeated])
    try:
        return pl.read_csv(
            piece, infer_schema=False, with_column_names=lambda names: [n.strip() for n in names]
        )
    except pl.exceptions.PolarsError as error:
        message = str(error)
        if "more fields than defined" in message:
            reason = "a row has more cells than the header (a comma in an unquoted cell?)"
        else:
            reason = unreadable_reason(piece, message, first_row_number)
        raise InputFileError(source, [reason]) from error


def parse_leads(
    raw: pl.DataFrame, source: str, rows_before: int = 0
) -> tuple[pl.DataFrame, list[tuple[int, str]]]:
    """Raw text columns (business names) of a piece of the export, whose first row is row
    `rows_before + 1` -> `leads` columns and a row_number, and (row number, problem) of each
    bad row (a LeadId repeated across pieces is checked by the caller)."""
    _require_columns(raw.columns, source)
    leads = (
        numbered_rows(raw, rows_before + 1)
        .select(
            ROW_NUMBER_COLUMN,
            *(trimmed(header).alias(name) for header, name in LEAD_COLUMNS.items()),
        )
        .with_columns(
            parse_timestamps(pl.col("lead_created_at")).alias("lead_created_at_parsed"),
            _canonical_status(pl.col("status")).alias("status"),
        )
    )
    problems = _row_problems(leads)
    return leads.select(
        "row_number",
        pl.col("lead_created_at_parsed").alias("lead_created_at"),
        *(name for name in LEAD_COLUMNS.values() if name != "lead_created_at"),
    ), problems


def _require_columns(columns: list[str], source: str) -> None:
    missing = [column for column in LEAD_COLUMNS if column not in columns]
    if missing:
        raise InputFileError(source, [f"required column(s) missing: {', '.join(missing)}"])


def parse_timestamps(text: pl.Expr) -> pl.Expr:
    """Timestamp text (SPEC §3.3) -> Datetime in UTC (microseconds); null when it is not
    one. A date alone is midnight UTC; `2 10 2023` (the MIS date form) is accepted too."""
    parts = text.str.extract_groups(ISO_TIMESTAMP)
    date_part, time_part = parts.struct.field("date"), parts.struct.field("time")
    fraction, offset = parts.struct.field("fraction"), parts.struct.field("offset")
    seconds = pl.when(time_part.str.len_chars() == 5).then(time_part + ":00").otherwise(time_part)
    local = pl.concat_str(
        date_part, pl.lit(" "), seconds.fill_null("00:00:00"), fraction.fill_null("")
    ).str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S%.f", strict=False)
    offset_digits = offset.str.replace_all(":", "", literal=True)
    offset_minutes = offset_digits.str.slice(1, 2).cast(
        pl.Int64, strict=False
    ) * 60 + offset_digits.str.slice(3, 2).replace("", "0").cast(pl.Int64, strict=False)
    sign = pl.when(offset_digits.str.starts_with("-")).then(-1).otherwise(1)
    offset_minutes = (
        pl.when(offset.is_null() | (offset == "Z")).then(0).otherwise(sign * offset_minutes)
    )
    utc = local - pl.duration(minutes=offset_minutes)
    mis_date = parse_dates(text, STANDARD_DATE_FORMAT).cast(pl.Datetime("us"))
    return pl.when(text.str.contains(ISO_TIMESTAMP)).then(utc).otherwise(mis_date)


def _canonical_status(status: pl.Expr) -> pl.Expr:
    lowered = status.str.to_lowercase()
    expression = pl.when(pl.lit(False)).then(status)
    for canonical in CANONICAL_STATUSES:
        expression = expression.when(lowered == canonical.lower()).then(pl.lit(canonical))
    return expression.otherwise(status)


def _row_problems(leads: pl.DataFrame) -> list[tuple[int, str]]:
    """(row number, problem) of each bad row of a piece (parse_leads' columns)."""
    checks = [
        (pl.col(column).is_null(), f"{header} is blank")
        for header, column in LEAD_COLUMNS.items()
        if header not in ("LeadCreatedAt", "SubStatus")
    ]
    checks += [
        (
            pl.col("lead_id").is_not_null() & (pl.col("lead_id").str.len_chars() != LEAD_ID_LENGTH),
            f"LeadId is not {LEAD_ID_LENGTH} characters (an MIS row can never match it)",
        ),
        (
            pl.col("lead_created_at").is_not_null() & pl.col("lead_created_at_parsed").is_null(),
            f"LeadCreatedAt is not a timestamp like {TIMESTAMP_EXAMPLES}",
        ),
        (
            pl.col("sp_id").str.contains(FORMULA_LIKE_SP_ID),
            "SPId starts like a spreadsheet formula (=, +, - or @) or holds a control "
            "character (a tab, a line break); an SPId is plain text",
        ),
    ]
    return _problems(leads, checks)


def _duplicate_problems(leads: pl.DataFrame) -> list[tuple[int, str]]:
    """A LeadId twice in the file, wherever the two rows are."""
    duplicated = pl.col("lead_id").is_not_null() & pl.col("lead_id").is_duplicated()
    ids = leads.select(
        "row_number",
        "lead_id",
        pl.lit(None, pl.String).alias("lead_created_at"),
        pl.lit(None, pl.String).alias("sp_id"),
    )
    return _problems(ids, [(duplicated, "LeadId appears more than once")])


def _problems(leads: pl.DataFrame, checks: list[tuple[pl.Expr, str]]) -> list[tuple[int, str]]:
    found = pl.concat(
        [
            leads.filter(condition).select(
                "row_number",
                _shown("lead_id"),
                _shown("lead_created_at"),
                _shown("sp_id"),
                pl.lit(message),
            )
            for condition, message in checks
        ],
        how="vertical",
    ).sort("row_number", maintain_order=True)
    problems = []
    for row_number, lead_id, created_at, sp_id, message in found.rows():
        value = f" ({created_at!r})" if message.startswith("LeadCreatedAt") else ""
        value = f" ({sp_id!r})" if message.startswith("SPId starts") else value
        problems.append((row_number, f"row {row_number} (LeadId {lead_id}): {message}{value}"))
    return problems


def _shown(column: str) -> pl.Expr:
    """A cell as a problem quotes it, cut short."""
    text = pl.col(column)
    return pl.when(text.str.len_chars() > 40).then(text.str.slice(0, 39) + "…").otherwise(text)


def _raise_problems(source: str, problems: list[str]) -> None:
    if not problems:
        return
    shown = problems[:MAX_PROBLEMS_LISTED]
    if len(problems) > MAX_PROBLEMS_LISTED:
        shown.append(f"... and {len(problems) - MAX_PROBLEMS_LISTED} more")
    raise InputFileError(source, shown)
