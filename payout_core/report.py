"""The iteration report (SPEC §7): what finance learns about one iteration, without a database.

Two halves:

- gathering (`select_unreported`, `gather_report`): reads the ledger through the caller's
  connection, inside the caller's transaction, so the report shows exactly the rows that
  the same transaction then marks reported;
- rendering (`build_report` and the `IterationReport` methods): pure functions from rows to
  the subject, an HTML body for Outlook and Gmail, a plain-text alternative, and two CSV
  attachments.

Hostile input is expected: MIS file names, SP ids and error texts come from outside. Every
value is HTML-escaped, and CSV text cells that a spreadsheet would run as a formula are
prefixed with `'`.

Large iterations: the success rows are streamed from a server-side cursor and the
attachment holds at most `attachment_max_rows` of them (ACS refuses messages over 10 MB);
the email then says how many rows were left out and where the full list lives.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import psycopg

# SPEC §4 outcomes in order (as the accounting shows them); SPEC §5 database columns.
from payout_core.calculate import OUTCOMES, SUCCESS_COLUMNS
from payout_core.errors import ERROR_LOG_HEADERS
from payout_core.mail import Attachment, EmailMessage

# SPEC §5 business names, in order; SUCCESS_COLUMNS are the same in the database.
SUCCESS_CSV_HEADERS = (
    "CreatedAt",
    "SourceType",
    "MediumType",
    "ProductType",
    "SPId",
    "LeadId",
    "Status",
    "SubStatus",
    "DateOfSale",
    "DateOfRevenue",
    "KPI1PayinAmount",
    "KPI1PayoutAmount",
    "KPI2PayinAmount",
    "KPI2PayoutAmount",
    "TotalPayin",
    "TotalPayout",
)

NO_ERRORS_SENTENCE = "No errors were detected in this iteration."
NO_PAID_LEADS_SENTENCE = "No leads were paid in this iteration."
# The body lists this many errors; all of them are in the attached error log.
BODY_ERRORS_MAX = 200
# What a spreadsheet treats as the start of a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ZERO = Decimal(0)

# --- rows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MisRunAccounting:
    """One processed MIS file: rows read and how many rows got each outcome."""

    mis_run_id: int
    mis_file: str
    finished_at: datetime
    rows_read: int
    outcome_counts: Mapping[str, int]

    def count(self, outcome: str) -> int:
        return int(self.outcome_counts.get(outcome, 0))

    @property
    def counts_add_up(self) -> bool:
        """SPEC §4 invariant: every row lands in exactly one outcome."""
        return sum(self.count(outcome) for outcome in OUTCOMES) == self.rows_read and set(
            self.outcome_counts
        ) <= set(OUTCOMES)


@dataclass(frozen=True)
class ErrorRecord:
    error_log_id: int
    created_at: datetime
    mis: str
    error_type: str


@dataclass(frozen=True)
class SummaryLine:
    """One (date, SourceType, MediumType, ProductType) group, or the total when they are None."""

    date_of_revenue: date | None
    source_type: str | None
    medium_type: str | None
    product_type: str | None
    unique_sp_count: int
    lead_count: int
    total_payin: Decimal
    total_payout: Decimal

    @property
    def revenue(self) -> Decimal:
        return self.total_payin - self.total_payout


@dataclass(frozen=True)
class Unreported:
    """The ids one iteration covers, locked by `select_unreported`."""

    mis_run_ids: tuple[int, ...]
    error_log_ids: tuple[int, ...]

    @property
    def is_empty(self) -> bool:
        return not self.mis_run_ids and not self.error_log_ids


# --- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IterationReport:
    iteration_number: int
    report_date: date
    runs: tuple[MisRunAccounting, ...]
    errors: tuple[ErrorRecord, ...]
    summary_lines: tuple[SummaryLine, ...]
    summary_total: SummaryLine
    success_csv: bytes
    success_rows_attached: int
    error_csv: bytes
    error_rows_attached: int
    attachment_max_rows: int

    @property
    def paid_lead_count(self) -> int:
        return self.summary_total.lead_count

    @property
    def success_file_name(self) -> str:
        return f"payout_calculations_iteration_{self.iteration_number}.csv"

    @property
    def error_file_name(self) -> str:
        return f"error_logs_iteration_{self.iteration_number}.csv"

    @property
    def runs_not_adding_up(self) -> tuple[MisRunAccounting, ...]:
        return tuple(run for run in self.runs if not run.counts_add_up)

    def subject(self) -> str:
        errors = "no errors" if not self.errors else _plural(len(self.errors), "error", "errors")
        return (
            f"ShiftPay payouts — iteration {self.iteration_number} "
            f"({self.report_date.isoformat()}): {_plural(len(self.runs), 'file', 'files')}, "
            f"{self.paid_lead_count:,} paid, {errors}"
        )

    def attachment_notes(self) -> list[str]:
        notes = [
            f"{self.success_file_name}: {_plural(self.success_rows_attached, 'row', 'rows')}"
            " (the success rows).",
            f"{self.error_file_name}: {_plural(self.error_rows_attached, 'row', 'rows')}"
            " (the error log).",
        ]
        if (
            self.success_rows_attached == self.attachment_max_rows
            and self.paid_lead_count > self.success_rows_attached
        ):
            notes.append(
                f"The success attachment is capped: it holds the first "
                f"{self.success_rows_attached:,} of {self.paid_lead_count:,} rows; the full "
                "list is in the payout_calculations table and the per-file success CSVs."
            )
        if len(self.errors) > self.error_rows_attached:
            notes.append(
                f"The error attachment is capped: it holds the first "
                f"{self.error_rows_attached:,} of {len(self.errors):,} errors; all are in "
                "the error_logs table and error_logs.csv in storage."
            )
        return notes

    def warnings(self) -> list[str]:
        """Ledger inconsistencies worth a human's eye; reported, not hidden, never fatal."""
        return [
            f"{run.mis_file}: the outcome counts do not add up to the {run.rows_read:,} rows read."
            for run in self.runs_not_adding_up
        ]

    def text_body(self) -> str:
        return render_text(self)

    def html_body(self) -> str:
        return render_html(self)

    def to_email(self) -> EmailMessage:
        return EmailMessage(
            subject=self.subject(),
            text_body=self.text_body(),
            html_body=self.html_body(),
            attachments=(
                Attachment(self.success_file_name, "text/csv", self.success_csv),
                Attachment(self.error_file_name, "text/csv", self.error_csv),
            ),
            iteration_number=self.iteration_number,
        )


