"""Remittance and confirmation rows as finance expects them read (issue 21, items 7, 11, 12):
PaidOn in a sane window and in the ISO 8601 the README promises, References that are
printable text, no bank invented by a typo, a repeated unknown credit counted once, and one
wallet transfer never confirming two credits."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from payout_core.engine import confirmations, remittance
from tests.unit.engine_support import STANDARD_BANKS

NOW = dt.datetime(2023, 10, 10, 20, 0, tzinfo=dt.UTC)  # 11 October already in UTC+14
REMITTANCE_HEADER = "TrackingId,Amount,PaidOn,Reference"
OWES_2500 = pl.DataFrame(
    [("AT-91961", "Bank_A", 250_000, 0)], schema=remittance.OWED_SCHEMA, orient="row"
)
NOTHING_RECORDED = pl.DataFrame(schema=remittance.RECORDED_SCHEMA)


def excel_csv(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


def remittance_rows(tmp_path: Path, *lines: str, header: str = REMITTANCE_HEADER) -> pl.DataFrame:
    path = excel_csv(tmp_path, "bank_a_remittance.csv", header, *lines)
    layout = remittance.inspect_layout(path, path.name, STANDARD_BANKS)
    return remittance.read_rows(path, layout, remittance.latest_paid_on(NOW))


def reasons(rows: pl.DataFrame) -> list[str | None]:
    return rows.get_column("invalid_reason").to_list()


@pytest.mark.parametrize(
    ("paid_on", "day"),
    [
        ("2023-10-05T10:00:00+05:30", dt.date(2023, 10, 5)),
        ("2023-10-05T01:00:00+05:30", dt.date(2023, 10, 5)),  # the day as written
        ("2023-10-05 23:59:59.123Z", dt.date(2023, 10, 5)),
        ("2023-10-05T10:00:00", dt.date(2023, 10, 5)),
        ("2023-10-05", dt.date(2023, 10, 5)),
        ("5 10 2023", dt.date(2023, 10, 5)),
    ],
)
def test_paid_on_is_read_in_iso_8601_with_time_and_offset(tmp_path, paid_on, day):
    rows = remittance_rows(tmp_path, f'"KYC_AT-91961","2500","{paid_on}","UTR-1"')
    assert rows.get_column("paid_on").to_list() == [day]
    assert reasons(rows) == [None]


def test_paid_on_outside_a_sane_window_is_invalid_with_its_reason(tmp_path):
    rows = remittance_rows(
        tmp_path,
        "KYC_AT-91961,2500,1 1 1900,UTR-1",
        "KYC_AT-91961,2500,5 10 2099,UTR-2",
        "KYC_AT-91961,2500,2023-10-11T00:30:00+05:30,UTR-3",
        "KYC_AT-91961,2500,11 10 2023,UTR-4",
        "KYC_AT-91961,2500,12 10 2023,UTR-5",
    )
    found = reasons(rows)
    assert found[0] == (
        "PaidOn '1 1 1900' is before 01 01 2000: no payin is that old (a spreadsheet's empty date?)"
    )
    assert found[1] == (
        "PaidOn '5 10 2099' is after today: a payment cannot have been made on a later day"
    )
    assert found[2:4] == [None, None]
    assert found[4] is not None and "after today" in found[4]
    reconciled = remittance.reconcile(rows, OWES_2500, NOTHING_RECORDED)
    assert reconciled.get_column("outcome").to_list()[:2] == ["invalid", "invalid"]


def test_today_is_the_day_furthest_ahead_on_earth():
    assert remittance.latest_paid_on(NOW) == dt.date(2023, 10, 11)
    early_morning_utc = dt.datetime(2023, 10, 10, 1, tzinfo=dt.UTC)
    assert remittance.latest_paid_on(early_morning_utc) == dt.date(2023, 10, 10)


@pytest.mark.parametrize("reference", ["UTR\x1b[31m-1", "UTR-\x07-2", "UTR\u200b-3", "UTR\x9b31m"])
def test_a_reference_with_control_or_invisible_characters_is_refused(tmp_path, reference):
    rows = remittance_rows(tmp_path, f'"KYC_AT-91961","2500","5 10 2023","{reference}"')
    reconciled = remittance.reconcile(rows, OWES_2500, NOTHING_RECORDED)
    assert reconciled.get_column("outcome").to_list() == ["invalid"]
    assert "control or invisible character" in reconciled.get_column("reason")[0]


def test_a_remittance_naming_a_bank_nobody_has_is_invalid(tmp_path):
    rows = remittance_rows(
        tmp_path,
        "Bank_Zzz,KYC_AT-91961,2500,5 10 2023,UTR-1",
        "Bank_A,KYC_AT-91961,2500,5 10 2023,UTR-2",
        header="SourceType," + REMITTANCE_HEADER,
    )
    reconciled = remittance.reconcile(
        rows, OWES_2500, NOTHING_RECORDED, unknown_banks=frozenset({"Bank_Zzz"})
    )
    assert reconciled.get_column("outcome").to_list() == ["invalid", "matched"]
    assert reconciled.get_column("reason")[0] == (
        "SourceType 'Bank_Zzz' is no bank ShiftPay knows (no lead, rule or bank profile has it)"
    )


# --- money out -------------------------------------------------------------------------------

CONFIRMATION_HEADER = "CreditId,Status,Reference,Reason"
SENT = pl.DataFrame(
    [
        ("CR-000001-0001", None, None),
        ("CR-000001-0002", None, None),
        ("CR-000001-0003", None, None),
    ],
    schema=confirmations.CREDITS_SCHEMA,
    orient="row",
)


def confirm(tmp_path: Path, *lines: str, references: pl.DataFrame | None = None) -> pl.DataFrame:
    path = excel_csv(tmp_path, "wallet_cycle_1.csv", CONFIRMATION_HEADER, *lines)
    read = confirmations.read_file(path, path.name)
    return confirmations.reconcile(read.rows, SENT, references)


def test_an_unknown_credit_id_repeated_in_a_file_counts_once(tmp_path):
    reconciled = confirm(
        tmp_path,
        "CR-000009-0001,success,WAL-1,",
        "CR-000009-0001,success,WAL-1,",
        "CR-000009-0001,failed,,",
    )
    assert confirmations.outcome_counts(reconciled) == {
        "confirmed": 0,
        "failed": 0,
        "unknown": 1,
        "duplicate": 2,
        "invalid": 0,
    }
    assert (
        reconciled.get_column("outcome_reason")[1] == "CR-000009-0001 appears earlier in this file"
    )


def test_two_credits_confirmed_with_one_wallet_reference_are_reported(tmp_path):
    reconciled = confirm(
        tmp_path,
        '"CR-000001-0001","success","WAL-7",""',
        '"CR-000001-0002","success","WAL-7",""',
        '"CR-000001-0003","success","WAL-9",""',
        references=pl.DataFrame(
            [("WAL-9", "CR-000000-0004")], schema=confirmations.REFERENCES_SCHEMA, orient="row"
        ),
    )
    assert reconciled.get_column("outcome").to_list() == ["confirmed", "invalid", "invalid"]
    assert reconciled.get_column("outcome_reason").to_list()[1:] == [
        "Reference 'WAL-7' already confirms CR-000001-0001: one transfer cannot pay two credits; "
        "CR-000001-0002 is not recorded, check with the wallet team",
        "Reference 'WAL-9' already confirms CR-000000-0004: one transfer cannot pay two credits; "
        "CR-000001-0003 is not recorded, check with the wallet team",
    ]


def test_a_redelivered_confirmation_is_a_duplicate_not_a_reused_reference(tmp_path):
    answered = pl.DataFrame(
        [("CR-000001-0001", "success", "WAL-7")], schema=confirmations.CREDITS_SCHEMA, orient="row"
    )
    path = excel_csv(tmp_path, "wallet.csv", CONFIRMATION_HEADER, "CR-000001-0001,success,WAL-7,")
    read = confirmations.read_file(path, path.name)
    in_use = pl.DataFrame(
        [("WAL-7", "CR-000001-0001")], schema=confirmations.REFERENCES_SCHEMA, orient="row"
    )
    reconciled = confirmations.reconcile(read.rows, answered, in_use)
    assert reconciled.get_column("outcome").to_list() == ["duplicate"]


def test_a_wallet_reference_with_an_escape_is_refused_and_a_reason_cleaned(tmp_path):
    reconciled = confirm(
        tmp_path,
        "CR-000001-0001,success,WAL\x1b[2J-1,",
        '"CR-000001-0002","failed","","account\tclosed\x1b[0m"',
    )
    assert reconciled.get_column("outcome").to_list() == ["invalid", "failed"]
    assert "control or invisible character" in reconciled.get_column("outcome_reason")[0]
    assert reconciled.get_column("reason")[1] == "account closed\ufffd[0m"
