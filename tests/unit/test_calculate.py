"""SPEC §4: one outcome per MIS row, in precedence order, and exact KPI amounts."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from payout_core.engine import calculate, rules
from payout_core.engine.banks import load_bank_profiles
from tests.unit.engine_support import (
    LOAN,
    LOAN_HEADER,
    RULES_HEADER,
    SAVINGS,
    SAVINGS_HEADER,
    amounts,
    by_row,
    classify_file,
    lead,
    leads_frame,
    loan_row,
    mis_text,
    outcomes,
    pending,
    savings_handler,
    savings_row,
    write,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
D = Decimal


def classify_rows(tmp_path, header, rows, leads, rules_frame=None, batch_rows=1_000_000):
    path = write(tmp_path, mis_text(header, *rows))
    return classify_file(path, leads, rules_frame, batch_rows=batch_rows)


def only_row(classified: pl.DataFrame) -> dict:
    assert classified.height == 1
    return classified.row(0, named=True)


def loan_rules(payin_pct: str, payout_pct: str) -> pl.DataFrame:
    text = (
        f"{RULES_HEADER}\n"
        f"Bank_B,Medium_A,Personal Loan,1 10 2023,3 10 2023,{payin_pct},{payout_pct},,,,,,x\n"
    )
    return rules.rules_frame(rules.parse_rules(text, "rules.csv"))


# --- SPEC §4 worked examples ------------------------------------------------------------


def test_spec_savings_example_invested_above_bound_pays_kpi1_and_kpi2(tmp_path):
    row = only_row(
        classify_rows(
            tmp_path,
            SAVINGS_HEADER,
            [savings_row("AT-91961", "2 10 2023", "2616")],
            leads_frame(pending("AT-91961")),
        )
    )
    assert row["outcome"] == "paid"
    assert amounts(row) == (D(1500), D(1000), D(1000), D(500), D(2500), D(1500))


def test_spec_savings_example_invested_below_bound_pays_kpi1_only(tmp_path):
    row = only_row(
        classify_rows(
            tmp_path,
            SAVINGS_HEADER,
            [savings_row("AT-4K7PQ", "2 10 2023", "1299")],
            leads_frame(pending("AT-4K7PQ")),
        )
    )
    assert row["outcome"] == "paid"
    assert amounts(row) == (D(1500), D(1000), D(0), D(0), D(1500), D(1000))


def test_spec_savings_example_opened_before_window_has_no_active_rule(tmp_path):
    row = only_row(
        classify_rows(
            tmp_path,
            SAVINGS_HEADER,
            [savings_row("AT-91961", "29 09 2023", "2616")],
            leads_frame(pending("AT-91961")),
        )
    )
    assert row["outcome"] == "no_active_rule"
    assert "29 09 2023" in row["reason"]
    assert amounts(row) == (None,) * 6


def test_spec_loan_example_percentages_rounded_half_away_from_zero(tmp_path):
    # 2.5 % of 43850 = 1096.25 -> 1096; 1 % of 43850 = 438.5 -> 439 (banker's would say 438)
    row = only_row(
        classify_rows(
            tmp_path,
            LOAN_HEADER,
            [loan_row("AT-YXXWY", "43850", "2 10 2023")],
            leads_frame(pending("AT-YXXWY", LOAN)),
        )
    )
    assert row["outcome"] == "paid"
    assert amounts(row) == (D(1096), D(439), D(0), D(0), D(1096), D(439))


def test_paid_rows_carry_spec_section_5_facts(tmp_path):
    classified = classify_rows(
        tmp_path,
        SAVINGS_HEADER,
        [savings_row("AT-91961", "2 10 2023", "2616"), savings_row("AT-00001", "2 10 2023", "1")],
        leads_frame(pending("AT-91961", sp_id="SP1001")),
    )
    paid = calculate.paid_rows(classified, savings_handler())
    assert paid.height == 1
    row = paid.row(0, named=True)
    assert row["lead_id"] == "AT-91961"
    assert row["sp_id"] == "SP1001"
    assert (row["source_type"], row["medium_type"], row["product_type"]) == (
        "Bank_A",
        "Medium_A",
        SAVINGS,
    )
    assert row["sub_status"] == "Account Opened"
    assert str(row["date_of_sale"]) == "2023-10-02"
    assert (row["total_payin_minor"], row["total_payout_minor"]) == (250_000, 150_000)
    rejected = calculate.rejected_rows(classified)
    assert rejected["lead_id"].to_list() == ["AT-00001"]
    assert rejected["outcome"].to_list() == ["not_shiftpay_lead"]


# --- window boundaries ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("30 09 2023", "no_active_rule"),
        ("1 10 2023", "paid"),
        ("01 10 2023", "paid"),
        ("2 10 2023", "paid"),
        ("3 10 2023", "paid"),
        ("4 10 2023", "no_active_rule"),
        ("3 10 2024", "no_active_rule"),
    ],
)
def test_savings_window_includes_first_and_last_day_only(tmp_path, date, expected):
    row = only_row(
        classify_rows(
            tmp_path,
            SAVINGS_HEADER,
            [savings_row("AT-91961", date, "2616")],
            leads_frame(pending("AT-91961")),
        )
    )
    assert row["outcome"] == expected


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("30 09 2023", "no_active_rule"),
        ("1 10 2023", "paid"),
        ("3 10 2023", "paid"),
        ("4 10 2023", "no_active_rule"),
    ],
)
def test_loan_window_includes_first_and_last_day_only(tmp_path, date, expected):
    row = only_row(
        classify_rows(
            tmp_path,
            LOAN_HEADER,
            [loan_row("AT-YXXWY", "43850", date)],
            leads_frame(pending("AT-YXXWY", LOAN)),
        )
    )
    assert row["outcome"] == expected


def test_adjacent_windows_each_apply_their_own_amounts(tmp_path):
    rules_text = (
        f"{RULES_HEADER}\n"
        "Bank_A,Medium_A,Savings Account,1 10 2023,3 10 2023,,,1500,1000,2000,1000,500,a\n"
        "Bank_A,Medium_A,Savings Account,4 10 2023,31 10 2023,,,1600,1100,2500,1200,600,b\n"
    )
    frame = rules.rules_frame(rules.parse_rules(rules_text, "rules.csv"))
    classified = classify_rows(
        tmp_path,
        SAVINGS_HEADER,
        [
            savings_row("AT-00001", "3 10 2023", "2600"),
            savings_row("AT-00002", "4 10 2023", "2600"),
        ],
        leads_frame(pending("AT-00001"), pending("AT-00002")),
        frame,
    )
    rows = by_row(classified)
    assert amounts(rows[1])[4:] == (D(2500), D(1500))
    assert amounts(rows[2])[4:] == (D(2800), D(1700))


# --- KPI2 threshold ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("invested", "kpi2_paid"),
    [("2000", True), ("2000.00", True), ("2000.01", True), ("1999.99", False), ("0", False)],
)
def test_kpi2_paid_when_invested_equals_or_exceeds_bound(tmp_path, invested, kpi2_paid):
    row = only_row(
        classify_rows(
            tmp_path,
            SAVINGS_HEADER,
            [savings_row("AT-91961", "2 10 2023", invested)],
            leads_frame(pending("AT-91961")),
        )
    )
    assert row["outcome"] == "paid"
    expected = (D(1000), D(500)) if kpi2_paid else (D(0), D(0))
    assert amounts(row)[2:4] == expected
    assert amounts(row)[4:] == (D(1500) + expected[0], D(1000) + expected[1])


# --- rounding of percentage amounts -----------------------------------------------------


@pytest.mark.parametrize(
    ("disbursed", "payin", "payout"),
    [
        # 2.5 % and 1 %: exact halves round up (away from zero), just under rounds down
        ("20", 1, 0),  # 0.5 -> 1 ; 0.2 -> 0
        ("19.99", 0, 0),  # 0.49975 -> 0
        ("100", 3, 1),  # 2.5 -> 3 (banker's: 2) ; 1.0
        ("99.99", 2, 1),  # 2.49975 -> 2 ; 0.9999 -> 1
        ("100.01", 3, 1),  # 2.50025 -> 3
        ("250", 6, 3),  # 6.25 -> 6 ; 2.5 -> 3 (banker's: 2)
        ("249.99", 6, 2),  # 6.24975 ; 2.4999 -> 2
        ("50", 1, 1),  # 1.25 -> 1 ; 0.5 -> 1 (banker's: 0)
        ("49.99", 1, 0),  # 1.24975 ; 0.4999 -> 0
        ("0", 0, 0),
        ("9999999999.99", 250000000, 100000000),  # largest amount accepted: no overflow
    ],
)
def test_percentage_amounts_round_to_whole_units_halves_away_from_zero(
    tmp_path, disbursed, payin, payout
):
    row = only_row(
        classify_rows(
            tmp_path,
            LOAN_HEADER,
            [loan_row("AT-YXXWY", disbursed, "2 10 2023")],
            leads_frame(pending("AT-YXXWY", LOAN)),
        )
    )
    assert row["outcome"] == "paid"
    assert amounts(row) == (D(payin), D(payout), D(0), D(0), D(payin), D(payout))


def test_percentage_with_four_decimals_is_exact(tmp_path):
    # 12.3456 % of 40500 = 4999.968 -> 5000 ; 0.0001 % of 500000 = 0.5 -> 1
    frame = loan_rules("12.3456", "0.0001")
    row = only_row(
        classify_rows(
            tmp_path,
            LOAN_HEADER,
            [loan_row("AT-YXXWY", "40500", "2 10 2023")],
            leads_frame(pending("AT-YXXWY", LOAN)),
            frame,
        )
    )
    assert amounts(row)[:2] == (D(5000), D(0))
    row = only_row(
        classify_rows(
            tmp_path,
            LOAN_HEADER,
            [loan_row("AT-YXXWY", "500000", "2 10 2023")],
            leads_frame(pending("AT-YXXWY", LOAN)),
            frame,
        )
    )
    assert amounts(row)[:2] == (D("61728"), D(1))


# --- every outcome and its precedence ---------------------------------------------------


def test_every_outcome_once(tmp_path):
    leads = leads_frame(
        pending("AT-00001"),  # paid
        lead("AT-00003", "Success"),  # already_paid
        lead("AT-00004", "Rejected"),  # not_payable
        pending("AT-00005"),  # no_active_rule (date outside window)
        pending("AT-00006"),  # duplicate (second row)
    )
    classified = classify_rows(
        tmp_path,
        SAVINGS_HEADER,
        [
            savings_row("AT-00001"),
            savings_row("AT-00002"),  # not in leads
            savings_row("AT-00003"),
            savings_row("AT-00004"),
            savings_row("AT-00005", "5 10 2023"),
            savings_row("AT-00006"),
            savings_row("AT-00006"),
            savings_row("AT-00007", "2 10 2023", "abc"),  # invalid
        ],
        leads,
    )
    assert outcomes(classified) == [
        "paid",
        "not_shiftpay_lead",
        "already_paid",
        "not_payable",
        "no_active_rule",
        "paid",
        "duplicate",
        "invalid",
    ]
    assert calculate.outcome_counts(classified) == {
        "invalid": 1,
        "duplicate": 1,
        "not_shiftpay_lead": 1,
        "already_paid": 1,
        "not_payable": 1,
        "no_active_rule": 1,
        "paid": 2,
        "kpi_earned": 0,
        "adjusted": 0,
    }
    rows = by_row(classified)
    assert rows[1]["reason"] is None
    assert "AT-00002" in rows[2]["reason"]
    assert "AT-00003" in rows[3]["reason"]
    assert "Rejected" in rows[4]["reason"]
    assert "05 10 2023" in rows[5]["reason"]
    assert "AT-00006" in rows[7]["reason"]
    assert "InvestedAmount" in rows[8]["reason"] and "abc" in rows[8]["reason"]
    for row in rows.values():
        if row["outcome"] != "paid":
            assert amounts(row) == (None,) * 6, row


def test_invalid_wins_over_duplicate(tmp_path):
    classified = classify_rows(
        tmp_path,
        SAVINGS_HEADER,
        [savings_row("AT-00001"), savings_row("AT-00001", "2 10 2023", "-5")],
        leads_frame(pending("AT-00001")),
    )
    assert outcomes(classified) == ["paid", "invalid"]


def test_a_row_repeating_the_lead_of_an_earlier_invalid_row_is_a_duplicate(tmp_path):
    # SPEC §4 rule 2: "the same LeadId already appeared earlier in this file".
    classified = classify_rows(
        tmp_path,
        SAVINGS_HEADER,
        [savings_row("AT-00001", "31 02 2023"), savings_row("AT-00001")],
        leads_frame(pending("AT-00001")),
    )
    assert outcomes(classified) == ["invalid", "duplicate"]


def test_first_occurrence_is_paid_later_ones_are_duplicates(tmp_path):
    classified = classify_rows(
        tmp_path,
        SAVINGS_HEADER,
        [
            savings_row("AT-00001", "2 10 2023", "100"),
            savings_row("AT-00001", "2 10 2023", "5000"),
            savings_row("AT-00001", "2 10 2023", "5000"),
        ],
        leads_frame(pending("AT-00001")),
    )
    assert outcomes(classified) == ["paid", "duplicate", "duplicate"]
    assert amounts(by_row(classified)[1])[4:] == (D(1500), D(1000))


def test_duplicate_found_by_lead_id_even_with_another_bank_prefix(tmp_path):
    classified = classify_rows(
        tmp_path,
        SAVINGS_HEADER,
        [savings_row("AT-00001"), savings_row(None, tracking_id="OTHER_PREFIX_AT-00001")],
        leads_frame(pending("AT-00001")),
    )
    assert outcomes(classified) == ["paid", "duplicate"]


def test_duplicate_wins_over_not_shiftpay_lead(tmp_path):
    classified = classify_rows(
        tmp_path,
        SAVINGS_HEADER,
        [savings_row("AT-99999"), savings_row("AT-99999")],
        leads_frame(pending("AT-00001")),
    )
    assert outcomes(classified) == ["not_shiftpay_lead", "duplicate"]


def test_not_shiftpay_lead_wins_over_missing_rule(tmp_path):
    row = only_row(
        classify_rows(
            tmp_path, SAVINGS_HEADER, [savings_row("AT-99999", "1 01 2020")], leads_frame()
        )
    )
    assert row["outcome"] == "not_shiftpay_lead"


def test_not_payable_wins_over_already_paid(tmp_path):
    # SPEC §4.2: a Success lead whose medium differs from the row's is not_payable (step 4)
    row = only_row(
        classify_rows(
            tmp_path,
            SAVINGS_HEADER,
            [savings_row("AT-00001")],
            leads_frame(lead("AT-00001", "Success", medium="Medium_B")),
        )
    )
    assert row["outcome"] == "not_payable"


def test_already_paid_wins_over_missing_rule(tmp_path):
    row = only_row(
        classify_rows(
            tmp_path,
            SAVINGS_HEADER,
            [savings_row("AT-00001", "1 01 2020")],
            leads_frame(lead("AT-00001", "Success")),
        )
    )
    assert row["outcome"] == "already_paid"


@pytest.mark.parametrize(
    ("the_lead", "reason_part"),
    [
        (lead("AT-00001", "Rejected"), "Rejected"),
        (lead("AT-00001", "Cancelled"), "Cancelled"),
        (lead("AT-00001", medium="Medium_B"), "Medium_B"),
        (lead("AT-00001", source="Bank_B"), "Bank_B"),
        (lead("AT-00001", source="Bank_B", product=LOAN), LOAN),
    ],
)
def test_not_payable_for_other_status_or_other_source_medium_product(
    tmp_path, the_lead, reason_part
):
    row = only_row(
        classify_rows(tmp_path, SAVINGS_HEADER, [savings_row("AT-00001")], leads_frame(the_lead))
    )
    assert row["outcome"] == "not_payable"
    assert reason_part in row["reason"]


def test_not_payable_wins_over_missing_rule(tmp_path):
    row = only_row(
        classify_rows(
            tmp_path,
            SAVINGS_HEADER,
            [savings_row("AT-00001", "1 01 2020")],
            leads_frame(lead("AT-00001", "Rejected")),
        )
    )
    assert row["outcome"] == "not_payable"


def test_no_active_rule_when_only_another_medium_has_a_rule(tmp_path):
    row = only_row(
        classify_rows(
            tmp_path,
            SAVINGS_HEADER,
            [savings_row("AT-00001", medium="Medium_B")],
            leads_frame(lead("AT-00001", medium="Medium_B")),
        )
    )
    assert row["outcome"] == "no_active_rule"
    assert "Medium_B" in row["reason"]


def test_no_active_rule_when_rules_frame_is_empty(tmp_path):
    empty = pl.DataFrame(schema=rules.rule_frame_schema())
    row = only_row(
        classify_rows(
            tmp_path,
            SAVINGS_HEADER,
            [savings_row("AT-00001")],
            leads_frame(pending("AT-00001")),
            empty,
        )
    )
    assert row["outcome"] == "no_active_rule"


# --- batches, counts and totals ---------------------------------------------------------

MIXED_ROWS = [
    savings_row("AT-00001"),
    savings_row("AT-00002", "2 10 2023", "1299"),
    savings_row("AT-00001"),  # duplicate across the first batch boundary (batch_rows=2)
    savings_row("AT-00009"),  # not a lead
    savings_row("AT-00009"),  # duplicate of a non-lead, in the same later batch
    savings_row("AT-00002", "x"),  # invalid and a repeat
    savings_row("AT-00003", "5 10 2023"),
    savings_row("AT-00004"),
    savings_row(None, tracking_id=""),
    savings_row("AT-00004", "3 10 2023", "9999"),
    savings_row("AT-00005", "1 10 2023", "2000"),
]
MIXED_LEADS = leads_frame(
    pending("AT-00001"),
    pending("AT-00002"),
    pending("AT-00003"),
    lead("AT-00004", "Success"),
    pending("AT-00005"),
)


def test_seen_lead_ids_are_exact_for_ascii_and_non_ascii_lead_ids():
    seen = calculate.SeenLeadIds()
    seen.add(pl.Series(["AT-00001", "ÅT-00001", None, "AT-00001"]))
    seen.add(pl.Series(["AT-00000", "AT-00002"]))  # merged into the sorted packed array
    asked = pl.Series(
        ["AT-00001", "AT-00002", "AT-00000", "AT-00003", "ÅT-00001", "ÄT-00001", None]
    )
    assert seen.contains(asked).to_list() == [True, True, True, False, True, False, False]
    assert len(seen) == 4


def test_a_duplicate_of_a_non_ascii_lead_id_in_a_later_batch_is_found(tmp_path):
    rows = [savings_row("ÅT-00001"), savings_row("AT-00001"), savings_row("ÅT-00001")]
    leads = leads_frame(pending("ÅT-00001"), pending("AT-00001"))
    batched = classify_rows(tmp_path, SAVINGS_HEADER, rows, leads, batch_rows=1)
    assert outcomes(batched) == ["paid", "paid", "duplicate"]


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 5])
def test_batches_give_the_same_outcomes_and_amounts_as_one_batch(tmp_path, batch_rows):
    whole = classify_rows(tmp_path, SAVINGS_HEADER, MIXED_ROWS, MIXED_LEADS)
    batched = classify_rows(
        tmp_path, SAVINGS_HEADER, MIXED_ROWS, MIXED_LEADS, batch_rows=batch_rows
    )
    columns = [
        "row_number",
        "lead_id",
        "outcome",
        "reason",
        *calculate.KPI_COLUMNS,
        "total_payin_minor",
        "total_payout_minor",
    ]
    assert (
        batched.select(columns).sort("row_number").equals(whole.select(columns).sort("row_number"))
    )
    assert outcomes(whole) == [
        "paid",
        "paid",
        "duplicate",
        "not_shiftpay_lead",
        "duplicate",
        "invalid",
        "no_active_rule",
        "already_paid",
        "invalid",
        "duplicate",
        "paid",
    ]


def test_outcome_counts_add_up_to_rows_read_and_totals_to_kpi_sums(tmp_path):
    classified = classify_rows(tmp_path, SAVINGS_HEADER, MIXED_ROWS, MIXED_LEADS)
    counts = calculate.outcome_counts(classified)
    assert list(counts) == list(calculate.OUTCOMES)
    assert sum(counts.values()) == len(MIXED_ROWS) == classified.height
    assert classified["row_number"].to_list() == list(range(1, len(MIXED_ROWS) + 1))
    paid = classified.filter(pl.col("outcome") == "paid")
    assert paid.height == counts["paid"] == 3
    for row in paid.iter_rows(named=True):
        kpi1_in, kpi1_out, kpi2_in, kpi2_out, total_in, total_out = amounts(row)
        assert total_in == kpi1_in + kpi2_in
        assert total_out == kpi1_out + kpi2_out
    assert sum(amounts(row)[4] for row in paid.iter_rows(named=True)) == D(2500 + 1500 + 2500)
    assert len(calculate.rejected_rows(classified)) == len(MIXED_ROWS) - 3


def test_outcome_counts_list_every_outcome_even_when_zero(tmp_path):
    classified = classify_rows(
        tmp_path, SAVINGS_HEADER, [savings_row("AT-00001")], leads_frame(pending("AT-00001"))
    )
    assert calculate.outcome_counts(classified) == {
        outcome: (1 if outcome == "paid" else 0) for outcome in calculate.OUTCOMES
    }


# --- the shipped samples ------------------------------------------------------------------


def sample_leads() -> pl.DataFrame:
    frame = pl.read_csv(SAMPLES / "leads.csv", infer_schema=False)
    return frame.select(
        pl.col("LeadId").alias("lead_id"),
        pl.col("SPId").alias("sp_id"),
        pl.col("SourceType").alias("lead_source_type"),
        pl.col("MediumType").alias("lead_medium_type"),
        pl.col("ProductType").alias("lead_product_type"),
        pl.col("Status").alias("lead_status"),
    )


@pytest.mark.parametrize(
    "name",
    json.loads((SAMPLES / "expected_outcomes.json").read_text(encoding="utf-8")).keys(),
)
@pytest.mark.parametrize("batch_rows", [1_000_000, 4])
def test_sample_files_give_the_hand_computed_outcomes_and_totals(name, batch_rows):
    expected = json.loads((SAMPLES / "expected_outcomes.json").read_text(encoding="utf-8"))[name]
    rules_frame = rules.rules_frame(rules.parse_rules_file(SAMPLES / "payin_payout_rules.csv"))
    classified = classify_file(
        SAMPLES / "mis" / name,
        sample_leads(),
        rules_frame,
        load_bank_profiles(REPO / "config" / "banks.toml"),
        batch_rows=batch_rows,
    )
    assert classified.height == expected["rows_read"]
    assert calculate.outcome_counts(classified) == expected["outcome_counts"]
    paid = classified.filter(pl.col("outcome") == "paid")
    assert D(paid["total_payin_minor"].sum()) / 100 == D(expected["total_payin"])
    assert D(paid["total_payout_minor"].sum()) / 100 == D(expected["total_payout"])
