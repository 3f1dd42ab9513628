"""Money in on real PostgreSQL, through the CLI: exact, short, over and unknown
remittances, repeated and re-delivered files, racing files, receivables and their ages."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from payout_cli import commands
from payout_core.flows import reconciliation_processing
from payout_core.flows.unit_of_work import Context
from tests.integration.reconciliation_rows import adjusted, paid
from tests.integration.sample_ledger import SAMPLES, query, race

pytestmark = pytest.mark.integration

HEADER = "TrackingId,Amount,PaidOn,Reference"


def remittance_file(tmp_path: Path, name: str, *rows: str) -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n" + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, list[dict]]:
    exit_code = commands.main(list(arguments))
    lines = capsys.readouterr().out.splitlines()
    return exit_code, [json.loads(line) for line in lines]


def outcomes(**counts: int) -> dict[str, int]:
    every = dict.fromkeys(("invalid", "duplicate", "unexpected", "short", "over", "matched"), 0)
    return every | counts


def test_exact_short_over_and_unknown_remittances(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for lead_id in ("AT-91961", "AT-4K7PQ", "AT-B2M9X"):
        paid(loaded, lead_id, "2500.00")
    path = remittance_file(
        tmp_path,
        "bank_a_remittance_2023-10-10.csv",
        "KYC_new_AT-91961,2500,10 10 2023,UTR-001",
        "KYC_new_AT-4K7PQ,2000,10 10 2023,UTR-002",
        "KYC_new_AT-B2M9X,2600.50,10 10 2023,UTR-003",
        "KYC_new_AT-ZZ001,100,10 10 2023,UTR-004",
        "KYC_new_AT-Q8ZT3,100,10 10 2023,UTR-005",  # a ShiftPay lead, but nothing owed
        "KYC_new_AT-Q8ZT3,abc,10 10 2023,UTR-006",
    )
    exit_code, [result] = run_cli(capsys, "remittance", "--json", str(path))
    assert exit_code == 0
    assert result == {
        "file": "bank_a_remittance_2023-10-10.csv",
        "rows": 6,
        "outcomes": outcomes(matched=1, short=1, over=1, unexpected=2, invalid=1),
        "total_received": "7300.50",
    }
    receipts = query(
        loaded,
        "SELECT lead_id, source_type, amount, outcome, owed_before FROM remittance_receipts "
        "ORDER BY row_number",
    )
    assert receipts == [
        ("AT-91961", "Bank_A", Decimal("2500.00"), "matched", Decimal("2500.00")),
        ("AT-4K7PQ", "Bank_A", Decimal("2000.00"), "short", Decimal("2500.00")),
        ("AT-B2M9X", "Bank_A", Decimal("2600.50"), "over", Decimal("2500.00")),
        ("AT-ZZ001", None, Decimal("100.00"), "unexpected", None),
        ("AT-Q8ZT3", "Bank_A", Decimal("100.00"), "unexpected", Decimal("0.00")),
    ]
    [(reason,)] = query(loaded, "SELECT reason FROM remittance_rejected_rows")
    assert reason.startswith("Amount 'abc' is not an amount")


def test_a_re_delivered_file_changes_nothing_and_a_later_one_settles_the_rest(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paid(loaded, "AT-91961", "2500.00")
    first = remittance_file(
        tmp_path,
        "first.csv",
        "KYC_new_AT-91961,1000,10 10 2023,UTR-1",
        "KYC_new_AT-ZZ001,5,10 10 2023,UTR-2",
    )
    run_cli(capsys, "remittance", "--json", str(first))
    receipts_before = query(loaded, "SELECT * FROM remittance_receipts ORDER BY receipt_id")

    _, [again] = run_cli(capsys, "remittance", "--json", str(first))
    assert again["outcomes"] == outcomes(duplicate=2)
    assert again["total_received"] == "0.00"
    assert query(loaded, "SELECT * FROM remittance_receipts ORDER BY receipt_id") == receipts_before

    rest = remittance_file(tmp_path, "rest.csv", "KYC_new_AT-91961,1500,12 10 2023,UTR-3")
    _, [settled] = run_cli(capsys, "remittance", "--json", str(rest))
    assert settled["outcomes"] == outcomes(matched=1)
    [(outstanding,)] = query(
        loaded, "SELECT outstanding FROM lead_receivables WHERE lead_id = 'AT-91961'"
    )
    assert outstanding == 0


def test_receivables_per_bank_by_age(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    as_of = date(2023, 12, 31)
    paid(loaded, "AT-91961", "2500.00", as_of - timedelta(days=10))
    paid(loaded, "AT-4K7PQ", "1500.00", as_of - timedelta(days=30))
    paid(loaded, "AT-B2M9X", "2500.00", as_of - timedelta(days=31))
    paid(loaded, "AT-Q8ZT3", "2500.00", as_of - timedelta(days=61))
    paid(loaded, "AT-YXXWY", "1096.00", as_of - timedelta(days=60))  # Bank_B
    path = remittance_file(
        tmp_path,
        "remittance.csv",
        "KYC_new_AT-91961,500,10 10 2023,R1",
        "KYC_new_AT-B2M9X,2500,10 10 2023,R2",
        "KYC_new_AT-Q8ZT3,2000,10 10 2023,R3",
    )
    run_cli(capsys, "remittance", "--json", str(path))
    exit_code, lines = run_cli(capsys, "receivables", "--json", "--as-of", as_of.isoformat())
    assert exit_code == 0
    by_bank = {line["source_type"]: line for line in lines}
    assert set(by_bank) == {"Bank_A", "Bank_B"}
    bank_a = by_bank["Bank_A"]
    assert {key: bank_a[key] for key in ("expected", "received", "outstanding")} == {
        "expected": "9000.00",
        "received": "5000.00",
        "outstanding": "4000.00",
    }
    assert (
        bank_a["outstanding_0_30"],
        bank_a["outstanding_31_60"],
        bank_a["outstanding_over_60"],
    ) == ("3500.00", "0.00", "500.00")
    bank_b = by_bank["Bank_B"]
    assert (bank_b["outstanding"], bank_b["outstanding_31_60"]) == ("1096.00", "1096.00")


def test_a_negative_adjustment_after_a_full_remittance_shows_as_over_received(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paid(loaded, "AT-YXXWY", "1096.00")
    path = remittance_file(tmp_path, "bank_b.csv", "KYC_new_AT-YXXWY,1096,10 10 2023,B-1")
    _, [result] = run_cli(capsys, "remittance", "--json", str(path))
    assert result["outcomes"] == outcomes(matched=1)
    adjusted(loaded, "AT-YXXWY", "-96.00")  # the bank corrected the disbursed amount
    _, [bank_b] = run_cli(capsys, "receivables", "--json")
    assert (bank_b["expected"], bank_b["received"]) == ("1000.00", "1096.00")
    assert (bank_b["outstanding"], bank_b["over_received"]) == ("0.00", "96.00")
    # The next payment for that lead is money nobody owes.
    more = remittance_file(tmp_path, "more.csv", "KYC_new_AT-YXXWY,10,11 10 2023,B-2")
    _, [result] = run_cli(capsys, "remittance", "--json", str(more))
    assert result["outcomes"] == outcomes(unexpected=1)


def test_a_file_that_cannot_be_read_is_recorded_as_an_error(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "bank_a_remittance_broken.csv"
    broken.write_text("TrackingId,Amount\nKYC_new_AT-91961,1\n")
    exit_code, [line] = run_cli(capsys, "remittance", "--json", str(broken))
    assert exit_code == 1
    assert line["file"] == "bank_a_remittance_broken.csv"
    assert "PaidOn, Reference" in line["error"]
    [(mis, error_type)] = query(loaded, "SELECT mis, error_type FROM error_logs")
    assert mis == "bank_a_remittance_broken.csv"
    assert error_type.startswith(
        "required column(s) missing for the standard layout: PaidOn, Reference"
    )
    assert query(loaded, "SELECT count(*) FROM remittance_runs") == [(0,)]


def test_racing_files_with_the_same_payments_receive_them_once(
    loaded: str, tmp_path: Path, context: Context
) -> None:
    paid(loaded, "AT-91961", "2500.00")
    rows = [f"KYC_new_AT-91961,{amount},10 10 2023,R-{amount}" for amount in (1000, 1500)]
    paths = [remittance_file(tmp_path, f"copy{n}.csv", *rows) for n in range(3)]
    results = race(
        lambda path: reconciliation_processing.process_remittance_file(path, context=context),
        paths,
    )
    assert sorted(result.outcome_counts["duplicate"] for result in results) == [0, 2, 2]
    assert query(loaded, "SELECT outcome FROM remittance_receipts ORDER BY row_number") == [
        ("short",),
        ("matched",),
    ]


def test_receipts_cannot_be_changed(loaded: str, tmp_path: Path, context: Context) -> None:
    reconciliation_processing.process_remittance_file(
        remittance_file(tmp_path, "r.csv", "KYC_new_AT-ZZ001,5,10 10 2023,R"),
        context=context,
    )
    with psycopg.connect(loaded) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE remittance_receipts SET amount = 1")


RECONCILIATION = json.loads((SAMPLES / "expected_reconciliation.json").read_text())


def test_the_sample_remittances_after_the_sample_mis_files(
    loaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = sorted((SAMPLES / "mis").glob("*.csv"))
    assert commands.main(["process", "--json", *map(str, samples)]) == 0
    capsys.readouterr()
    remittances = sorted((SAMPLES / "remittance").glob("*.csv"))
    exit_code, results = run_cli(capsys, "remittance", "--json", *map(str, remittances))
    assert exit_code == 0
    for result in results:
        expected = RECONCILIATION["remittance"][result["file"]]
        assert {key: result[key] for key in ("rows", "outcomes", "total_received")} == expected
    _, banks = run_cli(capsys, "receivables", "--json")
    for bank in banks:
        expected = RECONCILIATION["receivables"][bank["source_type"]]
        assert {key: bank[key] for key in expected} == expected


def test_a_corrected_mis_amount_after_a_full_remittance_makes_the_lead_over_received(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SPEC §4's worked example: AT-YXXWY paid 1096 on 43850 disbursed, later 40000."""
    header = (
        "SourceType,MediumType,ProductType,TrackingId,ApprovedAmount,SanctionedAmount,"
        "DisbursedAmount,LoanDisbursedDate"
    )
    first, corrected = tmp_path / "bank_b_1.csv", tmp_path / "bank_b_2.csv"
    row = "Bank_B,Medium_A,Personal Loan,KYC_new_AT-YXXWY,50000,45000,{},2 10 2023"
    first.write_text(f"{header}\n{row.format(43850)}\n")
    corrected.write_text(f"{header}\n{row.format(40000)}\n")
    assert commands.main(["process", str(first)]) == 0
    capsys.readouterr()
    remitted = remittance_file(tmp_path, "bank_b_rem.csv", "KYC_new_AT-YXXWY,1096,5 10 2023,B-1")
    _, [result] = run_cli(capsys, "remittance", "--json", str(remitted))
    assert result["outcomes"] == outcomes(matched=1)
    assert commands.main(["process", str(corrected)]) == 0
    capsys.readouterr()
    _, [bank_b] = run_cli(capsys, "receivables", "--json")
    assert (bank_b["expected"], bank_b["received"]) == ("1000.00", "1096.00")
    assert (bank_b["outstanding"], bank_b["over_received"]) == ("0.00", "96.00")


