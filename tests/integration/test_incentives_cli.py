"""Period incentives through the operator's CLI (SPEC §11): rules loaded and versioned,
true-ups appended at each close, held when negative, shown by `payout incentives show`."""

from __future__ import annotations

import email
import email.policy
import threading
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from payout_core.settings import get_settings
from tests.integration.terminal import Operator

pytestmark = pytest.mark.integration
D = Decimal
INCENTIVES_HEADER = (
    "IncentiveId,SourceType,ProductType,PeriodStart,PeriodEnd,Measure,Threshold,Kind,"
    "PayoutAmount,PayoutRate,ExclusivityGroup"
)
SLABS = [
    "PL-SLAB-1,,Personal Loan,1 10 2023,31 10 2023,disbursed_amount,100000,rate,,0.5,PL",
    "PL-SLAB-2,,Personal Loan,1 10 2023,31 10 2023,disbursed_amount,200000,rate,,1,PL",
]
LEADS = """LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus
2023-09-28 10:00:00,SP-A,AT-LOAN1,Bank_B,Medium_A,Personal Loan,Pending,
2023-09-28 10:00:00,SP-A,AT-LOAN2,Bank_B,Medium_A,Personal Loan,Pending,
2023-09-28 10:00:00,SP-A,AT-LOAN3,Bank_B,Medium_A,Personal Loan,Pending,
2023-09-28 10:00:00,SP-B,AT-LOAN4,Bank_B,Medium_A,Personal Loan,Pending,
2023-09-28 10:00:00,SP-C,AT-SAVE1,Bank_A,Medium_A,Savings Account,Pending,
2023-09-28 10:00:00,SP-C,AT-SAVE2,Bank_A,Medium_A,Savings Account,Pending,
2023-09-28 10:00:00,SP-C,AT-SAVE3,Bank_A,Medium_A,Savings Account,Pending,
2023-09-28 10:00:00,SP-C,AT-SAVE4,Bank_A,Medium_A,Savings Account,Pending,
"""


@pytest.fixture
def operator(
    database_url: str,
    tmp_state: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch,
) -> Operator:
    # October 2023 is long past: a grace period of 100,000 days keeps it open here.
    monkeypatch.setenv("PAYOUT_INCENTIVE_GRACE_DAYS", "100000")
    get_settings.cache_clear()
    operator = Operator(tmp_path, capsys)
    operator.rules(window=("1 10 2023", "31 10 2023"))
    operator.leads(LEADS)
    return operator


def load_incentives(operator: Operator, *rows: str) -> None:
    operator.files += 1
    path = operator.folder / f"incentives_{operator.files}.csv"
    path.write_text("\n".join([INCENTIVES_HEADER, *rows]) + "\n")
    operator.run("incentives", "load", str(path))


def incentive_events(database_url: str, sp_id: str | None = None) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT e.incentive_id, e.payout_amount, s.effective_status, e.reason"
            " FROM payout_events e JOIN payout_event_states s ON s.event_id = e.event_id"
            " WHERE e.kind = 'incentive' AND (%s::text IS NULL OR e.sp_id = %s)"
            " ORDER BY e.event_id",
            (sp_id, sp_id),
        ).fetchall()


def shown(operator: Operator, sp_id: str) -> dict[str, dict]:
    return {
        line["incentive_id"]: line
        for line in operator.run("incentives", "show", "--sp", sp_id, "--json")
    }


def latest_email(state: Path) -> email.message.EmailMessage:
    eml = sorted((state / "outbox").glob("**/*.eml"), key=lambda path: path.stat().st_mtime)[-1]
    return email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)