def build_report(
    *,
    iteration_number: int,
    report_date: date,
    runs: Sequence[MisRunAccounting],
    errors: Sequence[ErrorRecord],
    summary_lines: Sequence[SummaryLine],
    summary_total: SummaryLine,
    success_rows: Iterable[Sequence[object]],
    attachment_max_rows: int,
) -> IterationReport:
    """Pure: rows in, report out. `success_rows` are SUCCESS_COLUMNS tuples, consumed lazily
    and only up to `attachment_max_rows`."""
    success_csv, success_rows_attached = csv_bytes(
        SUCCESS_CSV_HEADERS, success_rows, attachment_max_rows
    )
    error_csv, error_rows_attached = csv_bytes(
        ERROR_LOG_HEADERS,
        ((error.created_at, error.mis, error.error_type) for error in errors),
        attachment_max_rows,
    )
    return IterationReport(
        iteration_number=iteration_number,
        report_date=report_date,
        runs=tuple(runs),
        errors=tuple(errors),
        summary_lines=tuple(summary_lines),
        summary_total=summary_total,
        success_csv=success_csv,
        success_rows_attached=success_rows_attached,
        error_csv=error_csv,
        error_rows_attached=error_rows_attached,
        attachment_max_rows=attachment_max_rows,
    )


# --- gathering from the ledger ------------------------------------------------------------


def select_unreported(conn: psycopg.Connection) -> Unreported:
    """Lock and return the ids of the runs and errors no iteration has reported yet.

    FOR UPDATE: a concurrent reporter (which the caller's advisory lock should already
    exclude) would block here instead of reporting the same rows.
    """
    mis_run_ids = conn.execute(
        "SELECT mis_run_id FROM mis_runs WHERE reported_at IS NULL ORDER BY mis_run_id FOR UPDATE"
    ).fetchall()
    error_log_ids = conn.execute(
        "SELECT error_log_id FROM error_logs WHERE reported_at IS NULL"
        " ORDER BY error_log_id FOR UPDATE"
    ).fetchall()
    return Unreported(
        mis_run_ids=tuple(row[0] for row in mis_run_ids),
        error_log_ids=tuple(row[0] for row in error_log_ids),
    )


