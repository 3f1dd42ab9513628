"""`payout bench --history N`: what the periodic work costs on a ledger with N events of
history, against the same work on an empty ledger (issue 23).

Two databases get the same rules, the same leads and the same 300-row MIS file (generated
as `payout bench` does). One of them first gets N events of history, written in SQL
(generate_series: a ledger of 10M events written the app's way would take an hour):
leads and their calculations, MIS runs all reported, cycles that paid every event (one
credit per SP per cycle, all confirmed), a few events held (all decided but the last two
cycles'), and the payin of all but the last two cycles remitted. Then, on both, the tick of
300 new rows is measured:

  cycle close        lock, the unreported ids, prepare + close the cycle (rolled back)
  iteration email    the close, then the email's report gathered (rolled back)
  payout summary     the whole timer tick, committed, email to a local outbox
  holds list         the first page of `payout holds list`
  receivables        `payout receivables`
  explain / statement  one lead of the file, and its SP's statement of the closed cycle

Each rolled-back or read-only measurement runs REPEAT times; the median is printed.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from localdev import bench
from payout_core.settings import get_settings

EMPTY_DATABASE = "payout_bench_history_empty"
HISTORY_DATABASE = "payout_bench_history_full"
TICK_ROWS = 300
TICK_LEADS = 400
CYCLES = 20
SPS = 25_000
REPEAT = 5
HOLDS_PAGE = 50

# N events: two per lead (KPI1, KPI2), over CYCLES runs and cycles, every one paid by its
# cycle's credit to its SP; 1 in 1,000 written held, those of every cycle but the last two
# decided (half approved, half rejected: people decide within a cycle or two); the payin of
# the leads of every cycle but the last two remitted in full (banks pay after weeks).
HISTORY = """
CREATE TEMP TABLE history_params AS
SELECT %(events)s::bigint AS events, %(cycles)s::int AS cycles, %(sps)s::int AS sps,
       pg_current_xact_id() AS xact;
INSERT INTO leads (lead_id, lead_created_at, sp_id, source_type, medium_type, product_type,
                   status, sub_status)
SELECT 'H' || i, timestamptz '2025-01-01', 'HSP' || (i %% p.sps), 'Bank_A', 'Medium_A',
       'Savings Account', 'Success', 'Account Opened'
FROM history_params p, generate_series(0, p.events / 2 - 1) i;
INSERT INTO mis_runs (mis_run_id, mis_file, content_sha256, product_type, started_at,
                      rows_read, outcome_counts, total_payin, total_payout)
SELECT c, 'history_' || c || '.csv', md5(c::text), 'Savings Account',
       timestamptz '2025-01-01' + c * interval '7 days', p.events / 2 / p.cycles,
       '{"paid": 1}', 0, 0
FROM history_params p, generate_series(1, p.cycles) c;
SELECT setval(pg_get_serial_sequence('mis_runs', 'mis_run_id'), p.cycles) FROM history_params p;
INSERT INTO payout_calculations (created_at, source_type, medium_type, product_type, sp_id,
    lead_id, status, sub_status, date_of_sale, date_of_revenue, kpi1_payin_amount,
    kpi1_payout_amount, kpi2_payin_amount, kpi2_payout_amount, total_payin, total_payout,
    rule_id, mis_run_id, basis_facts)
SELECT timestamptz '2025-01-01' + (i %% p.cycles + 1) * interval '7 days', 'Bank_A',
       'Medium_A', 'Savings Account', 'HSP' || (i %% p.sps), 'H' || i, 'Success',
       'Account Opened', date '2024-12-01', date '2025-01-01' + ((i %% p.cycles + 1) * 7)::int,
       1500, 1000, 1000, 500, 2500, 1500, 1, i %% p.cycles + 1, '{"InvestedAmount":"2616.00"}'
FROM history_params p, generate_series(0, p.events / 2 - 1) i;
INSERT INTO payout_events (lead_id, sp_id, source_type, medium_type, product_type, kpi, kind,
    outcome, kpi_sequence, payin_amount, payout_amount, reason, mis_run_id, rule_id, status,
    hold_reason, created_at)
