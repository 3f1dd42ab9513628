"""The iteration email ties out (issue 26, item 1): read as finance reads it, the success
summary's released + held (+ rejected) equal the per-file payin and payout, the money-in
"new this iteration" per bank equals the summary's payin for the bank, "expected to date"
grows by exactly that, and the cycle's credits add up from where they come from: on an
iteration with a hold waiting, a rejection, a KPI earned late, a clawback, an approval of
an earlier hold and a remittance file. Through the operator's CLI on real PostgreSQL."""

from __future__ import annotations

import email
import re
from decimal import Decimal
from email import policy
from pathlib import Path

import pytest

from tests.integration.terminal import Operator

pytestmark = pytest.mark.integration

D = Decimal
LEADS = """LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus
2023-09-28 10:00:00,SP-A,AT-LOAN1,Bank_B,Medium_A,Personal Loan,Pending,
2023-09-28 10:00:00,SP-B,AT-LOAN2,Bank_B,Medium_A,Personal Loan,Pending,
2023-09-28 10:00:00,SP-D,AT-LOAN3,Bank_B,Medium_A,Personal Loan,Pending,
2023-09-28 10:00:00,SP-C,AT-SAVE1,Bank_A,Medium_A,Savings Account,Pending,
"""


def latest_email(state: Path) -> email.message.EmailMessage:
    *_, path = sorted((state / "outbox").glob("**/*.eml"))
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def text_of(message: email.message.EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def table_after(text: str, header_start: str) -> list[list[str]]:
    """The text table whose header line starts with `header_start`: its rows (header
    first, rule lines left out), cut into cells where the rule under the header has its
    dashes, as a reader's eye lines them up."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    spans = [match.span() for match in re.finditer(r"-+", lines[start + 1])]
    rows = []
    for line in lines[start:]:
        if not line.strip():
            break
        if set(line.replace(" ", "")) != {"-"}:
            rows.append([line[begin:end].strip() for begin, end in spans])
    return rows


def amount(cell: str) -> Decimal:
    return D(cell.replace(",", "").replace("₹", ""))


def column(rows: list[list[str]], name: str, row_start: str) -> Decimal:
    header = rows[0]
    row = next(row for row in rows[1:] if row[0].startswith(row_start))
    return amount(row[header.index(name)])


@pytest.fixture
def operator(
    database_url: str,
    tmp_state: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Operator:
    at = Operator(tmp_path, capsys)
    at.limit_events_above("1000", monkeypatch)
    at.rules()
    at.leads(LEADS)
    return at


def test_every_total_of_the_iteration_email_ties_out(operator: Operator, tmp_state: Path) -> None:
    # Iteration 1: two loans and an account paid; AT-LOAN3's payout (1,203) is above the
    # limit and waits.
    operator.loan("AT-LOAN1", "43850")  # payin 1,096, payout 439
    operator.loan("AT-LOAN3", "120300")  # payin 3,008, payout 1,203: held
    operator.savings("AT-SAVE1", "1299")  # KPI1: payin 1,500, payout 1,000
    operator.close_cycle()
    first = text_of(latest_email(tmp_state))
    expected_before = column(table_after(first, "Bank "), "Expected to date", "Bank_B")

    # Iteration 2: the earlier hold approved; a clawback that waits; a KPI earned late; a
    # loan held and rejected before the email; a remittance with a discrepancy.
    [held_loan3] = operator.held()
    assert held_loan3["requested_by"] is None and held_loan3["mis_file"] == "mis_3.csv"
    operator.decide("approve", [held_loan3["event_id"]], "--by", "Chen Checker")
    operator.loan("AT-LOAN1", "40000")  # adjusted: payin -96, payout -39, held
    operator.savings("AT-SAVE1", "2400")  # KPI2 earned late: payin 1,000, payout 500
    operator.loan("AT-LOAN2", "120300")  # payin 3,008, payout 1,203: held...
    loan2 = next(event for event in operator.held() if event["lead_id"] == "AT-LOAN2")
    operator.decide(  # ...and rejected
        "reject", [loan2["event_id"]], "--by", "Chen Checker", "--reason", "not disbursed"
    )
    operator.remit("AT-LOAN1", "1000", "UTR-1")  # matched: 1,096 - 96 owed now
    operator.remit("AT-NOSUCH", "5", "UTR-2")  # unexpected: a discrepancy
    operator.close_cycle()

    message = latest_email(tmp_state)
    text = text_of(message)
    assert "Warning" not in text and "WARNING" not in text

    # The success summary: released, held and rejected side by side.
    summary = table_after(text, "Date of revenue")
    header = summary[0]
    for name in ("Payin released", "Payin held", "Payout released", "Payout held"):
        assert name in header
    total = dict(zip(header, summary[-1], strict=True))
    assert total["Date of revenue"] == "Total"
    released_payin, held_payin = amount(total["Payin released"]), amount(total["Payin held"])
    released_payout, held_payout = amount(total["Payout released"]), amount(total["Payout held"])
    rejected_payin, rejected_payout = (
        amount(total["Payin rejected"]),
        amount(total["Payout rejected"]),
    )
    assert (released_payin, held_payin, rejected_payin) == (D(1000), D(-96), D(3008))
    assert (released_payout, held_payout, rejected_payout) == (D(500), D(-39), D(1203))
    assert amount(total["Revenue released"]) == released_payin - released_payout

    # = the per-file table's payin and payout (every event the files made).
    files = table_after(text, "MIS file")
    files_total = dict(zip(files[0], files[-1], strict=True))
    assert amount(files_total["Payin"]) == released_payin + held_payin + rejected_payin
    assert amount(files_total["Payout"]) == released_payout + held_payout + rejected_payout

    # Money in: what this iteration added per bank is the summary's payin for that bank,
    # and "expected to date" grew by exactly that (a rejected KPI's payin is still owed).
    banks = table_after(text, "Bank ")
    per_bank_summary: dict[str, Decimal] = {}
    for row in summary[1:-1]:
        line = dict(zip(header, row, strict=True))
        per_bank_summary[line["Bank"]] = per_bank_summary.get(line["Bank"], D(0)) + sum(
            (amount(line[name]) for name in ("Payin released", "Payin held", "Payin rejected")),
            D(0),
        )
    for bank, payin in per_bank_summary.items():
        assert column(banks, "New this iteration", bank) == payin
    assert column(banks, "Expected to date", "Bank_B") == expected_before + per_bank_summary[
        "Bank_B"
    ]
    assert column(banks, "Discrepancies", "Bank_B") >= 1

    # The cycle: credits = released from the files + the approved earlier hold.
    bridge = table_after(text, "Where this cycle's wallet credits come from")
    lines = {row[0]: amount(row[1]) for row in bridge[1:]}
    assert lines["Payout released from this iteration's files (success summary)"] == (
        released_payout
    )
    assert lines["+ held events approved since (not from this iteration's files)"] == D(1203)
    credits_total = lines["= wallet credits of this cycle"]
    assert credits_total == released_payout + D(1203)
    assert f"total ₹{credits_total:,.2f}" in text
    attachment = next(
        part for part in message.iter_attachments() if part.get_filename().startswith("wallet")
    )
    credit_rows = attachment.get_content().strip().splitlines()[1:]
    assert sum(D(row.split(",")[3]) for row in credit_rows) == credits_total

    # What waits: all of it (the clawback), and the summary's held payout is its share.
    assert "Waiting for a decision: 1 event, payout -₹39.00" in text
    assert "(payout -₹39.00) came from this iteration's files" in text

    # The subject says what happened.
    subject = str(message["Subject"]).replace("\n", "")
    assert f"3 files, 3 leads paid, ₹{credits_total:,.2f} credited" in subject
    assert "1 event held for a decision (-₹39.00)" in subject
    assert "2 recon files, 1 discrepancy, no errors" in subject
