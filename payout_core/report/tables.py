"""The report's tables, drawn alike by the text and the HTML renderer; number formats."""

from __future__ import annotations

from decimal import Decimal

from payout_core.engine.calculate import OUTCOMES
from payout_core.errors import ERROR_LOG_HEADERS
from payout_core.report.formats import count_text, money, timestamp_text
from payout_core.report.model import IterationReport, SummaryLine
from payout_core.report.shapes import Table

NO_ERRORS_SENTENCE = "No errors were detected in this iteration."
NO_PAID_LEADS_SENTENCE = "No leads were paid in this iteration."
# The body lists this many errors; all of them are in the attached error log.
BODY_ERRORS_MAX = 200


# Finance's words for SPEC's columns and outcomes (the attached CSVs keep SPEC's names).
SUMMARY_HEADERS = (
    "Date of revenue",
    "Bank",
    "Channel",
    "Product",
    "SPs",
    "Leads",
    "Payin released",
    "Payin held",
    "Payout released",
    "Payout held",
    "Revenue released",
)
REJECTED_HEADERS = ("Payin rejected", "Payout rejected")
OUTCOME_LABELS = {
    "invalid": "Invalid",
    "duplicate": "Duplicate",
    "not_shiftpay_lead": "Not our lead",
    "not_payable": "Not payable",
    "no_active_rule": "No rule",
    "paid": "Paid",
    "kpi_earned": "KPI later",
    "adjusted": "Adjusted",
    "already_paid": "Already paid",
}
ACCOUNTING_HEADERS = (
    "MIS file",
    "Rows read",
    *(OUTCOME_LABELS.get(outcome, outcome) for outcome in OUTCOMES),
    "Payin",
    "Payout",
)
SUMMARY_NOTES = (
    "Released: events credited to wallets in this cycle or carried to a later one (the "
    "final table and the success attachment count these). Held: events waiting for a "
    "decision; their payout is credited only once approved, their payin is owed by the "
    "bank all the same. Revenue released = payin released − payout released."
)


def summary_table(report: IterationReport) -> Table:
    with_rejected = any(
        line.rejected_payin or line.rejected_payout
        for line in (*report.summary_lines, report.summary_total)
    )

    def cells(line: SummaryLine) -> tuple[str, ...]:
        rejected = (money(line.rejected_payin), money(line.rejected_payout))
        return (
            line.date_of_revenue.isoformat() if line.date_of_revenue else "Total",
            line.source_type or "",
            line.medium_type or "",
            line.product_type or "",
            count_text(line.unique_sp_count),
            count_text(line.lead_count),
            money(line.total_payin),
            money(line.held_payin),
            money(line.total_payout),
            money(line.held_payout),
            money(line.revenue),
            *(rejected if with_rejected else ()),
        )

    headers = SUMMARY_HEADERS + (REJECTED_HEADERS if with_rejected else ())
    return Table(
        headers=headers,
        rows=tuple(cells(line) for line in report.summary_lines),
        total=cells(report.summary_total),
        right_aligned=frozenset(range(4, len(headers))),
    )


def summary_notes(report: IterationReport) -> list[str]:
    """What the summary's totals include, and how they meet the per-file table."""
    total = report.summary_total
    amount = report.currency.amount
    notes = [report.currency.note + " " + SUMMARY_NOTES]
    if total.rejected_payin or total.rejected_payout:
        notes.append(
            "Rejected: events a person rejected; never paid to the SP, their payin is still "
            "owed by the bank (SPEC §8)."
        )
    notes.append(
        f"Ties out: payin released {amount(total.total_payin)} + held "
        f"{amount(total.held_payin)}"
        + (f" + rejected {amount(total.rejected_payin)}" if total.rejected_payin else "")
        + f" = {amount(total.payin_all)}; payout released {amount(total.total_payout)} + held "
        f"{amount(total.held_payout)}"
        + (f" + rejected {amount(total.rejected_payout)}" if total.rejected_payout else "")
        + f" = {amount(total.payout_all)}: the per-file table's total payin and payout."
    )
    return notes


def accounting_table(report: IterationReport) -> Table:
    def money_cells(payin: Decimal | None, payout: Decimal | None) -> tuple[str, str]:
        return (
            "" if payin is None else money(payin),
            "" if payout is None else money(payout),
        )

    rows = tuple(
        (
            run.mis_file,
            count_text(run.rows_read),
            *(count_text(run.count(outcome)) for outcome in OUTCOMES),
            *money_cells(run.total_payin, run.total_payout),
        )
        for run in report.runs
    )
    total = (
        "Total",
        count_text(sum(run.rows_read for run in report.runs)),
        *(count_text(sum(run.count(outcome) for run in report.runs)) for outcome in OUTCOMES),
        *money_cells(
            sum((run.total_payin or Decimal(0) for run in report.runs), Decimal(0)),
            sum((run.total_payout or Decimal(0) for run in report.runs), Decimal(0)),
        ),
    )
    return Table(
        headers=ACCOUNTING_HEADERS,
        rows=rows,
        total=total,
        right_aligned=frozenset(range(1, len(ACCOUNTING_HEADERS))),
    )


ACCOUNTING_NOTE = (
    "Payin and payout per file: every event the file made (first payments, KPIs earned "
    "later, adjustments), released, held or rejected."
)


# The error log's columns (CreatedAt, MIS, ErrorType; the attachment keeps them) in words.
ERRORS_HEADERS = ("When", "MIS file", "What went wrong")
assert len(ERRORS_HEADERS) == len(ERROR_LOG_HEADERS)


def errors_table(report: IterationReport) -> Table:
    return Table(
        headers=ERRORS_HEADERS,
        rows=tuple(
            (timestamp_text(error.created_at), error.mis, error.error_type)
            for error in report.errors[:BODY_ERRORS_MAX]
        ),
        total=None,
        right_aligned=frozenset(),
    )


def errors_left_out_note(report: IterationReport) -> str | None:
    left_out = len(report.errors) - BODY_ERRORS_MAX
    if left_out <= 0:
        return None
    return f"…and {left_out:,} more errors, all in the attached error log."


def headline(report: IterationReport) -> str:
    return f"Reported {report.report_date.isoformat()}: " + ", ".join(report.happenings()) + "."
