"""Issue 23: the cycle close and the receivables read what is new (event batches no close
read, events left out of earlier cycles, unsettled leads), and still pay and report
exactly what reading the whole ledger did."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from payout_core.flows import iteration
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import cycles, reconciliation_rows, remittances
from tests.fakes.email_senders import RecordingEmailSender
from tests.integration import reconciliation_rows as paid_rows
from tests.integration.cycle_rows import Ledger

pytestmark = pytest.mark.integration

AS_OF = dt.date(2026, 11, 21)


def tick(context: Context) -> iteration.SummaryOutcome:
    return iteration.run_summary(
        RecordingEmailSender(), clock=lambda: datetime(2026, 11, 21, tzinfo=UTC), context=context
    )


def paid_events(url: str) -> dict[int, int]:
    """event_id -> cycle number of every event a cycle paid."""
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT event_id, cycle_number FROM cycle_events").fetchall())


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield Ledger(conn)


def test_events_committed_after_a_close_with_lower_ids_are_paid_by_the_next_close(
    database_url: str, ledger: Ledger, context: Context
):
    # A slow writer draws its event id first and commits last: the close between sees the
    # later writer's event only, and the next close still finds the slow one.
    with psycopg.connect(database_url) as slow_conn:
        slow = Ledger(slow_conn).event("LEAD-SLOW", "SP-1", "100")
        fast = ledger.event("LEAD-FAST", "SP-2", "200")
        assert slow < fast
        assert tick(context).cycle.event_count == 1
        assert paid_events(database_url) == {fast: 1}
        slow_conn.commit()
    assert tick(context).cycle.event_count == 1
    assert paid_events(database_url) == {fast: 1, slow: 2}
    assert tick(context).iteration_number is None  # nothing new: nothing read twice


def test_held_and_carried_events_are_read_again_until_a_cycle_pays_them(
    database_url: str, ledger: Ledger, context: Context, capsys: pytest.CaptureFixture[str]
):
    from payout_cli import commands

    earned = ledger.event("LEAD-1", "SP-1", "100")
    clawback = ledger.event("LEAD-1", "SP-1", "-40", kind="adjustment", requested_by="Asha")
    carried = ledger.event("LEAD-2", "SP-2", "0")  # a net of zero is not sent: carried
    assert tick(context).cycle.event_count == 1
    assert paid_events(database_url) == {earned: 1}
    with psycopg.connect(database_url) as conn:
        outside = {row[0] for row in conn.execute("SELECT event_id FROM events_outside_cycles")}
    assert outside == {clawback, carried}
    assert commands.main(["holds", "approve", str(clawback), "--by", "Bea"]) == 0
    capsys.readouterr()
    ledger.event("LEAD-3", "SP-1", "100")  # SP-1 nets 60 with the approved clawback
    ledger.event("LEAD-2", "SP-2", "10", kpi="KPI2")
    tick(context)
    paid = paid_events(database_url)
    assert paid[clawback] == 2 and paid[carried] == 2
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM events_outside_cycles").fetchone()[0] == 0


# What `payout receivables` said when it read lead_receivables (004): the reference.
RECEIVABLES_FROM_EVERY_ROW = """
SELECT source_type, sum(expected_payin)::numeric(18, 2), sum(received)::numeric(18, 2),
       sum(greatest(outstanding, 0))::numeric(18, 2),
       coalesce(sum(greatest(outstanding, 0)) FILTER (WHERE age_days <= 30), 0)::numeric(18, 2),
       coalesce(sum(greatest(outstanding, 0)) FILTER (WHERE age_days BETWEEN 31 AND 60), 0)
           ::numeric(18, 2),
       coalesce(sum(greatest(outstanding, 0)) FILTER (WHERE age_days > 60), 0)::numeric(18, 2),
       sum(greatest(-outstanding, 0))::numeric(18, 2),
       count(*) FILTER (WHERE outstanding > 0), count(*) FILTER (WHERE outstanding < 0)