def gather_report(
    conn: psycopg.Connection,
    unreported: Unreported,
    *,
    iteration_number: int,
    report_date: date,
    attachment_max_rows: int,
) -> IterationReport:
    """The report of exactly the runs and errors in `unreported`; must run inside a
    transaction (the success rows come through a server-side cursor)."""
    run_ids = list(unreported.mis_run_ids)
    summary_lines, summary_total = _summary_lines(conn, run_ids)
    with conn.cursor(name="iteration_success_rows") as cursor:
        # Server-side cursor: at most `itersize` rows in memory, and no more than the
        # attachment holds are ever fetched.
        cursor.itersize = min(attachment_max_rows, 2_000)
        cursor.execute(
            f"SELECT {', '.join(SUCCESS_COLUMNS)} FROM payout_calculations"
            " WHERE mis_run_id = ANY(%s) ORDER BY created_at, lead_id LIMIT %s",
            (run_ids, attachment_max_rows),
        )
        return build_report(
            iteration_number=iteration_number,
            report_date=report_date,
            runs=_runs(conn, run_ids),
            errors=_errors(conn, list(unreported.error_log_ids)),
            summary_lines=summary_lines,
            summary_total=summary_total,
            success_rows=cursor,
            attachment_max_rows=attachment_max_rows,
        )


def _runs(conn: psycopg.Connection, run_ids: list[int]) -> list[MisRunAccounting]:
    rows = conn.execute(
        "SELECT mis_run_id, mis_file, finished_at, rows_read, outcome_counts"
        " FROM mis_runs WHERE mis_run_id = ANY(%s) ORDER BY mis_run_id",
        (run_ids,),
    ).fetchall()
    return [
        MisRunAccounting(
            mis_run_id=row[0],
            mis_file=row[1],
            finished_at=row[2],
            rows_read=row[3],
            outcome_counts={str(key): int(value) for key, value in (row[4] or {}).items()},
        )
        for row in rows
    ]


def _errors(conn: psycopg.Connection, error_log_ids: list[int]) -> list[ErrorRecord]:
    rows = conn.execute(
        "SELECT error_log_id, created_at, mis, error_type FROM error_logs"
        " WHERE error_log_id = ANY(%s) ORDER BY created_at, error_log_id",
        (error_log_ids,),
    ).fetchall()
    return [ErrorRecord(*row) for row in rows]


def _summary_lines(
    conn: psycopg.Connection, run_ids: list[int]
) -> tuple[list[SummaryLine], SummaryLine]:
    # GROUPING SETS gives the groups and the total in one pass; the total's UniqueSP counts
    # each SP once across groups, which summing the groups would not.
    rows = conn.execute(
        """
        SELECT date_of_revenue, source_type, medium_type, product_type,
               count(DISTINCT sp_id), count(*),
               coalesce(sum(total_payin), 0), coalesce(sum(total_payout), 0),
               GROUPING(date_of_revenue) = 1 AS is_total
        FROM payout_calculations
        WHERE mis_run_id = ANY(%s)
        GROUP BY GROUPING SETS ((date_of_revenue, source_type, medium_type, product_type), ())
        ORDER BY is_total, date_of_revenue, source_type, medium_type, product_type
        """,
        (run_ids,),
    ).fetchall()
    lines = [SummaryLine(*row[:8]) for row in rows if not row[8]]
    total = next(SummaryLine(*row[:8]) for row in rows if row[8])
    return lines, total


# --- CSV ----------------------------------------------------------------------------------


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
    headers: Sequence[str], rows: Iterable[Sequence[object]], max_rows: int
) -> tuple[bytes, int]:
    """UTF-8 CSV (with BOM, so Excel reads non-ASCII names right) of at most `max_rows`
    rows; returns the bytes and the number of rows written."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    rows_written = 0
    for row in rows:
        if rows_written == max_rows:
            break
        writer.writerow([csv_cell(value) for value in row])
        rows_written += 1
    return ("\ufeff" + buffer.getvalue()).encode("utf-8"), rows_written


# --- shared formatting --------------------------------------------------------------------


def money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def count_text(count: int) -> str:
    return f"{count:,}"


def timestamp_text(moment: datetime) -> str:
    """UTC, whatever the session time zone: finance compares times across reports."""
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count:,} {singular if count == 1 else plural}"


@dataclass(frozen=True)
class Table:
    """A table both renderers draw; `right_aligned` are the numeric columns."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    total: tuple[str, ...] | None
    right_aligned: frozenset[int]


