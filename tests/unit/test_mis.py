"""Reading MIS files: junk rows become `invalid` with a reason; unreadable files raise
one MisFileError naming the file and the cause (issue 3, "Bad input")."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payout_core.engine import calculate, mis
from payout_core.errors import MisFileError
from tests.unit.engine_support import (
    LOAN,
    LOAN_HEADER,
    SAVINGS_HEADER,
    STANDARD_BANKS,
    by_row,
    classify_file,
    leads_frame,
    loan_row,
    mis_text,
    pending,
    savings_row,
    write,
)

REPO = Path(__file__).resolve().parents[2]
# More rows than the first records read to tell a file's layout (a row is about 60 bytes).
ROWS_PAST_THE_SAMPLE = mis.LAYOUT_SAMPLE_BYTES // 50


def refused(path: Path, batch_rows: int = 1_000_000) -> MisFileError:
    with pytest.raises(MisFileError) as caught:
        classify_file(path, leads_frame(), batch_rows=batch_rows)
    error = caught.value
    assert error.mis_file == path.name
    assert path.name in str(error)
    return error


# --- rows that cannot be read: invalid, with a reason naming the column and value -----

JUNK_SAVINGS = [
    # (row, words the reason must contain)
    (savings_row(None, tracking_id=""), ["TrackingId", "blank"]),
    (savings_row(None, tracking_id="AT-9196"), ["TrackingId", "AT-9196"]),
    (savings_row("AT-00003", "31 02 2023"), ["AccountOpeningDate", "31 02 2023"]),
    (savings_row("AT-00004", "2023-10-02"), ["AccountOpeningDate", "2023-10-02"]),
    (savings_row("AT-00005", "32 10 2023"), ["AccountOpeningDate", "32 10 2023"]),
    (savings_row("AT-00006", "2 13 2023"), ["AccountOpeningDate", "2 13 2023"]),
    (savings_row("AT-00007", ""), ["AccountOpeningDate", "blank"]),
    (savings_row("AT-00008", "2 10 2023", "abc"), ["InvestedAmount", "abc"]),
    (savings_row("AT-00009", "2 10 2023", "-5"), ["InvestedAmount", "-5"]),
    (savings_row("AT-00010", "2 10 2023", "12.345"), ["InvestedAmount", "12.345"]),
    (savings_row("AT-00011", "2 10 2023", '"1,000"'), ["InvestedAmount", "1,000"]),
    (savings_row("AT-00012", "2 10 2023", ""), ["InvestedAmount", "blank"]),
    (savings_row("AT-00013", "2 10 2023", "1e3"), ["InvestedAmount", "1e3"]),
    (savings_row("AT-00014", "2 10 2023", "NaN"), ["InvestedAmount", "NaN"]),
    (savings_row("AT-00015", "2 10 2023", "12345678901"), ["InvestedAmount", "12345678901"]),
    ("Bank_A,Medium_A,Savings Account,KYC_new_AT-00016", ["AccountOpeningDate", "blank"]),
]


def test_junk_rows_are_invalid_with_reasons_and_the_rest_is_still_classified(tmp_path):
    good = [
        savings_row("AT-91961", "2 10 2023", "2616"),
        savings_row("AT-4K7PQ", "2 10 2023", "1299"),
    ]
    rows = [good[0], *(row for row, _ in JUNK_SAVINGS), good[1]]
    leads = leads_frame(
        pending("AT-91961"),
        pending("AT-4K7PQ"),
        *(pending(f"AT-{n:05d}") for n in range(1, 20)),
    )
    classified = classify_file(write(tmp_path, mis_text(SAVINGS_HEADER, *rows)), leads)
    assert classified.height == len(rows)
    by_number = by_row(classified)
    assert by_number[1]["outcome"] == "paid"
    assert by_number[len(rows)]["outcome"] == "paid"
    assert by_number[len(rows)]["total_payin_minor"] == 150_000
    for offset, (row, words) in enumerate(JUNK_SAVINGS, start=2):
        classified_row = by_number[offset]
        assert classified_row["outcome"] == "invalid", row
        for word in words:
            assert word in classified_row["reason"], (row, classified_row["reason"])
        assert classified_row["total_payin_minor"] is None
    counts = calculate.outcome_counts(classified)
    assert counts["invalid"] == len(JUNK_SAVINGS)
    assert counts["paid"] == 2
    assert sum(counts.values()) == len(rows)


def test_junk_loan_rows_name_the_loan_columns(tmp_path):
    rows = [
        loan_row("AT-00001", "abc"),
        loan_row("AT-00002", "43850", "2023-10-02"),
        loan_row("AT-00003", ""),
        loan_row("AT-00004", "43850", ""),
        loan_row("AT-00005", "43850"),
    ]
    classified = classify_file(
        write(tmp_path, mis_text(LOAN_HEADER, *rows)), leads_frame(pending("AT-00005", LOAN))
    )
    reasons = classified.sort("row_number")["reason"].to_list()
    assert "DisbursedAmount" in reasons[0] and "abc" in reasons[0]
    assert "LoanDisbursedDate" in reasons[1] and "2023-10-02" in reasons[1]
    assert "DisbursedAmount" in reasons[2]
    assert "LoanDisbursedDate" in reasons[3]
    assert classified.sort("row_number")["outcome"].to_list() == ["invalid"] * 4 + ["paid"]


def test_informational_loan_columns_with_junk_do_not_invalidate_the_row(tmp_path):
    row = "Bank_B,Medium_A,Personal Loan,KYC_new_AT-00001,n/a,,43850,2 10 2023"
    classified = classify_file(
        write(tmp_path, mis_text(LOAN_HEADER, row)), leads_frame(pending("AT-00001", LOAN))
    )
    assert classified["outcome"].to_list() == ["paid"]


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("2616", 261_600),
        ("2616.5", 261_650),
        ("2616.05", 261_605),
        ("0", 0),
        ("0.01", 1),
        ("007", 700),
        (" 2616 ", 261_600),
        ("9999999999.99", 999_999_999_999),
    ],
)
def test_amounts_are_read_exactly_into_minor_units(tmp_path, text, minor):
    classified = classify_file(
        write(tmp_path, mis_text(SAVINGS_HEADER, savings_row("AT-00001", "2 10 2023", text))),
        leads_frame(pending("AT-00001")),
    )
    assert classified["amount_minor"].to_list() == [minor]
    assert classified["outcome"].to_list() == ["paid"]


# --- LeadId, dates, headers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("tracking_id", "lead_id"),
    [
        ("KYC_new_AT-91961", "AT-91961"),
        ("AT-91961", "AT-91961"),
        ("X" * 30 + "AT-4K7PQ", "AT-4K7PQ"),
        ("  KYC_new_AT-91961  ", "AT-91961"),
    ],
)
def test_lead_id_is_the_last_8_characters_of_tracking_id(tmp_path, tracking_id, lead_id):
    classified = classify_file(
        write(tmp_path, mis_text(SAVINGS_HEADER, savings_row(None, tracking_id=tracking_id))),
        leads_frame(pending(lead_id)),
    )
    assert classified["lead_id"].to_list() == [lead_id]
    assert classified["outcome"].to_list() == ["paid"]


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2 10 2023", "2023-10-02"),
        ("02 10 2023", "2023-10-02"),
        ("3 10 2023", "2023-10-03"),
        ("1 10 2023", "2023-10-01"),
        ("29 2 2024", "2024-02-29"),
    ],
)
def test_one_and_two_digit_days_both_parse(tmp_path, text, iso):
    classified = classify_file(
        write(tmp_path, mis_text(SAVINGS_HEADER, savings_row("AT-00001", text))),
        leads_frame(pending("AT-00001")),
    )
    assert str(classified["event_date"][0]) == iso
    assert classified["invalid_reason"][0] is None


def test_whitespace_and_utf8_bom_in_header_and_cells_are_tolerated(tmp_path):
    header = (
        "\ufeff SourceType , MediumType ,ProductType,  TrackingId,"
        "AccountOpeningDate ,InvestedAmount "
    )
    row = " Bank_A , Medium_A , Savings Account , KYC_new_AT-91961 , 2 10 2023 , 2616 "
    path = tmp_path / "bom.csv"
    path.write_bytes(mis_text(header, row).encode("utf-8"))
    classified = classify_file(path, leads_frame(pending("AT-91961")))
    assert classified["outcome"].to_list() == ["paid"]
    assert classified["total_payin_minor"].to_list() == [250_000]


def test_windows_line_endings_are_tolerated(tmp_path):
    path = tmp_path / "crlf.csv"
    path.write_bytes(
        mis_text(
            SAVINGS_HEADER, savings_row("AT-91961"), savings_row("AT-4K7PQ", "2 10 2023", "1299")
        )
        .replace("\n", "\r\n")
        .encode("utf-8")
    )
    classified = classify_file(path, leads_frame(pending("AT-91961"), pending("AT-4K7PQ")))
    assert classified["outcome"].to_list() == ["paid", "paid"]
    assert classified["total_payin_minor"].to_list() == [250_000, 150_000]


def test_extra_columns_in_any_order_are_ignored(tmp_path):
    text = (
        "Notes,InvestedAmount,TrackingId,ProductType,AccountOpeningDate,MediumType,SourceType\n"
        "hello,2616,KYC_new_AT-91961,Savings Account,2 10 2023,Medium_A,Bank_A\n"
    )
    classified = classify_file(write(tmp_path, text), leads_frame(pending("AT-91961")))
    assert classified["outcome"].to_list() == ["paid"]


# --- files that cannot be read at all ---------------------------------------------------


def test_empty_file_is_refused(tmp_path):
    error = refused(write(tmp_path, "", "empty.csv"))
    assert "empty" in error.cause


def test_binary_junk_is_refused(tmp_path):
    path = tmp_path / "junk.csv"
    path.write_bytes(bytes(range(256)) * 8)
    error = refused(path)
    assert "UTF-8" in error.cause


def test_non_utf8_text_is_refused(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        mis_text(
            SAVINGS_HEADER,
            savings_row("AT-91961"),
            "Bank_A,Medium_A,Savings Account,KYC_new_AT-Ä1961,2 10 2023,2616",
        ).encode("latin-1")
    )
    error = refused(path)
    assert "UTF-8" in error.cause


def test_non_utf8_bytes_past_the_layout_sample_are_refused_not_lost(tmp_path):
    good = [savings_row(f"AT-{n:05d}") for n in range(ROWS_PAST_THE_SAMPLE)]
    path = tmp_path / "late_junk.csv"
    path.write_bytes(
        mis_text(SAVINGS_HEADER, *good).encode("utf-8")
        + b"Bank_A,Medium_A,Savings Account,KYC_new_AT-\xff1961,2 10 2023,2616\n"
    )
    refused(path, batch_rows=100)


@pytest.mark.parametrize(
    "missing", ["TrackingId", "AccountOpeningDate", "InvestedAmount", "SourceType", "MediumType"]
)
def test_missing_required_column_is_refused_naming_it(tmp_path, missing):
    columns = SAVINGS_HEADER.split(",")
    values = savings_row("AT-91961").split(",")
    keep = [i for i, column in enumerate(columns) if column != missing]
    text = mis_text(",".join(columns[i] for i in keep), ",".join(values[i] for i in keep))
    error = refused(write(tmp_path, text, "missing.csv"))
    assert missing in error.cause
    assert "missing" in error.cause


def test_missing_product_type_column_is_refused_naming_it(tmp_path):
    text = (
        "SourceType,MediumType,TrackingId,AccountOpeningDate,InvestedAmount\n"
        "Bank_A,Medium_A,KYC_new_AT-91961,2 10 2023,2616\n"
    )
    error = refused(write(tmp_path, text))
    assert "ProductType" in error.cause


def test_loan_file_missing_disbursed_amount_is_refused_naming_it(tmp_path):
    text = (
        "SourceType,MediumType,ProductType,TrackingId,LoanDisbursedDate\n"
        "Bank_B,Medium_A,Personal Loan,KYC_new_AT-YXXWY,2 10 2023\n"
    )
    error = refused(write(tmp_path, text))
    assert "DisbursedAmount" in error.cause


def test_unknown_product_is_refused_naming_it(tmp_path):
    error = refused(
        write(tmp_path, mis_text(SAVINGS_HEADER, savings_row("AT-1", product="Gold Loan")))
    )
    assert "Gold Loan" in error.cause


def test_shipped_broken_sample_with_unknown_product_is_refused():
    path = REPO / "samples" / "mis_broken" / "bank_a_unknown_product.csv"
    with pytest.raises(MisFileError) as caught:
        mis.inspect_layout(path, path.name, STANDARD_BANKS)
    assert "Gold Loan" in str(caught.value)
    assert path.name in str(caught.value)


def test_file_where_no_row_names_a_product_is_refused(tmp_path):
    error = refused(write(tmp_path, mis_text(SAVINGS_HEADER, savings_row("AT-91961", product=""))))
    assert "ProductType" in error.cause


@pytest.mark.parametrize("batch_rows", [1_000_000, 1])
def test_mixed_products_in_one_file_are_refused(tmp_path, batch_rows):
    text = mis_text(
        SAVINGS_HEADER,
        savings_row("AT-00001"),
        savings_row("AT-00002"),
        savings_row("AT-00003", product="Personal Loan"),
    )
    error = refused(write(tmp_path, text, "mixed.csv"), batch_rows=batch_rows)
    assert "Personal Loan" in error.cause
    assert "Savings Account" in error.cause
    assert "row 3" in error.cause


def test_mixed_products_beyond_the_layout_sample_are_refused(tmp_path):
    rows = [savings_row(f"AT-{n:05d}") for n in range(ROWS_PAST_THE_SAMPLE)]
    rows.append(savings_row("AT-99999", product="Personal Loan"))
    error = refused(write(tmp_path, mis_text(SAVINGS_HEADER, *rows)), batch_rows=500)
    assert "Personal Loan" in error.cause


def test_inspect_layout_reports_product_and_headers(tmp_path):
    path = write(tmp_path, mis_text(LOAN_HEADER, loan_row("AT-YXXWY")))
    layout = mis.inspect_layout(path, "x.csv", STANDARD_BANKS)
    assert layout.handler.product_type == LOAN
    assert layout.headers["TrackingId"] == "TrackingId"
    assert layout.headers["DisbursedAmount"] == "DisbursedAmount"
    batches = list(mis.read_batches(path, layout, 10))
    assert len(batches) == 1
    assert batches[0]["amount_minor"].to_list() == [4_385_000]


def test_read_batches_respects_batch_size_and_row_numbers(tmp_path):
    rows = [savings_row(f"AT-{n:05d}") for n in range(7)]
    path = write(tmp_path, mis_text(SAVINGS_HEADER, *rows))
    layout = mis.inspect_layout(path, path.name, STANDARD_BANKS)
    batches = list(mis.read_batches(path, layout, 3))
    assert all(batch.height <= 3 for batch in batches)
    assert pl.concat(batches)["row_number"].to_list() == list(range(1, 8))


# --- reading in chunks: a record is never cut, whatever the chunk size --------------------

cell_text = st.one_of(
    st.text(alphabet='ab ,"\n\r\t-é', max_size=12),
    st.sampled_from(["KYC_new_AT-91961", "2 10 2023", "2616"]),
)


def _csv_file(path: Path, header: list[str], rows: list[list[str]], line_end: str) -> Path:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator=line_end, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(cell_text, min_size=6, max_size=6), min_size=0, max_size=12),
    chunk_bytes=st.integers(1, 120),
    line_end=st.sampled_from(["\n", "\r\n"]),
)
def test_any_chunk_size_reads_the_same_rows_as_one_chunk(rows, chunk_bytes, line_end):
    """Quoted commas, quotes and line breaks inside cells stay inside their record when the
    file is read in pieces smaller than a record."""
    with tempfile.TemporaryDirectory() as folder:
        rows = [["Bank_A", "Medium_A", "Savings Account", *row[3:]] for row in rows]
        path = _csv_file(Path(folder) / "mis.csv", SAVINGS_HEADER.split(","), rows, line_end)
        layout = mis.inspect_layout(path, path.name, STANDARD_BANKS) if rows else None
        if layout is None:
            return
        whole = pl.concat(list(mis.read_batches(path, layout, 1_000, chunk_bytes=1 << 20)))
        pieces = list(mis.read_batches(path, layout, 1_000, chunk_bytes=chunk_bytes))
        assert pl.concat(pieces).equals(whole)
        assert whole["row_number"].to_list() == list(range(1, len(rows) + 1))


def test_a_record_longer_than_a_chunk_is_read_whole(tmp_path):
    long_tracking_id = "KYC_new_" + "x" * 500 + "AT-91961"
    text = mis_text(
        SAVINGS_HEADER,
        savings_row("AT-00001"),
        f'Bank_A,Medium_A,Savings Account,"{long_tracking_id}",2 10 2023,2616',
    )
    path = write(tmp_path, text.rstrip("\n"))  # the last record has no final newline
    layout = mis.inspect_layout(path, path.name, STANDARD_BANKS)
    [*batches] = mis.read_batches(path, layout, 10, chunk_bytes=16)
    rows = pl.concat(batches)
    assert rows["lead_id"].to_list() == ["AT-00001", "AT-91961"]
    assert rows["row_number"].to_list() == [1, 2]


@pytest.mark.parametrize(("span_rows", "chunk_bytes"), [(1, 40), (3, 100), (1_000, 1 << 20)])
def test_spans_cover_the_file_and_their_batches_are_the_files_batches(
    tmp_path, span_rows, chunk_bytes
):
    rows = [savings_row(f"AT-{n % 7:05d}") for n in range(20)] + [savings_row(None, tracking_id="")]
    path = write(tmp_path, mis_text(SAVINGS_HEADER, *rows))
    layout = mis.inspect_layout(path, path.name, STANDARD_BANKS)
    whole = pl.concat(list(mis.read_batches(path, layout, 4, chunk_bytes=chunk_bytes)))
    spans = list(mis.read_spans(path, layout, span_rows, chunk_bytes=chunk_bytes))
    by_span = [
        pl.concat(list(mis.read_batches(path, layout, 4, chunk_bytes=chunk_bytes, span=span)))
        for span in spans
    ]
    assert pl.concat(by_span).equals(whole)
    for span, batches in zip(spans, by_span, strict=True):
        assert span.first_row_number == batches["row_number"][0]
        assert sorted(span.lead_ids.to_list()) == sorted(batches["lead_id"].drop_nulls().unique())
    assert len(spans) == (1 if span_rows == 1_000 else len(spans))
    if span_rows < 1_000:
        assert len(spans) > 1
