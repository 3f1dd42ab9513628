"""`payout bench`: how fast is processing, against the floor, on this machine?

One run, one database, the same data:
  (a) `payout process FILE` end to end, committed, in its own process;
  (b) the floor: read the same CSV with Polars, COPY the same number of result rows into
      a table with payout_calculations' columns and indexes, and the same leads status
      update, committed, in its own process.
Each child's peak RSS comes from the kernel (wait4), not from sampling.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from payout_core.settings import PROJECT_ROOT, get_settings

BENCH_DATABASE = "payout_bench"
WORKLOAD_ROOT = PROJECT_ROOT / "bench" / "out"


@dataclass(frozen=True)
class Measured:
    label: str
    seconds: float
    peak_rss_bytes: int
    output: str

    def line(self, rows: int) -> str:
        return (
            f"{self.label:<34} {self.seconds:8.2f} s  {rows / self.seconds:>12,.0f} rows/s  "
            f"peak RSS {self.peak_rss_bytes / 1024**2:8.1f} MiB"
        )


def run_measured(label: str, command: list[str], environment: dict[str, str]) -> Measured:
    started = time.perf_counter()
    child = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, text=True)
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{label} failed with exit code {child.returncode}:\n{output}")
    return Measured(label, seconds, usage.ru_maxrss * 1024, output)


def _workload(rows: int, leads: int) -> Path:
    folder = WORKLOAD_ROOT / f"rows-{rows}-leads-{leads}"
    if not (folder / "leads.csv").exists():
        subprocess.run(
            [sys.executable, "-m", "payout_core.generate", str(folder),
             "--rows", str(rows), "--leads", str(leads)],
            check=True,
        )  # fmt: skip
    return folder


def _bench_database_url() -> str:
    """A fresh database on the configured (or embedded) server, migrated."""
    import psycopg

    from payout_core import db

    server_url = db.resolve_database_url(get_settings())
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    url = psycopg.conninfo.make_conninfo(server_url, dbname=BENCH_DATABASE)
    with psycopg.connect(url) as conn:
        db.migrate(conn)
    return url


def run_bench(rows: int, leads: int, batch_rows: int | None = None) -> int:
    folder = _workload(rows, leads)
    [mis_file] = sorted(folder.glob("mis_*.csv"))
    url = _bench_database_url()
    environment = {**os.environ, "PAYOUT_DATABASE_URL": url}
    if batch_rows:
        environment["PAYOUT_MIS_BATCH_ROWS"] = str(batch_rows)
    payout = [sys.executable, "-m", "payout_core"]
    for setup in (["rules", "load", str(folder / "payin_payout_rules.csv")],
                  ["leads", "load", str(folder / "leads.csv")]):  # fmt: skip
        loaded = run_measured(" ".join(setup[:2]), payout + setup, environment)
        print(loaded.line(leads), flush=True)

    processed = run_measured("(a) payout process", [*payout, "process", "--json", str(mis_file)],
                             environment)  # fmt: skip
    result = json.loads(processed.output.strip().splitlines()[-1])
    floor = run_measured(
        "(b) floor: read + COPY + update",
        [sys.executable, "-m", "payout_core.bench", "floor", str(mis_file),
         str(result["outcomes"]["paid"])],
        environment,
    )  # fmt: skip
    cold_start = run_measured(
        "import function_app",
        [sys.executable, "-c", "import time; t = time.perf_counter(); import function_app; "
         "print(time.perf_counter() - t)"],
        {**environment, "PYTHONPATH": str(PROJECT_ROOT)},
    )  # fmt: skip
    size_mib = mis_file.stat().st_size / 1024**2
    print(f"\nworkload: {rows:,} MIS rows ({size_mib:,.0f} MiB CSV), {leads:,} leads")
    print(f"outcomes: {result['outcomes']}")
    print(processed.line(rows))
    print(floor.line(rows))
    print(f"ratio (a)/(b): {processed.seconds / floor.seconds:.2f}")
    print(f"cold start: import function_app {float(cold_start.output.strip()):.3f} s")
    return 0


# --- the floor, run as its own process --------------------------------------------------

FLOOR_RESULT_COLUMNS = [
    "created_at", "source_type", "medium_type", "product_type", "sp_id", "lead_id", "status",
    "sub_status", "date_of_sale", "date_of_revenue", "kpi1_payin_amount", "kpi1_payout_amount",
    "kpi2_payin_amount", "kpi2_payout_amount", "total_payin", "total_payout", "rule_id",
    "mis_run_id",
]  # fmt: skip


def floor(mis_file: Path, paid_rows: int) -> None:
    """What any implementation must do: parse the file, write `paid_rows` result rows into
    a table with payout_calculations' columns and indexes, and update as many lead
    statuses, committed. No lookups, no calculation, no validation."""
    import polars as pl
    import psycopg

    from payout_core import ledger

    frame = pl.read_csv(mis_file, infer_schema=False)
    lead_ids = (
        frame.select(pl.col("TrackingId").str.slice(-8).alias("lead_id"))
        .drop_nulls()
        .unique(maintain_order=True)
        .head(paid_rows)
    )
    constants = {
        "created_at": "2026-11-21 00:00:00+00", "source_type": "Bank_A",
        "medium_type": "Medium_A", "product_type": "Savings Account", "sp_id": "SP",
        "status": "Success", "sub_status": "Account Opened", "date_of_sale": "2023-10-02",
        "date_of_revenue": "2026-11-21", "kpi1_payin_amount": "1500.00",
        "kpi1_payout_amount": "1000.00", "kpi2_payin_amount": "1000.00",
        "kpi2_payout_amount": "500.00", "total_payin": "2500.00", "total_payout": "1500.00",
        "rule_id": 1, "mis_run_id": 1,
    }  # fmt: skip
    result = lead_ids.with_columns(pl.lit(value).alias(name) for name, value in constants.items())
    url = os.environ["PAYOUT_DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        # Created beforehand and committed, as payout_calculations is: a table created in
        # the same transaction as its COPY may skip WAL, which would flatter the floor.
        conn.execute("DROP TABLE IF EXISTS floor_calculations")
        conn.execute("CREATE TABLE floor_calculations (LIKE payout_calculations INCLUDING INDEXES)")
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE floor_leads (lead_id text) ON COMMIT DROP")
        for table, frame in (
            ("floor_calculations", result.select(FLOOR_RESULT_COLUMNS)),
            ("floor_leads", lead_ids),
        ):
            statement = f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN (FORMAT csv)"
            ledger.copy_frame(cursor, statement, frame)
        cursor.execute(
            "UPDATE leads l SET status = 'Success', sub_status = 'Account Opened', "
            "updated_at = now() FROM floor_leads f WHERE l.lead_id = f.lead_id"
        )
    print(json.dumps({"rows": frame.height, "result_rows": result.height}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["floor"]:
        floor(Path(sys.argv[2]), int(sys.argv[3]))
