"""What cannot be read unambiguously is refused, naming what to fix (issue 21, items 6-7):
a column named twice in any input file, a rule amount the ledger cannot carry; and blank
lines are no rows at all. The inputs are shaped as Excel saves them (BOM, CRLF, quotes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from payout_core.engine import confirmations, leads, remittance, rules
from payout_core.errors import InputFileError, MisFileError, ReconciliationFileError
from tests.unit.engine_support import (
    LOAN,
    LOAN_HEADER,
    RULES_HEADER,
    STANDARD_BANKS,
    by_row,
    classify_file,
    leads_frame,
    pending,
)

BOM = "\ufeff"
LEADS_HEADER = "LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus"


def excel_csv(tmp_path: Path, name: str, *lines: str) -> Path:
    """A file as Excel's 'CSV UTF-8' writes it: BOM, CRLF line ends."""
    path = tmp_path / name
    path.write_bytes((BOM + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


# --- a column named twice -------------------------------------------------------------------


def read_mis(path: Path) -> None:
    classify_file(path, leads_frame(pending("AT-YXXWY", LOAN)))


def read_remittance(path: Path) -> None:
    remittance.inspect_layout(path, path.name, STANDARD_BANKS)


def read_confirmations(path: Path) -> None:
    confirmations.read_file(path, path.name)


LOAN_LINE = "Bank_B,Medium_A,Personal Loan,KYC_new_AT-YXXWY,50000,45000,43850,2 10 2023"


@pytest.mark.parametrize(
    ("reader", "header", "row", "named"),
    [
        (read_mis, LOAN_HEADER + ",DisbursedAmount", LOAN_LINE + ",99999999",
         "'DisbursedAmount' (columns 7, 9)"),
        # Spaces around a name: Polars' own renaming then failed with "new_columns".
        (read_mis, LOAN_HEADER + ", TrackingId ", LOAN_LINE + ",KYC_AT-OTHER1",
         "'TrackingId' (columns 4, 9)"),
        (read_remittance, "TrackingId,Amount,PaidOn,Reference,Amount",
         '"KYC_AT-91961","2500","5 10 2023","UTR-1","25"', "'Amount' (columns 2, 5)"),
        (read_confirmations, "CreditId,Status,Reference,Reason,Reference",
         "CR-000001-0001,success,WAL-1,,WAL-2", "'Reference' (columns 3, 5)"),
        (leads.read_leads_file, LEADS_HEADER + ",SPId",
         "2023-09-26 13:06:43,SP-1,AT-91961,Bank_A,Medium_A,Savings Account,Pending,,SP-2",
         "'SPId' (columns 2, 9)"),
    ],
)  # fmt: skip
def test_a_column_named_twice_is_refused_naming_it(tmp_path, reader, header, row, named):
    path = excel_csv(tmp_path, "input.csv", header, row)
    with pytest.raises((MisFileError, InputFileError)) as caught:
        reader(path)
    assert named in str(caught.value) and "more than once" in str(caught.value)
    assert "dtype" not in str(caught.value) and "new_columns" not in str(caught.value)


def test_excel_empty_trailing_columns_are_not_a_repeated_column(tmp_path):
    path = excel_csv(tmp_path, "bank_b.csv", LOAN_HEADER + ",,", LOAN_LINE + ",,")
    rows = by_row(classify_file(path, leads_frame(pending("AT-YXXWY", LOAN))))
    assert rows[1]["outcome"] == "paid"


def test_a_rules_file_with_kpi1_payout_amount_twice_is_refused():
    header = RULES_HEADER + ",KPI1PayoutAmount"
    row = "Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,1500,1000,2000,1000,500"
    text = f"{header}\r\n{row}{',' * (len(header.split(',')) - 13)}9\r\n"
    with pytest.raises(InputFileError) as caught:
        rules.parse_rules(BOM + text, "rules.csv")
    assert "'KPI1PayoutAmount'" in str(caught.value) and "more than once" in str(caught.value)


# --- rule amounts held to the MIS amounts' limit ----------------------------------------------


def savings_rule(kpi1_payout: str, window: str = "1 10 2023,3 10 2023") -> str:
    return (
        f"Bank_A,Medium_A,Savings Account,{window},,,1500,{kpi1_payout},2000,1000,500,"
        '"Account opened"'
    )


@pytest.mark.parametrize("amount", ["12345678901234", "12345678901234567", "10000000000"])
def test_a_rule_amount_larger_than_an_mis_amount_is_refused_naming_row_and_column(amount):
    second = savings_rule(f'"{amount}"', window="4 10 2023,5 10 2023")
    text = f"{RULES_HEADER}\r\n{savings_rule('1000')}\r\n{second}\r\n"
    with pytest.raises(InputFileError) as caught:
        rules.parse_rules(text, "rules.csv")
    assert caught.value.problems == [
        f"row 2: KPI1PayoutAmount '{amount}' is too large: a money amount is at most "
        "9,999,999,999.99 (as MIS amounts: 10 digits before the point)"
    ]


def test_the_largest_mis_amount_is_a_valid_rule_amount():
    loaded = rules.parse_rules(f"{RULES_HEADER}\n{savings_rule('9999999999.99')}\n", "rules.csv")
    assert str(loaded[0].kpi1_payout_amount) == "9999999999.99"


# --- blank lines are no rows ------------------------------------------------------------------


def test_blank_lines_in_an_mis_file_are_no_rows_and_rows_keep_their_numbers(tmp_path):
    path = excel_csv(
        tmp_path,
        "bank_b.csv",
        LOAN_HEADER,
        "Bank_B,Medium_A,Personal Loan,KYC_new_AT-YXXWY,50000,45000,43850,2 10 2023",
        "",
        ",,,,,,,",
        "Bank_B,Medium_A,Personal Loan,KYC_new_AT-C5N2E,50000,45000,40000,2 10 2023",
        " , , ,,,,,",
        "",
    )
    classified = classify_file(
        path, leads_frame(pending("AT-YXXWY", LOAN), pending("AT-C5N2E", LOAN))
    )
    assert classified.select("row_number", "outcome").rows() == [(1, "paid"), (4, "paid")]


def test_a_row_with_one_informational_cell_is_a_row_not_a_blank_line(tmp_path):
    path = excel_csv(
        tmp_path,
        "bank_b.csv",
        LOAN_HEADER,
        "Bank_B,Medium_A,Personal Loan,KYC_new_AT-YXXWY,50000,45000,43850,2 10 2023",
        ",,,,50000,,,",
    )
    rows = by_row(classify_file(path, leads_frame(pending("AT-YXXWY", LOAN))))
    assert rows[2]["outcome"] == "invalid"


def test_trailing_blank_lines_of_remittance_confirmation_and_leads_files_are_no_rows(tmp_path):
    remit = excel_csv(
        tmp_path,
        "remit.csv",
        "TrackingId,Amount,PaidOn,Reference",
        "KYC_AT-91961,2500,5 10 2023,U1",
        ",,,",
        "",
    )
    layout = remittance.inspect_layout(remit, remit.name, STANDARD_BANKS)
    assert remittance.read_rows(remit, layout).height == 1

    wallet = excel_csv(
        tmp_path,
        "wallet.csv",
        "CreditId,Status,Reference,Reason",
        "CR-000001-0001,success,W1,",
        ",,,",
    )
    assert confirmations.read_file(wallet, wallet.name).rows.height == 1

    export = excel_csv(
        tmp_path,
        "leads.csv",
        LEADS_HEADER,
        "2023-09-26 13:06:43,SP-1,AT-91961,Bank_A,Medium_A,Savings Account,Pending,",
        ",,,,,,,",
        "",
    )
    assert leads.read_leads_file(export).get_column("lead_id").to_list() == ["AT-91961"]

    rules_text = f"{RULES_HEADER}\r\n{savings_rule('1000')}\r\n{',' * RULES_HEADER.count(',')}\r\n"
    assert len(rules.parse_rules(rules_text, "rules.csv")) == 1


def test_a_remittance_file_of_blank_lines_only_is_refused(tmp_path):
    remit = excel_csv(tmp_path, "remit.csv", "TrackingId,Amount,PaidOn,Reference", ",,,", "")
    layout = remittance.inspect_layout(remit, remit.name, STANDARD_BANKS)
    with pytest.raises(ReconciliationFileError, match="no data rows"):
        remittance.read_rows(remit, layout)


# --- refusals in plain words, without internal names -----------------------------------------


def test_a_confirmation_file_missing_a_column_lists_only_its_own_header(tmp_path):
    wallet = excel_csv(
        tmp_path, "wallet.csv", "CreditId,Status,Reference", "CR-000001-0001,success,W1"
    )
    with pytest.raises(ReconciliationFileError) as caught:
        confirmations.read_file(wallet, wallet.name)
    assert caught.value.cause.endswith("the header has: CreditId, Status, Reference")
    assert "__" not in caught.value.cause


@pytest.mark.parametrize(
    "bad_line",
    [
        'SP-1,AT-91961,Bank_A,Medium_A,Savings Account,Pending,"Account" Opened',
        'SP-1,AT-91961,Bank_A,Medium_A,Savings Account,Pending,Account 2"',
    ],
)
def test_a_leads_export_polars_cannot_parse_is_refused_in_plain_words(tmp_path, bad_line):
    export = excel_csv(tmp_path, "leads.csv", LEADS_HEADER, f"2023-09-26 13:06:43,{bad_line}")
    with pytest.raises(InputFileError) as caught:
        leads.read_leads_file(export)
    message = str(caught.value)
    assert "row 1" in message and "double quote" in message, message
    for internal in ("CSV malformed", "expected 0 rows", "dtype", "row_offset"):
        assert internal not in message


def test_an_mis_cell_quoted_then_continued_names_its_row(tmp_path):
    path = excel_csv(
        tmp_path,
        "bank_b.csv",
        LOAN_HEADER,
        "Bank_B,Medium_A,Personal Loan,KYC_new_AT-YXXWY,50000,45000,43850,2 10 2023",
        'Bank_B,Medium_A,Personal Loan,KYC_new_AT-C5N2E,50000,45000,"40"000,2 10 2023',
    )
    with pytest.raises(MisFileError) as caught:
        classify_file(path, leads_frame(pending("AT-YXXWY", LOAN)))
    assert caught.value.cause.startswith("row 2 has a double quote in the middle of a cell")
    assert "dtype" not in caught.value.cause


def test_a_rule_with_a_blank_key_says_blank_not_pydantic(tmp_path):
    row = ',Medium_A,Savings Account,1 10 2023,3 10 2023,,,1500,1000,2000,1000,500,"x"'
    with pytest.raises(InputFileError) as caught:
        rules.parse_rules(f"{RULES_HEADER}\r\n{row}\r\n", "rules.csv")
    assert caught.value.problems == ["row 1: SourceType: is blank"]
