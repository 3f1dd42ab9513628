"""`payout bench --explain`: how long explaining one lead and one SP's statement take on a
ledger of many events (SPEC §10: they read only that lead's or SP's rows, by index).

The ledger is generated in SQL (generate_series), not through MIS files: what is measured
is the reads, and a ledger of 10M events written the app's way would take an hour. Each
SP has ~events/SPS events spread over CYCLES cycles, each cycle's events in one credit."""

from __future__ import annotations

import time

from payout_core.settings import get_settings

DATABASE = "payout_bench_explain"
CYCLES = 10
SPS = 50_000

FILL = """
INSERT INTO payout_cycles (cycle_number, closed_at)
SELECT c, timestamptz '2026-01-01' + c * interval '7 days' FROM generate_series(1, %(cycles)s) c;
INSERT INTO payout_events (lead_id, sp_id, source_type, medium_type, product_type, kpi, kind,
    outcome, kpi_sequence, payin_amount, payout_amount, reason, mis_run_id, rule_id, status,
    created_at)
SELECT 'L' || (i / 2), 'SP' || ((i / 2) %% %(sps)s), 'Bank_B', 'Medium_A', 'Personal Loan',
       'KPI' || (i %% 2 + 1), 'earned', 'paid', 1, 100, 40, 'KPI earned', 1, 1, 'released',
       timestamptz '2026-01-01' + ((i %% %(cycles)s) * 7 + 3) * interval '1 day'
FROM generate_series(0, %(events)s - 1) i;
-- The lead explained (the other leads' rows are not read: a lookup by LeadId).
INSERT INTO leads (lead_id, sp_id, source_type, medium_type, product_type, status)
VALUES ('L12345', 'SP12345', 'Bank_B', 'Medium_A', 'Personal Loan', 'Success');
INSERT INTO wallet_credits (credit_id, cycle_number, sp_id, amount, event_count)
SELECT 'CR-' || c || '-' || s, c, 'SP' || s, 1, 1
FROM generate_series(1, %(cycles)s) c, generate_series(0, %(sps)s - 1) s;
INSERT INTO cycle_events (event_id, cycle_number, credit_id)
SELECT e.event_id, (e.event_id - 1) %% %(cycles)s + 1,
       'CR-' || ((e.event_id - 1) %% %(cycles)s + 1) || '-' || substr(e.sp_id, 3)
FROM payout_events e;
"""


def run_bench(events: int) -> int:
    import psycopg

    from localdev.bench import _database_url, _recreate_database, _server_url
    from payout_core.flows.explain import lead_story
    from payout_core.flows.statements import sp_statement
    from payout_core.flows.unit_of_work import Context
    from payout_core.ledger import db

    server_url = _server_url()
    url = _recreate_database(server_url, DATABASE)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        db.migrate(conn)
        for statement in filter(str.strip, FILL.split(";")):
            conn.execute(statement, {"cycles": CYCLES, "sps": SPS, "events": events})
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"ledger of {events:,} events generated in {time.perf_counter() - started:.1f} s")
    settings = get_settings().model_copy(
        update={"database_url": _database_url(server_url, DATABASE)}
    )
    context = Context.open(settings)
    try:
        for label, read in (
            ("explain one lead", lambda: lead_story(context, "L12345")),
            ("one SP's statement", lambda: sp_statement(context, "SP123", 5)),
        ):
            timings = []
            for _ in range(5):
                begun = time.perf_counter()
                assert read() is not None
                timings.append(time.perf_counter() - begun)
            print(f"{label}: best {min(timings) * 1000:.1f} ms, worst {max(timings) * 1000:.1f} ms")
    finally:
        context.close()
    return 0
