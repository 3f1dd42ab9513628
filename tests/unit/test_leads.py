"""Reading the leads export (SPEC §3.3) as ShiftPay's app database writes it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

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
