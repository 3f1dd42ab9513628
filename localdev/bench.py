"""`payout bench`: how fast is processing, against the floor, on this machine?

The same data, and for every measured run a fresh copy of one loaded database:
  (a) `payout process FILE` end to end, committed, in its own process;
  (b) the floor: read the same CSV with Polars, COPY the same number of result rows into
      a table with payout_calculations' columns and indexes, and the same leads status
      update, committed, in its own process.
Each child's peak RSS comes from the kernel (wait4), not from sampling. With --repeat N,
(a) and (b) alternate N times and the pair with the median ratio is reported: on a shared
machine one pair can be off by 15 %.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from payout_core.settings import PROJECT_ROOT, checkout_root, get_settings

TEMPLATE_DATABASE = "payout_bench_template"  # leads and rules loaded once
RUN_DATABASE = "payout_bench_run"  # a fresh copy of the template for every measured run
PAYOUT = [sys.executable, "-m", "localdev"]
WORKLOAD_ROOT = checkout_root() / "bench" / "out"  # `make clean` removes it


@dataclass(frozen=True)
class Measured:
    label: str
    seconds: float
    peak_rss_bytes: int
    output: str

    def line(self, rows: int | None = None) -> str:
        rate = f"{rows / self.seconds:>12,.0f} rows/s" if rows else " " * 19
        return (
            f"{self.label:<34} {self.seconds:8.2f} s  {rate}  "
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
            [sys.executable, "-m", "localdev.generate", str(folder),
             "--rows", str(rows), "--leads", str(leads)],
            check=True,
        )  # fmt: skip
    return folder


def _server_url() -> str:
    from payout_core.ledger import db

    return db.resolve_database_url(get_settings())


def _database_url(server_url: str, name: str) -> str:
    import psycopg

    return psycopg.conninfo.make_conninfo(server_url, dbname=name)


def _recreate_database(server_url: str, name: str, template: str | None = None) -> str:
    """A fresh database (a copy of `template` if given), checkpointed: every measured run
    starts from the same pages and pays for none of the previous run's writes."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            print("(no CHECKPOINT privilege: a run may pay for the previous run's writes)")
    return _database_url(server_url, name)


