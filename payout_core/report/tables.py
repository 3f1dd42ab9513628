"""The report's tables, drawn alike by the text and the HTML renderer; number formats."""

from __future__ import annotations

from payout_core.engine.calculate import OUTCOMES
from payout_core.errors import ERROR_LOG_HEADERS
from payout_core.report.formats import count_text, money, plural, timestamp_text
from payout_core.report.model import IterationReport, SummaryLine
from payout_core.report.shapes import Table

NO_ERRORS_SENTENCE = "No errors were detected in this iteration."
NO_PAID_LEADS_SENTENCE = "No leads were paid in this iteration."
# The body lists this many errors; all of them are in the attached error log.
BODY_ERRORS_MAX = 200


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


def errors_left_out_note(report: IterationReport) -> str | None:
    left_out = len(report.errors) - BODY_ERRORS_MAX
    if left_out <= 0:
        return None
    return f"…and {left_out:,} more errors, all in the attached error log."


def headline(report: IterationReport) -> str:
    return (
        f"Reported {report.report_date.isoformat()}: "
        f"{plural(len(report.runs), 'MIS file', 'MIS files')} processed, "
        f"{plural(report.paid_lead_count, 'lead', 'leads')} paid, "
        f"{plural(len(report.errors), 'error', 'errors')}."
    )