def test_the_worked_example_pays_519_then_1520_then_holds_minus_1070(
    operator: Operator, database_url: str, tmp_state: Path
):
    load_incentives(operator, *SLABS)
    operator.loan("AT-LOAN1", "43850")
    operator.loan("AT-LOAN2", "60000")
    operator.close_cycle()
    [first] = incentive_events(database_url)
    assert first[:3] == ("PL-SLAB-1", D("519.00"), "released")
    assert "October 2023 disbursals 103,850 ≥ 100,000: 0.5 % = 519; paid before 0; +519" in first[3]
    assert operator.credited("SP-A") == D(439 + 600 + 519)

    operator.loan("AT-LOAN3", "100000")
    operator.run("summary", "--output-dir", str(operator.folder / "out"))
    second = incentive_events(database_url)[1]
    assert second[:3] == ("PL-SLAB-2", D("1520.00"), "released")
    assert (
        "October 2023 disbursals 203,850 ≥ 200,000: 1 % = 2,039; paid before 519; +1,520"
        in second[3]
    )
    lines = shown(operator, "SP-A")
    assert (lines["PL-SLAB-2"]["worth"], lines["PL-SLAB-2"]["paid"]) == ("2039.00", "2039.00")
    assert lines["PL-SLAB-1"]["worth"] == "0.00"  # no longer counts: one of group PL pays
    assert lines["PL-SLAB-2"]["measure"] == "203850.00" and lines["PL-SLAB-2"]["final"] is False

    # Shown where people look: the email (per incentive, SPs and payout), its attachment,
    # and the SP's statement, in words.
    message = latest_email(tmp_state)
    text = message.get_body(("plain",)).get_content()
    section = text.split("Period incentives: 1 true-up for 1 SP, net payout 1,520.00", 1)[1]
    assert section.split("PL-SLAB-2", 1)[1].split()[:4] == ["1", "1", "1,520.00", "0.00"]
    [attachment] = [
        part
        for part in message.iter_attachments()
        if part.get_filename() == "incentives_cycle_2.csv"
    ]
    rows = attachment.get_content().lstrip("\ufeff").splitlines()
    assert rows[0] == "SPId,IncentiveId,PeriodStart,PeriodEnd,Measure,Worth,Payout,Status,Why"
    assert rows[1].startswith("SP-A,PL-SLAB-2,2023-10-01,2023-10-31,203850.00,2039.00,1520.00,")
    statement = (operator.folder / "out" / "statements" / "cycle_2.csv").read_text("utf-8-sig")
    assert "paid before 519; +1,520" in statement

    operator.loan("AT-LOAN3", "90000")  # corrected: 193,850
    operator.close_cycle()
    third = incentive_events(database_url)[2]
    assert third[:3] == ("PL-SLAB-1", D("-1070.00"), "held")
    [clawback] = [h for h in operator.held() if h["kind"] == "incentive"]
    assert clawback["payout_amount"] == "-1070.00"
    assert shown(operator, "SP-A")["PL-SLAB-1"]["worth"] == "969.00"

    operator.close_cycle()  # nothing new: nothing appended
    assert len(incentive_events(database_url)) == 3

    # Approved like any clawback (the close that made it asked nobody: anyone may decide).
    operator.decide("approve", [clawback["event_id"]], "--by", "Ravi")
    operator.close_cycle()
    assert len(incentive_events(database_url)) == 3  # the decision changed no worth
    lines = shown(operator, "SP-A")
    assert (lines["PL-SLAB-1"]["worth"], lines["PL-SLAB-1"]["paid"]) == ("969.00", "969.00")


def test_a_bonus_is_paid_once_and_taken_back_only_below_the_threshold(
    operator: Operator, database_url: str
):
    load_incentives(operator, "SA-3,,Savings Account,1 10 2023,31 10 2023,paid_leads,3,bonus,700,,")
    for lead in ("AT-SAVE1", "AT-SAVE2"):
        operator.savings(lead, "2616")
    operator.close_cycle()
    assert incentive_events(database_url) == []  # 2 < 3
    operator.savings("AT-SAVE3", "2616")
    operator.close_cycle()
    assert [e[:3] for e in incentive_events(database_url)] == [("SA-3", D("700.00"), "released")]
    operator.savings("AT-SAVE4", "2616")  # a fourth: still one bonus
    operator.close_cycle()
    operator.close_cycle()
    assert len(incentive_events(database_url)) == 1
    assert shown(operator, "SP-C")["SA-3"] == {
        "sp_id": "SP-C",
        "incentive_id": "SA-3",
        "period_start": "2023-10-01",
        "period_end": "2023-10-31",
        "measure": "4",
        "worth": "700.00",
        "paid": "700.00",
        "final": False,
    }


