"""mis_runs on real PostgreSQL (issue 21, items 9 and 11): the provenance of every file is
append-only like the events, a run is recorded whole once, the iteration email reads
exactly the runs no email reported, and a re-delivery is the same blob (name and content):
the same bytes under a new name are processed, and the email says whose content it is."""

from __future__ import annotations

import html
import json
import uuid
from importlib import resources
from pathlib import Path

import psycopg
import pytest

from payout_cli import commands
from payout_core.flows import iteration
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import db, iteration_rows
from tests.fakes.email_senders import RecordingEmailSender
from tests.integration.sample_ledger import query
from tests.support import postgres

pytestmark = pytest.mark.integration

MIGRATIONS = resources.files("payout_core.ledger") / "migrations"

SAVINGS_HEADER = "SourceType,MediumType,ProductType,TrackingId,AccountOpeningDate,InvestedAmount"
LEADS_HEADER = "LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus"


def mis_file(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def process(capsys: pytest.CaptureFixture[str], path: Path) -> dict:
    assert commands.main(["process", "--json", str(path)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    return json.loads(line)


# Excel's CSV: BOM, CRLF, quoted cells. AT-LATE1 is no ShiftPay lead yet.
EXPORT = (
    "\ufeff" + SAVINGS_HEADER + "\r\n"
    '"Bank_A","Medium_A","Savings Account","KYC_new_AT-91961","2 10 2023","2616"\r\n'
    '"Bank_A","Medium_A","Savings Account","KYC_new_AT-LATE1","2 10 2023","2616"\r\n'
).encode()


def test_the_same_bytes_under_a_new_name_are_processed_and_flagged_in_the_email(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], context: Context
) -> None:
    first = process(capsys, mis_file(tmp_path, "bank_a_2023-10-03.csv", EXPORT))
    assert first["outcomes"]["paid"] == 1 and first["outcomes"]["not_shiftpay_lead"] == 1
    leads = tmp_path / "leads.csv"
    leads.write_text(
        f"{LEADS_HEADER}\n2023-10-01 10:00:00,SP1009,AT-LATE1,Bank_A,Medium_A,Savings Account,"
        "Pending,\n"
    )
    assert commands.main(["leads", "load", str(leads)]) == 0
    capsys.readouterr()

    resent = process(capsys, mis_file(tmp_path, "bank_a_2023-10-03_resent.csv", EXPORT))
    assert resent["outcomes"]["paid"] == 1  # AT-LATE1: weighed like any later file's row
    again = process(capsys, mis_file(tmp_path, "bank_a_2023-10-03.csv", EXPORT))
    assert again["outcomes"]["paid"] == 0 and again["outcomes"]["already_paid"] == 2

    sender = RecordingEmailSender()
    iteration.run_summary(sender, context=context)
    [(received_on,)] = query(
        loaded,
        "SELECT (min(started_at) AT TIME ZONE 'UTC')::date::text FROM mis_runs"
        " WHERE mis_file = 'bank_a_2023-10-03.csv'",
    )
    note = (
        f"bank_a_2023-10-03_resent.csv: same content as bank_a_2023-10-03.csv, received on "
        f"{received_on}; processed as a new file (its rows weighed like any later file's)."
    )
    assert note in sender.messages[0].text_body
    assert html.escape(note) in sender.messages[0].html_body
    # A true re-delivery (same name, same content) is not flagged as a new name.
    assert sender.messages[0].text_body.count("same content as") == 1


def test_a_redelivery_under_its_own_name_changes_nothing(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = mis_file(tmp_path, "bank_a.csv", EXPORT)
    process(capsys, path)
    events = query(loaded, "SELECT count(*) FROM payout_events")
    output_dir = str(tmp_path / "out")
    assert commands.main(["process", "--json", "--output-dir", output_dir, str(path)]) == 0
    capsys.readouterr()
    assert query(loaded, "SELECT count(*) FROM payout_events") == events
    rejected = next((tmp_path / "out").rglob("*.rejected.csv")).read_text("utf-8")
    assert "a re-delivery changes nothing" in rejected


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE mis_runs SET rows_read = 0",
        "DELETE FROM mis_runs",
        "TRUNCATE mis_runs CASCADE",
        "UPDATE reported_mis_runs SET iteration_number = 9",
        "DELETE FROM reported_mis_runs",
    ],
)
def test_mis_runs_and_their_reports_are_append_only(
    loaded: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    statement: str,
    context: Context,
) -> None:
    process(capsys, mis_file(tmp_path, "bank_a.csv", EXPORT))
    iteration.run_summary(RecordingEmailSender(), context=context)
    with psycopg.connect(loaded) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)
    assert query(
        loaded, "SELECT count(*) FROM mis_runs JOIN reported_mis_runs USING (mis_run_id)"
    ) == [(1,)]


