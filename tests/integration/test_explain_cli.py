"""`payout explain LEAD` tells a lead's whole story from the ledger alone (SPEC §10): paid
in one file, corrected down in the next (the clawback held and approved), each event's
arithmetic in words, its MIS file and rule, its cycle and credit; totals equal the final
table's row. An unknown LeadId is a clear message and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from payout_cli import commands
from payout_core.settings import PROJECT_ROOT
from tests.integration.test_cycles_cli import LEADS, final_total_payout, mis, run

pytestmark = pytest.mark.integration


def explain(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = commands.main(["explain", *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_corrected_held_and_approved_loan_is_explained(
    database_url: str, tmp_state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS)
    run(capsys, "rules", "load", str(PROJECT_ROOT / "samples" / "payin_payout_rules.csv"))
    run(capsys, "leads", "load", str(leads))
    run(capsys, "process", mis(tmp_path / "day1.csv", ("AT-CYC01", "43850"), ("AT-CYC03", "500")))
    run(capsys, "summary")
    run(capsys, "process", mis(tmp_path / "day2.csv", ("AT-CYC01", "40000")))
    [held] = run(capsys, "holds", "list", "--json")
    run(capsys, "holds", "approve", str(held["event_id"]), "--by", "Ravi", "--json")
    run(capsys, "summary")

    code, out, _ = explain(capsys, "AT-CYC01", "--json")
    assert code == commands.EXIT_OK
    story = json.loads(out)
    assert story["lead"]["sp_id"] == "SP-A"
    earned, adjustment = story["events"]
    assert (earned["kind"], earned["payout_amount"]) == ("earned", "439.00")
    assert earned["arithmetic"]["payout"].startswith("439, the KPI's worth when earned")
    assert earned["source"]["mis_file"].endswith("day1.csv")
    assert earned["source"]["row_number"] == 1  # SPEC §10: the MIS row that made it
    assert earned["rule"]["rule_set_version"] == 1
    assert earned["credit"]["cycle_number"] == 1
    assert (adjustment["kind"], adjustment["payout_amount"]) == ("adjustment", "-39.00")
    assert adjustment["arithmetic"]["payout"] == (
        "worth now 400 − paid before 439 = -39"
        " (worth now: 1 % × 40,000 = 400 → 400, halves away from zero)"
    )
    assert adjustment["arithmetic"]["payin"].startswith("worth now 1,000 − paid before 1,096")
    assert adjustment["source"]["mis_file"].endswith("day2.csv")
    assert adjustment["hold"]["decision"] == "approved"
    assert adjustment["hold"]["decided_by"] == "Ravi"
    assert adjustment["credit"] is None  # SP-A's cycle 2 total is -39: carried over
    assert story["totals"]["payout"] == story["final_table"]["total_payout"] == "400.00"
    assert final_total_payout(database_url, "AT-CYC01") == 400

    code, out, _ = explain(capsys, "AT-CYC03", "--json")
    [untouched] = json.loads(out)["events"]
    assert untouched["source"]["row_number"] == 2
    assert untouched["arithmetic"] == {
        "payin": "2.5 % × 500 = 12.5 → 13, halves away from zero",
        "payout": "1 % × 500 = 5 → 5, halves away from zero",
    }
    assert untouched["rule"]["parameters"] == {
        "KPI1PayinPercentage": "2.5",
        "KPI1PayoutPercentage": "1",
    }

    code, text, _ = explain(capsys, "AT-CYC01")
    assert code == commands.EXIT_OK
    assert "approved by Ravi" in text
    assert "day2.csv row 1 (run" in text
    assert "paid in cycle 1" in text and "carried over" in text
    assert "Totals: payin" in text and "payout 400.00 (final table" in text


def test_an_unknown_lead_is_a_clear_message_and_exit_2(
    database_url: str, tmp_state: Path, capsys: pytest.CaptureFixture[str]
):
    code, out, err = explain(capsys, "NO-SUCH-LEAD")
    assert code == 2
    assert "no lead 'NO-SUCH-LEAD'" in err and "Traceback" not in err + out


def test_a_savings_kpi_earned_later_and_a_recalculation_are_explained(
    database_url: str, tmp_state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    from tests.integration.terminal import LEADS as OPERATOR_LEADS
    from tests.integration.terminal import Operator

    at = Operator(tmp_path, capsys)
    at.rules()
    at.leads(OPERATOR_LEADS)
    at.savings("AT-SAVE1", "1000")  # KPI1 only: below the 2,000 bound
    at.savings("AT-SAVE1", "2500")  # KPI2 earned in a later file
    at.rules(savings_kpi1_payout="1200")
    at.recalculate(by="Maya Maker")

    [story] = at.run("explain", "AT-SAVE1", "--json")
    kpi1, kpi2, recalculated = story["events"]
    assert (kpi1["kpi"], kpi1["payout_amount"]) == ("KPI1", "1000.00")
    assert kpi1["arithmetic"]["payout"] == "a flat 1,000 under this rule"
    assert (kpi2["kpi"], kpi2["kind"], kpi2["payout_amount"]) == ("KPI2", "earned", "500.00")
    assert kpi2["source"]["mis_file"] != kpi1["source"]["mis_file"]
    assert recalculated["source"]["type"] == "recalculation"
    assert "row_number" not in recalculated["source"]
    assert recalculated["source"]["requested_by"] == "Maya Maker"
    assert recalculated["payout_amount"] == "200.00"
    assert recalculated["rule"]["rule_set_version"] == 2
    assert recalculated["rule"]["parameters"]["KPI1PayoutAmount"] == "1200"
    assert story["totals"]["payout"] == story["final_table"]["total_payout"] == "1700.00"
    code, text, _ = explain(capsys, "AT-SAVE1")
    assert code == commands.EXIT_OK
    assert "recalculation 1 requested by Maya Maker" in text