def _load_template(server_url: str, folder: Path, leads: int) -> None:
    """Migrated, rules and leads loaded, then VACUUM ANALYZE as autovacuum would have done
    to a leads table in use (else the first run sets the hint bits of every lead)."""
    import psycopg

    from payout_core.ledger import db

    url = _recreate_database(server_url, TEMPLATE_DATABASE)
    with psycopg.connect(url) as conn:
        db.migrate(conn)
    environment = {**os.environ, "PAYOUT_DATABASE_URL": url}
    for setup, rows in ((["rules", "load", str(folder / "payin_payout_rules.csv")], None),
                        (["leads", "load", str(folder / "leads.csv")], leads)):  # fmt: skip
        loaded = run_measured(" ".join(setup[:2]), [*PAYOUT, *setup], environment)
        print(loaded.line(rows), flush=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE leads")


def run_bench(rows: int, leads: int, batch_rows: int | None = None, repeat: int = 1) -> int:
    folder = _workload(rows, leads)
    [mis_file] = sorted(folder.glob("mis_*.csv"))
    server_url = _server_url()
    _load_template(server_url, folder, leads)
    extra = {"PAYOUT_MIS_BATCH_ROWS": str(batch_rows)} if batch_rows else {}
    pairs: list[tuple[Measured, Measured]] = []
    for _ in range(repeat):
        url = _recreate_database(server_url, RUN_DATABASE, template=TEMPLATE_DATABASE)
        environment = {**os.environ, **extra, "PAYOUT_DATABASE_URL": url}
        processed = run_measured(
            "(a) payout process", [*PAYOUT, "process", "--json", str(mis_file)], environment
        )
        result = json.loads(processed.output.strip().splitlines()[-1])
        url = _recreate_database(server_url, RUN_DATABASE, template=TEMPLATE_DATABASE)
        floor = run_measured(
            "(b) floor: read + COPY + update",
            [sys.executable, "-m", "localdev.bench", "floor", str(mis_file),
             str(result["outcomes"]["paid"])],
            {**environment, "PAYOUT_DATABASE_URL": url},
        )  # fmt: skip
        print(f"{processed.line(rows)}\n{floor.line(rows)}", flush=True)
        pairs.append((processed, floor))
    cold_start = run_measured(
        "import function_app",
        [sys.executable, "-c", "import time; t = time.perf_counter(); import function_app; "
         "print(time.perf_counter() - t)"],
        {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )  # fmt: skip
    size_mib = mis_file.stat().st_size / 1024**2
    print(f"\nworkload: {rows:,} MIS rows ({size_mib:,.0f} MiB CSV), {leads:,} leads")
    print(f"outcomes: {result['outcomes']}")
    processed, floor = sorted(pairs, key=lambda pair: pair[0].seconds / pair[1].seconds)[
        len(pairs) // 2
    ]
    if repeat > 1:
        ratios = ", ".join(f"{a.seconds / b.seconds:.2f}" for a, b in pairs)
        print(f"ratios of the {repeat} pairs: {ratios}; the median pair:")
    print(processed.line(rows))
    print(floor.line(rows))
    print(f"ratio (a)/(b): {processed.seconds / floor.seconds:.2f}")
    peak_rss_mib = max(a.peak_rss_bytes for a, _ in pairs) / 1024**2
    print(f"peak RSS of (a) over all runs: {peak_rss_mib:.1f} MiB")
    print(f"cold start: import function_app {float(cold_start.output.strip()):.3f} s")
    return 0


# --- the floor, run as its own process --------------------------------------------------


def floor(mis_file: Path, paid_rows: int) -> None:
    """What any implementation must do: parse the file, write `paid_rows` result rows into
    a table with payout_calculations' columns and indexes, and update as many lead
    statuses, committed. No lookups, no calculation, no validation."""
    import polars as pl
    import psycopg

    from payout_core.engine import ledger_rows
    from payout_core.ledger import mis_run
    from payout_core.ledger.copying import copy_frame

    mis_rows = pl.read_csv(mis_file, infer_schema=False)
    lead_ids = (
        mis_rows.select(pl.col("TrackingId").str.slice(-8).alias("lead_id"))
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
        "basis_amount": "2616.00", "rule_id": 1, "mis_run_id": 1,
    }  # fmt: skip
    result = lead_ids.with_columns(pl.lit(value).alias(name) for name, value in constants.items())
    url = os.environ["PAYOUT_DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        # Created beforehand and committed, as payout_calculations is: a table created in
        # the same transaction as its COPY may skip WAL, which would flatter the floor.
        conn.execute("DROP TABLE IF EXISTS floor_calculations")
        conn.execute("CREATE TABLE floor_calculations (LIKE payout_calculations INCLUDING INDEXES)")
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        # The work_mem `payout process` gives its file's transaction. The UPDATE is the plain
        # statement with the planner's plan (a hash join over every lead), as the floor was
        # defined; `payout process` probes the leads index in LeadId order instead
        # (mis_run.mark_leads_paid), which would also take about 5 s off this floor.
        cursor.execute("SELECT set_config('work_mem', %s, true)", (mis_run.HASH_WORK_MEM,))
        cursor.execute("CREATE TEMP TABLE floor_leads (lead_id text) ON COMMIT DROP")
        copy_frame(cursor, "floor_calculations", result.select(ledger_rows.CALCULATION_COLUMNS))
        copy_frame(cursor, "floor_leads", lead_ids)
        cursor.execute(
            "UPDATE leads l SET status = 'Success', sub_status = 'Account Opened', "
            "updated_at = now() FROM floor_leads f WHERE l.lead_id = f.lead_id"
        )
    print(json.dumps({"rows": mis_rows.height, "result_rows": result.height}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["floor"]:
        floor(Path(sys.argv[2]), int(sys.argv[3]))
