"""The error record is always writable and readable (SPEC §6): ErrorType cleaned and capped,
error_logs.csv neutralised like the email, the email's error attachment bounded in size."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

from payout_core.adapters.storage import error_log_line
from payout_core.errors import ERROR_TEXT_MAX_CHARS, MisFileError, clean_error_text, describe_error
from payout_core.report import model
from payout_core.report.html import render_html
from payout_core.report.model import ErrorRecord
from payout_core.report.text import render_text


def test_control_characters_and_nul_are_replaced():
    cleaned = clean_error_text("bad\x00byte\x1b[31m and\r\nlines\tand \x85 \udcff")
    assert "\x00" not in cleaned and "\x1b" not in cleaned and "\x85" not in cleaned
    assert "\r" not in cleaned and "\n" not in cleaned and "\udcff" not in cleaned
    assert cleaned.startswith("bad\ufffdbyte\ufffd[31m and  lines and")


def test_a_huge_error_is_cut_to_1000_characters_saying_what_was_cut():
    cleaned = clean_error_text("x" * 50_000_000)
    assert len(cleaned) <= ERROR_TEXT_MAX_CHARS
    assert "50,000,000 characters" in cleaned and "cut" in cleaned
    assert clean_error_text(cleaned) == cleaned  # cleaning twice changes nothing


def test_describe_error_gives_the_cleaned_cause():
    error = MisFileError("junk.csv", "cell '\x00\x00' " + "y" * 5_000)
    described = describe_error(error)
    assert "\x00" not in described and len(described) <= ERROR_TEXT_MAX_CHARS
    assert "junk.csv" not in described


@dataclass(frozen=True)
class Record:
    created_at: dt.datetime
    mis: str
    error_type: str


def test_error_log_rows_neutralise_formulas_and_clean_text():
    record = Record(dt.datetime(2023, 10, 2, tzinfo=dt.UTC), "=cmd|' /C calc'!A0.csv", "@SUM\x00")
    [row] = list(csv.reader(io.StringIO(error_log_line(record).decode("utf-8"))))
    assert row[1] == "'=cmd|' /C calc'!A0.csv"
    assert row[2] == "'@SUM\ufffd"


def test_the_error_attachment_stays_small_whatever_the_errors():
    errors = [
        ErrorRecord(n, dt.datetime(2023, 10, 2, tzinfo=dt.UTC), f"file_{n}.csv", "e" * 1_000)
        for n in range(20_000)
    ]
    report = model.build_report(
        iteration_number=1,
        report_date=dt.date(2023, 10, 2),
        runs=[],
        errors=errors,
        summary_lines=[],
        summary_total=model.SummaryLine(None, None, None, None, 0, 0, 0, 0),
        success_rows=[],
        attachments_max_bytes=6 * 1024**2,
    )
    assert len(report.error_csv) * 4 / 3 <= 6 * 1024**2 / 4
    assert 0 < report.error_rows_attached < len(errors)
    assert any("capped" in note for note in report.attachment_notes())
    body_bytes = len(render_html(report).encode()) + len(render_text(report).encode())
    assert body_bytes + len(report.error_csv) * 4 / 3 < 5 * 1024**2
