"""Real-shaped and malformed MIS files (tests/corpus/mis): what banks actually send is read
as SPEC §3.1 says, and nothing is ever read silently wrong (issue 11)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from payout_core.engine import calculate, dates, mis
from payout_core.engine.banks import BankProfilesError, load_bank_profiles, parse_bank_profiles
from payout_core.errors import MisFileError
from tests.unit.engine_support import (
    LOAN,
    SAVINGS_HEADER,
    by_row,
    classify_file,
    lead,
    leads_frame,
    mis_text,
    pending,
    savings_row,
    write,
)

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "corpus" / "mis"
SHIPPED_BANKS = load_bank_profiles(REPO / "config" / "banks.toml")


def corpus_leads() -> pl.DataFrame:
    savings = ["AT-91961", "AT-4K7PQ", "AT-Q2W3E", "AT-R4T5Y"]
    savings += [f"AT-{n:05d}" for n in range(1, 12)]
    return leads_frame(
        *(pending(lead_id) for lead_id in savings),
        pending("AT-YXXWY", LOAN),
        pending("AT-C5N2E", LOAN),
        lead("AT-CX1A9", source="Bank_E", medium="Medium_B"),
    )


def classify_corpus(name: str) -> dict[int, dict]:
    classified = classify_file(CORPUS / name, corpus_leads(), profiles=SHIPPED_BANKS)
    counts = calculate.outcome_counts(classified)
    assert sum(counts.values()) == classified.height  # every row lands in one outcome
    return by_row(classified)


def refused_cause(name: str) -> str:
    with pytest.raises(MisFileError) as caught:
        classify_file(CORPUS / name, corpus_leads(), profiles=SHIPPED_BANKS)
    assert caught.value.mis_file == name
    return caught.value.cause


# --- files that are not CSV: refused as a whole, with a plain reason ------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("gzip_named.csv", ["gzip", "not a CSV"]),
        ("xlsx_named.csv", ["ZIP", "xlsx"]),
        ("nul_junk.csv", ["NUL"]),
        ("binary_junk.csv", ["NUL"]),
        ("empty.csv", ["empty"]),
        ("header_only.csv", ["header row and no data rows"]),
        ("blank_lines_only.csv", ["no data rows"]),
        ("single_50kb_line.csv", ["header row and no data rows"]),
        ("cr_only.csv", ["carriage return"]),
        ("stray_quote.csv", ["row 1", "double quote", "never closed"]),
        ("no_header.csv", ["not a header row", "Bank_A"]),
        ("semicolon_separated.csv", ["semicolons"]),
    ],
)
def test_a_file_that_is_not_an_mis_csv_is_refused_with_a_plain_reason(name, words):
    cause = refused_cause(name)
    for word in words:
        assert word in cause, cause
    assert "ProductType is blank" not in cause
    assert "expected 0 rows" not in cause
    assert len(cause) < 400


def test_a_file_of_one_huge_line_is_refused_without_reading_it_whole(tmp_path):
    path = tmp_path / "one_line.csv"
    path.write_bytes(b"SourceType," + b"x" * (3 * 1024**2))
    with pytest.raises(MisFileError) as caught:
        mis.inspect_layout(path, path.name, SHIPPED_BANKS)
    assert "no line break" in caught.value.cause
    assert len(caught.value.cause) < 200


def test_nul_bytes_past_the_first_records_refuse_the_file(tmp_path):
    rows = [savings_row(f"AT-{n:05d}") for n in range(mis.LAYOUT_SAMPLE_BYTES // 50)]
    path = tmp_path / "late_nul.csv"
    path.write_bytes(mis_text(SAVINGS_HEADER, *rows).encode() + b"Bank_A,\x00\x00,x\n")
    with pytest.raises(MisFileError) as caught:
        classify_file(path, leads_frame(), batch_rows=1_000)
    assert "NUL" in caught.value.cause


# --- real-shaped files read right ----------------------------------------------------------


def test_an_excel_saved_csv_is_read_like_a_plain_one():
    """BOM, CRLF, every cell quoted, spaces around an amount, empty columns after the data."""
    rows = classify_corpus("excel_saved_bom_crlf.csv")
    assert [rows[n]["outcome"] for n in (1, 2, 3)] == ["paid", "paid", "paid"]
    assert rows[1]["total_payin_minor"] == 250_000
    assert rows[2]["total_payin_minor"] == 150_000
    assert rows[3]["amount_minor"] == 200_050  # " 2000.50 ": over the KPI2 bound
    assert rows[3]["total_payin_minor"] == 250_000
    assert len(rows) == 3


def test_an_unquoted_thousands_separator_makes_the_row_invalid_never_an_amount_of_2():
    rows = classify_corpus("ragged_unquoted_thousands.csv")
    assert rows[1]["outcome"] == "invalid"
    assert "7 cells" in rows[1]["reason"] and "header has 6" in rows[1]["reason"]
    assert rows[1]["amount_minor"] is None
    assert rows[1]["total_payin_minor"] is None
    assert rows[2]["outcome"] == "paid"
    assert rows[3]["outcome"] == "invalid"  # ",,note" after the last column
    assert "8 cells" in rows[3]["reason"]


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 40])
def test_longer_rows_are_found_in_every_piece_of_the_file(tmp_path, chunk_bytes):
    rows = [savings_row(f"AT-{n:05d}", "2 10 2023", "2616") for n in range(1, 8)]
    rows[4] = "Bank_A,Medium_A,Savings Account,KYC_new_AT-00005,2 10 2023,2,616"
    rows.append('Bank_A,Medium_A,Savings Account,"KYC_new_AT-00008",2 10 2023,"26,16",,')
    path = write(tmp_path, mis_text(SAVINGS_HEADER, *rows))
    layout = mis.inspect_layout(path, path.name, SHIPPED_BANKS)
    read = pl.concat(list(mis.read_batches(path, layout, 3, chunk_bytes=chunk_bytes)))
    reasons = dict(zip(read["row_number"], read["invalid_reason"], strict=True))
    assert "cells" in reasons[5]
    assert "thousands separator" in reasons[8]  # quoted: one cell, not ragged
    assert [n for n, reason in reasons.items() if reason is None] == [1, 2, 3, 4, 6, 7]


def test_trailing_blank_cells_lose_nothing_and_are_read(tmp_path):
    path = write(tmp_path, mis_text(SAVINGS_HEADER, savings_row("AT-00001") + ",,"))
    classified = classify_file(path, leads_frame(pending("AT-00001")))
    assert classified["outcome"].to_list() == ["paid"]


def test_a_quote_closed_on_the_next_line_never_pays_the_merged_row():
    """Legal CSV (a quoted cell may span lines), but it merged two rows: the TrackingId
    holds a line break and the amount of the next row; paying it would be silently wrong."""
    rows = classify_corpus("quote_closed_on_the_next_line.csv")
    assert len(rows) == 2
    assert rows[1]["outcome"] == "invalid" and "several lines" in rows[1]["reason"]
    assert rows[2]["outcome"] == "paid"


@pytest.mark.parametrize(
    ("name", "row", "words"),
    [
        ("quoted_thousands_no_separator_declared.csv", 1, ["2,616", "thousands separator"]),
        ("non_ascii_digits.csv", 1, ["२६१६", "ASCII"]),
        ("non_ascii_digits.csv", 2, ["２６１６", "ASCII"]),
        ("non_ascii_digits.csv", 3, ["AccountOpeningDate", "२ १० २०२३"]),
        ("personal_loan_non_ascii_digits.csv", 1, ["DisbursedAmount", "४३८५०"]),
        ("two_digit_year.csv", 1, ["AccountOpeningDate", "2 10 23"]),
        ("bank_e_row_in_standard_file.csv", 2, ["Bank_E", "standard layout"]),
    ],
)
def test_cells_outside_the_grammar_make_their_row_invalid_with_the_reason(name, row, words):
    rows = classify_corpus(name)
    assert rows[row]["outcome"] == "invalid"
    assert rows[row]["total_payin_minor"] is None
    for word in words:
        assert word in rows[row]["reason"], rows[row]["reason"]
    assert "missing" not in rows[row]["reason"]
    others = [number for number in rows if number != row]
    assert any(rows[number]["outcome"] == "paid" for number in others)


AMOUNT_GRAMMAR = {  # row of amount_grammar.csv -> (minor units, or words of the reason)
    1: "sign",  # +2616
    2: "sign",  # -5
    3: "exponent",  # 1e3
    4: "not ASCII",  # ₹2616
    5: "2 decimal",  # 2616.505
    6: "not an amount",  # 1.2.3
    7: "not an amount",  # 0x10
    8: "not an amount",  # "2 616"
    9: 261_600,  # 2616.
    10: 50,  # .5
    11: 261_600,  # "  2616  "
}


def test_the_amount_grammar_of_spec_3_1():
    rows = classify_corpus("amount_grammar.csv")
    for number, expected in AMOUNT_GRAMMAR.items():
        if isinstance(expected, int):
            assert rows[number]["amount_minor"] == expected, number
            assert rows[number]["invalid_reason"] is None
        else:
            assert rows[number]["outcome"] == "invalid", number
            assert expected in rows[number]["reason"], (number, rows[number]["reason"])


# --- bank profiles ----------------------------------------------------------------------------

THOUSANDS_TOML = """
[[bank]]
source_type = "Bank_A"
thousands_separator = ","
"""


@pytest.mark.parametrize(
    ("cell", "minor"),
    [
        ('"2,616"', 261_600),
        ('"1,00,000"', 10_000_000),
        ('"100,000.50"', 10_000_050),
        ("2616", 261_600),
        ('"26,16"', None),
        ('"2,6166"', None),
        ('",616"', None),
    ],
)
def test_a_declared_thousands_separator_reads_quoted_grouped_amounts(tmp_path, cell, minor):
    profiles = parse_bank_profiles(THOUSANDS_TOML, "banks.toml")
    path = write(tmp_path, mis_text(SAVINGS_HEADER, savings_row("AT-00001", "2 10 2023", cell)))
    classified = classify_file(path, leads_frame(pending("AT-00001")), profiles=profiles)
    assert classified["amount_minor"].to_list() == [minor]
    assert (classified["outcome"][0] == "invalid") is (minor is None)


def test_an_unquoted_grouped_amount_is_ragged_even_with_a_declared_separator(tmp_path):
    profiles = parse_bank_profiles(THOUSANDS_TOML, "banks.toml")
    path = write(tmp_path, mis_text(SAVINGS_HEADER, savings_row("AT-00001", "2 10 2023", "2,616")))
    classified = classify_file(path, leads_frame(pending("AT-00001")), profiles=profiles)
    assert classified["outcome"].to_list() == ["invalid"]
    assert "cells" in classified["reason"][0]


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('[[bank]]\nsource_type = "Bank_D"\ndate_fromat = "%Y-%m-%d"\n', ["date_fromat"]),
        ('[[bnak]]\nsource_type = "Bank_D"\n', ["bnak"]),
        ('[[bank]]\nsource_type = "Bank_D"\ndate_format = "%Y-%q-%d"\n', ["%q"]),
        ('[[bank]]\nsource_type = "Bank_D"\ndate_format = "%d/%m"\n', ["no year"]),
        ('[[bank]]\nsource_type = "Bank_D"\nthousands_separator = "."\n', ["thousands"]),
        ('[[bank]]\nsource_type = "Bank_D"\n[bank.columns]\nTrackingID = "Ref"\n', ["TrackingID"]),
        ('[[bank]]\nsource_type = "Bank_D"\n[bank.columns]\nTrackingId = ""\n', ["no header"]),
        ('[standard]\ndate_format = "%d %m %Y"\nfoo = 1\n', ["foo"]),
    ],
)
def test_a_broken_bank_profile_is_a_configuration_error_naming_the_problem(toml, words):
    with pytest.raises(BankProfilesError) as caught:
        parse_bank_profiles(toml, "config/banks.toml")
    message = str(caught.value)
    assert "config/banks.toml" in message
    for word in words:
        assert word in message, message


def test_a_bank_profile_may_allow_two_digit_years(tmp_path):
    profiles = parse_bank_profiles(
        '[[bank]]\nsource_type = "Bank_A"\ndate_format = "%d %m %y"\n', "banks.toml"
    )
    path = write(tmp_path, mis_text(SAVINGS_HEADER, savings_row("AT-00001", "2 10 23")))
    classified = classify_file(path, leads_frame(pending("AT-00001")), profiles=profiles)
    assert str(classified["event_date"][0]) == "2023-10-02"
    assert classified["outcome"].to_list() == ["paid"]


def test_rules_and_mis_read_dates_with_the_same_parser():
    for text in ("2 10 2023", "02 10 2023", "2 10 23", "31 02 2023", "२ १० २०२३", "2023-10-02"):
        frame = pl.DataFrame({"text": [text]})
        column = frame.select(dates.parse_dates(pl.col("text"), dates.STANDARD_DATE_FORMAT))
        assert dates.parse_date(text) == column.item()
    assert dates.parse_date("2 10 23") is None
    assert str(dates.parse_date("2 10 2023")) == "2023-10-02"


def test_the_rules_loader_refuses_a_two_digit_year_as_the_mis_reader_does():
    from payout_core.engine import rules
    from payout_core.errors import InputFileError
    from tests.unit.engine_support import RULES_HEADER

    text = f"{RULES_HEADER}\nBank_A,Medium_A,Savings Account,1 10 23,3 10 2023,,,1,1,1,1,1,x\n"
    with pytest.raises(InputFileError) as caught:
        rules.parse_rules(text, "rules.csv")
    assert "1 10 23" in str(caught.value)
