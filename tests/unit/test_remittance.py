"""Money in, pure: reading remittance files and matching each row to what is owed
(SPEC §9). Every row gets exactly one outcome, and a re-delivered row is a duplicate."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payout_core.engine import remittance
from payout_core.engine.banks import BankProfile, BankProfiles
from payout_core.errors import ReconciliationFileError
from tests.unit.engine_support import STANDARD_BANKS, write

HEADER = "TrackingId,Amount,PaidOn,Reference"
BANK_C = BankProfiles(
    BankProfile(None),
    {"Bank_E": BankProfile("Bank_E", "%Y-%m-%d", {"TrackingId": "ApplicationRef"})},
)


def owed(*leads: tuple[str, str, int, int]) -> pl.DataFrame:
    """(lead_id, bank, expected payin minor, received before minor)."""
    return pl.DataFrame(list(leads), schema=remittance.OWED_SCHEMA, orient="row")


def recorded(*references: tuple[str | None, str]) -> pl.DataFrame:
    return pl.DataFrame(list(references), schema=remittance.RECORDED_SCHEMA, orient="row")


def reconcile_text(
    tmp_path: Path,
    text: str,
    leads: pl.DataFrame | None = None,
    references: pl.DataFrame | None = None,
    profiles: BankProfiles = STANDARD_BANKS,
) -> pl.DataFrame:
    path = write(tmp_path, text, "remittance.csv")
    layout = remittance.inspect_layout(path, path.name, profiles)
    rows = remittance.read_rows(path, layout)
    return remittance.reconcile(
        rows,
        owed() if leads is None else leads,
        recorded() if references is None else references,
    )


def outcomes(reconciled: pl.DataFrame) -> list[str]:
    return reconciled.get_column("outcome").to_list()


LEAD_A = ("AT-91961", "Bank_A", 250000, 0)  # owes 2500.00


@pytest.mark.parametrize(
    ("amount", "outcome", "reason"),
    [
        ("2500", "matched", None),
        ("2500.00", "matched", None),
        ("1000", "short", "1000.00 received of 2500.00 owed: 1500.00 short"),
        ("2600.5", "over", "2600.50 received, 2500.00 owed: 100.50 over"),
    ],
)
def test_an_amount_is_matched_to_the_payin_owed(
    tmp_path: Path, amount: str, outcome: str, reason: str | None
) -> None:
    text = f"{HEADER}\nKYC_new_AT-91961,{amount},5 10 2023,UTR-1\n"
    [row] = reconcile_text(tmp_path, text, owed(LEAD_A)).to_dicts()
    assert (row["outcome"], row["reason"], row["owed_minor"]) == (outcome, reason, 250000)
    assert row["source_type"] == "Bank_A"


def test_what_was_received_before_counts_and_rows_of_one_file_add_up(tmp_path: Path) -> None:
    text = (
        f"{HEADER}\n"
        "KYC_new_AT-91961,500,5 10 2023,UTR-1\n"  # 2000 owed (500 received before): short
        "KYC_new_AT-91961,2000,6 10 2023,UTR-2\n"  # the 1500 left: over by 500
        "KYC_new_AT-91961,1,7 10 2023,UTR-3\n"  # nothing owed any more
    )
    reconciled = reconcile_text(tmp_path, text, owed(("AT-91961", "Bank_A", 250000, 50000)))
    assert outcomes(reconciled) == ["short", "over", "unexpected"]
    assert reconciled.get_column("owed_minor").to_list() == [200000, 150000, -50000]
    assert "nothing is owed for AT-91961" in reconciled.get_column("reason")[2]


def test_a_lead_that_is_not_shiftpays_or_owes_nothing_is_unexpected(tmp_path: Path) -> None:
    text = (
        f"{HEADER}\n"
        "KYC_new_AT-ZZ001,100,5 10 2023,UTR-1\n"  # no such lead
        "KYC_new_AT-PEND1,100,5 10 2023,UTR-2\n"  # a lead with no payin yet
        "KYC_new_AT-OVER1,100,5 10 2023,UTR-3\n"  # over-received after a negative adjustment
    )
    leads = owed(("AT-PEND1", "Bank_A", 0, 0), ("AT-OVER1", "Bank_A", 240000, 250000))
    reconciled = reconcile_text(tmp_path, text, leads)
    assert outcomes(reconciled) == ["unexpected"] * 3
    assert reconciled.get_column("reason")[0] == "AT-ZZ001 is not a ShiftPay lead"
    assert reconciled.get_column("source_type").to_list() == [None, "Bank_A", "Bank_A"]


def test_a_row_stating_another_bank_than_the_leads_is_unexpected(tmp_path: Path) -> None:
    text = (
        "SourceType,TrackingId,Amount,PaidOn,Reference\nBank_B,KYC_new_AT-91961,2500,5 10 2023,U1\n"
    )
    [row] = reconcile_text(tmp_path, text, owed(LEAD_A)).to_dicts()
    assert (row["outcome"], row["source_type"]) == ("unexpected", "Bank_B")
    assert row["reason"] == "AT-91961 is a lead of Bank_A, not of Bank_B"


def test_a_reference_already_recorded_for_the_bank_is_a_duplicate(tmp_path: Path) -> None:
    text = f"{HEADER}\nKYC_new_AT-91961,2500,5 10 2023,UTR-1\n"
    [row] = reconcile_text(tmp_path, text, owed(LEAD_A), recorded(("Bank_A", "UTR-1"))).to_dicts()
    assert row["outcome"] == "duplicate"
    assert row["reason"] == "Reference 'UTR-1' is already recorded for Bank_A"
    # The same reference from another bank is another payment.
    [row] = reconcile_text(tmp_path, text, owed(LEAD_A), recorded(("Bank_B", "UTR-1"))).to_dicts()
    assert row["outcome"] == "matched"


def test_a_re_delivered_unexpected_row_is_a_duplicate_even_without_a_bank(tmp_path: Path) -> None:
    text = f"{HEADER}\nKYC_new_AT-ZZ001,100,5 10 2023,UTR-9\n"
    first = reconcile_text(tmp_path, text)
    assert outcomes(first) == ["unexpected"]
    again = reconcile_text(tmp_path, text, references=recorded((None, "UTR-9")))
    assert outcomes(again) == ["duplicate"]


def test_a_reference_repeated_in_the_file_counts_once(tmp_path: Path) -> None:
    text = (
        f"{HEADER}\n"
        "KYC_new_AT-91961,2500,5 10 2023,UTR-1\n"
        "KYC_new_AT-91961,2500,5 10 2023,UTR-1\n"
        "KYC_new_AT-91961,2500,5 10 2023,\n"  # invalid: its reference is no payment
    )
    reconciled = reconcile_text(tmp_path, text, owed(LEAD_A))
    assert outcomes(reconciled) == ["matched", "duplicate", "invalid"]
    assert reconciled.get_column("reason")[1] == "Reference 'UTR-1' appears earlier in this file"
    assert remittance.received_total_minor(reconciled) == 250000


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (",2500,5 10 2023,U", "TrackingId is blank"),
        ("AT-9196,2500,5 10 2023,U", "TrackingId 'AT-9196' is shorter than a LeadId"),
        ("KYC_new_AT-91961,,5 10 2023,U", "Amount is blank"),
        ("KYC_new_AT-91961,2.500,5 10 2023,U", "Amount '2.500' has more than 2 decimal places"),
        ("KYC_new_AT-91961,-10,5 10 2023,U", "Amount '-10' has a sign"),
        ("KYC_new_AT-91961,1e3,5 10 2023,U", "Amount '1e3' is in exponent form"),
        ("KYC_new_AT-91961,2500,5 10 2023,U,extra", "the row has 5 cells but the header has 4"),
        ("KYC_new_AT-91961,0.00,5 10 2023,U", "Amount is 0: not a payment"),
        ("KYC_new_AT-91961,2500,,U", "PaidOn is blank"),
        ("KYC_new_AT-91961,2500,31 02 2023,U", "PaidOn '31 02 2023' is not a date"),
        ("KYC_new_AT-91961,2500,5 10 2023,", "Reference is blank"),
        (f"KYC_new_AT-91961,2500,5 10 2023,{'R' * 201}", "Reference is longer than 200"),
    ],
)
def test_an_unreadable_cell_makes_the_row_invalid_with_its_reason(
    tmp_path: Path, row: str, reason: str
) -> None:
    [reconciled] = reconcile_text(tmp_path, f"{HEADER}\n{row}\n", owed(LEAD_A)).to_dicts()
    assert reconciled["outcome"] == "invalid"
    assert reconciled["reason"].startswith(reason)


def test_paid_on_may_be_the_banks_format_or_iso(tmp_path: Path) -> None:
    text = f"{HEADER}\nKYC_new_AT-91961,1,5 10 2023,U1\nKYC_new_AT-91961,1,2023-10-05,U2\n"
    reconciled = reconcile_text(tmp_path, text, owed(LEAD_A))
    assert reconciled.get_column("paid_on").dt.to_string().to_list() == ["2023-10-05"] * 2


def test_a_bank_with_its_own_names_is_recognised_by_its_header(tmp_path: Path) -> None:
    text = "ApplicationRef,Amount,PaidOn,Reference\nAPP-2023-AT-CX1A9,1900,2023-10-06,C-1\n"
    leads = owed(("AT-CX1A9", "Bank_E", 190000, 0))
    [row] = reconcile_text(tmp_path, text, leads, profiles=BANK_C).to_dicts()
    assert (row["outcome"], row["source_type"]) == ("matched", "Bank_E")


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        (
            "TrackingId,Amount,Reference\nKYC_new_AT-91961,1,U\n",
            "missing for the standard layout: PaidOn",
        ),
        (f"{HEADER}\n", "the file has a header row and no data rows"),
        ("", "the file is empty"),
        ("\x00\x01PK\x03\x04", ""),  # refused, whichever cause the MIS reader names
    ],
)
def test_a_file_that_cannot_be_read_is_refused_naming_the_cause(
    tmp_path: Path, text: str, cause: str
) -> None:
    path = write(tmp_path, text, "bank_a_remittance.csv")
    with pytest.raises(ReconciliationFileError) as caught:
        layout = remittance.inspect_layout(path, path.name, STANDARD_BANKS)
        remittance.read_rows(path, layout)
    assert caught.value.mis_file == "bank_a_remittance.csv"
    assert cause in caught.value.cause


def test_every_outcome_is_counted_zeros_included(tmp_path: Path) -> None:
    reconciled = reconcile_text(tmp_path, f"{HEADER}\nKYC_new_AT-91961,2500,5 10 2023,U\n")
    assert remittance.outcome_counts(reconciled) == {
        "invalid": 0,
        "duplicate": 0,
        "unexpected": 1,
        "short": 0,
        "over": 0,
        "matched": 0,
    }


LEAD_IDS = ["AT-00001", "AT-00002", "AT-00003"]
ROW = st.tuples(
    st.sampled_from([*LEAD_IDS, "AT-ZZZZZ", ""]),
    st.sampled_from(["0", "1", "500", "1000.5", "2500", "x", ""]),
    st.sampled_from(["R1", "R2", "R3", "R4", ""]),
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(ROW, min_size=1, max_size=25), received=st.integers(0, 300000))
def test_rows_in_equal_the_sum_of_outcomes_and_re_delivery_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str, str]], received: int
) -> None:
    tmp_path = tmp_path_factory.mktemp("remittance")
    lines = [f"KYC_{lead},{amount},5 10 2023,{ref}" for lead, amount, ref in rows]
    text = HEADER + "\n" + "".join(f"{line}\n" for line in lines)
    leads = owed(*((lead_id, "Bank_A", 250000, received) for lead_id in LEAD_IDS))
    first = reconcile_text(tmp_path, text, leads)
    counts = remittance.outcome_counts(first)
    assert sum(counts.values()) == len(rows)
    # What was received once is recorded; delivering the file again receives nothing.
    receipts = first.filter(pl.col("outcome").is_in(remittance.RECEIVED_OUTCOMES))
    assert receipts.select("source_type", "reference").is_unique().all()
    references = receipts.select("source_type", "reference")
    again = reconcile_text(tmp_path, text, leads, references)
    assert set(outcomes(again)) <= {"invalid", "duplicate"}
    assert remittance.received_total_minor(again) == 0
