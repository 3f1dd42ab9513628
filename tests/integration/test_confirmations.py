"""Money out on real PostgreSQL, through the CLI: the wallet team's confirmations, a failed
credit sent again in the next cycle and confirmed, an unknown CreditId, re-delivery, and
a credit that failed 3 times held for a person."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from payout_cli import commands
from payout_core.flows.unit_of_work import Context
from tests.integration.reconciliation_rows import paid
from tests.integration.sample_ledger import query, race

pytestmark = pytest.mark.integration

HEADER = "CreditId,Status,Reference,Reason"


@pytest.fixture
def two_credits(loaded: str, capsys: pytest.CaptureFixture[str]) -> dict[str, dict]:
    """Cycle 1 with one credit for SP1001 (1500.00) and one for SP1002 (1000.00)."""
    paid(loaded, "AT-91961", "2500.00", payout="1500.00")  # SP1001
    paid(loaded, "AT-4K7PQ", "1500.00", payout="1000.00")  # SP1002
    assert commands.main(["summary"]) == 0
    capsys.readouterr()
    return {credit["sp_id"]: credit for credit in credits(capsys)}


def credits(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    assert commands.main(["credits", "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def confirm(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, *rows: str
) -> tuple[int, dict]:
    path = tmp_path / name
    path.write_text(HEADER + "\n" + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    exit_code = commands.main(["confirmations", "--json", str(path)])
    [line] = capsys.readouterr().out.splitlines()
    return exit_code, json.loads(line)


def outcomes(**counts: int) -> dict[str, int]:
    every = dict.fromkeys(("confirmed", "failed", "unknown", "duplicate", "invalid"), 0)
    return every | counts


def summary(capsys: pytest.CaptureFixture[str]) -> str:
    assert commands.main(["summary"]) == 0
    return capsys.readouterr().out


def test_confirmed_failed_unknown_and_a_re_delivered_file(
    loaded: str, two_credits: dict[str, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sp1, sp2 = two_credits["SP1001"]["credit_id"], two_credits["SP1002"]["credit_id"]
    rows = (
        f"{sp1},success,WAL-0001,",
        f"{sp2},FAILED,,wallet blocked",
        "CR-999999-0001,success,WAL-0003,",
        f"{sp1},success,,",  # a success without the transfer's reference
    )
    exit_code, result = confirm(capsys, tmp_path, "wallet_2026-11-22.csv", *rows)
    assert exit_code == 0
    assert result == {
        "file": "wallet_2026-11-22.csv",
        "rows": 4,
        "outcomes": outcomes(confirmed=1, failed=1, unknown=1, invalid=1),
    }
    statuses = {credit["credit_id"]: credit["status"] for credit in credits(capsys)}
    assert statuses == {sp1: "confirmed", sp2: "failed"}
    reasons = dict(query(loaded, "SELECT outcome, reason FROM confirmation_rejected_rows"))
    assert reasons["unknown"] == "CreditId 'CR-999999-0001' is not a wallet credit of any cycle"

    # Delivered again: nothing changes, the unknown CreditId is reported again.
    _, again = confirm(capsys, tmp_path, "wallet_2026-11-22.csv", *rows)
    assert again["outcomes"] == outcomes(duplicate=2, unknown=1, invalid=1)
    assert {c["credit_id"]: c["status"] for c in credits(capsys)} == statuses


def test_a_failed_credit_is_sent_again_next_cycle_and_confirmed(
    two_credits: dict[str, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = two_credits["SP1002"]
    confirm(capsys, tmp_path, "c1.csv", f"{failed['credit_id']},failed,,account closed")
    summary(capsys)
    [resent] = [c for c in credits(capsys) if c["cycle"] == 2]
    assert resent["replaces_credit_id"] == failed["credit_id"]
    assert (resent["sp_id"], resent["amount"], resent["status"]) == ("SP1002", "1000.00", "sent")

    _, result = confirm(capsys, tmp_path, "c2.csv", f"{resent['credit_id']},success,WAL-9,")
    assert result["outcomes"] == outcomes(confirmed=1)
    statuses = {c["credit_id"]: c["status"] for c in credits(capsys)}
    assert statuses[failed["credit_id"]] == "failed"
    assert statuses[resent["credit_id"]] == "confirmed"
    # Nothing more is sent for it.
    summary(capsys)
    assert [c for c in credits(capsys) if c["cycle"] == 3] == []


def test_a_credit_that_failed_3_times_is_held_for_a_person(
    two_credits: dict[str, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    credit_id = two_credits["SP1002"]["credit_id"]
    for attempt in range(1, 4):
        confirm(capsys, tmp_path, f"c{attempt}.csv", f"{credit_id},failed,,timeout")
        summary(capsys)
        latest = credits(capsys)[-1]
        if attempt < 3:
            assert latest["replaces_credit_id"] == credit_id
            credit_id = latest["credit_id"]
    assert latest["credit_id"] == credit_id  # the third failure was not sent again
    assert commands.main(["holds", "list", "--json"]) == 0
    [held] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (held["lead_id"], held["status"]) == ("AT-4K7PQ", "held")
    assert "failed 3 times" in held["reason"] + json.dumps(held)

    assert commands.main(["holds", "approve", str(held["event_id"]), "--by", "Finance Lead"]) == 0
    capsys.readouterr()
    summary(capsys)
    resent = credits(capsys)[-1]
    assert (resent["replaces_credit_id"], resent["amount"]) == (credit_id, "1000.00")


def test_racing_confirmation_files_answer_each_credit_once(
    loaded: str, two_credits: dict[str, dict], tmp_path: Path, context: Context
) -> None:

    from payout_core.flows import reconciliation_processing

    credit_id = two_credits["SP1001"]["credit_id"]
    paths = []
    for n in range(3):
        path = tmp_path / f"race{n}.csv"
        path.write_text(f"{HEADER}\n{credit_id},success,WAL-{n},\n")
        paths.append(path)
    results = race(
        lambda path: reconciliation_processing.process_confirmation_file(path, context=context),
        paths,
    )
    assert sorted(result.outcome_counts["confirmed"] for result in results) == [0, 0, 1]
    assert query(loaded, "SELECT count(*) FROM wallet_confirmations") == [(1,)]


def test_a_confirmation_file_that_cannot_be_read_is_recorded_as_an_error(
    loaded: str, two_credits: dict[str, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "wallet_broken.csv"
    broken.write_text("CreditId,Status\nCR-000001-0001,success\n")
    assert commands.main(["confirmations", "--json", str(broken)]) == 1
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["file"] == "wallet_broken.csv" and "Reference, Reason" in line["error"]
    [(mis,)] = query(loaded, "SELECT mis FROM error_logs")
    assert mis == "wallet_broken.csv"
