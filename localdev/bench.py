"""`payout bench`: how fast is processing, against the floor, on this machine?

The same data, and for every measured run a fresh copy of one loaded database:
  (a) `payout process FILE` end to end, committed, in its own process;
  (b) the floor: what any implementation must do, the best known way. Read the same CSV
      with Polars; COPY as many calculation rows as (a) paid, and as many event rows as
      (a) wrote (one per KPI earned), each lead with an SP spread as the workload's are,
      into tables with payout_calculations' and payout_events' columns, CHECK
      constraints and indexes, each table's rows sorted by LeadId; flip as many leads to
      Success by index probes in LeadId order; committed, in its own process. No lookups,
      no calculation, no validation.
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

from localdev.generate import LEADS_PER_SP
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


def _count_events(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM payout_events").fetchone()
    return int(row[0]) if row else 0


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
        event_count = _count_events(url)
        url = _recreate_database(server_url, RUN_DATABASE, template=TEMPLATE_DATABASE)
        floor = run_measured(
            "(b) floor: read + COPY + update",
            [sys.executable, "-m", "localdev.bench", "floor", str(mis_file),
             str(result["outcomes"]["paid"]), str(event_count),
             str(max(1, leads // LEADS_PER_SP))],
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


def floor(mis_file: Path, paid_rows: int, event_rows: int, sp_count: int) -> None:
    """What any implementation must do: parse the file; write `paid_rows` calculation rows
    and `event_rows` event rows (the first leads' KPI1, then KPI2; `sp_count` SPs) into
    tables with the ledger's columns and indexes; move as many leads to Success by index
    probes in LeadId order (the cheapest way known, mis_run.mark_leads_paid's); committed."""
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
    lead = {
        "source_type": "Bank_A", "medium_type": "Medium_A", "product_type": "Savings Account",
        "rule_id": 1, "mis_run_id": 1,
    }  # fmt: skip
    # Each lead's SP, spread as the workload spreads them (`sp_count` SPs, in no order):
    # the events' indexes on the SP (explain, statements, incentives) take them as they
    # come. One SP for every row (as this floor first had it) made them append-only.
    lead_ids = lead_ids.with_columns(
        sp_id=pl.concat_str(
            pl.lit("SP"),
            (pl.col("lead_id").hash(seed=0) % sp_count + 1).cast(pl.String).str.zfill(6),
        )
    )
    calculation = {
        "created_at": "2026-11-21 00:00:00+00", "status": "Success",
        "sub_status": "Account Opened", "date_of_sale": "2023-10-02",
        "date_of_revenue": "2026-11-21", "kpi1_payin_amount": "1500.00",
        "kpi1_payout_amount": "1000.00", "kpi2_payin_amount": "1000.00",
        "kpi2_payout_amount": "500.00", "total_payin": "2500.00", "total_payout": "1500.00",
        "basis_facts": '{"InvestedAmount":"2616.00"}',
    }  # fmt: skip
    event = {
        "kind": "earned", "outcome": "paid", "kpi_sequence": 1, "payin_amount": "1500.00",
        "payout_amount": "1000.00", "reason": "account opened in the window",
        "status": "released", "payin_worth_amount": "1500.00",
        "payout_worth_amount": "1000.00", "mis_row_number": 1,
    }  # fmt: skip
    calculations = lead_ids.with_columns(
        pl.lit(value).alias(name) for name, value in (lead | calculation).items()
    ).select(ledger_rows.CALCULATION_COLUMNS)
    events = (
        pl.concat([lead_ids.with_columns(kpi=pl.lit(kpi)) for kpi in ("KPI1", "KPI2")])
        .head(event_rows)
        .with_columns(pl.lit(value).alias(name) for name, value in (lead | event).items())
    )
    url = os.environ["PAYOUT_DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        # Created beforehand and committed, as the ledger's tables are: a table created in
        # the same transaction as its COPY may skip WAL, which would flatter the floor.
        for table in ("payout_calculations", "payout_events"):
            conn.execute(f"DROP TABLE IF EXISTS floor_{table.removeprefix('payout_')}")
            conn.execute(
                f"CREATE TABLE floor_{table.removeprefix('payout_')}"
                f" (LIKE {table} INCLUDING DEFAULTS INCLUDING IDENTITY"
                " INCLUDING CONSTRAINTS INCLUDING INDEXES)"
            )
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', %s, true)", (mis_run.HASH_WORK_MEM,))
        cursor.execute("CREATE TEMP TABLE paid_lead_ids (lead_id text) ON COMMIT DROP")
        copy_frame(cursor, "floor_calculations", calculations.sort("lead_id"))
        copy_frame(cursor, "floor_events", events.sort("lead_id", "kpi"))
        copy_frame(cursor, "paid_lead_ids", lead_ids.select("lead_id"))
        cursor.execute("ANALYZE paid_lead_ids")
        cursor.execute(mis_run.PROBE_JOINS_ONLY)
        cursor.execute(mis_run.MARK_LEADS_PAID, {"sub_status": "Account Opened"})
    print(json.dumps({"rows": mis_rows.height, "calculations": paid_rows, "events": events.height}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["floor"]:
        floor(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
