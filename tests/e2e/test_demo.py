"""`payout demo` runs the whole chain on its own services, twice in a row, and cleans up."""

from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
from email import policy
from pathlib import Path

import psutil
import pytest

from localdev import demo
from payout_core.settings import PROJECT_ROOT, Settings
from tests.e2e.browser import payout_program

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
    # The first email ties out as samples/README.md shows: the held event beside the
    # released ones, the files' totals, and the credits.
    first_email = email.message_from_bytes(emails[0].read_bytes(), policy=policy.default)
    text = first_email.get_body(("plain",)).get_content()
    assert "WARNING" not in text
    assert (
        "Ties out: payin released ₹32,914.00 + held ₹3,609.00 = ₹36,523.00; payout released "
        "₹18,651.00 + held ₹1,504.00 = ₹20,155.00" in text
    )
    assert "= wallet credits of this cycle                                 18,651.00" in text
    assert "1 event held for a decision (₹1,504.00)" in str(first_email["Subject"])
    assert _children() <= children_before


def test_payout_demo_works_in_the_checkout_it_is_started_in(tmp_path: Path) -> None:
    """Issue 26: run from a second clone, `payout demo` read the first clone's samples/ and
    wiped its .state/demo. The `payout` installed in this checkout's venv, run from another
    checkout (whose samples hold one MIS file), reads and writes only that one."""
    checkout = tmp_path / "second-clone"
    (checkout / "samples" / "mis").mkdir(parents=True)
    for marker in ("function_app.py", "host.json"):  # what makes a folder a checkout
        shutil.copy(PROJECT_ROOT / marker, checkout)
    shutil.copytree(PROJECT_ROOT / "config", checkout / "config")  # its bank profiles
    mis_file = "mis/bank_e_savings_account_2023-10-03.csv"
    for sample in ("payin_payout_rules.csv", "leads.csv", mis_file):
        shutil.copy(PROJECT_ROOT / "samples" / sample, checkout / "samples" / sample)
    this_demo = PROJECT_ROOT / ".state" / "demo"
    before = this_demo.stat().st_mtime_ns if this_demo.exists() else None
    settings = {field.alias for field in Settings.model_fields.values()}

    finished = subprocess.run(
        [payout_program(), "demo"],
        cwd=checkout / "samples",  # anywhere inside the checkout
        env={name: value for name, value in os.environ.items() if name not in settings},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert finished.returncode == 0, finished.stdout + finished.stderr
    demo_dir = checkout / ".state" / "demo"
    assert f"demo state: {demo_dir}; samples: {checkout / 'samples'}\n" in finished.stdout
    assert "uploaded to mis-inbox: bank_e_savings_account_2023-10-03.csv\n" in finished.stdout
    assert len(list((demo_dir / "outbox").glob("**/*.eml"))) == 1
    assert (this_demo.stat().st_mtime_ns if this_demo.exists() else None) == before
