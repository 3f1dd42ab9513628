"""The period incentives' part of the iteration email (SPEC §7, §11): per incentive the SPs
and the payout, released and held, and the CSV of true-ups with their words."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from payout_core.report import incentives
from payout_core.report.text import text_table

D = Decimal
OCTOBER = (date(2023, 10, 1), date(2023, 10, 31))


def line(sp_id: str, incentive_id: str, payout: str, status: str = "released"):
    return incentives.IncentiveEventLine(
        sp_id, incentive_id, *OCTOBER, D("203850"), D("2039"), D(payout), status, "=words"
    )


def test_nothing_is_said_when_the_close_appended_no_incentive_event():
    assert incentives.blocks([]) == []


def test_per_incentive_the_sps_true_ups_payout_released_and_held():
    lines = [
        line("SP-A", "PL-SLAB-2", "1520"),
        line("SP-B", "PL-SLAB-2", "2039"),
        line("SP-C", "PL-SLAB-1", "-1070", "held"),
    ]
    sentence, table = incentives.blocks(lines)
    assert sentence.startswith("Period incentives: 3 true-ups for 3 SPs, net payout 2,489.00")
    assert table.rows == (
        ("PL-SLAB-1", "1", "1", "0.00", "-1,070.00"),
        ("PL-SLAB-2", "2", "2", "3,559.00", "0.00"),
    )
    assert "PL-SLAB-2" in text_table(table)


def test_the_csv_has_one_row_per_true_up_with_formulas_neutralised():
    data, rows = incentives.incentives_csv([line("SP-A", "PL-SLAB-2", "1520")], 10_000)
    text = data.decode("utf-8-sig").splitlines()
    assert rows == 1
    assert text[0] == "SPId,IncentiveId,PeriodStart,PeriodEnd,Measure,Worth,Payout,Status,Why"
    assert text[1] == "SP-A,PL-SLAB-2,2023-10-01,2023-10-31,203850,2039,1520,released,'=words"


def test_an_attachment_cut_to_the_email_size_says_so():
    lines = [line(f"SP-{n}", "SA-10", "500") for n in range(3)]
    *_, note = incentives.blocks(lines, "incentives_cycle_4.csv", 2)
    assert note.startswith("incentives_cycle_4.csv holds the first 2 of the 3 true-ups")
    assert len(incentives.blocks(lines, "incentives_cycle_4.csv", 3)) == 2
