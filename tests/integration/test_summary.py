"""The summary job against real PostgreSQL: the report's numbers, exactly-once under
concurrency, a failed send retried next time, nothing new -> no email, the outbox .eml."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import logging
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from payout_core import report
from payout_core.adapters.mail import EmailMessage, EmailSendError
from payout_core.flows import iteration, iteration_report
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import iteration_rows
from payout_core.report import SummaryLine
from tests.fakes.email_senders import FailingEmailSender, RecordingEmailSender
from tests.integration import ledger_rows

pytestmark = pytest.mark.integration

REPORTED_ON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
FIRST_REVENUE_DAY = date(2026, 11, 20)
SECOND_REVENUE_DAY = date(2026, 11, 21)


def clock() -> datetime:
    return REPORTED_ON


def connect(database_url: str) -> psycopg.Connection:
    return psycopg.connect(database_url, autocommit=True)


@pytest.fixture
def ledger(database_url: str) -> str:
    """Two unreported runs across two product groups and revenue days, one unreported
    error, and one run an earlier iteration (4) already reported."""
    with connect(database_url) as conn:
        savings_rule = ledger_rows.insert_rule(conn, "Bank_A", "Savings Account")
        loan_rule = ledger_rows.insert_rule(conn, "Bank_B", "Personal Loan")
        savings_run = ledger_rows.insert_mis_run(
            conn,
            "bank_a_2026-11-20.csv",
            {"invalid": 1, "duplicate": 1, "not_shiftpay_lead": 1, "paid": 3},
            "Savings Account",
            totals=("5500", "3500"),
        )
        loan_run = ledger_rows.insert_mis_run(
            conn,
            "bank_b_2026-11-20.csv",
            {"already_paid": 1, "no_active_rule": 1, "paid": 2},
            "Personal Loan",
            totals=("1235663", "1000439"),
        )
        savings = {"source_type": "Bank_A", "product_type": "Savings Account"}
        loan = {"source_type": "Bank_B", "product_type": "Personal Loan"}
        for lead_id, sp_id, kpi2 in [
            ("AT-00001", "SP-1", ("1000", "500")),
            ("AT-00002", "SP-1", ("0", "0")),
            ("AT-00003", "SP-2", ("0", "0")),
        ]:
            ledger_rows.insert_calculation(
                conn,
                mis_run_id=savings_run,
                rule_id=savings_rule,
                lead_id=lead_id,
                sp_id=sp_id,
                date_of_revenue=FIRST_REVENUE_DAY,
                kpi1=("1500", "1000"),
                kpi2=kpi2,
                with_events=True,
                **savings,
            )
        for lead_id, sp_id, kpi1 in [
            ("AT-00004", "SP-3", ("1096", "439")),
            ("AT-00005", "SP-1", ("1234567", "1000000")),
        ]:
            ledger_rows.insert_calculation(
                conn,
                mis_run_id=loan_run,
                rule_id=loan_rule,
                lead_id=lead_id,
                sp_id=sp_id,
                date_of_revenue=SECOND_REVENUE_DAY,
                kpi1=kpi1,
                with_events=True,
                **loan,
            )
        ledger_rows.insert_error(conn, "broken.csv", "required columns missing: TrackingId")
        # Already reported by iteration 4: must not appear again, numbering continues.
        old_run = ledger_rows.insert_mis_run(
            conn, "old.csv", {"paid": 1}, "Savings Account", totals=("1500", "1000")
        )
        ledger_rows.insert_calculation(
            conn,
            mis_run_id=old_run,
            rule_id=savings_rule,
            lead_id="AT-OLD01",
            sp_id="SP-9",
            date_of_revenue=date(2026, 11, 1),
            kpi1=("1500", "1000"),
            **savings,
        )
        conn.execute(
            "INSERT INTO iterations (iteration_number, subject, recipients, mis_run_count,"
            " error_count) VALUES (4, 'earlier', 'finance@shiftpay.example', 1, 0)"
        )
        conn.execute(
            "INSERT INTO reported_mis_runs (mis_run_id, iteration_number) VALUES (%s, 4)",
            (old_run,),
        )
    return database_url


def unreported_counts(database_url: str) -> tuple[int, int]:
    with connect(database_url) as conn:
        runs = conn.execute(
            "SELECT count(*) FROM mis_runs r WHERE NOT EXISTS"
            " (SELECT 1 FROM reported_mis_runs x WHERE x.mis_run_id = r.mis_run_id)"
        ).fetchone()
        errors = conn.execute(
            "SELECT count(*) FROM error_logs WHERE reported_at IS NULL"
        ).fetchone()
    assert runs is not None and errors is not None
    return runs[0], errors[0]


def iteration_numbers(database_url: str) -> list[int]:
    with connect(database_url) as conn:
        rows = conn.execute("SELECT iteration_number FROM iterations ORDER BY 1").fetchall()
    return [row[0] for row in rows]


def read_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_report_numbers_match_the_ledger(ledger: str, context: Context):
    with context.reading() as conn, conn.transaction():
        unreported = iteration_rows.select_unreported(conn)
        built = iteration_report.gather_report(
            conn,
            unreported,
            iteration_number=5,
            report_date=REPORTED_ON.date(),
            attachments_max_bytes=1_000_000,
        )
    assert built.summary_lines == (
        SummaryLine(
            FIRST_REVENUE_DAY,
            "Bank_A",
            "Medium_A",
            "Savings Account",
            unique_sp_count=2,
            lead_count=3,
            total_payin=Decimal("5500.00"),
            total_payout=Decimal("3500.00"),
        ),
        SummaryLine(
            SECOND_REVENUE_DAY,
            "Bank_B",
            "Medium_A",
            "Personal Loan",
            unique_sp_count=2,
            lead_count=2,
            total_payin=Decimal("1235663.00"),
            total_payout=Decimal("1000439.00"),
        ),
    )
    total = built.summary_total
    # SP-1 sold in both groups: counted once in the total.
    assert (total.unique_sp_count, total.lead_count) == (3, 5)
    assert (total.total_payin, total.total_payout) == (Decimal("1241163.00"), Decimal("1003939.00"))
    assert total.revenue == Decimal("237224.00")
    assert all(isinstance(line.total_payin, Decimal) for line in (*built.summary_lines, total))
    assert [(run.mis_file, run.rows_read, run.count("paid")) for run in built.runs] == [
        ("bank_a_2026-11-20.csv", 6, 3),
        ("bank_b_2026-11-20.csv", 4, 2),
    ]
    assert [(error.mis, error.error_type) for error in built.errors] == [
        ("broken.csv", "required columns missing: TrackingId")
    ]
    success = read_csv(built.success_csv)
    assert success[0] == list(report.SUCCESS_CSV_HEADERS)
    assert sorted(row[5] for row in success[1:]) == [f"AT-0000{n}" for n in range(1, 6)]
    first = next(row for row in success[1:] if row[5] == "AT-00001")
    assert first[10:] == ["1500.00", "1000.00", "1000.00", "500.00", "2500.00", "1500.00"]
    assert "1,241,163.00" in report.render_html(built) and "237,224.00" in report.render_text(built)


def test_summary_sends_once_and_marks_exactly_those_rows_reported(ledger: str, context: Context):
    sender = RecordingEmailSender()
    outcome = iteration.run_summary(sender, clock=clock, context=context)

    assert (outcome.iteration_number, outcome.mis_file_count) == (5, 2)
    assert (outcome.paid_lead_count, outcome.error_count) == (5, 1)
    assert str(outcome) == (
        "iteration 5 reported: 2 files, 5 leads paid, 1 error; cycle 5: 3 credit(s), total "
        "1003939.00, 0 newly held at this close, 0 waiting for a decision; email: recorded-1"
    )
    [message] = sender.messages
    assert message.subject == (
        "ShiftPay payouts — iteration 5 (2026-11-21): 2 files, 5 leads paid, "
        "₹1,003,939.00 credited, nothing held, 1 error"
    )
    assert (
        "broken.csv" in message.html_body
        and "AT-OLD01" not in message.attachments[0].content.decode()
    )
    assert unreported_counts(ledger) == (0, 0)
    assert iteration_numbers(ledger) == [4, 5]
    with connect(ledger) as conn:
        recorded = conn.execute(
            "SELECT subject, message_id, mis_run_count, error_count FROM iterations"
            " WHERE iteration_number = 5"
        ).fetchone()
        marked = conn.execute(
            "SELECT mis_file, iteration_number FROM mis_runs"
            " JOIN reported_mis_runs USING (mis_run_id) ORDER BY mis_run_id"
        ).fetchall()
        error_iteration = conn.execute("SELECT iteration_number FROM error_logs").fetchone()
    assert recorded == (message.subject, "recorded-1", 2, 1)
    assert marked == [
        ("bank_a_2026-11-20.csv", 5),
        ("bank_b_2026-11-20.csv", 5),
        ("old.csv", 4),
    ]
    assert error_iteration == (5,)


def test_nothing_new_sends_no_email(
    ledger: str, caplog: pytest.LogCaptureFixture, context: Context
):
    sender = RecordingEmailSender()
    iteration.run_summary(sender, clock=clock, context=context)
    caplog.set_level(logging.INFO, logger="payout_core.flows.iteration")

    again = iteration.run_summary(sender, clock=clock, context=context)

    assert not again.email_sent
    assert str(again) == "nothing new since the last report: no email sent"
    assert len(sender.messages) == 1
    assert iteration_numbers(ledger) == [4, 5]
    assert "nothing new since the last report" in caplog.text


def test_empty_ledger_sends_no_email(database_url: str, context: Context):
    sender = RecordingEmailSender()
    assert not iteration.run_summary(sender, clock=clock, context=context).email_sent
    assert sender.messages == []


def test_a_new_error_alone_is_its_own_iteration(ledger: str, context: Context):
    sender = RecordingEmailSender()
    iteration.run_summary(sender, clock=clock, context=context)
    with connect(ledger) as conn:
        ledger_rows.insert_error(conn, "late.csv", "not CSV")

    outcome = iteration.run_summary(sender, clock=clock, context=context)

    assert (outcome.iteration_number, outcome.mis_file_count, outcome.error_count) == (6, 0, 1)
    assert sender.messages[-1].subject.endswith(
        ": 0 files, 0 leads paid, ₹0.00 credited, nothing held, 1 error"
    )
    assert "No MIS files were processed in this iteration." in sender.messages[-1].text_body


def test_failed_send_leaves_everything_unreported_and_the_next_run_sends_it(
    ledger: str, context: Context
):
    failing = FailingEmailSender()
    with pytest.raises(EmailSendError):
        iteration.run_summary(failing, clock=clock, context=context)

    assert failing.attempts == 1
    assert unreported_counts(ledger) == (2, 1)
    assert iteration_numbers(ledger) == [4]

    sender = RecordingEmailSender()
    outcome = iteration.run_summary(sender, clock=clock, context=context)
    assert outcome.iteration_number == 5  # the failed attempt did not use up a number
    assert len(sender.messages) == 1 and outcome.paid_lead_count == 5
    assert unreported_counts(ledger) == (0, 0)


def test_an_email_over_the_acs_limit_goes_out_once_with_fewer_rows_attached(
    ledger: str, context: Context, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    """ACS refuses a message over its limit: the attachments are cut (the rows a CSV holds
    are its first ones), the bodies still count every lead, and one email goes out."""

    class RecordThenRefuse(RecordingEmailSender):
        def send(self, message: EmailMessage) -> str:
            super().send(message)
            raise EmailSendError("refused (test)")

    probe = RecordThenRefuse()
    with pytest.raises(EmailSendError):
        iteration.run_summary(probe, clock=clock, context=context)
    [whole] = probe.messages
    whole_rows = list(csv.reader(io.StringIO(whole.attachments[0].content.decode("utf-8-sig"))))
    assert len(whole_rows) == 1 + 5
    limit_bytes = whole.size_bytes() - 1
    monkeypatch.setattr(iteration, "ACS_MESSAGE_MAX_BYTES", limit_bytes)
    monkeypatch.setattr(iteration, "ATTACHMENTS_MIN_BYTES", 0)
    caplog.set_level(logging.WARNING, logger="payout_core.flows.iteration")

    sender = RecordingEmailSender()
    outcome = iteration.run_summary(sender, clock=clock, context=context)

    [sent] = sender.messages
    assert sent.size_bytes() <= limit_bytes
    sent_rows = list(csv.reader(io.StringIO(sent.attachments[0].content.decode("utf-8-sig"))))
    assert 1 < len(sent_rows) < len(whole_rows) and sent_rows == whole_rows[: len(sent_rows)]
    assert f"holds the first {len(sent_rows) - 1} of 5 rows" in sent.text_body
    assert outcome.paid_lead_count == 5 and "attachments cut to" in caplog.text
    assert unreported_counts(ledger) == (0, 0)


def test_two_concurrent_runs_send_exactly_one_email(ledger: str, context: Context):
    # The send is held open long enough that, without the lock, both runs would have
    # read the same unreported rows before either committed.
    sender = RecordingEmailSender(send_delay_seconds=1.0)
    start = threading.Barrier(2)
    outcomes: list[iteration.SummaryOutcome] = []
    failures: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            outcomes.append(iteration.run_summary(sender, clock=clock, context=context))
        except BaseException as error:  # surfaced by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert len(sender.messages) == 1
    assert sorted(outcome.email_sent for outcome in outcomes) == [False, True]
    assert iteration_numbers(ledger) == [4, 5]
    assert unreported_counts(ledger) == (0, 0)


def test_a_file_finishing_during_the_send_waits_for_the_next_iteration(
    ledger: str, context: Context
):
    class SenderThatSeesAFileArrive(RecordingEmailSender):
        def send(self, message: EmailMessage) -> str:
            if not self.messages:  # the pipeline commits a run while the email is going out
                with connect(ledger) as conn:
                    ledger_rows.insert_mis_run(conn, "arrived.csv", {"invalid": 2}, "x")
            return super().send(message)

    sender = SenderThatSeesAFileArrive()
    first = iteration.run_summary(sender, clock=clock, context=context)
    assert first.mis_file_count == 2
    assert unreported_counts(ledger) == (1, 0)

    second = iteration.run_summary(sender, clock=clock, context=context)
    assert (second.iteration_number, second.mis_file_count) == (6, 1)
    assert "arrived.csv" in sender.messages[1].text_body


def test_outbox_sender_writes_a_standard_eml_with_attachments(
    ledger: str, tmp_state: Path, context: Context
):
    outcome = iteration.run_summary(
        clock=clock, context=context
    )  # PAYOUT_EMAIL_SENDER defaults to outbox

    eml_path = Path(str(outcome.message_id))
    assert eml_path.parent == tmp_state / "outbox"
    assert eml_path.name.startswith("iteration-000005-") and eml_path.suffix == ".eml"
    assert str(eml_path) in str(outcome)
    parsed = email.message_from_bytes(eml_path.read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == (
        "ShiftPay payouts — iteration 5 (2026-11-21): 2 files, 5 leads paid, "
        "₹1,003,939.00 credited, nothing held, 1 error"
    )
    assert parsed["From"] == "DoNotReply@shiftpay.example"
    assert parsed["To"] == "finance@shiftpay.example"
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert text is not None and "Per-file accounting" in text.get_content()
    assert html is not None and "1,241,163.00" in html.get_content()
    attachments = {part.get_filename(): part for part in parsed.iter_attachments()}
    assert set(attachments) == {
        "payout_calculations_iteration_5.csv",
        "error_logs_iteration_5.csv",
        "wallet_credits_cycle_5.csv",  # the fixture's events are released: cycle 5 credits them
    }
    success_part = attachments["payout_calculations_iteration_5.csv"]
    assert success_part.get_content_type() == "text/csv"
    assert success_part.get_content_charset() == "utf-8"
    assert success_part.get_content().startswith("\ufeffCreatedAt,SourceType,")
    success = read_csv(success_part.get_payload(decode=True))
    errors = read_csv(attachments["error_logs_iteration_5.csv"].get_payload(decode=True))
    assert len(success) == 1 + 5
    assert errors[1][1:] == ["broken.csv", "required columns missing: TrackingId"]