SUMMARY_HEADERS = (
    "Date",
    "SourceType",
    "MediumType",
    "ProductType",
    "UniqueSP",
    "TotalLeads",
    "TotalPayin",
    "TotalPayout",
    "Revenue",
)
ACCOUNTING_HEADERS = ("MIS", "Rows read", *OUTCOMES)


def summary_table(report: IterationReport) -> Table:
    def cells(line: SummaryLine) -> tuple[str, ...]:
        return (
            line.date_of_revenue.isoformat() if line.date_of_revenue else "Total",
            line.source_type or "",
            line.medium_type or "",
            line.product_type or "",
            count_text(line.unique_sp_count),
            count_text(line.lead_count),
            money(line.total_payin),
            money(line.total_payout),
            money(line.revenue),
        )

    return Table(
        headers=SUMMARY_HEADERS,
        rows=tuple(cells(line) for line in report.summary_lines),
        total=cells(report.summary_total),
        right_aligned=frozenset(range(4, 9)),
    )


def accounting_table(report: IterationReport) -> Table:
    rows = tuple(
        (
            run.mis_file,
            count_text(run.rows_read),
            *(count_text(run.count(outcome)) for outcome in OUTCOMES),
        )
        for run in report.runs
    )
    total = (
        "Total",
        count_text(sum(run.rows_read for run in report.runs)),
        *(count_text(sum(run.count(outcome) for run in report.runs)) for outcome in OUTCOMES),
    )
    return Table(
        headers=ACCOUNTING_HEADERS,
        rows=rows,
        total=total,
        right_aligned=frozenset(range(1, len(ACCOUNTING_HEADERS))),
    )


def errors_table(report: IterationReport) -> Table:
    return Table(
        headers=ERROR_LOG_HEADERS,
        rows=tuple(
            (timestamp_text(error.created_at), error.mis, error.error_type)
            for error in report.errors[:BODY_ERRORS_MAX]
        ),
        total=None,
        right_aligned=frozenset(),
    )


def _errors_left_out_note(report: IterationReport) -> str | None:
    left_out = len(report.errors) - BODY_ERRORS_MAX
    if left_out <= 0:
        return None
    return f"…and {left_out:,} more errors, all in the attached error log."


def _headline(report: IterationReport) -> str:
    return (
        f"Reported {report.report_date.isoformat()}: "
        f"{_plural(len(report.runs), 'MIS file', 'MIS files')} processed, "
        f"{_plural(report.paid_lead_count, 'lead', 'leads')} paid, "
        f"{_plural(len(report.errors), 'error', 'errors')}."
    )


# --- plain text ---------------------------------------------------------------------------


def text_table(table: Table) -> str:
    all_rows = [table.headers, *table.rows, *([table.total] if table.total else [])]
    widths = [max(len(row[column]) for row in all_rows) for column in range(len(table.headers))]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(width) if column in table.right_aligned else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    lines = [line(table.headers), rule, *(line(row) for row in table.rows)]
    if table.total:
        lines += [rule, line(table.total)]
    return "\n".join(lines)


def render_text(report: IterationReport) -> str:
    parts = [f"ShiftPay payouts — iteration {report.iteration_number}", "", _headline(report)]
    for warning in report.warnings():
        parts += ["", f"WARNING: {warning}"]
    parts += ["", "Success summary", ""]
    parts.append(
        text_table(summary_table(report)) if report.summary_lines else NO_PAID_LEADS_SENTENCE
    )
    parts += ["", "Per-file accounting", ""]
    parts.append(
        text_table(accounting_table(report))
        if report.runs
        else "No MIS files were processed in this iteration."
    )
    parts += ["", "Errors", ""]
    if report.errors:
        parts.append(text_table(errors_table(report)))
        note = _errors_left_out_note(report)
        if note:
            parts.append(note)
    else:
        parts.append(NO_ERRORS_SENTENCE)
    parts += ["", "Attachments", ""]
    parts += [f"- {note}" for note in report.attachment_notes()]
    return "\n".join(parts) + "\n"


