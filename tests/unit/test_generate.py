"""The workload generator: exact expected outcomes, valid formats, determinism."""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from localdev import generate
from tests.support.oracle import classify_file


def _files(workload: generate.GeneratedWorkload) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in
            (workload.leads_path, workload.rules_path, workload.mis_path)}  # fmt: skip


@pytest.mark.parametrize("product_type", sorted(generate.PRODUCTS))
@pytest.mark.parametrize(("rows", "leads"), [(3_000, 4_000), (2_000, 1_000)])
def test_expected_outcomes_match_an_independent_reading_of_the_files(
    tmp_path: Path, product_type: str, rows: int, leads: int
) -> None:
    workload = generate.generate(tmp_path, rows=rows, leads=leads, product_type=product_type,
                                 seed=7, chunk_rows=700)  # fmt: skip
    expected = json.loads(workload.expected_path.read_text())[workload.mis_path.name]

    result = classify_file(workload.mis_path, workload.leads_path, workload.rules_path)

    assert {k: v for k, v in result.outcome_counts.items() if v} == {
        k: v for k, v in expected["outcome_counts"].items() if v
    }
    assert sum(expected["outcome_counts"].values()) == rows == expected["rows_read"]
    assert result.total_payin == Decimal(expected["total_payin"])
    assert result.total_payout == Decimal(expected["total_payout"])


def test_usual_mix_when_leads_suffice(tmp_path: Path) -> None:
    workload = generate.generate(tmp_path, rows=10_000, leads=20_000)
    shares = {name: count * 100 / 10_000 for name, count in workload.plan.counts.items()}
    assert shares == generate.OUTCOME_SHARES_PERCENT


def test_same_seed_same_bytes_whatever_the_chunk_size(tmp_path: Path) -> None:
    first = generate.generate(tmp_path / "a", rows=2_500, leads=3_000, seed=11, chunk_rows=1_000)
    second = generate.generate(tmp_path / "b", rows=2_500, leads=3_000, seed=11, chunk_rows=333)
    other_seed = generate.generate(tmp_path / "c", rows=2_500, leads=3_000, seed=12)

    assert _files(first) == _files(second)
    assert _files(first)[first.mis_path.name] != _files(other_seed)[other_seed.mis_path.name]


def test_lead_ids_are_eight_characters_unique_and_inside_tracking_ids(tmp_path: Path) -> None:
    workload = generate.generate(tmp_path, rows=1_000, leads=5_000, seed=3)
    with workload.leads_path.open(newline="") as handle:
        leads = list(csv.DictReader(handle))
    with workload.mis_path.open(newline="") as handle:
        mis_rows = list(csv.DictReader(handle))

    lead_ids = [lead["LeadId"] for lead in leads]
    assert len(set(lead_ids)) == len(lead_ids) == 5_000
    assert all(re.fullmatch(r"AT-[0-9A-Z]{5}", lead_id) for lead_id in lead_ids)
    tracking_ids = [row["TrackingId"] for row in mis_rows if row["TrackingId"]]
    assert all(re.fullmatch(r"KYC_new_AT-[0-9A-Z]{5}", value) for value in tracking_ids)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", lead["LeadCreatedAt"])
               for lead in leads)  # fmt: skip


def test_command_line_writes_the_files_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = generate.main([str(tmp_path), "--rows", "500", "--leads", "800",
                               "--product", "Personal Loan", "--seed", "5"])  # fmt: skip

    printed = capsys.readouterr().out
    assert exit_code == 0
    for name in ("leads.csv", "payin_payout_rules.csv", "mis_personal_loan.csv",
                 "expected_outcomes.json"):  # fmt: skip
        assert (tmp_path / name).is_file()
        assert name in printed


def test_too_few_leads_is_a_usage_error(tmp_path: Path) -> None:
    assert generate.main([str(tmp_path), "--rows", "10000", "--leads", "10"]) == 2