def test_a_run_recorded_while_an_iteration_reads_is_reported_by_the_next(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], context: Context
) -> None:
    """A file whose transaction began before the iteration read the runs, and committed
    after: the next iteration must read it, however many runs were reported before."""
    process(capsys, mis_file(tmp_path, "first.csv", EXPORT))
    with psycopg.connect(loaded) as late:
        late.execute(
            "INSERT INTO mis_runs (mis_file, content_sha256, product_type, started_at, rows_read,"
            " outcome_counts, total_payin, total_payout)"
            " VALUES ('late.csv', 'x', 'Savings Account', now(), 0, '{}', 0, 0)"
        )  # not committed yet: the iteration below cannot see it
        sender = RecordingEmailSender()
        iteration.run_summary(sender, context=context)
        assert "first.csv" in sender.messages[0].text_body
        assert "late.csv" not in sender.messages[0].text_body
        late.commit()
    process(capsys, mis_file(tmp_path, "second.csv", EXPORT.replace(b"2616", b"2617")))
    iteration.run_summary(sender, context=context)
    assert "late.csv" in sender.messages[1].text_body
    assert "second.csv" in sender.messages[1].text_body
    assert "first.csv" not in sender.messages[1].text_body
    assert query(loaded, "SELECT count(*) FROM reported_mis_runs") == [(3,)]


def test_006_keeps_which_iteration_reported_each_run(postgres_server_url: str) -> None:
    name = f"before_006_{uuid.uuid4().hex[:8]}"
    url = postgres.create_database(postgres_server_url, name)
    try:
        with psycopg.connect(url) as conn:
            conn.execute(db.MIGRATIONS_TABLE)
            for script in sorted(MIGRATIONS.iterdir(), key=lambda path: path.name):
                if script.name.endswith(".sql") and script.name < "006":
                    conn.execute(script.read_text())
                    conn.execute("INSERT INTO schema_migrations VALUES (%s)", (script.name,))
            conn.execute(
                "INSERT INTO mis_runs (mis_file, content_sha256, product_type, started_at,"
                " rows_read, outcome_counts, total_payin, total_payout, reported_at,"
                " iteration_number) VALUES"
                " ('old.csv', 'a', 'Savings Account', now(), 1, '{}', 0, 0, now(), 3),"
                " ('new.csv', 'b', 'Savings Account', now(), 1, '{}', 0, 0, NULL, NULL)"
            )
            conn.commit()
            assert "006_append_only_mis_runs.sql" in db.migrate(conn)
            assert conn.execute(
                "SELECT mis_file, iteration_number FROM reported_mis_runs JOIN mis_runs"
                " USING (mis_run_id)"
            ).fetchall() == [("old.csv", 3)]
            unreported = iteration_rows.select_unreported(conn)
            assert [
                conn.execute(
                    "SELECT mis_file FROM mis_runs WHERE mis_run_id = %s", (run,)
                ).fetchone()[0]
                for run in unreported.mis_run_ids
            ] == ["new.csv"]
    finally:
        postgres.drop_database(postgres_server_url, name)
