"""Reconciliation inputs on real PostgreSQL, through the CLI (issue 21, items 11-12): a bank
nobody has, PaidOn as banks' systems write it, and one wallet transfer confirming two
credits, reported in the confirmations outcome and in the iteration email."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from payout_cli import commands
from payout_core.flows import iteration
from payout_core.flows.unit_of_work import Context
from tests.fakes.email_senders import RecordingEmailSender
from tests.integration.reconciliation_rows import paid
from tests.integration.sample_ledger import query

pytestmark = pytest.mark.integration


def excel_csv(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


def run_json(capsys: pytest.CaptureFixture[str], *arguments: str) -> dict:
    assert commands.main(list(arguments)) == 0
    [line] = capsys.readouterr().out.splitlines()
    return json.loads(line)


def test_a_remittance_naming_an_unknown_bank_is_invalid_and_iso_paid_on_is_read(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paid(loaded, "AT-91961", "2500.00")
    paid(loaded, "AT-4K7PQ", "1500.00")
    path = excel_csv(
        tmp_path,
        "remittance_2023-10-10.csv",
        "SourceType,TrackingId,Amount,PaidOn,Reference",
        '"Bank_Zzz","KYC_new_AT-91961","2500","2023-10-05T10:00:00+05:30","UTR-1"',
        '"Bank_A","KYC_new_AT-91961","2500","2023-10-05T10:00:00+05:30","UTR-2"',
        '"Bank_A","KYC_new_AT-4K7PQ","1500","5 10 2099","UTR-3"',
    )
    result = run_json(capsys, "remittance", "--json", str(path))
    assert result["outcomes"]["invalid"] == 2 and result["outcomes"]["matched"] == 1
    reasons = dict(query(loaded, "SELECT reference, reason FROM remittance_rejected_rows"))
    assert reasons["UTR-1"] == (
        "SourceType 'Bank_Zzz' is no bank ShiftPay knows (no lead, rule or bank profile has it)"
    )
    assert "after today" in reasons["UTR-3"]
    assert query(loaded, "SELECT paid_on::text FROM remittance_receipts") == [("2023-10-05",)]


def test_a_bank_known_only_by_its_leads_is_a_bank(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query(loaded, "DELETE FROM payin_payout_rules WHERE source_type = 'Bank_B' RETURNING 1")
    path = excel_csv(
        tmp_path,
        "remittance.csv",
        "SourceType,TrackingId,Amount,PaidOn,Reference",
        "Bank_B,KYC_new_AT-YXXWY,1096,5 10 2023,UTR-9",
    )
    result = run_json(capsys, "remittance", "--json", str(path))
    assert result["outcomes"]["invalid"] == 0 and result["outcomes"]["unexpected"] == 1


def test_one_wallet_reference_for_two_credits_is_reported_in_the_outcome_and_the_email(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], context: Context
) -> None:
    paid(loaded, "AT-91961", "2500.00", payout="1500.00")  # SP1001
    paid(loaded, "AT-4K7PQ", "1500.00", payout="1000.00")  # SP1002
    iteration.run_summary(RecordingEmailSender(), context=context)
    credit_ids = [
        row[0] for row in query(loaded, "SELECT credit_id FROM wallet_credits ORDER BY 1")
    ]
    first = excel_csv(
        tmp_path,
        "wallet_1.csv",
        "CreditId,Status,Reference,Reason",
        f"{credit_ids[0]},success,WAL-7,",
    )
    assert run_json(capsys, "confirmations", "--json", str(first))["outcomes"]["confirmed"] == 1
    second = excel_csv(
        tmp_path,
        "wallet_2.csv",
        "CreditId,Status,Reference,Reason",
        f"{credit_ids[1]},success,WAL-7,",
    )
    result = run_json(capsys, "confirmations", "--json", str(second))
    assert result["outcomes"]["invalid"] == 1 and result["outcomes"]["confirmed"] == 0
    [(reason,)] = query(loaded, "SELECT reason FROM confirmation_rejected_rows")
    assert reason == (
        f"Reference 'WAL-7' already confirms {credit_ids[0]}: one transfer cannot pay two "
        f"credits; {credit_ids[1]} is not recorded, check with the wallet team"
    )
    statuses = dict(query(loaded, "SELECT credit_id, status FROM wallet_credit_states"))
    assert statuses[credit_ids[1]] == "sent"  # still waits for a true answer

    sender = RecordingEmailSender()
    iteration.run_summary(sender, context=context)
    text = sender.messages[0].text_body
    assert "1 confirmation names a wallet Reference that already confirms another credit" in text
