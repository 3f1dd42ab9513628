"""The money-in and money-out part of the iteration email, pure: rows in, blocks out."""

from __future__ import annotations

from decimal import Decimal

from payout_core.report.people_csv import base64_size_bytes
from payout_core.report.reconciliation import (
    BankLine,
    ReconciliationFile,
    build_reconciliation_report,
)
from payout_core.report.tables import Table
from payout_core.report.text import text_table

BANK_A = BankLine(
    "Bank_A",
    expected=Decimal("13400.00"),
    received=Decimal("10200.00"),
    outstanding=Decimal("4900.00"),
    outstanding_0_30=Decimal("4400.00"),
    outstanding_31_60=Decimal("0.00"),
    outstanding_over_60=Decimal("500.00"),
    over_received=Decimal("1700.00"),
    discrepancies=7,
)


def report(attachments_max_bytes: int = 100_000, discrepancies: int = 2):
    rows = [("money in", "a.csv", row, "Bank_A", "AT-1", "R", "1.00", "short", "why")
            for row in range(discrepancies)]  # fmt: skip
    return build_reconciliation_report(
        iteration_number=4,
        banks=[BANK_A],
        remittance_files=[
            ReconciliationFile("a.csv", 3, {"matched": 2, "short": 1, "over": 0}, Decimal("5"))
        ],
        confirmation_files=[
            ReconciliationFile("w.csv", 3, {"confirmed": 1, "failed": 1, "unknown": 1}, None)
        ],
        sent_again_count=1,
        discrepancy_rows=rows,
        discrepancy_count=len(rows),
        attachments_max_bytes=attachments_max_bytes,
    )


def test_money_in_per_bank_and_money_out_in_words() -> None:
    built = report()
    tables = [block for block in built.blocks() if isinstance(block, Table)]
    receivables = text_table(tables[0])
    assert "13,400.00" in receivables and "1,700.00" in receivables
    assert text_table(tables[1]).splitlines()[2].split()[:4] == ["a.csv", "3", "matched", "2,"]
    assert "Received" not in text_table(tables[2])  # confirmation files receive no money
    sentence = next(block for block in built.blocks() if str(block).startswith("Money out"))
    assert sentence == (
        "Money out: 1 credit confirmed, 1 failed, 1 sent again in this cycle, "
        "1 unknown CreditId(s) reported."
    )


def test_the_discrepancy_attachment_is_capped_and_says_so() -> None:
    whole = report(discrepancies=5).discrepancy_csv
    header_and_three_rows = b"".join(whole.splitlines(keepends=True)[:4])
    built = report(
        attachments_max_bytes=base64_size_bytes(len(header_and_three_rows)), discrepancies=5
    )
    assert built.discrepancy_file_name == "reconciliation_discrepancies_iteration_4.csv"
    assert built.discrepancy_rows_attached == 3
    assert len(built.discrepancy_csv.decode("utf-8-sig").splitlines()) == 4
    assert "the first 3 of 5" in built.attachment_note()
