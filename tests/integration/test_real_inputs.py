"""Real-shaped and malformed inputs through `payout process` and `payout leads load` on real
PostgreSQL (issue 11): no wrong payment, no silent drop, no traceback, no lost error."""

from __future__ import annotations

import csv
import io
import json
import shutil
import threading
import uuid
from pathlib import Path

import psycopg
import pytest

from payout_cli import commands
from payout_core.errors import ConfigurationError
from payout_core.flows import reference_data
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import db, error_logs
from payout_core.settings import PROJECT_ROOT, get_settings
from tests.integration.sample_ledger import SAMPLES, query
from tests.support import postgres
from tests.support.postgres import with_settings_read_again

CORPUS = PROJECT_ROOT / "tests" / "corpus"
SAVINGS_MIS = SAMPLES / "mis" / "bank_a_savings_account_2023-10-03.csv"
LEADS_HEADER = "LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus"
REFUSED_FILES = [
    "gzip_named.csv",
    "xlsx_named.csv",
    "nul_junk.csv",
    "binary_junk.csv",
    "empty.csv",
    "header_only.csv",
    "cr_only.csv",
    "stray_quote.csv",
    "no_header.csv",
    "single_50kb_line.csv",
]


def run_process(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, list[dict]]:
    exit_code = commands.main(["process", "--json", *arguments])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return exit_code, [json.loads(line) for line in captured.out.splitlines()]


