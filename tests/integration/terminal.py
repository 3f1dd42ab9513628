"""The operator at a terminal, for tests that tell a story through the `payout` CLI:
rules, leads and MIS files written to a folder, commands run, their JSON read back."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from payout_cli import commands
from payout_core.settings import get_settings

D = Decimal
RULES_HEADER = (
    "SourceType,MediumType,ProductType,KPIStartDate,KPIEndDate,KPI1PayinPercentage,"
    "KPI1PayoutPercentage,KPI1PayinAmount,KPI1PayoutAmount,MinInvestedAmountBound,"
    "KPI2PayinAmount,KPI2PayoutAmount,SuccessCriteria"
)
SAVINGS_RULE = "Bank_A,Medium_A,Savings Account,{window},,,1500,{kpi1},{bound},1000,500,x"
LOAN_RULE = "Bank_B,Medium_A,Personal Loan,{window},{payin},{payout},,,,,,x"
OCTOBER_1_TO_3 = ("1 10 2023", "3 10 2023")
LEADS = """LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus
2023-09-28 10:00:00,SP-A,AT-LOAN1,Bank_B,Medium_A,Personal Loan,Pending,
2023-09-28 10:00:00,SP-B,AT-LOAN2,Bank_B,Medium_A,Personal Loan,Pending,
2023-09-28 10:00:00,SP-C,AT-SAVE1,Bank_A,Medium_A,Savings Account,Pending,
"""
LOAN_HEADER = (
    "SourceType,MediumType,ProductType,TrackingId,ApprovedAmount,SanctionedAmount,"
    "DisbursedAmount,LoanDisbursedDate"
)
SAVINGS_HEADER = "SourceType,MediumType,ProductType,TrackingId,AccountOpeningDate,InvestedAmount"


class Operator:
    """The operator at a terminal: files written to a folder, `payout` commands run."""

    def __init__(self, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.folder = folder
        self.capsys = capsys
        self.files = 0

    def run(self, *command: str, expect: int = commands.EXIT_OK) -> list[dict]:
        self.capsys.readouterr()
        exit_code = commands.main(list(command))
        captured = self.capsys.readouterr()
        assert exit_code == expect, captured.err
        return [json.loads(line) for line in captured.out.splitlines() if line[:1] == "{"]

    def refused(self, *command: str) -> str:
        self.capsys.readouterr()
        try:
            exit_code = commands.main(list(command))
        except SystemExit as usage_error:  # argparse: a required option is missing
            exit_code = usage_error.code
        assert exit_code != commands.EXIT_OK
        return self.capsys.readouterr().err

    def leads(self, csv_text: str) -> None:
        """`payout leads load` of these leads, written as leads.csv in the folder."""
        path = self.folder / "leads.csv"
        path.write_text(csv_text)
        self.run("leads", "load", str(path))

    def limit_events_above(self, amount: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PAYOUT_HOLD_EVENT_ABOVE", amount)
        get_settings.cache_clear()

    def rules(
        self,
        *,
        loan_payin: str = "2.5",
        loan_payout: str = "1",
        savings_kpi1_payout: str = "1000",
        savings_bound: str = "2000",
        window: tuple[str, str] = OCTOBER_1_TO_3,
    ) -> None:
        """A new rules version: SPEC §4's worked-example rules, with these numbers."""
        self.files += 1
        path = self.folder / f"rules_{self.files}.csv"
        rows = [
            SAVINGS_RULE.format(
                window=",".join(window), kpi1=savings_kpi1_payout, bound=savings_bound
            ),
            LOAN_RULE.format(window=",".join(window), payin=loan_payin, payout=loan_payout),
        ]
        path.write_text("\n".join([RULES_HEADER, *rows]) + "\n")
        self.run("rules", "load", str(path))

    def loan(self, lead_id: str, disbursed: str) -> dict:
        # ApprovedAmount differs per file: each file is new content, never a re-delivery.
        row = (
            f"Bank_B,Medium_A,Personal Loan,KYC_new_{lead_id},{self.files},0,{disbursed},"
            "2 10 2023"
        )
        return self._process(LOAN_HEADER, row)

    def savings(self, lead_id: str, invested: str) -> dict:
        # The TrackingId's prefix differs per file (the LeadId is its last 8 characters):
        # each file is new content, never a re-delivery.
        row = f"Bank_A,Medium_A,Savings Account,F{self.files}_{lead_id},2 10 2023,{invested}"
        return self._process(SAVINGS_HEADER, row)

    def _process(self, header: str, row: str) -> dict:
        self.files += 1
        path = self.folder / f"mis_{self.files}.csv"
        path.write_text(f"{header}\n{row}\n")
        [result] = self.run("process", "--json", str(path))
        return result

    def recalculate(self, by: str = "Maya Maker") -> dict:
        [result] = self.run("recalculate", "--json", "--by", by)
        return result

    def held(self) -> list[dict]:
        return self.run("holds", "list", "--json")

    def decide(self, decision: str, event_ids: list[int], *extra: str) -> list[dict]:
        return self.run("holds", decision, *map(str, event_ids), "--json", *extra)

    def close_cycle(self) -> None:
        self.run("summary")

    def credited(self, sp_id: str) -> Decimal:
        credits = self.run("credits", "--json")
        return sum((D(c["amount"]) for c in credits if c["sp_id"] == sp_id), D(0))

    def expected_payin(self, bank: str) -> Decimal:
        for line in self.run("receivables", "--json"):
            if line.get("bank", line.get("source_type")) == bank:
                return D(line["expected"])
        return D(0)

    def remit(self, lead_id: str, amount: str, reference: str, bank: str = "Bank_B") -> dict:
        self.files += 1
        path = self.folder / f"remittance_{self.files}.csv"
        path.write_text(
            f"SourceType,TrackingId,Amount,PaidOn,Reference\n"
            f"{bank},KYC_new_{lead_id},{amount},10 10 2023,{reference}\n"
        )
        [result] = self.run("remittance", "--json", str(path))
        return result
