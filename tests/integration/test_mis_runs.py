"""mis_runs on real PostgreSQL (issue 21, items 9 and 11): the provenance of every file is
append-only like the events, a run is recorded whole once, the iteration email reads
exactly the runs no email reported, and a re-delivery is the same blob (name and content):
the same bytes under a new name are processed, and the email says whose content it is."""

from __future__ import annotations

import json
import uuid
from importlib import resources
from pathlib import Path

import psycopg
import pytest

from payout_core import cli, summary
from payout_core.ledger import db, iteration_reads
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
    assert cli.main(["process", "--json", str(path)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    return json.loads(line)


# Excel's CSV: BOM, CRLF, quoted cells. AT-LATE1 is no ShiftPay lead yet.
EXPORT = (
    "\ufeff" + SAVINGS_HEADER + "\r\n"
    '"Bank_A","Medium_A","Savings Account","KYC_new_AT-91961","2 10 2023","2616"\r\n'
    '"Bank_A","Medium_A","Savings Account","KYC_new_AT-LATE1","2 10 2023","2616"\r\n'
).encode()


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
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], statement: str
) -> None:
    process(capsys, mis_file(tmp_path, "bank_a.csv", EXPORT))
    summary.run_summary(RecordingEmailSender())
    with psycopg.connect(loaded) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)
    assert query(
        loaded, "SELECT count(*) FROM mis_runs JOIN reported_mis_runs USING (mis_run_id)"
    ) == [(1,)]


def test_a_run_recorded_while_an_iteration_reads_is_reported_by_the_next(
    loaded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
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
        summary.run_summary(sender)
        assert "first.csv" in sender.messages[0].text_body
        assert "late.csv" not in sender.messages[0].text_body
        late.commit()
    process(capsys, mis_file(tmp_path, "second.csv", EXPORT.replace(b"2616", b"2617")))
    summary.run_summary(sender)
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
            unreported = iteration_reads.select_unreported(conn)
            assert [
                conn.execute(
                    "SELECT mis_file FROM mis_runs WHERE mis_run_id = %s", (run,)
                ).fetchone()[0]
                for run in unreported.mis_run_ids
            ] == ["new.csv"]
    finally:
        postgres.drop_database(postgres_server_url, name)