def test_one_exclusivity_group_pays_one_incentive_per_sp_and_period(
    operator: Operator, database_url: str
):
    load_incentives(operator, *SLABS)
    for lead, amount in (("AT-LOAN1", "43850"), ("AT-LOAN2", "60000"), ("AT-LOAN3", "100000")):
        operator.loan(lead, amount)
    operator.loan("AT-LOAN4", "150000")  # SP-B: slab 1 only
    operator.close_cycle()
    events = incentive_events(database_url)
    assert sorted(e[:2] for e in events) == [
        ("PL-SLAB-1", D("750.00")),  # SP-B: 0.5 % of 150,000
        ("PL-SLAB-2", D("2039.00")),  # SP-A: 1 % of 203,850, never slab 1 as well
    ]
    lines = operator.run("incentives", "show", "--json")
    assert [(x["sp_id"], x["incentive_id"], x["worth"]) for x in lines] == [
        ("SP-A", "PL-SLAB-1", "0.00"),
        ("SP-A", "PL-SLAB-2", "2039.00"),
        ("SP-B", "PL-SLAB-1", "750.00"),
        ("SP-B", "PL-SLAB-2", "0.00"),
    ]
    # The next close weighs only the SP with something new.
    operator.loan("AT-LOAN4", "160000")
    operator.close_cycle()
    with psycopg.connect(database_url) as conn:
        evaluated = conn.execute(
            "SELECT evaluated_sp_count FROM incentive_evaluations ORDER BY cycle_number"
        ).fetchall()
    assert [row[0] for row in evaluated] == [2, 1]
    assert incentive_events(database_url, "SP-B")[-1][:2] == ("PL-SLAB-1", D("50.00"))


def test_racing_closes_append_one_true_up(operator: Operator, database_url: str):
    from payout_core.flows import iteration
    from payout_core.flows.unit_of_work import Context
    from tests.fakes.email_senders import RecordingEmailSender

    load_incentives(operator, *SLABS)
    operator.loan("AT-LOAN1", "43850")
    operator.loan("AT-LOAN2", "60000")
    context = Context.open(get_settings())
    sender = RecordingEmailSender(send_delay_seconds=0.5)
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def close() -> None:
        start.wait()
        try:
            iteration.run_summary(sender, context=context)
        except BaseException as error:  # surfaced by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=close) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        context.close()
    assert failures == []
    assert [e[:2] for e in incentive_events(database_url)] == [("PL-SLAB-1", D("519.00"))]
    assert len(sender.messages) == 1


def test_a_held_lead_counts_once_approved_and_a_rejected_one_never(
    operator: Operator, database_url: str, monkeypatch: pytest.MonkeyPatch
):
    load_incentives(operator, "SA-3,,Savings Account,1 10 2023,31 10 2023,paid_leads,3,bonus,700,,")
    operator.limit_events_above("1200", monkeypatch)  # KPI1 1000 + KPI2 500: KPI1 released
    operator.rules(window=("1 10 2023", "31 10 2023"), savings_kpi1_payout="1500")
    operator.savings("AT-SAVE1", "100")
    operator.savings("AT-SAVE2", "100")
    operator.savings("AT-SAVE3", "100")  # all three KPI1 (1500) held: above 1200
    operator.close_cycle()
    assert incentive_events(database_url) == []  # no released lead: nothing counts
    held = {h["lead_id"]: h["event_id"] for h in operator.held()}
    operator.decide("approve", [held["AT-SAVE1"], held["AT-SAVE2"]], "--by", "Ravi")
    operator.decide("reject", [held["AT-SAVE3"]], "--by", "Ravi", "--reason", "duplicate")
    operator.close_cycle()
    assert incentive_events(database_url) == []  # 2 < 3: the rejected lead never counts
    operator.savings("AT-SAVE4", "100")
    held = {h["lead_id"]: h["event_id"] for h in operator.held()}
    operator.decide("approve", [held["AT-SAVE4"]], "--by", "Ravi")
    operator.close_cycle()
    assert [e[:3] for e in incentive_events(database_url)] == [("SA-3", D("700.00"), "released")]