# --- HTML ---------------------------------------------------------------------------------
# Outlook (Word engine) ignores <style> blocks and most CSS; Gmail strips <style> in some
# clients. So: tables for layout, inline styles only, `align` attributes as a fallback.

FONT = "font-family:Segoe UI,Arial,Helvetica,sans-serif;"
TABLE_STYLE = FONT + "border-collapse:collapse;font-size:13px;color:#1f2328;margin:0 0 16px 0;"
HEADER_CELL_STYLE = (
    "background-color:#f0f3f6;border:1px solid #d0d7de;padding:6px 10px;font-weight:bold;"
)
CELL_STYLE = "border:1px solid #d0d7de;padding:6px 10px;"
TOTAL_CELL_STYLE = CELL_STYLE + "font-weight:bold;border-top:2px solid #1f2328;"
AMOUNT_STYLE = "text-align:right;white-space:nowrap;"
TEXT_STYLE = "text-align:left;"
HEADING_STYLE = FONT + "font-size:16px;color:#1f2328;margin:20px 0 8px 0;"
PARAGRAPH_STYLE = FONT + "font-size:13px;color:#1f2328;margin:0 0 12px 0;"
WARNING_STYLE = FONT + "font-size:13px;color:#9a1c1c;font-weight:bold;margin:0 0 12px 0;"


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _html_cell(tag: str, text: str, base_style: str, right_aligned: bool) -> str:
    align = "right" if right_aligned else "left"
    style = base_style + (AMOUNT_STYLE if right_aligned else TEXT_STYLE)
    return f'<{tag} align="{align}" style="{style}">{_escape(text)}</{tag}>'


def html_table(table: Table) -> str:
    def row_html(row: Sequence[str], tag: str, style: str) -> str:
        cells = "".join(
            _html_cell(tag, cell, style, column in table.right_aligned)
            for column, cell in enumerate(row)
        )
        return f"<tr>{cells}</tr>"

    body = [row_html(row, "td", CELL_STYLE) for row in table.rows]
    if table.total:
        body.append(row_html(table.total, "td", TOTAL_CELL_STYLE))
    return (
        f'<table role="table" cellpadding="0" cellspacing="0" border="0" style="{TABLE_STYLE}">'
        f"<thead>{row_html(table.headers, 'th', HEADER_CELL_STYLE)}</thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _paragraph(text: str, style: str = PARAGRAPH_STYLE) -> str:
    return f'<p style="{style}">{_escape(text)}</p>'


def _heading(text: str) -> str:
    return f'<h2 style="{HEADING_STYLE}">{_escape(text)}</h2>'


def render_html(report: IterationReport) -> str:
    parts = [
        f'<h1 style="{FONT}font-size:20px;color:#1f2328;margin:0 0 8px 0;">'
        f"{_escape(f'ShiftPay payouts — iteration {report.iteration_number}')}</h1>",
        _paragraph(_headline(report)),
        *(_paragraph(f"Warning: {warning}", WARNING_STYLE) for warning in report.warnings()),
        _heading("Success summary"),
        html_table(summary_table(report))
        if report.summary_lines
        else _paragraph(NO_PAID_LEADS_SENTENCE),
        _heading("Per-file accounting"),
        html_table(accounting_table(report))
        if report.runs
        else _paragraph("No MIS files were processed in this iteration."),
        _heading("Errors"),
    ]
    if report.errors:
        parts.append(html_table(errors_table(report)))
        note = _errors_left_out_note(report)
        if note:
            parts.append(_paragraph(note))
    else:
        parts.append(_paragraph(NO_ERRORS_SENTENCE))
    parts.append(_heading("Attachments"))
    parts += [_paragraph(note) for note in report.attachment_notes()]
    content = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_escape(report.subject())}</title></head>\n"
        '<body style="margin:0;padding:0;background-color:#ffffff;">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">'
        '<tr><td style="padding:16px;">\n'
        f"{content}\n"
        "</td></tr></table>\n</body></html>\n"
    )
