"""The iteration report's rendering: numbers, escaping, CSV safety, subject and sections."""

from __future__ import annotations

import base64
import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from payout_core import report
from payout_core.adapters import mail
from payout_core.engine.calculate import OUTCOMES
from payout_core.flows import iteration
from payout_core.report import (
    ErrorRecord,
    MisRunAccounting,
    SummaryLine,
    build_report,
)
from payout_core.report.tables import OUTCOME_LABELS

REPORT_DATE = date(2026, 11, 21)
PROCESSED_AT = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
HOSTILE_FILE = '<script>alert("x")</script>.csv'
HOSTILE_FORMULA = '=HYPERLINK("http://evil.example","click")'


def success_row(lead_id: str, sp_id: str = "SP-1", payin: str = "1500.00", payout: str = "1000.00"):
    return (
        PROCESSED_AT,
        "Bank_A",
        "Medium_A",
        "Savings Account",
        sp_id,
        lead_id,
        "Success",
        "Account Opened",
        date(2023, 10, 2),
        REPORT_DATE,
        Decimal(payin),
        Decimal(payout),
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal(payin),
        Decimal(payout),
    )


def make_report(
    *,
    errors: tuple[ErrorRecord, ...] = (),
    success_rows: list[tuple] | None = None,
    attachments_max_bytes: int = 1_000_000,
    runs: tuple[MisRunAccounting, ...] | None = None,
) -> report.IterationReport:
    if runs is None:
        runs = (
            MisRunAccounting(
                1,
                "bank_a_2026-11-20.csv",
                PROCESSED_AT,
                10,
                {"invalid": 1, "duplicate": 1, "not_shiftpay_lead": 2, "paid": 6},
            ),
            MisRunAccounting(2, HOSTILE_FILE, PROCESSED_AT, 3, {"already_paid": 1, "paid": 2}),
        )
    lines = (
        SummaryLine(
            REPORT_DATE,
            "Bank_A",
            "Medium_A",
            "Savings Account",
            5,
            6,
            Decimal("1234567.50"),
            Decimal("1000000.25"),
        ),
        SummaryLine(
            REPORT_DATE,
            "Bank_B",
            "Medium_A",
            "Personal Loan",
            2,
            2,
            Decimal("2192.00"),
            Decimal("878.00"),
        ),
    )
    total = SummaryLine(None, None, None, None, 6, 8, Decimal("1236759.50"), Decimal("1000878.25"))
    return build_report(
        iteration_number=7,
        report_date=REPORT_DATE,
        runs=runs,
        errors=errors,
        summary_lines=lines,
        summary_total=total,
        success_rows=success_rows if success_rows is not None else [success_row("AT-00001")],
        attachments_max_bytes=attachments_max_bytes,
    )


def read_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_subject_names_iteration_date_files_paid_and_no_errors():
    assert make_report().subject() == (
        "ShiftPay payouts — iteration 7 (2026-11-21): 2 files, 8 leads paid, no errors"
    )


def test_subject_counts_errors():
    one = (ErrorRecord(1, PROCESSED_AT, "x.csv", "unreadable"),)
    two = (*one, ErrorRecord(2, PROCESSED_AT, "y.csv", "not CSV"))
    assert make_report(errors=one).subject().endswith(": 2 files, 8 leads paid, 1 error")
    assert make_report(errors=two).subject().endswith(": 2 files, 8 leads paid, 2 errors")


def test_summary_amounts_have_thousands_separators_and_revenue_in_text_and_html():
    text = report.render_text(make_report())
    html = report.render_html(make_report())
    # Revenue = TotalPayin - TotalPayout, per line and in the total row.
    for body in (text, html):
        assert "1,234,567.50" in body
        assert "1,000,000.25" in body
        assert "234,567.25" in body  # Bank_A revenue
        assert "1,314.00" in body  # Bank_B revenue: 2192 - 878
        assert "1,236,759.50" in body and "235,881.25" in body  # total payin, total revenue


def test_text_tables_are_aligned_with_right_aligned_amounts():
    lines = report.render_text(make_report()).splitlines()
    header = next(line for line in lines if line.startswith("Date of revenue"))
    rows = [line for line in lines if line.startswith(("2026-11-21", "Total"))][:3]
    revenue_end = header.index("Revenue released") + len("Revenue released")
    assert all(len(row) == revenue_end for row in rows), rows  # amounts end in one column
    assert rows[-1].startswith("Total") and rows[-1].endswith("235,881.25")