SELECT 'H' || (i / 2), 'HSP' || ((i / 2) %% p.sps), 'Bank_A', 'Medium_A', 'Savings Account',
       'KPI' || (i %% 2 + 1), 'earned', 'paid', 1,
       CASE WHEN i %% 2 = 0 THEN 1500 ELSE 1000 END,
       CASE WHEN i %% 2 = 0 THEN 1000 ELSE 500 END, 'KPI earned', (i / 2) %% p.cycles + 1, 1,
       CASE WHEN i %% 1000 = 7 THEN 'held' ELSE 'released' END,
       CASE WHEN i %% 1000 = 7 THEN 'payout above the per-event limit' END,
       timestamptz '2025-01-01' + ((i / 2) %% p.cycles + 1) * interval '7 days'
FROM history_params p, generate_series(0, p.events - 1) i;
INSERT INTO hold_decisions (event_id, decision, decided_by, decision_reason, decided_at)
SELECT event_id, CASE WHEN event_id %% 4 = 0 THEN 'approved' ELSE 'rejected' END,
       'finance@example.com', 'history', created_at
FROM payout_events, history_params p
WHERE status = 'held' AND mis_run_id <= p.cycles - 2;
INSERT INTO reported_decisions (decision_id, iteration_number)
SELECT decision_id, 1 FROM hold_decisions;
INSERT INTO payout_cycles (cycle_number, closed_at)
SELECT c, timestamptz '2025-01-01' + c * interval '7 days' + interval '1 hour'
FROM history_params p, generate_series(1, p.cycles) c;
INSERT INTO wallet_credits (credit_id, cycle_number, sp_id, amount, event_count)
SELECT 'CR-' || lpad(e.mis_run_id::text, 6, '0') || '-H' || e.sp_id, e.mis_run_id, e.sp_id,
       sum(e.payout_amount), count(*)
FROM payout_event_states e WHERE e.effective_status = 'released'
GROUP BY e.mis_run_id, e.sp_id;
INSERT INTO cycle_events (event_id, cycle_number, credit_id)
SELECT e.event_id, e.mis_run_id, 'CR-' || lpad(e.mis_run_id::text, 6, '0') || '-H' || e.sp_id
FROM payout_event_states e WHERE e.effective_status = 'released';
INSERT INTO confirmation_runs (confirmation_run_id, confirmation_file, content_sha256,
    started_at, rows_read, outcome_counts, reported_at, iteration_number)
VALUES (1, 'history_confirmations.csv', 'x', now(), 0, '{}', now(), 1);
INSERT INTO wallet_confirmations (credit_id, status, reference, confirmation_run_id, row_number)
SELECT credit_id, 'success', 'WREF-' || credit_id, 1, row_number() OVER () FROM wallet_credits;
INSERT INTO remittance_runs (remittance_run_id, remittance_file, content_sha256, started_at,
    rows_read, outcome_counts, total_received, reported_at, iteration_number)
VALUES (1, 'history_remittance.csv', 'x', now(), 0, '{}', 0, now(), 1);
INSERT INTO remittance_receipts (remittance_run_id, row_number, source_type, reference,
    tracking_id, lead_id, amount, paid_on, outcome, owed_before)
SELECT 1, i, 'Bank_A', 'UTR-H' || i, 'KYC_new_H' || i, 'H' || i, 2500, date '2025-02-01',
       'matched', 2500
