"""Statements per SP per cycle (SPEC §10), through the CLI on real PostgreSQL: written at
each close as statements/cycle_N.csv next to the credits CSV, and for every SP of a cycle
with a clawback, a held event, a rejection, a carried-over SP and a failed credit sent
again, the statement's lines plus what was brought in equal the credit plus what carries
over, to the paisa."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from payout_core.flows import statements
from payout_core.flows.unit_of_work import Context
from payout_core.report.statement import statement_html
from payout_core.settings import get_settings
from tests.integration.terminal import Operator

pytestmark = pytest.mark.integration

D = Decimal
LEADS = "LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus\n" + "".join(
    f"2023-09-28 10:00:00,{sp},{lead},Bank_B,Medium_A,Personal Loan,Pending,\n"
    for sp, lead in (
        ("SP-A", "AT-STA01"), ("SP-A", "AT-STA02"),
        ("SP-B", "AT-STB01"), ("SP-B", "AT-STB02"), ("SP-B", "AT-STB03"),
        ("SP-C", "AT-STC01"), ("SP-C", "AT-STC02"),
    )
)  # fmt: skip
CONFIRMATIONS_HEADER = "CreditId,Status,Reference,Reason"


def statement_lines(out: Path, cycle: int) -> dict[str, list[dict[str, str]]]:
    text = (out / "statements" / f"cycle_{cycle}.csv").read_text(encoding="utf-8-sig")
    per_sp: dict[str, list[dict[str, str]]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        per_sp.setdefault(row["SPId"], []).append(row)
    return per_sp


def assert_ties_out(at: Operator, out: Path, cycle: int) -> dict[str, list[dict[str, str]]]:
    credited = {
        c["sp_id"]: D(c["amount"])
        for c in at.run("credits", "--cycle", str(cycle), "--json")
        if not c.get("replaces_credit_id")
    }
    per_sp = statement_lines(out, cycle)
    assert set(credited) <= set(per_sp)
    for sp_id, rows in per_sp.items():
        total = sum((D(row["Payout"]) for row in rows), D(0))
        carried = sum((D(row["CarriedOver"]) for row in rows), D(0))
        assert total == credited.get(sp_id, D(0)) + carried, (sp_id, rows)
    return per_sp


def test_every_statement_of_a_cycle_ties_out_to_the_paisa(
    database_url: str,
    tmp_state: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    at = Operator(tmp_path, capsys)
    at.rules()
    at.leads(LEADS)
    out = tmp_path / "out"

    at.loan("AT-STA01", "43850")  # SP-A 439
    at.loan("AT-STB01", "50000")  # SP-B 500
    at.loan("AT-STC01", "30000")  # SP-C 300
    at.run("summary", "--output-dir", str(out))
    assert_ties_out(at, out, 1)
    first = {c["sp_id"]: c for c in at.run("credits", "--cycle", "1", "--json")}
    (tmp_path / "wallet.csv").write_text(
        f"{CONFIRMATIONS_HEADER}\n{first['SP-A']['credit_id']},failed,,account closed\n"
    )
    at.run("confirmations", "--json", str(tmp_path / "wallet.csv"))

    at.loan("AT-STA01", "40000")  # clawback -39, held, approved
    at.loan("AT-STA02", "10000")  # +100
    at.loan("AT-STB01", "10000")  # clawback -400, held, rejected: SP-B keeps it
    at.loan("AT-STB03", "5000")  # +50
    at.loan("AT-STC01", "10000")  # clawback -200, approved: SP-C's net is below zero
    at.limit_events_above("1000", monkeypatch)
    at.loan("AT-STB02", "200000")  # 2,000: above the limit, held, undecided
    held = {event["lead_id"]: event["event_id"] for event in at.held()}
    at.decide("approve", [held["AT-STA01"], held["AT-STC01"]], "--by", "Ravi")
    at.decide("reject", [held["AT-STB01"]], "--by", "Ravi", "--reason", "bank error")
    at.run("summary", "--output-dir", str(out))

    per_sp = assert_ties_out(at, out, 2)
    assert sorted(per_sp) == ["SP-A", "SP-B", "SP-C"]
    assert sum(D(r["Payout"]) for r in per_sp["SP-A"]) == D("61.00")
    assert [(r["Payout"], r["CarriedOver"]) for r in per_sp["SP-C"]] == [("-200.00", "-200.00")]
    assert {r["LeadId"] for r in per_sp["SP-B"]} == {"AT-STB03"}  # held and rejected: not lines

    context = Context.open(get_settings())
    try:
        b = statements.sp_statement(context, "SP-B", 2)
        assert b is not None and b.ties_out
        assert [e["lead_id"] for e in b.held] == ["AT-STB02"]
        assert [e["lead_id"] for e in b.rejected] == ["AT-STB01"]
        a = statements.sp_statement(context, "SP-A", 2)
        assert a is not None and a.credit_total == D("61.00")
        page = statement_html(b)
        assert "AT-STB02" in page and "bank error" in page
    finally:
        context.close()

    at.loan("AT-STC02", "50000")  # +500: SP-C's -200 is netted against it
    at.run("summary", "--output-dir", str(out))
    per_sp = assert_ties_out(at, out, 3)
    parts = sorted((r["Part"], r["Payout"], r["CarriedOver"]) for r in per_sp["SP-C"])
    assert parts == [("brought in", "-200.00", "0.00"), ("line", "500.00", "0.00")]
    context = Context.open(get_settings())
    try:
        a = statements.sp_statement(context, "SP-A", 1)
        assert a is not None and a.credits[0]["sent_again_as"] is not None  # failed, resent
        assert "sent again as" in statement_html(a)
    finally:
        context.close()

    # The same ledger, lead by lead, through `payout explain` (SPEC §10's cases).
    [story] = at.run("explain", "AT-STA01", "--json")
    earned = story["events"][0]
    assert earned["credit"]["confirmation"] == "failed"
    assert earned["credit"]["confirmation_reason"] == "account closed"
    assert earned["credit"]["sent_again_as"] is not None  # the credit failed and was resent
    [story] = at.run("explain", "AT-STB01", "--json")
    rejected = story["events"][-1]
    assert rejected["status"] == "rejected"
    assert (rejected["hold"]["decision"], rejected["hold"]["decision_reason"]) == (
        "rejected",
        "bank error",
    )
    assert story["totals"]["payout"] == story["final_table"]["total_payout"] == "500.00"
    at.remit("AT-STC02", "1000.00", "UTR-1")  # 2.5 % of 50,000 is 1,250: short by 250
    [story] = at.run("explain", "AT-STC02", "--json")
    [payin] = story["payins"]
    assert (payin["outcome"], payin["amount"]) == ("short", "1000.00")
    assert story["totals"]["payin_outstanding"] == "250.00"
    [story] = at.run("explain", "AT-STB02", "--json")
    assert story["events"][0]["status"] == "held"
    assert story["totals"]["held_payout"] == "2000.00" and story["totals"]["payout"] == "0.00"