def test_per_file_accounting_shows_every_outcome_in_order_with_zeros():
    text = report.render_text(make_report())
    header = next(line for line in text.splitlines() if line.startswith("MIS file"))
    labels = [OUTCOME_LABELS[outcome] for outcome in OUTCOMES]  # finance's words, SPEC's order
    assert [cell.strip() for cell in header.split("  ") if cell.strip()] == [
        "MIS file", "Rows read", "Invalid", "Duplicate", "Not our lead", "Not payable",
        "No rule", "Paid", "KPI later", "Adjusted", "Already paid", "Payin", "Payout",
    ]  # fmt: skip
    first_file = next(line for line in text.splitlines() if line.startswith("bank_a_"))
    assert first_file.split()[1:11] == ["10", "1", "1", "2", "0", "0", "6", "0", "0", "0"]
    total = [line for line in text.splitlines() if line.startswith("Total")][1]
    assert total.split()[1:11] == ["13", "1", "1", "2", "0", "0", "8", "0", "0", "1"]
    html = report.render_html(make_report())
    positions = [html.index(f">{label}</th>") for label in labels]
    assert positions == sorted(positions)


def test_html_amount_cells_are_right_aligned_with_inline_styles_only():
    html = report.render_html(make_report())
    assert "<style" not in html and "class=" not in html
    assert '<td align="right" style="' in html
    assert "text-align:right" in html
    assert "font-weight:bold" in html  # the total rows


def test_no_errors_sentence_when_there_are_none():
    no_errors = make_report()
    assert report.NO_ERRORS_SENTENCE == "No errors were detected in this iteration."
    assert report.NO_ERRORS_SENTENCE in report.render_text(no_errors)
    assert report.NO_ERRORS_SENTENCE in report.render_html(no_errors)
    with_errors = make_report(errors=(ErrorRecord(1, PROCESSED_AT, "x.csv", "unreadable"),))
    assert report.NO_ERRORS_SENTENCE not in report.render_text(with_errors)
    assert "unreadable" in report.render_text(with_errors)


def test_hostile_values_are_escaped_in_html():
    error = ErrorRecord(9, PROCESSED_AT, HOSTILE_FILE, "<img src=x onerror=alert(1)> & more")
    html = report.render_html(make_report(errors=(error,)))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;.csv" in html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; more" in html


def test_formula_cells_are_neutralised_in_both_csvs():
    rows = [
        success_row("AT-00001", sp_id=HOSTILE_FORMULA),
        success_row("+AT-0002", sp_id="@SUM(1)"),
    ]
    errors = (
        ErrorRecord(1, PROCESSED_AT, "-2+3.csv", HOSTILE_FORMULA),
        ErrorRecord(2, PROCESSED_AT, "\tname.csv", "\rcarriage"),
    )
    built = make_report(errors=errors, success_rows=rows)
    success = read_csv(built.success_csv)
    assert success[1][4] == "'" + HOSTILE_FORMULA
    assert success[2][4] == "'@SUM(1)" and success[2][5] == "'+AT-0002"
    error_log = read_csv(built.error_csv)
    assert error_log[1][1:] == ["'-2+3.csv", "'" + HOSTILE_FORMULA]
    assert error_log[2][1:] == ["'\tname.csv", "'\rcarriage"]


def test_success_csv_has_spec_headers_in_order_and_plain_amounts():
    built = make_report(success_rows=[success_row("AT-00001", payin="1234567.50")])
    success = read_csv(built.success_csv)
    assert success[0] == [
        "CreatedAt", "SourceType", "MediumType", "ProductType", "SPId", "LeadId", "Status",
        "SubStatus", "DateOfSale", "DateOfRevenue", "KPI1PayinAmount", "KPI1PayoutAmount",
        "KPI2PayinAmount", "KPI2PayoutAmount", "TotalPayin", "TotalPayout",
    ]  # fmt: skip
    assert success[1] == [
        "2026-11-21T09:30:00+00:00", "Bank_A", "Medium_A", "Savings Account", "SP-1",
        "AT-00001", "Success", "Account Opened", "2023-10-02", "2026-11-21",
        "1234567.50", "1000.00", "0.00", "0.00", "1234567.50", "1000.00",
    ]  # fmt: skip
    assert read_csv(built.error_csv) == [["CreatedAt", "MIS", "ErrorType"]]


def test_attachments_and_email_message():
    built = make_report()
    message = iteration.iteration_email(built)
    assert message.subject == built.subject()
    assert message.iteration_number == 7
    names = [(a.file_name, a.content_type) for a in message.attachments]
    assert names == [
        ("payout_calculations_iteration_7.csv", "text/csv"),
        ("error_logs_iteration_7.csv", "text/csv"),
    ]
    assert "Success summary" in message.text_body and "Per-file accounting" in message.text_body
    assert message.html_body.startswith("<!DOCTYPE html>")


def test_large_iteration_attachments_are_capped_by_encoded_size_and_consumed_lazily():
    consumed: list[int] = []

    def endless_rows():
        for number in range(1_000_000):
            consumed.append(number)
            yield success_row(f"AT-{number:05d}")

    budget_bytes = 1_000
    built = make_report(success_rows=endless_rows(), attachments_max_bytes=budget_bytes)
    attached = len(read_csv(built.success_csv)) - 1
    assert 0 < attached < 8
    sent_bytes = len(base64.b64encode(built.success_csv)) + len(base64.b64encode(built.error_csv))
    assert sent_bytes <= budget_bytes
    assert len(consumed) <= attached + 1  # never read beyond the row that did not fit
    note = f"holds the first {attached} of 8 rows"
    assert note in report.render_text(built) and note in report.render_html(built)


