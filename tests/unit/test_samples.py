"""The hand-written samples say what they claim (samples/README.md, expected_outcomes.json)."""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal

import pytest

from payout_core.settings import PROJECT_ROOT
from tests.support.oracle import classify_file

SAMPLES = PROJECT_ROOT / "samples"
# The outcomes a single file can show (kpi_earned and adjusted need an earlier file).
OUTCOMES = ("invalid", "duplicate", "not_shiftpay_lead", "already_paid", "not_payable",
            "no_active_rule", "paid")  # fmt: skip
EXPECTED = json.loads((SAMPLES / "expected_outcomes.json").read_text())
# Bank_E's own layout, as config/banks.toml declares it.
LAYOUT_OPTIONS = {
    "bank_e_savings_account_2023-10-03.csv": {
        "tracking_column": "ApplicationRef", "date_format": "%Y-%m-%d",
    },
}  # fmt: skip


@pytest.mark.parametrize("mis_file", sorted(EXPECTED))
def test_sample_mis_file_has_every_outcome_and_the_documented_totals(mis_file: str) -> None:
    result = classify_file(
        SAMPLES / "mis" / mis_file,
        SAMPLES / "leads.csv",
        SAMPLES / "payin_payout_rules.csv",
        **LAYOUT_OPTIONS.get(mis_file, {}),
    )
    expected = EXPECTED[mis_file]

    assert dict(result.outcome_counts) == expected["outcome_counts"]
    assert all(result.outcome_counts[outcome] >= 1 for outcome in OUTCOMES)
    assert sum(result.outcome_counts.values()) == expected["rows_read"]
    assert result.total_payin == Decimal(expected["total_payin"])
    assert result.total_payout == Decimal(expected["total_payout"])


def test_every_sample_mis_file_is_documented() -> None:
    assert sorted(path.name for path in (SAMPLES / "mis").glob("*.csv")) == sorted(EXPECTED)
    readme = (SAMPLES / "README.md").read_text()
    assert all(name in readme for name in EXPECTED)


def test_sample_leads_and_rules_follow_the_spec_formats() -> None:
    with (SAMPLES / "leads.csv").open(newline="") as handle:
        leads = list(csv.DictReader(handle))
    with (SAMPLES / "payin_payout_rules.csv").open(newline="") as handle:
        rules = list(csv.DictReader(handle))

    assert all(re.fullmatch(r"AT-[0-9A-Z]{5}", lead["LeadId"]) for lead in leads)
    assert len({lead["LeadId"] for lead in leads}) == len(leads)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", lead["LeadCreatedAt"])
               for lead in leads)  # fmt: skip
    assert {lead["Status"] for lead in leads} == {"Pending", "Success", "Rejected"}
    assert all(re.fullmatch(r"\d{1,2} \d{2} \d{4}", rule[column])
               for rule in rules for column in ("KPIStartDate", "KPIEndDate"))  # fmt: skip
    assert any("\n" in rule["SuccessCriteria"] for rule in rules)
