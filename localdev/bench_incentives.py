"""`payout bench --incentives`: what period incentives add to a cycle close (SPEC §11).

On the benchmark's workload (a generated MIS file of --rows rows for --leads leads, 40
leads per SP, all in October 2023), the file is processed once; then, each on a fresh copy
of that ledger, a cycle close (`payout summary`) is timed (c) with no incentive rules, and
(d) right after loading incentive rules over October 2023: a bonus slab pair in one
exclusivity group on the SPs' paid leads and a rate on their invested amounts. (d) is the
worst close: a new version of the rules weighs every SP with leads in its period, and the
file's paid leads are all new. A third close (e) on (d)'s ledger has nothing new.
"""

from __future__ import annotations

import json
import os
import sys

import psycopg

from localdev.bench import (
    PAYOUT,
    RUN_DATABASE,
    TEMPLATE_DATABASE,
    _load_template,
    _recreate_database,
    _server_url,
    _workload,
    run_measured,
)

PROCESSED_DATABASE = "payout_bench_processed"
INCENTIVE_RULES = (
    (
        "IncentiveId,SourceType,ProductType,PeriodStart,PeriodEnd,Measure,Threshold,Kind,"
        "PayoutAmount,PayoutRate,ExclusivityGroup\n"
    )
    + """SA-10,,Savings Account,1 10 2023,31 10 2023,paid_leads,10,bonus,500,,SA-COUNT
SA-30,,Savings Account,1 10 2023,31 10 2023,paid_leads,30,bonus,2000,,SA-COUNT
SA-VOLUME,,Savings Account,1 10 2023,31 10 2023,invested_amount,20000,rate,,0.1,
"""
)


def _incentive_figures(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM payout_events WHERE kind = 'incentive'),"
            " (SELECT coalesce(max(evaluated_sp_count), 0) FROM incentive_evaluations)"
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def run_bench(rows: int, leads: int) -> int:
    folder = _workload(rows, leads)
    [mis_file] = sorted(folder.glob("mis_*.csv"))
    server_url = _server_url()
    _load_template(server_url, folder, leads)
    # October 2023 is long past: keep its incentives open.
    environment = {**os.environ, "PAYOUT_INCENTIVE_GRACE_DAYS": "1000000"}
    url = _recreate_database(server_url, PROCESSED_DATABASE, template=TEMPLATE_DATABASE)
    processed = run_measured(
        "payout process (setup)",
        [*PAYOUT, "process", "--json", str(mis_file)],
        {**environment, "PAYOUT_DATABASE_URL": url},
    )
    outcomes = json.loads(processed.output.strip().splitlines()[-1])["outcomes"]
    print(processed.line(rows), flush=True)
    rules_file = folder / "incentive_rules.csv"
    rules_file.write_text(INCENTIVE_RULES)

    url = _recreate_database(server_url, RUN_DATABASE, template=PROCESSED_DATABASE)
    run_env = {**environment, "PAYOUT_DATABASE_URL": url}
    without = run_measured("(c) close, no incentive rules", [*PAYOUT, "summary"], run_env)
    print(without.line(), flush=True)

    url = _recreate_database(server_url, RUN_DATABASE, template=PROCESSED_DATABASE)
    run_env = {**environment, "PAYOUT_DATABASE_URL": url}
    run_measured("incentives load", [*PAYOUT, "incentives", "load", str(rules_file)], run_env)
    with_incentives = run_measured("(d) close with incentives", [*PAYOUT, "summary"], run_env)
    events, sps = _incentive_figures(url)
    print(with_incentives.line(), flush=True)
    again = run_measured("(e) the next close, nothing new", [*PAYOUT, "summary"], run_env)
    print(again.line(), flush=True)

    print(f"\nworkload: {rows:,} MIS rows, {leads:,} leads; outcomes: {outcomes}")
    print(f"(d) weighed {sps:,} SPs and appended {events:,} incentive events")
    print(f"(d) - (c): {with_incentives.seconds - without.seconds:.2f} s for the incentives")
    return 0


if __name__ == "__main__":
    sys.exit(run_bench(int(sys.argv[1]), int(sys.argv[2])))
