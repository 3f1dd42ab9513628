"""The correctable ledger on real PostgreSQL, through the operator's commands: KPIs earned
late, milestones kept, corrections both ways, re-delivery, racing files, recalculation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from payout_cli import commands
from payout_core.flows import iteration, reference_data
from payout_core.flows.unit_of_work import Context
from payout_core.report import adjustments
from tests.fakes.email_senders import RecordingEmailSender
from tests.integration.sample_ledger import query

D = Decimal
RULES = """SourceType,MediumType,ProductType,KPIStartDate,KPIEndDate,KPI1PayinPercentage,\
KPI1PayoutPercentage,KPI1PayinAmount,KPI1PayoutAmount,MinInvestedAmountBound,KPI2PayinAmount,\
KPI2PayoutAmount,SuccessCriteria
Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,1500,1000,2000,1000,500,"Account opened;
KPI2 when invested >= 2000"
Bank_B,Medium_A,Personal Loan,1 10 2023,3 10 2023,2.5,1,,,,,,Loan disbursed
"""
LEADS = """LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus
2023-09-28 10:15:32,SP1001,AT-00001,Bank_A,Medium_A,Savings Account,Pending,
2023-09-28 10:15:32,SP1001,AT-00002,Bank_A,Medium_A,Savings Account,Pending,
2023-09-28 10:15:32,SP1002,AT-00003,Bank_B,Medium_A,Personal Loan,Pending,
2023-09-28 10:15:32,SP1002,AT-00004,Bank_A,Medium_A,Savings Account,Success,Account Opened
"""
SAVINGS_HEADER = "SourceType,MediumType,ProductType,TrackingId,AccountOpeningDate,InvestedAmount"
LOAN_HEADER = (
    "SourceType,MediumType,ProductType,TrackingId,ApprovedAmount,SanctionedAmount,"
    "DisbursedAmount,LoanDisbursedDate"
)


def savings(lead: str, invested: str, opened: str = "2 10 2023") -> str:
    return f"Bank_A,Medium_A,Savings Account,KYC_new_{lead},{opened},{invested}"


def loan(lead: str, disbursed: str, on: str = "2 10 2023") -> str:
    return f"Bank_B,Medium_A,Personal Loan,KYC_new_{lead},50000,50000,{disbursed},{on}"


@pytest.fixture
def ledger(database_url: str, tmp_path: Path, context: Context) -> str:
    (tmp_path / "rules.csv").write_text(RULES)
    (tmp_path / "leads.csv").write_text(LEADS)
    reference_data.load_rules_file(context, tmp_path / "rules.csv")
    reference_data.load_leads_file(context, tmp_path / "leads.csv")
    return database_url


def mis_file(folder: Path, name: str, header: str, *rows: str) -> Path:
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def process(capsys: pytest.CaptureFixture[str], path: Path) -> dict:
    """`payout process --json PATH`, as an operator runs it."""
    assert commands.main(["process", "--json", str(path)]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def recalculate(capsys: pytest.CaptureFixture[str], *arguments: str) -> dict:
    assert commands.main(["recalculate", "--json", *arguments]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def nonzero(outcomes: dict[str, int]) -> dict[str, int]:
    return {outcome: count for outcome, count in outcomes.items() if count}


def events_of(url: str, lead_id: str) -> list[tuple]:
    return query(
        url,
        "SELECT kpi, kind, outcome, kpi_sequence, payin_amount, payout_amount FROM payout_events"
        " WHERE lead_id = %s ORDER BY event_id",
        lead_id,
    )


def assert_calculations_equal_event_sums(url: str) -> None:
    mismatches = query(
        url,
        """
        SELECT c.lead_id FROM payout_calculations c
        LEFT JOIN (
            SELECT lead_id,
                   coalesce(sum(payin_amount) FILTER (WHERE kpi = 'KPI1'), 0) AS kpi1_in,
                   coalesce(sum(payout_amount) FILTER (WHERE kpi = 'KPI1'), 0) AS kpi1_out,
                   coalesce(sum(payin_amount) FILTER (WHERE kpi = 'KPI2'), 0) AS kpi2_in,
                   coalesce(sum(payout_amount) FILTER (WHERE kpi = 'KPI2'), 0) AS kpi2_out
            FROM payout_event_states WHERE effective_status = 'released' GROUP BY lead_id
        ) e USING (lead_id)
        WHERE (c.kpi1_payin_amount, c.kpi1_payout_amount, c.kpi2_payin_amount,
               c.kpi2_payout_amount, c.total_payin, c.total_payout)
              IS DISTINCT FROM (e.kpi1_in, e.kpi1_out, e.kpi2_in, e.kpi2_out,
                                e.kpi1_in + e.kpi2_in, e.kpi1_out + e.kpi2_out)
        """,
    )
    assert mismatches == []


def test_spec_worked_examples_through_the_cli(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = process(
        capsys,
        mis_file(tmp_path, "savings_1.csv", SAVINGS_HEADER, savings("AT-00001", "2616"),
                 savings("AT-00002", "1299"), savings("AT-00004", "2616")),
    )  # fmt: skip
    assert nonzero(first["outcomes"]) == {"paid": 2, "already_paid": 1}
    assert set(first["outcomes"]) >= {"kpi_earned", "adjusted", "paid", "already_paid"}
    assert (first["total_payin"], first["total_payout"]) == ("4000.00", "2500.00")
    assert events_of(ledger, "AT-00002") == [("KPI1", "earned", "paid", 1, D(1500), D(1000))]

    later = process(
        capsys, mis_file(tmp_path, "savings_2.csv", SAVINGS_HEADER, savings("AT-00002", "2400"))
    )
    assert nonzero(later["outcomes"]) == {"kpi_earned": 1}
    assert (later["total_payin"], later["total_payout"]) == ("1000.00", "500.00")
    assert events_of(ledger, "AT-00002")[-1] == (
        "KPI2", "earned", "kpi_earned", 1, D(1000), D(500),
    )  # fmt: skip

    lower = process(
        capsys, mis_file(tmp_path, "savings_3.csv", SAVINGS_HEADER, savings("AT-00002", "100"))
    )
    assert nonzero(lower["outcomes"]) == {"already_paid": 1}  # a milestone is never taken back
    assert (lower["total_payin"], lower["total_payout"]) == ("0.00", "0.00")
    assert query(
        ledger, "SELECT total_payin, total_payout FROM payout_calculations WHERE lead_id = %s",
        "AT-00002",
    ) == [(D(2500), D(1500))]  # fmt: skip
    assert_calculations_equal_event_sums(ledger)


def test_a_corrected_disbursed_amount_is_adjusted_both_ways_with_spec_rounding(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paid = process(capsys, mis_file(tmp_path, "loan_1.csv", LOAN_HEADER, loan("AT-00003", "43850")))
    assert nonzero(paid["outcomes"]) == {"paid": 1}
    assert (paid["total_payin"], paid["total_payout"]) == ("1096.00", "439.00")

    down = process(capsys, mis_file(tmp_path, "loan_2.csv", LOAN_HEADER, loan("AT-00003", "40000")))
    assert nonzero(down["outcomes"]) == {"adjusted": 1}
    assert (down["total_payin"], down["total_payout"]) == ("-96.00", "-39.00")

    # 2.5 % of 43870 = 1096.75 -> 1097; 1 % = 438.70 -> 439 (halves and above round up)
    up = process(capsys, mis_file(tmp_path, "loan_3.csv", LOAN_HEADER, loan("AT-00003", "43870")))
    assert nonzero(up["outcomes"]) == {"adjusted": 1}
    assert (up["total_payin"], up["total_payout"]) == ("97.00", "39.00")
    assert events_of(ledger, "AT-00003") == [
        ("KPI1", "earned", "paid", 1, D(1096), D(439)),
        ("KPI1", "adjustment", "adjusted", 2, D(-96), D(-39)),
        ("KPI1", "adjustment", "adjusted", 3, D(97), D(39)),
    ]
    # The clawback waits for a person (SPEC §8), and the correction that came while it
    # waited waits with it: never released on top of money that may still be taken back.
    final_row = (
        "SELECT kpi1_payin_amount, total_payout, basis_facts::text FROM payout_calculations"
        " WHERE lead_id = 'AT-00003'"
    )
    assert query(ledger, final_row) == [(D(1096), D(439), '{"DisbursedAmount":"43870.00"}')]
    assert_calculations_equal_event_sums(ledger)
    ((clawback_id,),) = query(
        ledger,
        "SELECT event_id FROM payout_events WHERE lead_id = 'AT-00003' AND payout_amount < 0",
    )
    assert commands.main(["holds", "approve", str(clawback_id), "--by", "Finance Checker"]) == 0
    assert query(ledger, final_row) == [(D(1097), D(439), '{"DisbursedAmount":"43870.00"}')]
    assert_calculations_equal_event_sums(ledger)


def test_a_later_row_stating_another_date_changes_nothing_and_says_so(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    process(capsys, mis_file(tmp_path, "loan_1.csv", LOAN_HEADER, loan("AT-00003", "43850")))
    output = tmp_path / "out"
    later = mis_file(tmp_path, "loan_2.csv", LOAN_HEADER, loan("AT-00003", "40000", "3 10 2023"))
    assert commands.main(["process", "--json", "--output-dir", str(output), str(later)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert nonzero(result["outcomes"]) == {"already_paid": 1}
    [rejected_csv] = (output / "rejected").glob("*.csv")
    reason = rejected_csv.read_text().splitlines()[1]
    assert "02 10 2023" in reason and "03 10 2023" in reason and "no amount changes" in reason
    assert len(events_of(ledger, "AT-00003")) == 1


def test_adjusted_and_late_rows_are_in_the_per_file_csv_with_reasons(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    process(capsys, mis_file(tmp_path, "s1.csv", SAVINGS_HEADER, savings("AT-00002", "1299")))
    output = tmp_path / "out"
    later = mis_file(tmp_path, "s2.csv", SAVINGS_HEADER, savings("AT-00002", "2400"))
    assert commands.main(["process", "--output-dir", str(output), str(later)]) == 0
    [rejected_csv] = (output / "rejected").glob("*.csv")
    row = rejected_csv.read_text().splitlines()[1]
    assert ",kpi_earned," in row and "KPI2 earned" in row and "payin 1000.00" in row


def test_redelivering_any_file_appends_nothing(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = mis_file(tmp_path, "loan_1.csv", LOAN_HEADER, loan("AT-00003", "43850"))
    correction = mis_file(tmp_path, "loan_2.csv", LOAN_HEADER, loan("AT-00003", "40000"))
    process(capsys, first)
    process(capsys, correction)
    before = query(ledger, "SELECT * FROM payout_events ORDER BY event_id")
    again = process(capsys, correction)
    older_again = process(capsys, first)  # must not undo the correction
    assert nonzero(again["outcomes"]) == nonzero(older_again["outcomes"]) == {"already_paid": 1}
    assert older_again["total_payout"] == "0.00"
    assert query(ledger, "SELECT * FROM payout_events ORDER BY event_id") == before


def test_racing_files_adjust_each_lead_once(ledger: str, tmp_path: Path, context: Context) -> None:
    leads = tmp_path / "many_leads.csv"
    leads.write_text(
        "LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus\n"
        + "".join(
            f"2023-09-30 10:00:00,SP{n % 7},AT-L{n:04d},Bank_B,Medium_A,Personal Loan,Pending,\n"
            for n in range(1500)
        )
    )
    reference_data.load_leads_file(context, leads)
    paying = mis_file(tmp_path, "pay.csv", LOAN_HEADER,
                      *(loan(f"AT-L{n:04d}", "43850") for n in range(1500)))  # fmt: skip
    environment = {**os.environ, "PAYOUT_DATABASE_URL": ledger}
    command = [sys.executable, "-m", "localdev", "process", "--json"]
    subprocess.run([*command, str(paying)], env=environment, check=True, capture_output=True)
    # Two banks' corrections for the same leads, at the same time, with the same amount.
    corrections = [
        mis_file(tmp_path, f"fix_{name}.csv", LOAN_HEADER,
                 *(loan(f"AT-L{n:04d}", "40000") for n in range(1500)), f"{name}-only,x")
        for name in ("a", "b")
    ]  # fmt: skip
    processes = [
        subprocess.Popen([*command, str(path)], env=environment, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for path in corrections
    ]  # fmt: skip
    outputs = [process.communicate(timeout=180) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    results = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]
    assert sum(result["outcomes"]["adjusted"] for result in results) == 1500
    assert sum(result["outcomes"]["already_paid"] for result in results) == 1500
    assert query(
        ledger,
        "SELECT count(*), sum(payin_amount), sum(payout_amount) FROM payout_events"
        " WHERE kind = 'adjustment'",
    ) == [(1500, D(-96 * 1500), D(-39 * 1500))]
    assert_calculations_equal_event_sums(ledger)


def test_a_rules_correction_is_paid_by_recalculation_once(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], context: Context
) -> None:
    process(capsys, mis_file(tmp_path, "s.csv", SAVINGS_HEADER, savings("AT-00001", "2616"),
                             savings("AT-00002", "1299")))  # fmt: skip
    process(capsys, mis_file(tmp_path, "l.csv", LOAN_HEADER, loan("AT-00003", "43850")))
    assert recalculate(capsys, "--by", "finance.maker") == {
        "leads_examined": 3, "leads_adjusted": 0, "events": 0, "total_payin": "0.00",
        "total_payout": "0.00", "dry_run": False, "unpriced": [],
    }  # fmt: skip
    corrected = tmp_path / "rules_v2.csv"
    corrected.write_text(RULES.replace("1500,1000,2000", "1700,1100,2000").replace("2.5,1", "3,1"))
    reference_data.load_rules_file(context, corrected)
    events_before = query(ledger, "SELECT count(*) FROM payout_events")

    dry = recalculate(capsys, "--dry-run", "--by", "finance.maker")
    # Savings KPI1 (a milestone): +200/+100 on both leads; loan KPI1: 3 % of 43850 = 1315.5
    # -> 1316, so +220 payin, payout unchanged.
    assert dry == {
        "leads_examined": 3, "leads_adjusted": 3, "events": 3, "total_payin": "620.00",
        "total_payout": "200.00", "dry_run": True, "unpriced": [],
    }  # fmt: skip
    assert query(ledger, "SELECT count(*) FROM payout_events") == events_before
    assert query(ledger, "SELECT count(*) FROM recalculations") == [(0,)]

    only_savings = recalculate(capsys, "--product", "Savings Account", "--dry-run", "--by", "x")
    assert (only_savings["leads_examined"], only_savings["events"]) == (2, 2)
    out_of_range = recalculate(capsys, "--from", "2023-10-03", "--dry-run", "--by", "x")
    assert (out_of_range["leads_examined"], out_of_range["events"]) == (0, 0)

    done = recalculate(capsys, "--by", "finance.maker")
    assert {**done, "dry_run": True} == dry
    assert query(
        ledger,
        "SELECT lead_id, kpi, kind, outcome, payin_amount, payout_amount, requested_by,"
        " recalculation_id IS NOT NULL FROM payout_events WHERE kind = 'adjustment'"
        " ORDER BY lead_id",
    ) == [
        ("AT-00001", "KPI1", "adjustment", "adjusted", D(200), D(100), "finance.maker", True),
        ("AT-00002", "KPI1", "adjustment", "adjusted", D(200), D(100), "finance.maker", True),
        ("AT-00003", "KPI1", "adjustment", "adjusted", D(220), D(0), "finance.maker", True),
    ]
    assert recalculate(capsys, "--by", "finance.maker")["events"] == 0  # a second run: nothing
    assert query(ledger, "SELECT requested_by, event_count FROM recalculations") == [
        ("finance.maker", 3)
    ]
    assert_calculations_equal_event_sums(ledger)


def test_payout_events_are_append_only(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    process(capsys, mis_file(tmp_path, "s.csv", SAVINGS_HEADER, savings("AT-00001", "2616")))
    for statement in (
        "UPDATE payout_events SET payout_amount = 0",
        "DELETE FROM payout_events",
        # CASCADE: past the foreign keys of the cycle tables, the trigger itself refuses.
        "TRUNCATE payout_events CASCADE",
    ):
        with psycopg.connect(ledger) as conn, pytest.raises(psycopg.Error, match="append-only"):
            conn.execute(statement)
    assert len(events_of(ledger, "AT-00001")) == 2


def test_the_email_reports_kpis_earned_late_and_adjustments_per_product_once(
    ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], context: Context
) -> None:
    process(capsys, mis_file(tmp_path, "s1.csv", SAVINGS_HEADER, savings("AT-00002", "1299")))
    process(capsys, mis_file(tmp_path, "l1.csv", LOAN_HEADER, loan("AT-00003", "43850")))
    sender = RecordingEmailSender()
    iteration.run_summary(sender, context=context)
    assert adjustments.NO_ADJUSTMENTS_SENTENCE in sender.messages[-1].text_body

    process(capsys, mis_file(tmp_path, "s2.csv", SAVINGS_HEADER, savings("AT-00002", "2400")))
    process(capsys, mis_file(tmp_path, "l2.csv", LOAN_HEADER, loan("AT-00003", "40000")))
    corrected = tmp_path / "rules_v2.csv"
    corrected.write_text(RULES.replace("2.5,1", "3,1"))
    reference_data.load_rules_file(context, corrected)
    recalculate(capsys, "--by", "finance.maker")  # 3 % of 40000 = 1200: +200 payin
    outcome = iteration.run_summary(sender, context=context)
    assert outcome.email_sent
    text = sender.messages[-1].text_body
    section = text[text.index(adjustments.SECTION_TITLE) : text.index(adjustments.NOTE)]
    lines = [
        line.split() for line in section.splitlines()[4:] if line and not line.startswith("-")
    ]
    assert lines == [
        ["Personal", "Loan", "Adjustments", "2", "104.00", "-39.00"],
        ["Savings", "Account", "KPIs", "earned", "late", "1", "1,000.00", "500.00"],
        ["Total", "3", "1,104.00", "461.00"],
    ]
    assert adjustments.SECTION_TITLE in sender.messages[-1].html_body
    assert not iteration.run_summary(sender, context=context).email_sent  # reported once