FROM history_params p, generate_series(0, p.events / 2 - 1) i
WHERE i %% p.cycles < p.cycles - 2;
INSERT INTO closed_event_batches (batch_id, cycle_number)
SELECT batch_id, p.cycles FROM event_batches, history_params p;
INSERT INTO payin_kept_batches (batch_id) SELECT batch_id FROM event_batches;
INSERT INTO events_outside_cycles (event_id)
SELECT event_id FROM payout_event_states
WHERE cycle_number IS NULL AND effective_status <> 'rejected';
SELECT refresh_lead_payin_balances(array(SELECT lead_id FROM leads));
INSERT INTO reported_mis_runs (mis_run_id, iteration_number)
SELECT c, c FROM history_params p, generate_series(1, p.cycles) c;
INSERT INTO iterations (iteration_number, sent_at, subject, recipients, mis_run_count,
                        error_count, mis_runs_horizon)
SELECT c, timestamptz '2025-01-01' + c * interval '7 days' + interval '1 hour', 'history',
       'finance@example.com', 1, 0, p.xact
FROM history_params p, generate_series(1, p.cycles) c
"""


def _fill_history(url: str, events: int) -> None:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        for statement in filter(str.strip, HISTORY.split(";")):
            conn.execute(statement, {"events": events, "cycles": CYCLES, "sps": SPS})
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print(
            f"history of {events:,} events written in {time.perf_counter() - started:.1f} s"
            f" (database {size.fetchone()[0]})",
            flush=True,
        )


def _prepare(server_url: str, name: str, folder: Path, history_events: int) -> str:
    """A database with the rules and leads of `folder`, the history (if any), and the tick's
    MIS file processed (committed, its own process, as the blob trigger would)."""
    import psycopg

    from payout_core.ledger import db

    url = bench._recreate_database(server_url, name)
    with psycopg.connect(url) as conn:
        db.migrate(conn)
    if history_events:
        _fill_history(url, history_events)
    environment = {**os.environ, "PAYOUT_DATABASE_URL": url}
    [mis_file] = sorted(folder.glob("mis_*.csv"))
    for command in (
        ["rules", "load", str(folder / "payin_payout_rules.csv")],
        ["leads", "load", str(folder / "leads.csv")],
    ):
        subprocess.run([*bench.PAYOUT, *command], env=environment, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    processed = bench.run_measured(
        "payout process (the tick's file)", [*bench.PAYOUT, "process", str(mis_file)], environment
    )
    print(f"{name}: {processed.line(TICK_ROWS)}", flush=True)
    return url


def _median_seconds(work: Callable[[], object], repeat: int = REPEAT) -> float:
    timings = []
    for _ in range(repeat):
        begun = time.perf_counter()
        work()
        timings.append(time.perf_counter() - begun)
    return statistics.median(timings)


def _measure(url: str, outbox: Path) -> dict[str, float]:
    from payout_core.adapters.mail import OutboxEmailSender
    from payout_core.flows import iteration
    from payout_core.flows.explain import lead_story
    from payout_core.flows.statements import sp_statement
    from payout_core.flows.unit_of_work import Context
    from payout_core.ledger import cycles, holds, iteration_rows, reconciliation_rows, remittances

    settings = get_settings().model_copy(update={"database_url": url})
    context = Context.open(settings)
    today = dt.date.today()

    def close(with_email: bool) -> None:
        with context.unit_of_work() as uow:  # never committed: rolled back on exit
            conn = uow.conn
            iteration_rows.lock_iteration(conn)
            unreported = iteration_rows.select_unreported(conn)
            recon = reconciliation_rows.select_unreported(conn)
            number = iteration_rows.next_iteration_number(conn)
            prepared = cycles.prepare_cycle(conn, number, settings.hold_limits)
            decisions = holds.decisions_since_last_iteration(conn)
            closed = cycles.close_cycle(conn, prepared)
            if with_email:
                iteration._report_and_email(
                    conn, unreported, number, today, settings,
                    cycle_parts=(closed, decisions), reconciliation_unreported=recon,
                )  # fmt: skip

    try:
        with context.reading() as conn:
            lead_id, sp_id = conn.execute(
                "SELECT lead_id, sp_id FROM payout_events WHERE lead_id NOT LIKE 'H%%'"
                " ORDER BY event_id LIMIT 1"
            ).fetchone()
        figures = {
            "cycle close": _median_seconds(lambda: close(False)),
            "close + iteration email": _median_seconds(lambda: close(True)),
        }
        sender = OutboxEmailSender(outbox, "bench@example.com", ["finance@example.com"])
        figures["payout summary (committed)"] = _median_seconds(
            lambda: iteration.run_summary(sender, context=context), repeat=1
        )
        with context.reading() as conn:
            cycle_number = cycles.cycle_numbers(conn)[-1]

        def read(work: Callable[[object], object]) -> Callable[[], object]:
            def run() -> object:
                with context.reading() as conn:
                    return work(conn)

            return run

        figures["holds list (first page)"] = _median_seconds(
            read(lambda conn: holds.list_holds(conn, limit=HOLDS_PAGE))
        )
        figures["receivables"] = _median_seconds(
            read(lambda conn: remittances.receivables_by_bank(conn, today))
        )
        figures["explain one lead"] = _median_seconds(lambda: lead_story(context, lead_id))
        figures["SP statement"] = _median_seconds(
            lambda: sp_statement(context, sp_id, cycle_number)
        )
        return figures
    finally:
        context.close()


def run_bench(events: int) -> int:
    folder = bench._workload(TICK_ROWS, TICK_LEADS)
    server_url = bench._server_url()
    with tempfile.TemporaryDirectory(prefix="payout-bench-history-") as outbox:
        empty_url = _prepare(server_url, EMPTY_DATABASE, folder, 0)
        history_url = _prepare(server_url, HISTORY_DATABASE, folder, events)
        empty = _measure(empty_url, Path(outbox) / "empty")
        history = _measure(history_url, Path(outbox) / "history")
    print(f"\na tick of {TICK_ROWS} MIS rows; median of {REPEAT} runs (the summary: one run)")
    print(f"{'':<28} {'empty ledger':>14} {f'{events:,} events':>16} {'ratio':>7}")
    for label, seconds in empty.items():
        over = history[label]
        print(
            f"{label:<28} {seconds * 1000:>11.1f} ms {over * 1000:>13.1f} ms"
            f" {over / seconds:>6.2f}x"
        )
    return 0


def run_first_close(rows: int, leads: int) -> int:
    """`payout bench --first-close`: a fresh ledger (the `payout bench` template: rules and
    leads), `payout process` of the ROWS-row file, then the first `payout summary` (the
    close of the cycle that pays it and its email, to a local outbox), then the cycle's
    files (`payout credits --cycle 1 --output-dir`: the credits CSV and the statements
    CSV, which the timer publishes after the tick), each in its own process, committed."""
    folder = bench._workload(rows, leads)
    [mis_file] = sorted(folder.glob("mis_*.csv"))
    server_url = bench._server_url()
    bench._load_template(server_url, folder, leads)
    url = bench._recreate_database(server_url, bench.RUN_DATABASE, template=bench.TEMPLATE_DATABASE)
    with tempfile.TemporaryDirectory(prefix="payout-bench-first-close-") as out:
        environment = {
            **os.environ,
            "PAYOUT_DATABASE_URL": url,
            "PAYOUT_OUTBOX_DIR": str(Path(out) / "outbox"),
        }
        processed = bench.run_measured(
            "payout process", [*bench.PAYOUT, "process", str(mis_file)], environment
        )
        closed = bench.run_measured(
            "payout summary (first close)", [*bench.PAYOUT, "summary"], environment
        )
        published = bench.run_measured(
            "the cycle's credits + statements",
            [*bench.PAYOUT, "credits", "--cycle", "1", "--output-dir", str(Path(out) / "files")],
            environment,
        )
    print(f"\nworkload: {rows:,} MIS rows, {leads:,} leads; {bench._count_events(url):,} events")
    for measured in (processed, closed, published):
        print(measured.line())
    print(f"first close / processing: {closed.seconds / processed.seconds:.2f}")
    print(
        "first close and its files / processing:"
        f" {(closed.seconds + published.seconds) / processed.seconds:.2f}"
    )
    return 0
