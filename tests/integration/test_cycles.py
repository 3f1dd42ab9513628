"""Payout cycles on real PostgreSQL, through the operator's CLI where a person would act:
one credit per SP, limits, holds, maker-checker decisions, carries, the append-only audit
trail, and exactly-once under concurrency and crashes (SPEC §8)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from payout_cli import commands
from payout_core.adapters.mail import EmailSendError
from payout_core.flows import iteration, review_decisions
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import cycles
from tests.fakes.email_senders import FailingEmailSender, RecordingEmailSender
from tests.integration.cycle_rows import Ledger
from tests.support.postgres import with_settings_read_again

pytestmark = pytest.mark.integration


def clock() -> datetime:
    return datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield Ledger(conn)


def payout(command: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict]]:
    """Run `payout ...`; returns the exit code and the JSON lines it printed."""
    capsys.readouterr()
    exit_code = commands.main(command)
    out = capsys.readouterr().out
    return exit_code, [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def tick(context: Context, sender: RecordingEmailSender | None = None) -> iteration.SummaryOutcome:
    return iteration.run_summary(sender or RecordingEmailSender(), clock=clock, context=context)


def credits(capsys: pytest.CaptureFixture[str], cycle: int | None = None) -> list[dict]:
    exit_code, lines = payout(
        ["credits", "--json", *(["--cycle", str(cycle)] if cycle else [])], capsys
    )
    assert exit_code == 0
    return lines


def held_ids(capsys: pytest.CaptureFixture[str]) -> list[int]:
    exit_code, lines = payout(["holds", "list", "--json"], capsys)
    assert exit_code == 0
    return [line["event_id"] for line in lines]


def final_total_payout(ledger: Ledger, lead_id: str) -> Decimal:
    row = ledger.conn.execute(
        "SELECT total_payout FROM payout_calculations WHERE lead_id = %s", (lead_id,)
    ).fetchone()
    return row[0]


def test_one_credit_per_sp_nets_a_clawback_and_a_retried_tick_credits_nothing(
    ledger: Ledger, capsys: pytest.CaptureFixture[str], context: Context
):
    ledger.event("LEAD-001", "SP-1", "439")
    ledger.event("LEAD-002", "SP-1", "1000", kpi="KPI1")
    ledger.event("LEAD-002", "SP-1", "500", kpi="KPI2")
    ledger.event("LEAD-003", "SP-2", "250")
    sender = RecordingEmailSender()
    first = tick(context, sender)

    assert first.iteration_number == 1
    assert [(c["cycle"], c["credit_id"], c["sp_id"], c["amount"], c["events"], c["status"])
            for c in credits(capsys)] == [
        (1, "CR-000001-0001", "SP-1", "1939.00", 3, "sent"),
        (1, "CR-000001-0002", "SP-2", "250.00", 1, "sent"),
    ]  # fmt: skip
    [message] = sender.messages
    assert "Credited in this cycle: 2 wallet credits, total ₹2,189.00" in message.text_body
    attachment = next(a for a in message.attachments if a.file_name.startswith("wallet_credits"))
    assert b"CR-000001-0001,1,SP-1,1939.00,3" in attachment.content

    # A retried tick finds nothing new: no second cycle, no second credit.
    assert tick(context).iteration_number is None
    assert len(credits(capsys)) == 2

    # A clawback (negative adjustment) is held whatever the limits; approved, it nets
    # against the SP's new earnings in the next cycle.
    clawback = ledger.event("LEAD-001", "SP-1", "-39", kind="adjustment", requested_by="Asha")
    ledger.event("LEAD-004", "SP-1", "100")
    assert held_ids(capsys) == [clawback]
    assert final_total_payout(ledger, "LEAD-001") == Decimal("439.00")
    tick(context)
    assert [(c["sp_id"], c["amount"]) for c in credits(capsys, 2)] == [("SP-1", "100.00")]

    assert payout(["holds", "approve", str(clawback), "--by", "Ravi"], capsys)[0] == 0
    assert held_ids(capsys) == []
    assert final_total_payout(ledger, "LEAD-001") == Decimal("400.00")
    ledger.event("LEAD-005", "SP-1", "200")
    third = tick(context)
    assert [
        (c["sp_id"], c["amount"], c["events"]) for c in credits(capsys, third.iteration_number)
    ] == [("SP-1", "161.00", 2)]


def test_a_net_of_zero_or_less_is_not_sent_and_carries_to_the_next_cycle(
    ledger: Ledger, capsys: pytest.CaptureFixture[str], context: Context
):
    ledger.event("LEAD-001", "SP-1", "100")
    tick(context)
    clawback = ledger.event("LEAD-001", "SP-1", "-100", kind="adjustment", requested_by="Asha")
    payout(["holds", "approve", str(clawback), "--by", "Ravi"], capsys)
    ledger.event("LEAD-002", "SP-1", "60")
    second = tick(context)  # 60 - 100 = -40: nothing sent, the decision is still reported
    assert second.iteration_number == 2
    assert credits(capsys, 2) == []
    ledger.event("LEAD-003", "SP-1", "70")
    tick(context)  # -40 carried + 70 = 30
    assert [(c["amount"], c["events"]) for c in credits(capsys, 3)] == [("30.00", 3)]
    assert_credits_sum_to_cycle_events(ledger)


def assert_credits_sum_to_cycle_events(ledger: Ledger) -> None:
    """Every credit is the sum of its events; every event in a cycle is released."""
    rows = ledger.conn.execute(
        "SELECT w.credit_id, w.amount, sum(s.payout_amount), bool_and("
        " s.effective_status = 'released') FROM wallet_credits w"
        " JOIN payout_event_states s ON s.credit_id = w.credit_id GROUP BY 1, 2"
    ).fetchall()
    assert rows and all(amount == total and released for _, amount, total, released in rows)
    paid = ledger.conn.execute(
        "SELECT (SELECT sum(amount) FROM wallet_credits),"
        " (SELECT sum(payout_amount) FROM payout_event_states WHERE cycle_number IS NOT NULL)"
    ).fetchone()
    assert paid[0] == paid[1]


def test_limits_per_event_and_per_sp_cycle_hold_events_until_approved(
    ledger: Ledger,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    context: Context,
):
    monkeypatch.setenv("PAYOUT_HOLD_EVENT_ABOVE", "5000")
    monkeypatch.setenv("PAYOUT_HOLD_SP_CYCLE_ABOVE", "8000")

    context = with_settings_read_again(context)
    # Written held by the ledger (its writer applies the per-event rule)...
    big = ledger.event("LEAD-001", "SP-1", "5000.01", status="held")
    # ...or found at the close when a writer did not.
    also_big = ledger.event("LEAD-002", "SP-2", "6000")
    at_limit = ledger.event("LEAD-003", "SP-3", "5000")
    sp4 = [ledger.event(f"LEAD-1{n:02d}", "SP-4", "3000") for n in range(3)]  # 9000 > 8000
    small = ledger.event("LEAD-200", "SP-4", "1")
    tick(context)

    assert [(c["sp_id"], c["amount"]) for c in credits(capsys)] == [("SP-3", "5000.00")]
    _, listed = payout(["holds", "list", "--json"], capsys)
    assert sorted(line["event_id"] for line in listed) == sorted([big, also_big, *sp4, small])
    reasons = {line["event_id"]: line["hold_reason"] for line in listed}
    assert (
        "PAYOUT_HOLD_EVENT_ABOVE" in reasons[big] and "PAYOUT_HOLD_EVENT_ABOVE" in reasons[also_big]
    )
    assert "9001.00" in reasons[small] and "PAYOUT_HOLD_SP_CYCLE_ABOVE" in reasons[small]
    assert {line["status"] for line in listed} == {"held"}
    assert at_limit not in reasons

    ids = [str(event_id) for event_id in (big, *sp4, small)]
    assert payout(["holds", "approve", *ids, "--by", "Ravi"], capsys)[0] == 0
    second = tick(context)
    assert [(c["sp_id"], c["amount"]) for c in credits(capsys, second.iteration_number)] == [
        ("SP-1", "5000.01"),
        ("SP-4", "9001.00"),  # approved by a person: not held again
    ]
    assert held_ids(capsys) == [also_big]
    assert_credits_sum_to_cycle_events(ledger)


def test_decisions_are_all_or_nothing_and_maker_checker(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
):
    asked_by_asha = ledger.event("LEAD-001", "SP-1", "-10", kind="adjustment", requested_by="Asha")
    other = ledger.event("LEAD-002", "SP-2", "-20", kind="adjustment", requested_by="Ravi")
    released = ledger.event("LEAD-003", "SP-3", "30")

    def refused(command: list[str], message: str) -> None:
        capsys.readouterr()
        assert commands.main(command) == commands.EXIT_FAILED
        assert message in capsys.readouterr().err
        assert held_ids(capsys) == [asked_by_asha, other]  # nothing decided

    refused(["holds", "approve", str(other), str(asked_by_asha), "--by", " asha "], "maker-checker")
    refused(["holds", "approve", str(other), "999999", "--by", "Meera"], "event 999999")
    refused(["holds", "approve", str(other), str(released), "--by", "Meera"], f"event {released}")
    refused(["holds", "reject", str(other), "--by", "Meera"], "needs a reason")
    refused(["holds", "reject", str(other), "--by", "Meera", "--reason", "  "], "needs a reason")
    refused(["holds", "approve", str(other), "--by", "  "], "must be named")

    exit_code, decided = payout(
        ["holds", "reject", str(other), "--by", "Meera", "--reason", "bank confirmed", "--json"],
        capsys,
    )
    assert exit_code == 0 and [d["decision"] for d in decided] == ["rejected"]
    capsys.readouterr()
    assert commands.main(["holds", "approve", str(other), str(asked_by_asha), "--by", "Meera"]) == 1
    assert f"event {other}: already rejected by Meera" in capsys.readouterr().err
    assert held_ids(capsys) == [asked_by_asha]

    exit_code, everything = payout(["holds", "list", "--all", "--json"], capsys)
    rejected = next(line for line in everything if line["event_id"] == other)
    keys = ("status", "decided_by", "decision_reason", "requested_by", "kind", "payout_amount")
    assert {key: rejected[key] for key in keys} == {
        "status": "rejected", "decided_by": "Meera", "decision_reason": "bank confirmed",
        "requested_by": "Ravi", "kind": "adjustment", "payout_amount": "-20.00",
    }  # fmt: skip
    assert set(rejected) >= {
        "event_id",
        "lead_id",
        "sp_id",
        "kpi",
        "payin_amount",
        "reason",
        "decided_at",
    }


def test_a_rejected_event_is_never_paid_and_counts_zero_in_the_final_table(
    ledger: Ledger, capsys: pytest.CaptureFixture[str], context: Context
):
    event_id = ledger.event("LEAD-001", "SP-1", "7000", status="held")
    ledger.event("LEAD-001", "SP-1", "500", kpi="KPI2")
    assert final_total_payout(ledger, "LEAD-001") == Decimal("500.00")
    payout(["holds", "reject", str(event_id), "--by", "Meera", "--reason", "fraud"], capsys)
    sender = RecordingEmailSender()
    tick(context, sender)
    tick(context)
    assert [(c["amount"], c["events"]) for c in credits(capsys)] == [("500.00", 1)]
    row = ledger.conn.execute(
        "SELECT kpi1_payout_amount, kpi2_payout_amount FROM payout_calculations"
        " WHERE lead_id = 'LEAD-001'"
    ).fetchone()
    assert row == (Decimal("0.00"), Decimal("500.00"))
    body = sender.messages[0].text_body
    assert "Decided since the last email: 1 event." in body and "fraud" in body


@pytest.mark.parametrize(
    "table", ["event_holds", "hold_decisions", "payout_cycles", "wallet_credits", "cycle_events"]
)
def test_the_database_refuses_to_change_the_audit_trail(
    ledger: Ledger, capsys, table: str, context: Context
):
    held = ledger.event("LEAD-001", "SP-1", "-5", kind="adjustment")
    ledger.event("LEAD-002", "SP-1", "50")
    payout(["holds", "approve", str(held), "--by", "Ravi"], capsys)
    ledger.event("LEAD-003", "SP-2", "6", status="released")
    with psycopg.connect(ledger.conn.info.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO event_holds (event_id, hold_reason) SELECT max(event_id), 'x'"
                     " FROM payout_events")  # fmt: skip
    tick(context)
    assert ledger.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0
    for statement in (f"UPDATE {table} SET cycle_number = cycle_number"
                      if table != "hold_decisions" else f"UPDATE {table} SET decided_by = 'x'",
                      f"DELETE FROM {table}", f"TRUNCATE {table} CASCADE"):  # fmt: skip
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            ledger.conn.execute(statement)


def test_the_database_itself_refuses_maker_checker_and_undecidable_events(ledger: Ledger):
    held = ledger.event("LEAD-001", "SP-1", "-5", kind="adjustment", requested_by="Asha")
    released = ledger.event("LEAD-002", "SP-1", "5")
    insert = (
        "INSERT INTO hold_decisions (event_id, decision, decided_by) VALUES (%s, 'approved', %s)"
    )
    with pytest.raises(psycopg.errors.CheckViolation, match="maker-checker"):
        ledger.conn.execute(insert, (held, "ASHA"))
    with pytest.raises(psycopg.errors.CheckViolation, match="not held"):
        ledger.conn.execute(insert, (released, "Ravi"))


def test_two_ticks_at_once_close_one_cycle(ledger: Ledger, capsys, context: Context):
    for n in range(50):
        ledger.event(f"LEAD-{n:03d}", f"SP-{n % 7}", "10")
    sender = RecordingEmailSender(send_delay_seconds=0.3)
    outcomes: list[iteration.SummaryOutcome] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(tick(context, sender))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o.iteration_number or 0 for o in outcomes) == [0, 1]
    assert len(sender.messages) == 1
    assert len(credits(capsys)) == 7
    assert sum(Decimal(c["amount"]) for c in credits(capsys)) == Decimal("500.00")


def test_a_decision_racing_a_cycle_close_is_neither_lost_nor_paid_twice(
    ledger: Ledger, capsys, context: Context
):
    held = [ledger.event(f"LEAD-{n:03d}", "SP-1", "-1", kind="adjustment") for n in range(5)]
    ledger.event("LEAD-100", "SP-1", "100")
    # The close holds its lock and snapshot while the send is slow; the decision commits
    # meanwhile, and joins the next cycle.
    sending = threading.Event()

    class SlowSender(RecordingEmailSender):
        def send(self, message):
            sending.set()
            return super().send(message)

    closing = threading.Thread(target=lambda: tick(context, SlowSender(send_delay_seconds=0.5)))
    closing.start()
    assert sending.wait(timeout=30)
    review_decisions.decide(context, held, decision="approve", decided_by="Ravi", reason=None)
    closing.join()
    first = [(c["cycle"], c["amount"]) for c in credits(capsys)]
    ledger.event("LEAD-101", "SP-1", "10")
    later = RecordingEmailSender()
    tick(context, later)
    every = [(c["cycle"], c["amount"]) for c in credits(capsys)]
    assert held_ids(capsys) == []
    assert "Decided since the last email: 5 events." in later.messages[0].text_body
    assert sum(Decimal(amount) for _, amount in every) == Decimal("105.00")
    assert len(every) == len({cycle for cycle, _ in every})  # one credit per cycle
    assert first[0] in every
    assert_credits_sum_to_cycle_events(ledger)


def test_a_crash_anywhere_in_the_close_leaves_no_cycle_and_the_next_tick_closes_it(
    ledger: Ledger, capsys, monkeypatch: pytest.MonkeyPatch, context: Context
):
    ledger.event("LEAD-001", "SP-1", "100")
    ledger.event("LEAD-002", "SP-2", "-1", kind="adjustment")
    failing = FailingEmailSender()
    with pytest.raises(EmailSendError):
        iteration.run_summary(failing, clock=clock, context=context)

    # A crash between the cycle's statements (after the credits, before the events).
    real_copy = cycles.copy_frame

    def crash_on_events(cursor, table, frame):
        if table == "cycle_events":
            raise RuntimeError("power lost")
        real_copy(cursor, table, frame)

    monkeypatch.setattr(cycles, "copy_frame", crash_on_events)
    with pytest.raises(RuntimeError, match="power lost"):
        tick(context)
    monkeypatch.setattr(cycles, "copy_frame", real_copy)
    counts = ledger.conn.execute(
        "SELECT (SELECT count(*) FROM payout_cycles), (SELECT count(*) FROM wallet_credits),"
        " (SELECT count(*) FROM event_holds), (SELECT count(*) FROM iterations)"
    ).fetchone()
    assert counts == (0, 0, 0, 0)
    assert tick(context).iteration_number == 1
    assert [(c["sp_id"], c["amount"]) for c in credits(capsys)] == [("SP-1", "100.00")]


def test_credits_files_reach_the_output_container_once_even_after_a_failed_upload(
    ledger: Ledger, storage_env, tmp_path, capsys, context: Context
):
    from payout_core.adapters import storage

    ledger.event("LEAD-001", "SP-1", "100")

    tick(context)

    class BrokenStorage:
        def publish_credits_file(self, blob_name: str, data: bytes) -> None:
            raise ConnectionError("storage down")

    with pytest.raises(ConnectionError):
        iteration.publish_pending_credits_files(context, BrokenStorage())
    client = storage.service_client(settings=storage_env)
    storage.ensure_containers(client, [storage_env.output_container])
    sink = storage.BlobOutputs(client, storage_env.output_container)
    assert iteration.publish_pending_credits_files(context, sink) == [1]
    assert iteration.publish_pending_credits_files(context, sink) == []  # published once
    data = (
        client.get_blob_client(storage_env.output_container, "credits/wallet_credits_cycle_1.csv")
        .download_blob()
        .readall()
    )
    assert data.decode("utf-8-sig").splitlines() == [
        "CreditId,Cycle,SPId,Amount,Events",
        "CR-000001-0001,1,SP-1,100.00,1",
    ]
    # The operator's copy: the same bytes in a local folder.
    assert payout(["credits", "--output-dir", str(tmp_path)], capsys)[0] == 0
    assert (tmp_path / "credits" / "wallet_credits_cycle_1.csv").read_bytes() == data
