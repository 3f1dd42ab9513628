"""A leads reload on real PostgreSQL, through `payout leads load` (issue 21, item 8): a paid
lead keeps its SP, bank, channel, product and Success, and every change refused is listed;
an SPId a spreadsheet would run is refused at the door, so the wallet team's machine-read
credits CSV carries SPIds exactly as they are."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from payout_cli import commands
from tests.integration.sample_ledger import SAMPLES, query

pytestmark = pytest.mark.integration

LEADS_HEADER = "LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus"
LOANS = SAMPLES / "mis" / "bank_b_personal_loan_2023-10-03.csv"


def export(tmp_path: Path, *rows: str) -> Path:
    """As the app database's export comes out of Excel: BOM, CRLF, quoted cells."""
    path = tmp_path / "leads_reload.csv"
    path.write_bytes(("\ufeff" + "\r\n".join([LEADS_HEADER, *rows]) + "\r\n").encode("utf-8"))
    return path


def load(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, str]:
    exit_code = commands.main(["leads", "load", str(path)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return exit_code, captured.out, captured.err


def test_a_paid_lead_keeps_bank_product_and_success_and_each_refusal_is_listed(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert commands.main(["process", "--json", str(LOANS)]) == 0
    capsys.readouterr()
    path = export(
        tmp_path,
        '"2023-09-26 13:37:19","SP1005","AT-YXXWY","Bank_A","Medium_B","Savings Account",'
        '"Success","Account Opened"',
        '"2023-09-24 10:22:58","SP1005","AT-C5N2E","Bank_B","Medium_A","Personal Loan",'
        '"Rejected",""',
        '"2023-10-02 19:20:14","SP1008","AT-P3ND2","Bank_E","Medium_A","Personal Loan",'
        '"Pending",""',
    )

    exit_code, out, _ = load(capsys, path)

    assert exit_code == 0
    assert out.splitlines()[1:] == [
        "  AT-C5N2E Status stays Success (export: Rejected)",
        "  AT-YXXWY SourceType stays Bank_B (export: Bank_A)",
        "  AT-YXXWY MediumType stays Medium_A (export: Medium_B)",
        "  AT-YXXWY ProductType stays Personal Loan (export: Savings Account)",
        "  AT-YXXWY SubStatus stays Loan Disbursed (export: Account Opened)",
    ]
    assert "5 change(s) refused" in out.splitlines()[0]
    assert query(
        loaded,
        "SELECT lead_id, source_type, medium_type, product_type, status, sub_status FROM leads"
        " WHERE lead_id IN ('AT-YXXWY', 'AT-C5N2E', 'AT-P3ND2') ORDER BY lead_id",
    ) == [
        ("AT-C5N2E", "Bank_B", "Medium_A", "Personal Loan", "Success", "Loan Disbursed"),
        ("AT-P3ND2", "Bank_E", "Medium_A", "Personal Loan", "Pending", None),  # not paid: moves
        ("AT-YXXWY", "Bank_B", "Medium_A", "Personal Loan", "Success", "Loan Disbursed"),
    ]

    # Its later correction is still weighed against its own bank and product.
    correction = tmp_path / "bank_b_correction.csv"
    corrected = "Bank_B,Medium_A,Personal Loan,KYC_new_AT-YXXWY,50000,45000,40000,2 10 2023"
    correction.write_text(LOANS.read_text().splitlines()[0] + "\n" + corrected + "\n")
    assert commands.main(["process", "--json", str(correction)]) == 0
    assert json.loads(capsys.readouterr().out)["outcomes"]["adjusted"] == 1


@pytest.mark.parametrize(
    "sp_id", ["=cmd|' /C calc'!A0", "+SP1001", "-SP1001", "@SUM(A1)", "SP\t1001", "SP1001\r\n2"]
)
def test_an_spid_a_spreadsheet_would_run_is_refused_with_its_row(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], sp_id: str
) -> None:
    quoted = sp_id.replace('"', '""')
    path = export(
        tmp_path,
        "2023-10-10 10:00:00,SP1001,AT-NEW01,Bank_A,Medium_A,Savings Account,Pending,",
        f'2023-10-10 10:00:00,"{quoted}",AT-NEW02,Bank_A,Medium_A,Savings Account,Pending,',
    )
    exit_code, _, err = load(capsys, path)
    assert exit_code == commands.EXIT_FAILED
    assert "row 2 (LeadId AT-NEW02): SPId starts like a spreadsheet formula" in err
    assert query(loaded, "SELECT count(*) FROM leads WHERE lead_id LIKE 'AT-NEW%%'") == [(0,)]


def test_the_wallet_credits_csv_carries_an_spid_unaltered(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An SPId stored before the door was closed: the machine-read file must not alter it.
    with psycopg.connect(loaded) as conn:
        conn.execute("UPDATE leads SET sp_id = '-SP1005' WHERE sp_id = 'SP1005'")
    assert commands.main(["process", "--json", str(LOANS)]) == 0
    assert commands.main(["summary", "--output-dir", str(tmp_path / "out")]) == 0
    rows = (tmp_path / "out" / "credits" / "wallet_credits_cycle_1.csv").read_text("utf-8-sig")
    assert any(line.split(",")[2] == "-SP1005" for line in rows.splitlines()[1:])
    assert "'-SP1005" not in rows
