"""Loading payin_payout_rules.csv (SPEC §3.2): every bad row is named, or nothing loads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from payout_core.engine import rules
from payout_core.errors import InputFileError
from tests.unit.engine_support import RULES_HEADER, SPEC_RULES

REPO = Path(__file__).resolve().parents[2]

SAVINGS_RULE = "Bank_A,Medium_A,Savings Account,{start},{end},,,1500,1000,2000,1000,500,x"
LOAN_RULE = "Bank_B,Medium_A,Personal Loan,{start},{end},2.5,1,,,,,,x"


def rules_text(*rows: str, header: str = RULES_HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def savings(start: str = "1 10 2023", end: str = "3 10 2023") -> str:
    return SAVINGS_RULE.format(start=start, end=end)


def loan(start: str = "1 10 2023", end: str = "3 10 2023") -> str:
    return LOAN_RULE.format(start=start, end=end)


def refused(text: str) -> InputFileError:
    with pytest.raises(InputFileError) as caught:
        rules.parse_rules(text, "payin_payout_rules.csv")
    assert "payin_payout_rules.csv" in str(caught.value)
    return caught.value


def problems_for(error: InputFileError, row: int) -> list[str]:
    return [problem for problem in error.problems if problem.startswith(f"row {row}:")]


# --- what loads ---------------------------------------------------------------------


def test_spec_rules_with_multi_line_success_criteria_load():
    loaded = rules.parse_rules(SPEC_RULES, "rules.csv")
    assert [rule.row_number for rule in loaded] == [1, 2]
    savings_rule, loan_rule = loaded
    assert savings_rule.success_criteria == "Account opened;\nKPI2 when invested >= 2000"
    assert savings_rule.key == ("Bank_A", "Medium_A", "Savings Account")
    assert savings_rule.kpi_start_date == dt.date(2023, 10, 1)
    assert savings_rule.kpi_end_date == dt.date(2023, 10, 3)
    assert (savings_rule.kpi1_payin_amount, savings_rule.kpi1_payout_amount) == (1500, 1000)
    assert savings_rule.min_invested_amount_bound == 2000
    assert (savings_rule.kpi2_payin_amount, savings_rule.kpi2_payout_amount) == (1000, 500)
    assert loan_rule.kpi1_payin_percentage == Decimal("2.5")
    assert loan_rule.kpi1_payout_percentage == Decimal("1")


def test_shipped_sample_rules_load_with_row_numbers_counting_records_not_lines():
    loaded = rules.parse_rules_file(REPO / "samples" / "payin_payout_rules.csv")
    assert [rule.row_number for rule in loaded] == [1, 2, 3, 4, 5, 6]
    assert "\n" in loaded[0].success_criteria


def test_row_after_a_multi_line_criteria_is_numbered_by_record():
    text = rules_text(
        'Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,1500,1000,2000,1000,500,"one\n'
        'two\nthree"',
        loan("3 10 2023", "1 10 2023"),
    )
    error = refused(text)
    assert problems_for(error, 2)
    assert not problems_for(error, 1)
    assert not problems_for(error, 4)


@pytest.mark.parametrize("blank", ["", "  "])
def test_blank_numeric_cells_are_zero(blank):
    row = f"Bank_B,Medium_A,Personal Loan,1 10 2023,3 10 2023,2.5,1,{blank},{blank},,,,x"
    (rule,) = rules.parse_rules(rules_text(row), "rules.csv")
    for value in (
        rule.kpi1_payin_amount,
        rule.kpi1_payout_amount,
        rule.min_invested_amount_bound,
        rule.kpi2_payin_amount,
        rule.kpi2_payout_amount,
    ):
        assert value == 0
    (savings_rule,) = rules.parse_rules(rules_text(savings()), "rules.csv")
    assert savings_rule.kpi1_payin_percentage == 0
    assert savings_rule.kpi1_payout_percentage == 0


def test_rules_frame_holds_exact_minor_units_and_ten_thousandths_of_a_percent():
    row = "Bank_B,Medium_A,Personal Loan,1 10 2023,3 10 2023,12.3456,0.0001,1500.25,0.01,,,,x"
    frame = rules.rules_frame(rules.parse_rules(rules_text(row), "rules.csv"))
    record = frame.row(0, named=True)
    assert record["kpi1_payin_percentage_e4"] == 123_456
    assert record["kpi1_payout_percentage_e4"] == 1
    assert record["kpi1_payin_amount_minor"] == 150_025
    assert record["kpi1_payout_amount_minor"] == 1
    assert record["min_invested_amount_bound_minor"] == 0


def test_success_criteria_column_is_optional_and_header_may_have_spaces_and_bom():
    header = "\ufeff" + ", ".join(
        column for column in RULES_HEADER.split(",") if column != "SuccessCriteria"
    )
    loaded = rules.parse_rules(rules_text(savings().removesuffix(",x"), header=header), "r.csv")
    assert loaded[0].success_criteria is None
    assert loaded[0].kpi1_payin_amount == 1500


def test_non_overlapping_windows_for_one_key_are_accepted():
    loaded = rules.parse_rules(
        rules_text(
            savings("1 10 2023", "3 10 2023"),
            savings("4 10 2023", "31 10 2023"),
            savings("1 09 2023", "30 09 2023"),
        ),
        "rules.csv",
    )
    assert len(loaded) == 3


def test_same_window_for_different_keys_is_accepted():
    other_medium = savings().replace("Medium_A", "Medium_B")
    other_bank = savings().replace("Bank_A", "Bank_E")
    loaded = rules.parse_rules(rules_text(savings(), other_medium, other_bank, loan()), "r.csv")
    assert len(loaded) == 4


def test_single_day_window_is_accepted():
    (rule,) = rules.parse_rules(rules_text(savings("2 10 2023", "2 10 2023")), "r.csv")
    assert rule.kpi_start_date == rule.kpi_end_date


# --- what is refused, naming every offending row --------------------------------------------


@pytest.mark.parametrize(
    ("second_start", "second_end"),
    [
        ("3 10 2023", "5 10 2023"),  # shares the last day
        ("2 10 2023", "2 10 2023"),  # inside
        ("1 09 2023", "1 10 2023"),  # shares the first day
        ("1 09 2023", "31 12 2023"),
    ],  # contains
)
def test_overlapping_windows_for_the_same_key_name_both_rows(second_start, second_end):
    error = refused(rules_text(loan(), savings(), savings(second_start, second_end)))
    clashes = [problem for problem in error.problems if "overlap" in problem]
    assert len(clashes) == 1
    assert "2" in clashes[0] and "3" in clashes[0]
    assert "rows 2 and 3" in clashes[0]
    assert "Savings Account" in clashes[0]


def test_every_clashing_pair_is_listed():
    error = refused(
        rules_text(
            savings("1 10 2023", "10 10 2023"),
            savings("5 10 2023", "6 10 2023"),
            savings("9 10 2023", "12 10 2023"),
            loan(),
            loan("2 10 2023", "2 10 2023"),
        )
    )
    clashes = sorted(problem for problem in error.problems if "overlap" in problem)
    assert len(clashes) == 3
    assert any("rows 1 and 2" in clash for clash in clashes)
    assert any("rows 1 and 3" in clash for clash in clashes)
    assert any("rows 4 and 5" in clash and "Personal Loan" in clash for clash in clashes)


@pytest.mark.parametrize(
    ("row", "words"),
    [
        (savings("3 10 2023", "1 10 2023"), ["KPIEndDate", "before"]),
        (
            "Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,-1500,1000,2000,1000,500,x",
            ["KPI1PayinAmount"],
        ),
        (
            "Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,1500,1000,-0.01,1000,500,x",
            ["MinInvestedAmountBound"],
        ),
        (
            "Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,1500,1000,2000,1000,-500,x",
            ["KPI2PayoutAmount"],
        ),
        (
            "Bank_B,Medium_A,Personal Loan,1 10 2023,3 10 2023,-2.5,1,,,,,,x",
            ["KPI1PayinPercentage"],
        ),
        (
            "Bank_B,Medium_A,Personal Loan,1 10 2023,3 10 2023,100.01,1,,,,,,x",
            ["KPI1PayinPercentage"],
        ),
        (
            "Bank_B,Medium_A,Personal Loan,1 10 2023,3 10 2023,2.5,250,,,,,,x",
            ["KPI1PayoutPercentage"],
        ),
        (
            "Bank_A,Medium_A,Gold Loan,1 10 2023,3 10 2023,,,1500,1000,,,,x",
            ["unknown product", "Gold Loan"],
        ),
        (savings("1 10 2023", "31 02 2023"), ["KPIEndDate", "31 02 2023"]),
        (savings("2023-10-01", "3 10 2023"), ["KPIStartDate", "2023-10-01"]),
        (savings("", "3 10 2023"), ["KPIStartDate"]),
        (
            "Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,abc,1000,2000,1000,500,x",
            ["KPI1PayinAmount"],
        ),
        ("Bank_A,,Savings Account,1 10 2023,3 10 2023,,,1500,1000,2000,1000,500,x", ["MediumType"]),
    ],
)
def test_bad_row_is_refused_naming_row_and_column(row, words):
    error = refused(rules_text(loan(), row))
    mine = problems_for(error, 2)
    assert mine, error.problems
    assert not problems_for(error, 1)
    text = " ".join(mine)
    for word in words:
        assert word in text, (word, mine)


def test_every_offending_row_is_listed_not_just_the_first():
    error = refused(
        rules_text(
            savings(),  # 1 ok
            "Bank_A,Medium_A,Savings Account,4 10 2023,5 10 2023,,,-1,1000,2000,1000,500,x",  # 2
            loan(),  # 3 ok
            loan("5 10 2023", "4 10 2023"),  # 4 end before start
            "Bank_A,Medium_A,Gold Loan,1 10 2023,3 10 2023,,,1,1,,,,x",  # 5 unknown product
            savings("1 13 2023", "3 10 2023"),  # 6 bad date
            "Bank_B,Medium_A,Personal Loan,10 10 2023,11 10 2023,101,1,,,,,,x",  # 7 pct > 100
            savings("2 10 2023", "2 10 2023"),  # 8 overlaps row 1
        )
    )
    for row in (2, 4, 5, 6, 7):
        assert problems_for(error, row), (row, error.problems)
    for row in (1, 3, 8):
        assert not problems_for(error, row)
    assert any("rows 1 and 8" in problem for problem in error.problems)
    assert len(error.problems) == 6
    for row in (2, 4, 5, 6, 7):
        assert f"row {row}:" in str(error)


@pytest.mark.parametrize("missing", ["KPIStartDate", "MinInvestedAmountBound", "ProductType"])
def test_missing_column_is_refused_naming_it(missing):
    columns = RULES_HEADER.split(",")
    index = columns.index(missing)
    header = ",".join(column for column in columns if column != missing)
    values = savings().split(",")
    del values[index]
    error = refused(rules_text(",".join(values), header=header))
    assert any(missing in problem for problem in error.problems)


def test_file_without_rules_is_refused():
    error = refused(rules_text())
    assert error.problems


def test_rules_file_not_utf8_is_refused(tmp_path):
    path = tmp_path / "rules.csv"
    path.write_bytes(rules_text(savings().replace(",x", ",Öffnung")).encode("latin-1"))
    with pytest.raises(InputFileError) as caught:
        rules.parse_rules_file(path)
    assert str(path) in str(caught.value)


# --- a rule carries what its product's handler declares -----------------------------------


@pytest.mark.parametrize(
    ("row", "blank_headers"),
    [
        (  # fixed amounts where percentages belong: would pay 0 % for ever
            "Bank_B,Medium_A,Personal Loan,1 10 2023,3 10 2023,,,1500,1000,,,,x",
            ["KPI1PayinPercentage", "KPI1PayoutPercentage"],
        ),
        (
            "Bank_B,Medium_A,Personal Loan,1 10 2023,3 10 2023,2.5, ,,,,,,x",
            ["KPI1PayoutPercentage"],
        ),
        (
            "Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,2.5,1,,,,,,x",
            ["KPI1PayinAmount", "KPI1PayoutAmount", "MinInvestedAmountBound",
             "KPI2PayinAmount", "KPI2PayoutAmount"],
        ),
        (
            "Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,1500,1000,,1000,500,x",
            ["MinInvestedAmountBound"],
        ),
    ],
)  # fmt: skip
def test_a_rule_leaving_blank_a_parameter_its_product_needs_is_refused(row, blank_headers):
    error = refused(rules_text(loan(), row))
    mine = problems_for(error, 2)
    assert len(mine) == len(blank_headers), mine
    for header, problem in zip(blank_headers, mine, strict=True):
        assert header in problem and "blank" in problem and "row 2" in problem


def test_an_explicit_zero_is_a_value_not_a_blank():
    (rule,) = rules.parse_rules(
        rules_text("Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,1500,1000,0,0,0,x"),
        "rules.csv",
    )
    assert (rule.min_invested_amount_bound, rule.kpi2_payin_amount) == (0, 0)
