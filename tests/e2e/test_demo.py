"""`payout demo` runs the whole chain on its own services, twice in a row, and cleans up."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from localdev import demo
from payout_core.settings import PROJECT_ROOT

pytestmark = pytest.mark.e2e

EXPECTED = json.loads((PROJECT_ROOT / "samples" / "expected_outcomes.json").read_text())


def _children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)
            if child.status() != psutil.STATUS_ZOMBIE}  # fmt: skip


def _accounting_line(output: str, mis_file: str) -> list[str]:
    return next(line.split() for line in output.splitlines() if line.startswith(mis_file))


def test_demo_processes_the_samples_and_stops_what_it_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    children_before = _children()
    outputs = []
    for _ in range(2):
        assert demo.run_demo(state_dir=tmp_path) == 0
        outputs.append(capsys.readouterr().out)

    first, second = outputs
    for mis_file, expected in EXPECTED.items():
        line = _accounting_line(first, mis_file)
        assert line[1] == str(expected["rows_read"])
        assert line[-2:] == [f"{expected['total_payin']}.00", f"{expected['total_payout']}.00"]
        assert _accounting_line(second, mis_file) == line
    assert "bank_a_unknown_product.csv" in first.split("Errors", 1)[1]
    assert "Gold Loan" in first
    # A held event and its approval: the second cycle credits it.
    assert "held: event" in first and "AT-K9R4M" in first and "1504.00" in first
    assert "approved by Finance Checker" in first
    assert "iteration 2 reported" in first
    # Reconciliation: the samples' remittances and the wallet team's answers, then the
    # failed credit sent again in the next cycle.
    reconciled = json.loads((PROJECT_ROOT / "samples" / "expected_reconciliation.json").read_text())
    for remittance_file, expected in reconciled["remittance"].items():
        shown = ", ".join(f"{k} {v}" for k, v in expected["outcomes"].items() if v)
        assert f"reconciled {remittance_file}: {shown}" in first
    for bank, expected in reconciled["receivables"].items():
        assert (
            f"{bank}: expected {expected['expected']}, received {expected['received']}, "
            f"outstanding {expected['outstanding']}, over-received {expected['over_received']}"
        ) in first
    assert "reconciled wallet_confirmations_cycle_1.csv: confirmed 2, failed 1, unknown 1" in first
    assert "sent again for CR-000001-0002" in first
    emails = sorted((tmp_path / "demo" / "outbox").glob("**/*.eml"))
    assert len(emails) == 3  # three cycles; the second run started from a clean folder
    assert f"email: {emails[0]}" in second
    assert _children() <= children_before
