"""The iteration report (SPEC §7), rendered for people: pure, no database, no sender.

`model` holds the content (rows in, one IterationReport out), `tables` the tables both
renderers draw, `text` and `html` the two bodies, `people_csv` the CSV attachments and
their formula safety. The flow of the iteration (flows/iteration_report.py) makes it
from the ledger's rows and turns it into an email.

Hostile input is expected: MIS file names, SP ids and error texts come from outside. Every
value is HTML-escaped, and CSV text cells that a spreadsheet would run as a formula are
prefixed with `'`.
"""

from payout_core.report.formats import Currency, money
from payout_core.report.html import render_html
from payout_core.report.model import (
    SUCCESS_CSV_HEADERS,
    ErrorRecord,
    IterationReport,
    MisRunAccounting,
    SummaryLine,
    build_report,
)
from payout_core.report.people_csv import csv_bytes, csv_cell, spreadsheet_safe
from payout_core.report.tables import (
    NO_ERRORS_SENTENCE,
    NO_PAID_LEADS_SENTENCE,
    Table,
)
from payout_core.report.text import render_text, text_table

__all__ = [
    "NO_ERRORS_SENTENCE",
    "NO_PAID_LEADS_SENTENCE",
    "SUCCESS_CSV_HEADERS",
    "Currency",
    "ErrorRecord",
    "IterationReport",
    "MisRunAccounting",
    "SummaryLine",
    "Table",
    "build_report",
    "csv_bytes",
    "csv_cell",
    "money",
    "render_html",
    "render_text",
    "spreadsheet_safe",
    "text_table",
]
