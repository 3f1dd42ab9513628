"""The ledger on real PostgreSQL: exactly-once payment, rollback, concurrency, loading."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import polars as pl
import psycopg
import pytest

from payout_cli import commands
from payout_cli.local_outputs import LocalOutputs
from payout_core.engine import mis
from payout_core.errors import InputFileError, TerminalError, TransientError
from payout_core.flows import mis_processing, reference_data
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import mis_run
from tests.integration.sample_ledger import SAMPLES, query
from tests.support.postgres import with_settings_read_again

SAVINGS_MIS = SAMPLES / "mis" / "bank_a_savings_account_2023-10-03.csv"
EXPECTED = json.loads((SAMPLES / "expected_outcomes.json").read_text())


def ledger_snapshot(url: str) -> dict[str, list[tuple]]:
    return {
        "calculations": query(url, "SELECT * FROM payout_calculations ORDER BY lead_id"),
        "events": query(url, "SELECT lead_id, sp_id, payout_amount FROM payout_events ORDER BY 1"),
        "leads": query(url, "SELECT lead_id, status, sub_status FROM leads ORDER BY 1"),
    }


def test_sample_files_match_the_hand_computed_outcomes(loaded: str, context: Context) -> None:
    for mis_path in sorted((SAMPLES / "mis").glob("*.csv")):
        result = mis_processing.process_mis_file(mis_path, context=context)
        expected = EXPECTED.get(mis_path.name)
        assert expected is not None, f"samples/expected_outcomes.json lacks {mis_path.name}"
        assert result.rows_read == expected["rows_read"]
        assert result.outcome_counts == expected["outcome_counts"]
        assert result.total_payin == Decimal(str(expected["total_payin"]))
        assert result.total_payout == Decimal(str(expected["total_payout"]))


def test_a_processed_file_is_recorded_whole(loaded: str, context: Context) -> None:
    result = mis_processing.process_mis_file(SAVINGS_MIS, context=context)
    paid = result.outcome_counts["paid"]
    [(count, payin, payout, rule_ids)] = query(
        loaded,
        "SELECT count(*), sum(total_payin), sum(total_payout), count(DISTINCT rule_id) "
        "FROM payout_calculations WHERE mis_run_id = %s",
        result.mis_run_id,
    )
    assert (count, payin, payout) == (paid, result.total_payin, result.total_payout)
    assert rule_ids >= 1
    [(leads_with_events, event_sum)] = query(
        loaded, "SELECT count(DISTINCT lead_id), sum(payout_amount) FROM payout_events"
    )
    assert (leads_with_events, event_sum) == (paid, result.total_payout)
    statuses = query(
        loaded,
        "SELECT DISTINCT l.status, l.sub_status FROM leads l "
        "JOIN payout_calculations c USING (lead_id)",
    )
    assert statuses == [("Success", "Account Opened")]
    [(rows_read, counts)] = query(
        loaded,
        "SELECT rows_read, outcome_counts FROM mis_runs WHERE mis_run_id = %s",
        result.mis_run_id,
    )
    assert rows_read == result.rows_read and counts == result.outcome_counts


def test_processing_the_same_file_again_changes_nothing(loaded: str, context: Context) -> None:
    first = mis_processing.process_mis_file(SAVINGS_MIS, context=context)
    before = ledger_snapshot(loaded)
    second = mis_processing.process_mis_file(SAVINGS_MIS, context=context)
    assert ledger_snapshot(loaded) == before
    assert second.outcome_counts["paid"] == 0
    assert second.outcome_counts["already_paid"] == (
        first.outcome_counts["already_paid"] + first.outcome_counts["paid"]
    )
    assert second.total_payout == Decimal("0.00")


def test_a_database_failure_mid_file_leaves_nothing_and_the_retry_pays(
    loaded: str, monkeypatch: pytest.MonkeyPatch, context: Context
) -> None:
    before = ledger_snapshot(loaded)
    original_finish = mis_run.MisRunLedger.finish

    def connection_lost(self, **kwargs):
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(mis_run.MisRunLedger, "finish", connection_lost)
    with pytest.raises(TransientError, match="database unavailable"):
        mis_processing.process_mis_file(SAVINGS_MIS, context=context)
    assert ledger_snapshot(loaded) == before
    assert query(loaded, "SELECT count(*) FROM mis_runs") == [(0,)]

    monkeypatch.setattr(mis_run.MisRunLedger, "finish", original_finish)
    retried = mis_processing.process_mis_file(SAVINGS_MIS, context=context)
    assert retried.outcome_counts == EXPECTED[SAVINGS_MIS.name]["outcome_counts"]


def test_a_batched_file_is_still_one_unit_of_work(
    loaded: str, monkeypatch: pytest.MonkeyPatch, context: Context
) -> None:
    """Batches bound memory, not atomicity: a failure in a late batch undoes the early ones,
    and the batched result equals the one-batch result (duplicates across batches too)."""
    monkeypatch.setenv("PAYOUT_MIS_BATCH_ROWS", "4")
    monkeypatch.setenv("PAYOUT_MIS_LOOKUP_ROWS", "4")  # one lookup per piece of the file
    monkeypatch.setattr(mis, "READ_CHUNK_BYTES", 200)  # pieces of a few rows
    context = with_settings_read_again(context)
    before = ledger_snapshot(loaded)
    original_fetch = mis_run.fetch_leads
    calls = {"count": 0}

    def fail_on_third_batch(conn, lead_ids):
        calls["count"] += 1
        if calls["count"] == 3:
            raise psycopg.OperationalError("terminating connection due to administrator command")
        return original_fetch(conn, lead_ids)

    monkeypatch.setattr(mis_run, "fetch_leads", fail_on_third_batch)
    with pytest.raises(TransientError):
        mis_processing.process_mis_file(SAVINGS_MIS, context=context)
    assert ledger_snapshot(loaded) == before

    monkeypatch.setattr(mis_run, "fetch_leads", original_fetch)
    result = mis_processing.process_mis_file(SAVINGS_MIS, context=context)
    assert result.outcome_counts == EXPECTED[SAVINGS_MIS.name]["outcome_counts"]


def test_a_lead_lost_to_a_racing_file_counts_as_already_paid(
    loaded: str, tmp_path: Path, context: Context
) -> None:
    """Another transaction pays AT-91961 while this file is between lookup and write: the
    file starts over with fresh facts and reports the lead as already paid."""
    racing = psycopg.connect(loaded)
    racing.execute("UPDATE leads SET status = 'Success' WHERE lead_id = 'AT-91961'")
    results: list[mis_processing.MisRunResult] = []
    outputs = LocalOutputs(tmp_path / "out")
    worker = threading.Thread(
        target=lambda: results.append(
            mis_processing.process_mis_file(SAVINGS_MIS, context=context, outputs=outputs)
        )
    )
    worker.start()
    _wait_until_blocked_on_a_lock(loaded)  # it read AT-91961 as Pending; now it waits
    racing.commit()
    racing.close()
    worker.join(timeout=60)
    [result] = results
    expected = EXPECTED[SAVINGS_MIS.name]["outcome_counts"]
    assert result.outcome_counts["paid"] == expected["paid"] - 1
    assert result.outcome_counts["already_paid"] == expected["already_paid"] + 1
    assert query(loaded, "SELECT count(*) FROM payout_events WHERE lead_id = 'AT-91961'") == [(0,)]
    [rejected_csv] = (tmp_path / "out" / "rejected").glob("*.csv")  # the retry's only
    rejected = pl.read_csv(rejected_csv, infer_schema=False)
    lost = rejected.filter((pl.col("LeadId") == "AT-91961") & (pl.col("Outcome") == "already_paid"))
    assert lost.height == 1


def test_a_paid_lead_reset_to_pending_by_hand_is_refused_not_paid_twice(
    loaded: str, context: Context
) -> None:
    mis_processing.process_mis_file(SAVINGS_MIS, context=context)
    with psycopg.connect(loaded) as conn:
        conn.execute("UPDATE leads SET status = 'Pending' WHERE lead_id = 'AT-91961'")
    before = ledger_snapshot(loaded)
    with pytest.raises(mis_run.LedgerConflict, match="AT-91961") as caught:
        mis_processing.process_mis_file(SAVINGS_MIS, context=context)
    assert isinstance(caught.value, TerminalError)  # quarantined, never retried
    assert ledger_snapshot(loaded) == before
    assert query(loaded, "SELECT count(*) FROM mis_runs") == [(1,)]
    assert query(
        loaded, "SELECT kpi, kind FROM payout_events WHERE lead_id = 'AT-91961' ORDER BY kpi"
    ) == [("KPI1", "earned"), ("KPI2", "earned")]


def _wait_until_blocked_on_a_lock(url: str, timeout_seconds: float = 60) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        waiting = query(url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        if waiting[0][0]:
            return
        time.sleep(0.05)
    raise AssertionError("the file never waited on the racing transaction's row lock")


def _overlapping_mis(path: Path, lead_numbers: range) -> Path:
    lines = ["SourceType,MediumType,ProductType,TrackingId,AccountOpeningDate,InvestedAmount"]
    lines += [
        f"Bank_A,Medium_A,Savings Account,KYC_new_AT-{n:05d},2 10 2023,2616" for n in lead_numbers
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_two_concurrent_processes_pay_each_lead_once(
    loaded: str, tmp_path: Path, context: Context
) -> None:
    leads_csv = tmp_path / "leads.csv"
    leads_csv.write_text(
        "LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus\n"
        + "".join(
            f"2023-09-30 10:00:00,SP{n % 7},AT-{n:05d},Bank_A,Medium_A,Savings Account,Pending,\n"
            for n in range(3000)
        )
    )
    reference_data.load_leads_file(context, leads_csv)
    first = _overlapping_mis(tmp_path / "first.csv", range(0, 2000))
    second = _overlapping_mis(tmp_path / "second.csv", range(1000, 3000))
    environment = {**os.environ, "PAYOUT_DATABASE_URL": loaded}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "localdev", "process", "--json", str(mis_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            text=True,
        )
        for mis_file in (first, second)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    results = [json.loads(stdout) for stdout, _ in outputs]
    assert sum(result["outcomes"]["paid"] for result in results) == 3000
    assert sum(result["outcomes"]["already_paid"] for result in results) == 1000
    [(kpi1_events, distinct_leads, event_sum)] = query(
        loaded,
        "SELECT count(*) FILTER (WHERE kpi = 'KPI1'), count(DISTINCT lead_id), sum(payout_amount)"
        " FROM payout_events",
    )
    assert kpi1_events == distinct_leads == 3000
    assert event_sum == sum(Decimal(result["total_payout"]) for result in results)
    assert event_sum == Decimal(3000 * 1500)


def test_a_stale_leads_export_never_unpays_a_lead(loaded: str, context: Context) -> None:
    mis_processing.process_mis_file(SAVINGS_MIS, context=context)
    before = ledger_snapshot(loaded)
    reference_data.load_leads_file(
        context, SAMPLES / "leads.csv"
    )  # still says Pending for the paid leads
    assert ledger_snapshot(loaded)["leads"] == before["leads"]
    again = mis_processing.process_mis_file(SAVINGS_MIS, context=context)
    assert again.outcome_counts["paid"] == 0
    assert ledger_snapshot(loaded)["events"] == before["events"]


def test_a_bad_leads_file_is_refused_with_row_numbers_and_loads_nothing(
    loaded: str, tmp_path: Path, context: Context
) -> None:
    bad = tmp_path / "leads.csv"
    bad.write_text(
        "LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus\n"
        "2023-09-30 10:00:00,SP1,AT-NEW01,Bank_A,Medium_A,Savings Account,Pending,\n"
        "2023-09-30 10:00:00,,AT-NEW02,Bank_A,Medium_A,Savings Account,Pending,\n"
        "yesterday,SP1,AT-NEW03,Bank_A,Medium_A,Savings Account,Pending,\n"
        "2023-09-30 10:00:00,SP1,AT-NEW01,Bank_A,Medium_A,Savings Account,Pending,\n"
    )
    before = ledger_snapshot(loaded)
    with pytest.raises(InputFileError) as refused:
        reference_data.load_leads_file(context, bad)
    message = str(refused.value)
    assert "row 2 (LeadId AT-NEW02): SPId is blank" in message
    assert "row 3 (LeadId AT-NEW03): LeadCreatedAt" in message
    assert "row 4 (LeadId AT-NEW01): LeadId appears more than once" in message
    assert ledger_snapshot(loaded) == before


def test_rules_reloads_are_versioned_and_each_payment_knows_its_rule(
    loaded: str, tmp_path: Path, context: Context
) -> None:
    result = mis_processing.process_mis_file(SAVINGS_MIS, context=context)
    unchanged = reference_data.load_rules_file(context, SAMPLES / "payin_payout_rules.csv")
    assert "unchanged, version 1" in unchanged
    changed = tmp_path / "rules.csv"
    changed.write_text(
        (SAMPLES / "payin_payout_rules.csv").read_text().replace("1500,1000,2000", "1700,1200,2000")
    )
    assert "version 2 in force" in reference_data.load_rules_file(context, changed)
    overlapping = tmp_path / "overlapping.csv"
    overlapping.write_text(
        changed.read_text()
        + "Bank_A,Medium_A,Savings Account,2 10 2023,5 10 2023,,,1,1,0,0,0,,,,x\n"
    )
    with pytest.raises(InputFileError, match=r"rows 1 and 7: windows overlap"):
        reference_data.load_rules_file(context, overlapping)
    assert query(loaded, "SELECT max(rule_set_version), count(*) FROM rule_sets") == [(2, 2)]
    paid_by = query(
        loaded,
        "SELECT DISTINCT r.rule_set_version FROM payout_calculations c "
        "JOIN payin_payout_rules r USING (rule_id) WHERE c.mis_run_id = %s",
        result.mis_run_id,
    )
    assert paid_by == [(1,)]


def test_payout_process_json_reports_each_file_and_fails_on_a_bad_one(
    loaded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = SAMPLES / "mis_broken" / "bank_a_unknown_product.csv"
    exit_code = commands.main(["process", "--json", str(SAVINGS_MIS), str(broken)])
    assert exit_code != 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == {
        "file": SAVINGS_MIS.name,
        "rows": EXPECTED[SAVINGS_MIS.name]["rows_read"],
        "outcomes": EXPECTED[SAVINGS_MIS.name]["outcome_counts"],
        "total_payin": "13400.00",
        "total_payout": "8300.00",
    }
    assert lines[1]["file"] == broken.name and "Gold Loan" in lines[1]["error"]
    [(mis, error_type)] = query(loaded, "SELECT mis, error_type FROM error_logs")
    assert mis == broken.name and "unknown product 'Gold Loan'" in error_type
