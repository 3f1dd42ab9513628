"""`payout bench --remittance`: how fast is a bank's remittance file reconciled?

The same workload as the MIS benchmark (localdev/bench.py: generated leads and rules, a
fresh copy of one loaded database per measured run), plus one KPI event of 1,500.00 payin
for each of the first ROWS leads, and a remittance file of ROWS rows naming them:
80 % matched, 8 % short, 5 % over, 3 % unexpected (no such lead), 2 % duplicate
(a Reference repeated), 2 % invalid. `payout remittance FILE` runs end to end,
committed, in its own process; then the same file again (every row a duplicate).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import polars as pl

from localdev import bench

PAYIN_MINOR = 150_000
# Per 100 rows, by row position: what each row is made to be.
MIX = (("matched", 80), ("short", 8), ("over", 5), ("unexpected", 3), ("duplicate", 2))


def _insert_events(url: str, rows: int) -> None:
    """One KPI1 event per lead for the first `rows` leads (as a paid MIS file leaves them)."""
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO payout_events (lead_id, sp_id, source_type, medium_type, product_type,"
            " kpi, kind, outcome, kpi_sequence, payin_amount, payout_amount, reason, mis_run_id,"
            " rule_id) SELECT lead_id, sp_id, source_type, medium_type, product_type, 'KPI1',"
            " 'earned', 'paid', 1, %s, 1000, 'bench', 1, 1"
            " FROM (SELECT * FROM leads ORDER BY lead_id LIMIT %s) l",
            (PAYIN_MINOR / 100, rows),
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE payout_events")


def write_remittance_file(url: str, rows: int, path: Path) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        lead_ids = [
            row[0]
            for row in conn.execute(
                "SELECT lead_id FROM leads ORDER BY lead_id LIMIT %s", (rows,)
            ).fetchall()
        ]
    bucket = pl.int_range(pl.len()) % 100
    bounds = []
    total = 0
    for kind, share in MIX:
        total += share
        bounds.append((kind, total))
    kind = pl.when(bucket < bounds[0][1]).then(pl.lit(bounds[0][0]))
    for name, bound in bounds[1:]:
        kind = kind.when(bucket < bound).then(pl.lit(name))
    kind = kind.otherwise(pl.lit("invalid"))
    amount = {"short": "1000", "over": "2000", "invalid": "x"}
    frame = (
        pl.DataFrame({"lead_id": lead_ids})
        .with_columns(kind.alias("kind"), pl.int_range(pl.len()).alias("position"))
        .select(
            pl.when(pl.col("kind") == "unexpected")
            .then(pl.lit("KYC_new_ZZ-") + pl.col("position").cast(pl.String).str.zfill(5))
            .otherwise(pl.lit("KYC_new_") + pl.col("lead_id"))
            .alias("TrackingId"),
            pl.col("kind").replace_strict(amount, default="1500").alias("Amount"),
            pl.lit("20 10 2023").alias("PaidOn"),
            pl.format(
                "UTR-{}",
                pl.when(pl.col("kind") == "duplicate")
                .then(pl.col("position") - 10)
                .otherwise(pl.col("position")),
            ).alias("Reference"),
        )
    )
    frame.write_csv(path)


def run_bench(rows: int, leads: int) -> int:
    folder = bench._workload(rows, leads)
    server_url = bench._server_url()
    bench._load_template(server_url, folder, leads)
    template_url = bench._database_url(server_url, bench.TEMPLATE_DATABASE)
    _insert_events(template_url, rows)
    remittance_file = folder / f"remittance_{rows}.csv"
    write_remittance_file(template_url, rows, remittance_file)
    url = bench._recreate_database(server_url, bench.RUN_DATABASE, template=bench.TEMPLATE_DATABASE)
    environment = {**os.environ, "PAYOUT_DATABASE_URL": url}
    command = [*bench.PAYOUT, "remittance", "--json", str(remittance_file)]
    first = bench.run_measured("(r) payout remittance", command, environment)
    again = bench.run_measured("(r) the same file again", command, environment)
    size_mib = remittance_file.stat().st_size / 1024**2
    print(f"\nworkload: {rows:,} remittance rows ({size_mib:,.1f} MiB CSV), {leads:,} leads")
    print(f"outcomes: {json.loads(first.output.strip().splitlines()[-1])['outcomes']}")
    print(first.line(rows))
    print(again.line(rows))
    return 0


if __name__ == "__main__":
    sys.exit(run_bench(int(sys.argv[1]), int(sys.argv[2])))
