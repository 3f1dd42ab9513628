"""Money out, pure: the wallet team's confirmation rows, one outcome each (SPEC §9)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from payout_core.engine import confirmations
from payout_core.errors import ReconciliationFileError
from tests.unit.engine_support import write

HEADER = "CreditId,Status,Reference,Reason"


def credits(*rows: tuple[str, str | None, str | None]) -> pl.DataFrame:
    """(credit_id, recorded status or None, recorded reference or None)."""
    return pl.DataFrame(list(rows), schema=confirmations.CREDITS_SCHEMA, orient="row")


def reconcile(tmp_path: Path, text: str, known: pl.DataFrame) -> pl.DataFrame:
    read = confirmations.read_file(write(tmp_path, text, "wallet.csv"), "wallet.csv")
    return confirmations.reconcile(read.rows, known)


SENT = credits(("CR-000001-0001", None, None), ("CR-000001-0002", None, None))


def test_each_row_gets_one_outcome(tmp_path: Path) -> None:
    text = (
        f"{HEADER}\n"
        "CR-000001-0001,success,WAL-1,\n"
        "CR-000001-0002, Failed ,,account closed\n"
        "CR-000009-0001,success,WAL-2,\n"  # no such credit
        "CR-000001-0001,success,WAL-1,\n"  # again in the same file
        ",success,WAL-3,\n"
        "CR-000001-0002,pending,,\n"
        "CR-000001-0002,success,,\n"  # a success names its transfer
        "CR-000001-0002,success,W,extra,cell\n"
    )
    reconciled = reconcile(tmp_path, text, SENT)
    assert reconciled.get_column("outcome").to_list() == [
        "confirmed",
        "failed",
        "unknown",
        "duplicate",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
    ]
    reasons = reconciled.get_column("outcome_reason").to_list()
    assert reasons[1] == "account closed"
    assert reasons[2] == "CreditId 'CR-000009-0001' is not a wallet credit of any cycle"
    assert reasons[3] == "CR-000001-0001 appears earlier in this file"
    assert reasons[4:] == [
        "CreditId is blank",
        "Status 'pending' is neither 'success' nor 'failed'",
        "Reference is blank: a success names the transfer",
        "the row has 5 cells, more than the header",
    ]
    assert confirmations.outcome_counts(reconciled) == {
        "confirmed": 1,
        "failed": 1,
        "unknown": 1,
        "duplicate": 1,
        "invalid": 4,
    }


def test_a_credit_already_answered_is_a_duplicate_and_a_contradiction_says_so(
    tmp_path: Path,
) -> None:
    answered = credits(("CR-000001-0001", "failed", None), ("CR-000001-0002", "success", "W-2"))
    text = f"{HEADER}\nCR-000001-0001,success,WAL-1,\nCR-000001-0002,success,W-2,\n"
    reconciled = reconcile(tmp_path, text, answered)
    assert reconciled.get_column("outcome").to_list() == ["duplicate", "duplicate"]
    first, second = reconciled.get_column("outcome_reason").to_list()
    assert "already recorded as failed" in first and "check with the wallet team" in first
    assert second == "CR-000001-0002 is already recorded as success"


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("CreditId,Status\nCR-1,success\n", "layout: Reference, Reason"),
        (f"{HEADER}\n", "no data rows"),
        ("PK\x03\x04binary", "not a CSV text file"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused(tmp_path: Path, text: str, cause: str) -> None:
    with pytest.raises(ReconciliationFileError) as caught:
        confirmations.read_file(write(tmp_path, text, "wallet.csv"), "wallet.csv")
    assert cause in caught.value.cause