def test_the_iteration_email_reports_money_in_with_the_discrepancies_attached(
    loaded: str, tmp_path: Path, tmp_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import email
    from email import policy

    paid(loaded, "AT-91961", "2500.00")
    path = remittance_file(
        tmp_path,
        "bank_a_remittance.csv",
        "KYC_new_AT-91961,2000,10 10 2023,R1",
        "KYC_new_AT-ZZ001,5,10 10 2023,R2",
    )
    run_cli(capsys, "remittance", "--json", str(path))
    assert commands.main(["summary"]) == 0
    [eml] = sorted((tmp_state / "outbox").glob("**/*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    section = text.split("Money in and money out", 1)[1]
    bank_a = next(line for line in section.splitlines() if line.startswith("Bank_A"))
    # Expected to date, new this iteration, received, outstanding, 0–30 days.
    assert bank_a.split()[1:6] == ["2,500.00", "0.00", "2,000.00", "500.00", "500.00"]
    assert "bank_a_remittance.csv" in section
    [attachment] = [
        part
        for part in message.iter_attachments()
        if part.get_filename() == "reconciliation_discrepancies_iteration_1.csv"
    ]
    rows = attachment.get_content().lstrip("\ufeff").splitlines()
    assert rows[0].startswith("Flow,File,RowNumber,SourceType,LeadOrCreditId")
    assert [row.split(",")[7] for row in rows[1:]] == ["short", "unexpected"]
    # Reported once: the next tick has nothing new.
    capsys.readouterr()
    assert commands.main(["summary"]) == 0
    assert "nothing new" in capsys.readouterr().out
