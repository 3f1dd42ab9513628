"""Reading the leads export (SPEC §3.3) as ShiftPay's app database writes it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from payout_core.engine import leads as leads_module
from payout_core.engine.leads import read_leads_file
from payout_core.errors import InputFileError

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "leads"


def by_lead(path: Path) -> dict[str, dict]:
    return {row["lead_id"]: row for row in read_leads_file(path).iter_rows(named=True)}


def test_the_app_export_with_millisecond_timestamps_loads():
    leads = by_lead(CORPUS / "app_export_millisecond_timestamps.csv")
    assert leads["AT-91961"]["lead_created_at"] == dt.datetime(2023, 9, 26, 13, 6, 43, 444_000)
    assert leads["AT-4K7PQ"]["lead_created_at"] == dt.datetime(2023, 9, 26, 13, 7, 1, 500_000)
    assert leads["AT-YXXWY"]["lead_created_at"].microsecond == 123_456
    assert leads["AT-C5N2E"]["lead_created_at"] == dt.datetime(2023, 9, 27, 10, 30)
    assert leads["AT-C5N2E"]["status"] == "Success"


def test_iso_timestamps_with_offsets_are_stored_in_utc():
    leads = by_lead(CORPUS / "iso_timestamps_with_offsets.csv")  # BOM and CRLF too
    assert leads["AT-00001"]["lead_created_at"] == dt.datetime(2023, 9, 26, 13, 6, 43)
    assert leads["AT-00002"]["lead_created_at"] == dt.datetime(2023, 9, 26, 7, 36, 43, 500_000)
    assert leads["AT-00003"]["lead_created_at"] == dt.datetime(2023, 9, 26, 16, 6, 43)
    assert leads["AT-00004"]["lead_created_at"] == dt.datetime(2023, 9, 26, 13, 6, 43, 444_000)


def test_pending_and_success_in_any_case_are_stored_canonical_and_others_kept():
    leads = by_lead(CORPUS / "status_spellings.csv")
    assert [leads[f"AT-0001{n}"]["status"] for n in (1, 2, 3, 4)] == [
        "Pending",
        "Pending",
        "Success",
        "Rejected",
    ]
    assert leads["AT-00014"]["sub_status"] == "Docs missing"
    assert leads["AT-00011"]["sub_status"] is None  # blank: null, never ""


def test_lead_ids_that_are_not_8_characters_are_refused_with_their_rows():
    with pytest.raises(InputFileError) as caught:
        read_leads_file(CORPUS / "lead_ids_not_8_characters.csv")
    problems = caught.value.problems
    assert len(problems) == 2
    assert problems[0].startswith("row 1 (LeadId AT-1234)") and "8 characters" in problems[0]
    assert problems[1].startswith("row 2 (LeadId AT-123456)")


def test_timestamps_that_are_not_timestamps_are_refused_with_their_rows():
    with pytest.raises(InputFileError) as caught:
        read_leads_file(CORPUS / "bad_timestamps.csv")
    problems = caught.value.problems
    assert [problem.split(" (")[0] for problem in problems] == ["row 1", "row 2"]
    assert "26/09/2023 13:06" in problems[0] and "2023-09-26 13:06:43.444" in problems[0]


def test_a_compressed_leads_export_is_refused_as_a_whole():
    with pytest.raises(InputFileError) as caught:
        read_leads_file(Path(__file__).resolve().parents[1] / "corpus" / "mis" / "gzip_named.csv")
    assert "gzip" in str(caught.value)


def test_a_missing_leads_file_is_refused_not_a_traceback(tmp_path):
    with pytest.raises(InputFileError) as caught:
        read_leads_file(tmp_path / "nowhere.csv")
    assert "nowhere.csv" in str(caught.value)


def test_an_export_parsed_in_pieces_reads_and_refuses_as_one(tmp_path, monkeypatch):
    """Large exports are read a piece at a time (memory): rows, row numbers and a LeadId
    repeated in another piece come out as if the file were read whole."""
    path = tmp_path / "leads.csv"
    path.write_text(
        "LeadCreatedAt,SPId,LeadId,SourceType,MediumType,ProductType,Status,SubStatus\n"
        "2023-09-26 13:06:43.444,SP1,AT-00001,Bank_A,Medium_A,Savings Account,pending,\n"
        "2023-09-26T13:06:43+05:30,SP2,AT-00002,Bank_A,Medium_A,Savings Account,Success,Opened\n"
        "2023-09-27,SP3,AT-00003,Bank_A,Medium_A,Savings Account,Pending,\n"
    )
    whole = read_leads_file(path)
    monkeypatch.setattr(leads_module, "READ_CHUNK_BYTES", 150)  # about two rows a piece
    assert read_leads_file(path).equals(whole)

    with path.open("a") as more:
        more.write("26/09/2023,SP4,AT-00004,Bank_A,Medium_A,Savings Account,Pending,\n")
        more.write("2023-09-28,SP5,AT-00001,Bank_A,Medium_A,Savings Account,Pending,\n")
    with pytest.raises(InputFileError) as caught:
        read_leads_file(path)
    assert [problem.split(": ")[1].split(" (")[0] for problem in caught.value.problems] == [
        "LeadId appears more than once",
        "LeadCreatedAt is not a timestamp like 2023-09-26 13:06:43.444, 2023-09-26T13:06:43Z"
        " or 2023-09-26T13:06:43+05:30",
        "LeadId appears more than once",
    ]
    assert [problem.split(" (")[0] for problem in caught.value.problems] == [
        "row 1", "row 4", "row 5"
    ]  # fmt: skip
