"""Payout cycles end to end through the operator's CLI, from MIS files: a corrected
DisbursedAmount takes money back, the clawback is held, approved and netted against the
SP's new earnings in the next cycle (SPEC §4.3's worked example, §8)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from payout_cli import commands
from payout_core.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration

LEADS = """LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus
2023-09-28 10:00:00,SP-A,AT-CYC01,Bank_B,Medium_A,Personal Loan,Pending,
2023-09-28 10:00:00,SP-A,AT-CYC02,Bank_B,Medium_A,Personal Loan,Pending,
2023-09-28 10:00:00,SP-B,AT-CYC03,Bank_B,Medium_A,Personal Loan,Pending,
"""
HEADER = "SourceType,MediumType,ProductType,TrackingId,ApprovedAmount,SanctionedAmount,"
HEADER += "DisbursedAmount,LoanDisbursedDate\n"


def mis(path: Path, *rows: tuple[str, str]) -> str:
    lines = [f"Bank_B,Medium_A,Personal Loan,KYC_new_{lead},0,0,{amount},2 10 2023"
             for lead, amount in rows]  # fmt: skip
    path.write_text(HEADER + "\n".join(lines) + "\n")
    return str(path)


def final_total_payout(database_url: str, lead_id: str) -> Decimal:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT total_payout FROM payout_calculations WHERE lead_id = %s", (lead_id,)
        ).fetchone()[0]


def run(capsys: pytest.CaptureFixture[str], *command: str) -> list[dict]:
    capsys.readouterr()
    assert commands.main(list(command)) == commands.EXIT_OK, capsys.readouterr().err
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]


def test_a_clawback_is_held_approved_and_netted_in_the_next_cycle(
    database_url: str, tmp_state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS)
    run(capsys, "rules", "load", str(PROJECT_ROOT / "samples" / "payin_payout_rules.csv"))
    run(capsys, "leads", "load", str(leads))
    run(capsys, "process", mis(tmp_path / "day1.csv", ("AT-CYC01", "43850"), ("AT-CYC03", "500")))
    run(capsys, "summary")
    assert [(c["sp_id"], c["amount"]) for c in run(capsys, "credits", "--json")] == [
        ("SP-A", "439.00"),
        ("SP-B", "5.00"),
    ]

    # The bank corrects the disbursement (43850 -> 40000: payout -39) and a new loan pays 100.
    day2 = mis(tmp_path / "day2.csv", ("AT-CYC01", "40000"), ("AT-CYC02", "10000"))
    [processed] = run(capsys, "process", day2, "--json")
    assert processed["outcomes"]["adjusted"] == 1 and processed["outcomes"]["paid"] == 1
    [held] = run(capsys, "holds", "list", "--json")
    assert (held["lead_id"], held["kind"], held["payout_amount"], held["status"]) == (
        "AT-CYC01",
        "adjustment",
        "-39.00",
        "held",
    )
    assert final_total_payout(database_url, "AT-CYC01") == Decimal("439.00")  # held: not yet
    [decision] = run(capsys, "holds", "approve", str(held["event_id"]), "--by", "Ravi", "--json")
    assert decision["decision"] == "approved"
    assert final_total_payout(database_url, "AT-CYC01") == Decimal("400.00")
    run(capsys, "summary", "--output-dir", str(tmp_path / "out"))

    assert [(c["cycle"], c["sp_id"], c["amount"], c["events"])
            for c in run(capsys, "credits", "--cycle", "2", "--json")] == [
        (2, "SP-A", "61.00", 2)
    ]  # fmt: skip
    csv_text = (tmp_path / "out" / "credits" / "wallet_credits_cycle_2.csv").read_text("utf-8-sig")
    assert csv_text.splitlines()[1] == "CR-000002-0001,2,SP-A,61.00,2"
    [everything] = run(capsys, "holds", "list", "--all", "--json")
    assert (everything["status"], everything["decided_by"], everything["cycle"]) == (
        "approved",
        "Ravi",
        2,
    )
    assert run(capsys, "holds", "list", "--json") == []