def test_forty_thousand_realistic_rows_make_a_message_acs_accepts():
    """40,000 rows are about 9 MB once base64-encoded: the attachment is cut to fit."""
    rows = [success_row(f"AT-{number:05d}") for number in range(40_000)]
    errors = tuple(
        ErrorRecord(number, PROCESSED_AT, f"bank_{number}.csv", "x" * 1_000)
        for number in range(2_000)
    )
    built = make_report(success_rows=rows, errors=errors, attachments_max_bytes=7_000_000)
    message = iteration.iteration_email(built, idempotency_key="key")
    assert message.size_bytes() < mail.ACS_MESSAGE_MAX_BYTES
    attached = len(read_csv(built.success_csv)) - 1
    assert 20_000 < attached < 40_000  # the rest is in the table, as the note says


def test_an_email_too_large_is_cut_to_fewer_of_the_same_rows_without_a_second_read():
    """The second pass re-cuts the attachments it has: the same leading rows, byte for byte
    (quoted commas and line breaks, neutralised formulas, negative amounts), fewer of them,
    and the note says how many."""
    rows = [
        success_row(f"AT-{number:05d}", sp_id=HOSTILE_FORMULA if number % 3 else 'SP "a",\r\nb')
        for number in range(200)
    ] + [success_row("AT-NEG", payin="-5.00", payout="-2.50")]
    errors = tuple(
        ErrorRecord(number, PROCESSED_AT, f"bank_{number}.csv", "bad, row\nthree")
        for number in range(40)
    )
    full = make_report(success_rows=rows, errors=errors, attachments_max_bytes=1_000_000)
    assert len(read_csv(full.success_csv)) - 1 == len(rows)

    cut = full.within(8_000)

    success_lines, error_lines = read_csv(cut.success_csv), read_csv(cut.error_csv)
    assert 1 <= cut.success_rows_attached == len(success_lines) - 1 < len(rows)
    assert success_lines == read_csv(full.success_csv)[: len(success_lines)]
    assert error_lines == read_csv(full.error_csv)[: len(error_lines)]
    assert cut.success_csv.startswith("\ufeff".encode()) and full.success_csv.startswith(
        cut.success_csv
    )
    sent_bytes = len(base64.b64encode(cut.success_csv)) + len(base64.b64encode(cut.error_csv))
    assert sent_bytes <= 8_000
    said = report.render_text(cut)
    assert f"holds the first {cut.error_rows_attached} of 40 errors" in said
    assert "-5.00" in full.success_csv.decode() and "'-5.00" not in full.success_csv.decode()


def test_counts_that_do_not_add_up_are_flagged_not_hidden():
    broken = (MisRunAccounting(1, "odd.csv", PROCESSED_AT, 5, {"paid": 4}),)
    text = report.render_text(make_report(runs=broken))
    assert "WARNING: odd.csv: the outcome counts do not add up to the 5 rows read." in text


def test_csv_cell_keeps_numbers_plain_and_negative_amounts_unprefixed():
    assert report.csv_cell(Decimal("-5.00")) == "-5.00"
    assert report.csv_cell("-5") == "'-5"
    assert report.csv_cell(None) == ""


def test_no_cap_note_when_every_row_is_attached():
    rows = [success_row(f"AT-{number:05d}") for number in range(8)]
    built = make_report(success_rows=rows)
    assert len(read_csv(built.success_csv)) == 1 + 8
    assert "capped" not in report.render_text(built) and "capped" not in report.render_html(built)
    assert "payout_calculations_iteration_7.csv: 8 rows" in report.render_text(built)


def test_a_summary_that_does_not_meet_the_files_is_a_warning_at_the_top():
    runs = (
        MisRunAccounting(
            1, "a.csv", PROCESSED_AT, 8, {"paid": 8}, total_payin=Decimal("1236759.50"),
            total_payout=Decimal("1000878.25"),
        ),
    )  # fmt: skip
    assert make_report(runs=runs).tie_out_breaks() == []
    off_by_one = (replace(runs[0], total_payout=Decimal("1000879.25")),)
    text = report.render_text(make_report(runs=off_by_one))
    assert (
        "WARNING: the per-file payin and payout do not equal the success summary's released"
        " + held + rejected." in text
    )


def test_the_currency_is_a_setting_and_every_sentence_carries_its_symbol():
    dollars = report.Currency("USD", "$")
    assert dollars.amount(Decimal("-96")) == "-$96.00"
    assert report.Currency().amount(Decimal("1504")) == "₹1,504.00"
    text = report.render_text(replace(make_report(), currency=dollars))
    assert "Amounts are in USD ($)." in text and "payin released $1,236,759.50" in text
    assert "₹" not in text
