"""Bounds everywhere money is stored, on real PostgreSQL through the CLI (issue 21, item 6):
an absurd rule amount is refused at `payout rules load` with its row and column (no
traceback, the rules in force stay), and a credit the ledger cannot write holds its SP
while the rest of the cycle closes and the email goes out."""

from __future__ import annotations

from pathlib import Path

import pytest

from payout_cli import commands
from payout_core.flows import iteration
from payout_core.flows.unit_of_work import Context
from tests.fakes.email_senders import RecordingEmailSender
from tests.integration.reconciliation_rows import paid
from tests.integration.sample_ledger import SAMPLES, query

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("amount", ["12345678901234", "12345678901234567"])
def test_an_absurd_kpi1_payout_amount_is_refused_at_rules_load(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], amount: str
) -> None:
    text = (SAMPLES / "payin_payout_rules.csv").read_text(encoding="utf-8")
    _header, first_row = text.split("\n", 2)[:2]
    assert first_row.startswith("Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,1500,1000,")
    path = tmp_path / "payin_payout_rules.csv"
    path.write_bytes(
        ("\ufeff" + text.replace(first_row, first_row.replace(",1500,1000,", f",1500,{amount},")))
        .replace("\n", "\r\n")
        .encode("utf-8")
    )
    versions_before = query(loaded, "SELECT count(*) FROM rule_sets")
    capsys.readouterr()

    assert commands.main(["rules", "load", str(path)]) == commands.EXIT_FAILED
    error = capsys.readouterr().err
    assert f"row 1: KPI1PayoutAmount '{amount}' is too large" in error
    assert "Traceback" not in error and "NumericValueOutOfRange" not in error
    assert query(loaded, "SELECT count(*) FROM rule_sets") == versions_before


def test_a_credit_the_ledger_cannot_write_holds_its_sp_and_the_cycle_closes(
    loaded: str, context: Context
) -> None:
    # Events as a rule loaded before the bound could have made them: each fits its column,
    # SP1001's two together fit no wallet credit.
    paid(loaded, "AT-91961", "2500.00", payout="60000000000000.00")  # SP1001
    paid(loaded, "AT-B2M9X", "2500.00", payout="60000000000000.00")  # SP1001
    paid(loaded, "AT-4K7PQ", "1500.00", payout="1000.00")  # SP1002
    sender = RecordingEmailSender()

    outcome = iteration.run_summary(sender, context=context)

    assert outcome.cycle is not None and outcome.cycle.credit_count == 1
    assert query(loaded, "SELECT sp_id, amount::text FROM wallet_credits") == [
        ("SP1002", "1000.00")
    ]
    held = query(
        loaded,
        "SELECT e.sp_id, h.hold_reason FROM event_holds h JOIN payout_events e USING (event_id)",
    )
    assert [sp for sp, _ in held] == ["SP1001", "SP1001"]
    assert held[0][1] == (
        "the SP's cycle credit of 120,000,000,000,000.00 is more than a wallet credit can hold "
        "(99,999,999,999,999.99): held for a person to check"
    )
    assert len(sender.messages) == 1
