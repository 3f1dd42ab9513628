"""Every bad setting is one sentence naming the setting, its value and what is expected, and
`payout` exits with code 2 (issue 26, item 6).

The settings are the Settings model's own fields, and each one's bad value is the first of
a few candidates the model refuses: a setting added later with a type that takes anything
fails here until its type says what it expects (payout_core/setting_values.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from localdev import cli as payout
from payout_core.settings import Settings

SETTINGS = sorted(field.alias or name for name, field in Settings.model_fields.items())
SECRET_SETTINGS = {
    field.alias for field in Settings.model_fields.values() if "SecretStr" in repr(field.annotation)
}


def bad_value(setting: str, tmp_path: Path) -> str:
    """The first candidate the setting refuses: words where a number, a choice, a name or
    an address is expected; a file where a folder is; a folder where a file is."""
    a_file = tmp_path / "a-file.toml"
    a_file.write_text("")
    for candidate in ("abc", "-1", "<bad value>", str(a_file), str(tmp_path)):
        try:
            Settings(**{setting: candidate})
        except ValidationError:
            return candidate
    pytest.fail(f"{setting} takes any value: give its type an Expected (setting_values.py)")


@pytest.mark.parametrize("setting", SETTINGS)
def test_a_bad_value_stops_payout_with_one_sentence_and_exit_code_2(
    setting: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    value = bad_value(setting, tmp_path)
    if setting != "PAYOUT_STATE_DIR":  # were it read, nothing would start in the checkout
        monkeypatch.setenv("PAYOUT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv(setting, value)

    assert payout.main(["holds", "list"]) == 2

    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    (sentence,) = lines
    assert sentence.startswith(f"error: {setting} is ")
    assert ": expected " in sentence
    assert "Traceback" not in sentence and "Input should" not in sentence  # pydantic's words
    if setting in SECRET_SETTINGS:
        assert "(not shown)" in sentence and f"'{value}'" not in sentence
    else:
        assert value in sentence


@pytest.mark.parametrize(
    ("setting", "value", "sentence"),
    [
        (
            "PAYOUT_DB_POOL_MAX_SIZE",
            "abc",
            "PAYOUT_DB_POOL_MAX_SIZE is 'abc': expected a whole number from 2 to 50",
        ),
        (
            "SUMMARY_SCHEDULE",
            "0 6 * * *",
            "SUMMARY_SCHEDULE is '0 6 * * *': expected an NCRONTAB schedule of 6 fields, "
            "seconds first (0 0 6 * * * is 06:00 UTC daily)",
        ),
        (
            "PAYOUT_HOST_POLL_INTERVAL_SECONDS",
            "inf",
            "PAYOUT_HOST_POLL_INTERVAL_SECONDS is 'inf': expected a number of seconds above 0",
        ),
        (
            "MisStorage",
            "AccountName=x;AccountKey=c2VjcmV0;Endpoint Suffix",
            "MisStorage is 'AccountName=x;AccountKey=***;Endpoint Suffix': expected a storage "
            "connection string (AccountName=…;AccountKey=…, BlobEndpoint=…, or "
            "UseDevelopmentStorage=true)",
        ),
        (
            "PAYOUT_DATABASE_URL",
            "postgres//ledger:hunter2@db/payout",
            "PAYOUT_DATABASE_URL is 'postgres//ledger:hunter2@db/payout': expected a "
            "PostgreSQL URL (postgresql://USER@HOST:5432/DATABASE) or key=value connection "
            "string",
        ),
        (
            "PAYOUT_DATABASE_URL",
            "postgresql://ledger:hunter2@db/pay out",
            "PAYOUT_DATABASE_URL is 'postgresql://ledger:***@db/pay out': expected a PostgreSQL "
            "URL (postgresql://USER@HOST:5432/DATABASE) or key=value connection string",
        ),
    ],
)
def test_the_sentence_says_what_is_expected_and_never_repeats_a_key(
    setting: str,
    value: str,
    sentence: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PAYOUT_STATE_DIR", str(tmp_path))
    monkeypatch.setenv(setting, value)
    assert payout.main(["summary"]) == 2
    assert capsys.readouterr().err == f"error: {sentence}\n"


def test_several_bad_settings_are_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAYOUT_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("MIS_CONTAINER", "MIS_Inbox")
    monkeypatch.setenv("PAYOUT_EMAIL_TO", "finance")
    assert payout.main(["process", "x.csv"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "MIS_CONTAINER is 'MIS_Inbox': expected a container name" in error
    assert "; PAYOUT_EMAIL_TO is 'finance': expected e-mail addresses" in error


def test_the_payout_program_itself_prints_the_sentence_not_a_traceback(tmp_path: Path) -> None:
    environment = {**os.environ, "PAYOUT_DB_POOL_MAX_SIZE": "abc"}
    environment["PAYOUT_STATE_DIR"] = str(tmp_path)
    finished = subprocess.run(
        [str(Path(sys.executable).with_name("payout")), "rules", "load", "rules.csv"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2
    assert finished.stderr == (
        "error: PAYOUT_DB_POOL_MAX_SIZE is 'abc': expected a whole number from 2 to 50\n"
    )