def test_every_malformed_file_is_refused_and_recorded_and_the_others_still_run(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = [str(CORPUS / "mis" / name) for name in REFUSED_FILES]
    exit_code, lines = run_process(
        capsys, *paths, str(SAVINGS_MIS), "--output-dir", str(tmp_path / "out")
    )
    assert exit_code == commands.EXIT_FAILED
    by_file = {line["file"]: line for line in lines}
    assert by_file[SAVINGS_MIS.name]["outcomes"]["paid"] == 6  # processed after the refusals
    for name in REFUSED_FILES:
        assert "error" in by_file[name], name
    errors = dict(query(loaded, "SELECT mis, error_type FROM error_logs"))
    assert set(errors) == set(REFUSED_FILES)  # each recorded, none silently dropped
    assert all(len(text) <= 1_000 and "\x00" not in text for text in errors.values())
    assert "gzip" in errors["gzip_named.csv"]
    runs = {mis for (mis,) in query(loaded, "SELECT mis_file FROM mis_runs")}
    assert runs == {SAVINGS_MIS.name}  # a refused file is never read as 0 rows
    error_log = (tmp_path / "out" / "error_logs.csv").read_text(encoding="utf-8")
    assert len(list(csv.reader(io.StringIO(error_log)))) == 1 + len(REFUSED_FILES)


def test_an_unquoted_thousands_separator_is_never_paid_as_2_and_a_corrected_file_pays(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ragged = tmp_path / "bank_a_ragged.csv"
    ragged.write_text(
        "SourceType,MediumType,ProductType,TrackingId,AccountOpeningDate,InvestedAmount\n"
        "Bank_A,Medium_A,Savings Account,KYC_new_AT-91961,2 10 2023,2,616\n"
    )
    corrected = tmp_path / "bank_a_corrected.csv"
    corrected.write_text(ragged.read_text().replace("2,616", '"2616"'))
    _, [first] = run_process(capsys, str(ragged))
    assert first["outcomes"]["invalid"] == 1 and first["outcomes"]["paid"] == 0
    assert query(loaded, "SELECT status FROM leads WHERE lead_id = 'AT-91961'") == [("Pending",)]
    _, [second] = run_process(capsys, str(corrected))
    assert second["outcomes"]["paid"] == 1
    assert second["total_payin"] == "2500.00"  # KPI1 and KPI2: 2616 is over the bound


def test_a_personal_loan_with_non_ascii_digits_is_invalid_not_a_crash(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code, [line] = run_process(
        capsys, str(CORPUS / "mis" / "personal_loan_non_ascii_digits.csv")
    )
    assert exit_code == commands.EXIT_OK
    assert line["outcomes"]["invalid"] == 1 and line["outcomes"]["paid"] == 1


def test_a_file_named_like_a_formula_is_neutralised_in_the_local_error_log(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    formula = tmp_path / "=cmd|' calc'!A0.csv"
    shutil.copyfile(CORPUS / "mis" / "gzip_named.csv", formula)
    run_process(capsys, str(formula), "--output-dir", str(tmp_path / "out"))
    rows = list(csv.reader(io.StringIO((tmp_path / "out" / "error_logs.csv").read_text())))
    assert rows[1][1] == "'" + formula.name


def test_missing_paths_and_directories_are_reported_and_the_other_files_run(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = commands.main(
        ["process", str(tmp_path / "nowhere.csv"), str(tmp_path), str(SAVINGS_MIS)]
    )
    captured = capsys.readouterr()
    assert exit_code == commands.EXIT_FAILED
    assert "Traceback" not in captured.err
    assert f"FAILED {tmp_path / 'nowhere.csv'}: no such file" in captured.err
    assert "directory" in captured.err
    assert SAVINGS_MIS.name in captured.out and "paid 6" in captured.out
    assert query(loaded, "SELECT count(*) FROM error_logs") == [(0,)]  # a typo is no MIS error


def test_an_unmigrated_database_says_so_and_does_not_trace_back(
    postgres_server_url: str,
    tmp_state: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = f"payout_unmigrated_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(postgres_server_url, name)
    monkeypatch.setenv("PAYOUT_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        exit_code = commands.main(["process", str(SAVINGS_MIS), str(SAVINGS_MIS)])
        captured = capsys.readouterr()
        assert exit_code == commands.EXIT_FAILED
        # Said once, before any file (issue 26: a command checks the schema first).
        assert captured.err.startswith("error: the ledger database")
        assert captured.err.count("payout db migrate") == 1
        assert "Traceback" not in captured.err
        assert commands.main(["leads", "load", str(SAMPLES / "leads.csv")]) == commands.EXIT_FAILED
        assert "payout db migrate" in capsys.readouterr().err
    finally:
        postgres.drop_database(postgres_server_url, name)


def test_a_broken_bank_profile_blames_the_configuration_not_the_file(
    loaded: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    context: Context,
) -> None:
    broken = tmp_path / "banks.toml"
    broken.write_text('[[bank]]\nsource_type = "Bank_E"\ndate_fromat = "%Y-%m-%d"\n')
    monkeypatch.setenv("PAYOUT_BANKS_FILE", str(broken))
    context = with_settings_read_again(context)
    exit_code, [line] = run_process(capsys, str(SAVINGS_MIS))
    assert exit_code == commands.EXIT_FAILED
    assert "bank configuration" in line["error"] and "date_fromat" in line["error"]
    assert query(loaded, "SELECT count(*) FROM error_logs") == [(0,)]
    from payout_core.flows import mis_processing

    with pytest.raises(ConfigurationError):
        mis_processing.process_mis_file(SAVINGS_MIS, context=context)
    monkeypatch.delenv("PAYOUT_BANKS_FILE")
    get_settings.cache_clear()
    exit_code, [line] = run_process(capsys, str(SAVINGS_MIS))  # fixed: the file runs
    assert exit_code == commands.EXIT_OK and line["outcomes"]["paid"] == 6


def test_the_app_export_with_millisecond_timestamps_loads_and_pays(
    database_url: str, tmp_state: Path, capsys: pytest.CaptureFixture[str], context: Context
) -> None:
    reference_data.load_rules_file(context, SAMPLES / "payin_payout_rules.csv")
    export = CORPUS / "leads" / "app_export_millisecond_timestamps.csv"
    assert commands.main(["leads", "load", str(export)]) == commands.EXIT_OK
    assert "4 new" in capsys.readouterr().out
    [(created_at,)] = query(
        database_url, "SELECT lead_created_at FROM leads WHERE lead_id = 'AT-91961'"
    )
    assert created_at.isoformat() == "2023-09-26T13:06:43.444000+00:00"
    _, [line] = run_process(capsys, str(SAVINGS_MIS))
    assert line["outcomes"]["paid"] == 2  # AT-91961 and AT-4K7PQ are in this export


def test_a_reload_never_blanks_never_unpays_and_never_moves_a_paid_lead_to_another_sp(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], context: Context
) -> None:
    run_process(capsys, str(SAVINGS_MIS))
    [(paid_sp, paid_created)] = query(
        loaded, "SELECT sp_id, lead_created_at FROM leads WHERE lead_id = 'AT-91961'"
    )
    [(unpaid_lead, unpaid_sp)] = query(
        loaded, "SELECT lead_id, sp_id FROM leads WHERE status = 'Pending' ORDER BY lead_id LIMIT 1"
    )
    reload = tmp_path / "leads.csv"
    reload.write_text(
        f"{LEADS_HEADER}\n"
        ",SP9999,AT-91961,Bank_A,Medium_A,Savings Account,pending,\n"
        f",SP9999,{unpaid_lead},Bank_A,Medium_A,Savings Account,PENDING,\n"
    )
    summary = reference_data.load_leads_file(context, reload)
    assert "AT-91961 stays with " + paid_sp in summary
    assert query(
        loaded, "SELECT sp_id, lead_created_at, status FROM leads WHERE lead_id = 'AT-91961'"
    ) == [(paid_sp, paid_created, "Success")]
    [(sp_id, created_at, status)] = query(
        loaded, "SELECT sp_id, lead_created_at, status FROM leads WHERE lead_id = %s", unpaid_lead
    )
    assert (sp_id, status) == ("SP9999", "Pending") and sp_id != unpaid_sp
    assert created_at is not None  # a blank cell never blanks what is stored


def test_a_deadlock_is_a_conflict_that_is_retried(loaded: str, context: Context) -> None:
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[BaseException | None] = []

    def update_in_order(first: str, second: str) -> None:
        try:
            with context.reading() as conn, conn.transaction():
                conn.execute("UPDATE leads SET sub_status = 'x' WHERE lead_id = %s", (first,))
                barrier.wait()
                conn.execute("UPDATE leads SET sub_status = 'x' WHERE lead_id = %s", (second,))
            outcomes.append(None)
        except BaseException as error:  # collected for the assertion below
            outcomes.append(error)

    threads = [
        threading.Thread(target=update_in_order, args=("AT-91961", "AT-4K7PQ")),
        threading.Thread(target=update_in_order, args=("AT-4K7PQ", "AT-91961")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    failures = [outcome for outcome in outcomes if outcome is not None]
    assert len(outcomes) == 2 and len(failures) == 1
    assert isinstance(failures[0], db.ConflictError), failures
    assert isinstance(failures[0].__cause__, psycopg.errors.DeadlockDetected)


def test_an_error_record_with_nul_bytes_and_50_mb_of_text_is_written(
    loaded: str, context: Context
) -> None:
    with context.unit_of_work() as uow:
        record = error_logs.record_error(
            uow.conn, "junk\x00.csv", "cell '\x00\x00' " + "z" * 50_000_000
        )
        uow.commit()
    [(mis, error_type)] = query(loaded, "SELECT mis, error_type FROM error_logs")
    assert (mis, error_type) == (record.mis, record.error_type)
    assert "\x00" not in mis and len(error_type) <= 1_000 and "50,000,010 characters" in error_type