def test_after_the_grace_period_the_worth_is_final(
    operator: Operator, database_url: str, monkeypatch: pytest.MonkeyPatch
):
    load_incentives(operator, *SLABS)
    operator.loan("AT-LOAN1", "43850")
    operator.loan("AT-LOAN2", "60000")
    operator.close_cycle()
    monkeypatch.setenv("PAYOUT_INCENTIVE_GRACE_DAYS", "45")  # October 2023 is long past now
    get_settings.cache_clear()
    operator.loan("AT-LOAN2", "50000")  # corrected below the threshold: too late to matter
    operator.close_cycle()
    assert [e[:2] for e in incentive_events(database_url)] == [("PL-SLAB-1", D("519.00"))]
    [line] = [x for x in operator.run("incentives", "show", "--json") if x["worth"] != "0.00"]
    assert (line["incentive_id"], line["worth"], line["paid"], line["final"]) == (
        "PL-SLAB-1",
        "519.00",
        "519.00",
        True,
    )


def test_a_new_version_of_the_rules_trues_up_every_sp_in_its_periods(
    operator: Operator, database_url: str
):
    load_incentives(operator, *SLABS)
    operator.loan("AT-LOAN1", "43850")
    operator.loan("AT-LOAN2", "60000")
    operator.close_cycle()
    same = operator.folder / "same.csv"
    same.write_text("\n".join([INCENTIVES_HEADER, *SLABS]) + "\n")
    operator.run("incentives", "load", str(same))  # the same content: unchanged
    load_incentives(operator, SLABS[0].replace(",0.5,", ",0.6,"), SLABS[1])
    operator.close_cycle()  # nothing else new: the new version alone re-weighs SP-A
    assert [e[:2] for e in incentive_events(database_url)] == [
        ("PL-SLAB-1", D("519.00")),
        ("PL-SLAB-1", D("104.00")),  # 0.6 % of 103,850 = 623.1 -> 623
    ]


def test_a_bad_incentives_file_is_refused_naming_rows_and_nothing_is_loaded(
    operator: Operator, database_url: str
):
    path = operator.folder / "bad.csv"
    path.write_text(
        "\n".join(
            [
                INCENTIVES_HEADER,
                *SLABS,
                "PL-SLAB-1,,Personal Loan,20 10 2023,5 11 2023,disbursed_amount,1,rate,,2,PL",
                "SA-X,,Savings Account,1 10 2023,31 10 2023,paid_leads,3,bonus,,,",
            ]
        )
        + "\n"
    )
    message = operator.refused("incentives", "load", str(path))
    assert "bad.csv: refused, nothing loaded" in message
    assert "rows 1 and 3: periods overlap for IncentiveId PL-SLAB-1" in message
    assert "row 4: PayoutAmount is blank" in message
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM incentive_rules").fetchone()[0] == 0


def test_the_sp_page_shows_the_incentive_line_in_words(operator: Operator):
    from payout_core.flows.explain import sp_page
    from payout_core.flows.unit_of_work import Context
    from payout_core.review.explain_pages import _sp_page

    load_incentives(operator, *SLABS)
    operator.loan("AT-LOAN1", "43850")
    operator.loan("AT-LOAN2", "60000")
    operator.close_cycle()
    context = Context.open(get_settings())
    try:
        page = sp_page(context, "SP-A")
        html, status = _sp_page(context, "SP-A", "/api/review")
    finally:
        context.close()
    [event] = [e for e in page["cycles"][0]["events"] if e["kind"] == "incentive"]
    assert event["source"]["type"] == "period_incentive"
    assert event["payout_amount"] == "519.00"
    assert status == 200
    assert "October 2023 disbursals 103,850 ≥ 100,000: 0.5 % = 519; paid before 0; +519" in html
    assert "view=lead&amp;lead=INC" not in html and "lead=INC" not in html