FROM (SELECT *, %(as_of)s::date - date_of_revenue AS age_days FROM lead_receivables) r
GROUP BY source_type ORDER BY source_type
"""


def assert_receivables_as_every_row_says(url: str) -> list[remittances.BankReceivables]:
    with psycopg.connect(url) as conn:
        kept = remittances.receivables_by_bank(conn, AS_OF)
        reference = conn.execute(RECEIVABLES_FROM_EVERY_ROW, {"as_of": AS_OF}).fetchall()
        over_kept = conn.execute(
            "SELECT lead_id, outstanding FROM over_received_leads ORDER BY 1"
        ).fetchall()
        over_reference = conn.execute(
            "SELECT lead_id, outstanding FROM lead_receivables WHERE outstanding < 0 ORDER BY 1"
        ).fetchall()
    assert [tuple(bank.__dict__.values()) for bank in kept] == [tuple(row) for row in reference]
    assert over_kept == over_reference
    return kept


def receipt(url: str, lead_id: str, amount: str, source_type: str = "Bank_A") -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO remittance_receipts (remittance_run_id, row_number, source_type,"
            " reference, tracking_id, lead_id, amount, paid_on, outcome)"
            " VALUES (1, 1, %s, %s, %s, %s, %s, '2026-11-01', 'matched')",
            (source_type, f"UTR-{lead_id}-{amount}", f"KYC_new_{lead_id}", lead_id, amount),
        )


def test_receivables_kept_up_to_date_say_what_every_row_says(loaded: str, context: Context):
    paid_rows.paid(loaded, "AT-91961", "1500.00", dt.date(2026, 11, 1), payout="900.00")
    paid_rows.paid(loaded, "AT-4K7PQ", "2500.00", dt.date(2026, 8, 1), payout="1500.00")
    # Before any close: the events' batches are read live.
    [bank] = assert_receivables_as_every_row_says(loaded)
    assert bank.expected == 4000 and bank.outstanding == 4000
    tick(context)  # the close keeps them
    with psycopg.connect(loaded) as conn:
        assert conn.execute("SELECT count(*) FROM payin_pending_leads").fetchone()[0] == 0
    assert_receivables_as_every_row_says(loaded)
    receipt(loaded, "AT-91961", "1500.00")  # settled
    receipt(loaded, "AT-4K7PQ", "1000.00")  # short
    [bank] = assert_receivables_as_every_row_says(loaded)
    assert (bank.received, bank.outstanding, bank.leads_outstanding) == (2500, 1500, 1)
    # Over-received now, before a close (an adjustment that pays the SP 10 more).
    paid_rows.adjusted(loaded, "AT-91961", "-500.00", payout="10.00")
    [bank] = assert_receivables_as_every_row_says(loaded)
    assert bank.over_received == 500
    tick(context)
    assert_receivables_as_every_row_says(loaded)
    # A receipt for a lead without events, then its bank changes on a reload: it counts
    # for the bank it names, and no more once the lead is another bank's.
    receipt(loaded, "AT-B2M9X", "300.00")
    assert_receivables_as_every_row_says(loaded)
    with psycopg.connect(loaded) as conn:
        conn.execute("UPDATE leads SET source_type = 'Bank_B' WHERE lead_id = 'AT-B2M9X'")
    assert_receivables_as_every_row_says(loaded)


# --- the hot queries use their indexes -------------------------------------------------


def seq_scans(plan: dict[str, Any]) -> list[str]:
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" else []
    for child in plan.get("Plans", []):
        found += seq_scans(child)
    return found


# Read whole on purpose: one row per bank and day, per statement that appended events, per closed
# batch, and the close's own temporary tables.
SMALL_TABLES = {
    "payin_totals",
    "event_batches",
    "closed_event_batches",
    "cycle_new_batches",
    "cycle_scope",
}


def test_the_close_and_the_receivables_read_through_indexes(database_url: str, ledger: Ledger):
    from payout_core.ledger import confirmations, holds, lead_story_rows

    ledger.event("LEAD-1", "SP-1", "100")
    with psycopg.connect(database_url) as conn:
        conn.execute("SET enable_seqscan = off")
        [[control]] = conn.execute(
            "EXPLAIN (FORMAT JSON) SELECT * FROM payout_events WHERE reason = 'x'"
        ).fetchone()
        assert seq_scans(control["Plan"]) == ["payout_events"]  # the check can fail
        conn.execute(cycles.SNAPSHOT_NEW_BATCHES)
        conn.execute(cycles.SNAPSHOT_SCOPE_IDS)
        queries = [
            (cycles.SNAPSHOT_NEW_BATCHES.split(" AS\n", 1)[1], None),
            (cycles.SNAPSHOT_SCOPE_IDS.split(" AS\n", 1)[1], None),
            (cycles.SNAPSHOT_SCOPE.split(" AS\n", 1)[1], None),
            (remittances.RECEIVABLES_BY_BANK, {"as_of": AS_OF}),
            (
                reconciliation_rows.DISCREPANCIES,
                {"remittance": [1], "confirmation": [1]},
            ),
            ("SELECT * FROM payin_totals_now", None),
            (lead_story_rows.CYCLE_STATEMENT_EVENTS, {"cycle": 1, "sp_ids": ["SP-1"]}),
            (  # the decisions no email reported yet
                "SELECT s.event_id FROM payout_event_states s"
                f" WHERE {holds.DECIDED_SINCE_LAST_ITERATION}",
                None,
            ),
            (confirmations.CREDITS_TO_SEND_AGAIN, {"failures": 3}),
            (confirmations.HOLD_EVENTS_OF_FAILED_CREDITS, {"failures": 3, "cycle": 1}),
            (  # the holds awaiting a decision: the email's summary and the list's page
                f"SELECT s.event_id FROM payout_event_states s WHERE {holds.AWAITING_DECISION}"
                " ORDER BY s.held_at, s.event_id LIMIT 50",
                None,
            ),
        ]
        for query, params in queries:
            [[plan]] = conn.execute(f"EXPLAIN (FORMAT JSON) {query}", params).fetchone()
            scans = set(seq_scans(plan["Plan"])) - SMALL_TABLES
            assert scans == set(), (scans, query)
        # Not a scan of a whole index either: the failed confirmations and the recent
        # decisions are found through their own indexes (014).
        for query, params, index in [
            (confirmations.CREDITS_TO_SEND_AGAIN, {"failures": 3}, "wallet_confirmations_failed"),
            (
                "SELECT s.event_id FROM payout_event_states s"
                f" WHERE {holds.DECIDED_SINCE_LAST_ITERATION}",
                None,
                "hold_decisions_recorded_xact",
            ),
        ]:
            [[plan]] = conn.execute(f"EXPLAIN (FORMAT JSON) {query}", params).fetchone()
            assert f'"Index Name": "{index}"' in json.dumps(plan), query


def test_a_cycles_statements_in_one_read_are_each_sps_statement(
    database_url: str, ledger: Ledger, context: Context
):
    from payout_cli import commands
    from payout_core.flows import statements
    from payout_core.ledger import lead_story_rows
    from payout_core.report.people_csv import csv_cell
    from payout_core.report.statement import STATEMENT_CSV_HEADERS
    from tests.support.statement_oracle import statement_rows

    ledger.event("LEAD-1", "SP-1", "100")
    clawback = ledger.event("LEAD-1", "SP-1", "-40", kind="adjustment", requested_by="Asha")
    ledger.event("LEAD-2", "SP-2", "0")  # carried
    ledger.event("LEAD-3", "SP-3", "70")
    tick(context)
    assert commands.main(["holds", "reject", str(clawback), "--by", "Bea", "--reason", "no"]) == 0
    late = ledger.event("LEAD-1", "SP-1", "-10", kind="adjustment", requested_by="Asha")
    ledger.event("LEAD-2", "SP-2", "30", kpi="KPI2")
    ledger.event("LEAD-4", "SP-3", "5")
    tick(context)
    assert commands.main(["holds", "approve", str(late), "--by", "Bea"]) == 0
    ledger.event("LEAD-5", "SP-1", "50")
    tick(context)
    with psycopg.connect(database_url) as conn:
        for cycle in (1, 2, 3):
            one_by_one = [
                [csv_cell(value) for value in row]
                for sp_id in lead_story_rows.statement_sp_ids(conn, cycle)
                for row in statement_rows(statements._statement(conn, sp_id, cycle))
            ]
            header, *in_one_read = csv.reader(
                io.StringIO(statements.cycle_statements_file(conn, cycle).decode("utf-8-sig"))
            )
            assert header == list(STATEMENT_CSV_HEADERS)
            assert one_by_one and in_one_read == one_by_one
        # A cycle that never closed: headers only.
        assert statements.cycle_statements_file(conn, 99).decode("utf-8-sig").count("\n") == 1


def test_the_holds_list_comes_in_pages(ledger: Ledger, capsys: pytest.CaptureFixture[str]):
    import json

    from payout_cli import commands

    held = [
        ledger.event(f"LEAD-{n}", "SP-1", "-5", kind="adjustment", requested_by="Asha")
        for n in range(5)
    ]

    def page(*arguments: str) -> list[int]:
        capsys.readouterr()
        assert commands.main(["holds", "list", "--json", *arguments]) == 0
        return [json.loads(line)["event_id"] for line in capsys.readouterr().out.splitlines()]

    assert page() == held
    assert page("--limit", "2") == held[:2]
    assert page("--limit", "2", "--after", str(held[1])) == held[2:4]
    assert page("--limit", "2", "--after", str(held[3])) == held[4:]


def test_a_recalculation_reads_its_window_through_the_sale_date_ranges(database_url: str):
    from payout_core.ledger import recalculation

    with psycopg.connect(database_url) as conn:
        conn.execute("SET enable_seqscan = off")
        [[plan]] = conn.execute(
            f"EXPLAIN (FORMAT JSON) {recalculation.PAID_LEADS}",
            {"product_type": "Personal Loan", "date_from": AS_OF, "date_to": AS_OF},
        ).fetchone()
    assert seq_scans(plan["Plan"]) == []
    assert "payout_calculations_sale_ranges" in json.dumps(plan)
