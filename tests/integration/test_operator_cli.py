"""What an operator sees from `payout` (issue 26): a database that was never migrated is
named as such with the command that fixes it, commands print their result and stay quiet
otherwise unless --verbose, and `summary --json` says what the summary did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from payout_cli import commands
from payout_core.flows.unit_of_work import Context
from payout_core.settings import PROJECT_ROOT, Settings
from tests.integration.sample_ledger import SAMPLES, load_samples
from tests.support import postgres

pytestmark = pytest.mark.integration

RULES = str(SAMPLES / "payin_payout_rules.csv")


@pytest.fixture
def unmigrated_database(postgres_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"payout_empty_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(postgres_server_url, name)
    monkeypatch.setenv("PAYOUT_DATABASE_URL", url)
    try:
        yield url
    finally:
        postgres.drop_database(postgres_server_url, name)


@pytest.mark.parametrize(
    "command",
    [["rules", "load", RULES], ["holds", "list"], ["summary"], ["receivables"]],
    ids=" ".join,
)
def test_before_payout_db_migrate_a_command_says_the_database_is_not_migrated(
    unmigrated_database: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert commands.main(command) == commands.EXIT_FAILED
    error = capsys.readouterr().err
    assert error.startswith("error: the ledger database is not migrated")
    assert error.rstrip().endswith("run `payout db migrate`")
    assert "product" not in error  # it used to blame a product's rule parameter


def _payout(*arguments: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {field.alias for field in Settings.model_fields.values()}
    }
    environment["PAYOUT_STATE_DIR"] = str(state_dir)
    return subprocess.run(
        [str(Path(sys.executable).with_name("payout")), *arguments],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_commands_print_their_result_and_log_progress_only_with_verbose(tmp_path: Path) -> None:
    migrated = _payout("db", "migrate", state_dir=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.startswith("applied ")
    assert migrated.stderr == ""  # no "starting embedded PostgreSQL", no "applied migration"

    loaded = _payout("rules", "load", RULES, state_dir=tmp_path)
    assert (loaded.returncode, loaded.stderr) == (0, "")
    assert loaded.stdout.startswith("rules: version 1 in force")

    verbose = _payout("--verbose", "holds", "list", state_dir=tmp_path)
    assert verbose.returncode == 0
    assert verbose.stdout == "no held events await a decision\n"
    assert "starting embedded PostgreSQL" in verbose.stderr


def test_summary_json_is_one_object_with_money_as_decimal_text(
    database_url: str,
    tmp_state: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    context: Context,
) -> None:
    load_samples(context)
    loans = SAMPLES / "mis" / "bank_b_personal_loan_2023-10-03.csv"
    assert commands.main(["process", str(loans)]) == 0
    capsys.readouterr()

    assert commands.main(["summary", "--json"]) == commands.EXIT_OK
    [line] = capsys.readouterr().out.splitlines()
    outcome = json.loads(line)
    assert outcome["email_sent"] is True
    assert (outcome["iteration_number"], outcome["mis_file_count"]) == (1, 1)
    assert (outcome["paid_lead_count"], outcome["error_count"]) == (5, 0)
    assert Path(outcome["message_id"]).parent == tmp_state / "outbox"
    assert outcome["cycle"]["cycle_number"] == 1
    assert outcome["cycle"]["credit_total"] == "4255.00"  # text, exact: the file's payout

    assert commands.main(["summary", "--json"]) == commands.EXIT_OK
    nothing = json.loads(capsys.readouterr().out)
    assert (nothing["email_sent"], nothing["iteration_number"], nothing["cycle"]) == (
        False,
        None,
        None,
    )
