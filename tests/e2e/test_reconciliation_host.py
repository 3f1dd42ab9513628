"""Reconciliation files through the blob triggers, on real Azurite and real PostgreSQL:
`payout host --once` (devhost.run_host) runs function_app.app over the uploaded blobs."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from localdev import devhost
from payout_core.adapters import storage
from payout_core.flows.unit_of_work import Context
from payout_core.settings import PROJECT_ROOT, Settings, get_settings
from tests.e2e.conftest import run_host_once
from tests.integration.reconciliation_rows import paid
from tests.integration.sample_ledger import load_samples

pytestmark = pytest.mark.e2e

SAMPLES = PROJECT_ROOT / "samples"


@pytest.fixture
def settings(
    database_url: str, storage_env: Settings, tmp_state: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    suffix = storage_env.mis_container.removeprefix("mis-inbox-")
    monkeypatch.setenv("REMITTANCE_CONTAINER", f"remittance-inbox-{suffix}")
    monkeypatch.setenv("WALLET_CONFIRMATION_CONTAINER", f"wallet-confirmations-{suffix}")
    monkeypatch.setenv("PAYOUT_HOST_RETRY_DELAY_SECONDS", "0")
    get_settings.cache_clear()
    loading = Context.open(get_settings())  # the operator's `payout rules load` / `leads load`
    try:
        load_samples(loading)
    finally:
        loading.close()
    yield get_settings()


def upload(settings: Settings, container: str, name: str, data: bytes) -> None:
    client = storage.service_client(settings=settings)
    storage.ensure_containers(client, (container,))
    client.get_blob_client(container, name).upload_blob(data, overwrite=True)


def test_remittance_and_confirmation_blobs_are_reconciled_and_bad_ones_moved_aside(
    settings: Settings, database_url: str, context: Context
) -> None:
    paid(database_url, "AT-91961", "2500.00")
    paid(database_url, "AT-4K7PQ", "1500.00")
    remittance = (
        b"TrackingId,Amount,PaidOn,Reference\n"
        b"KYC_new_AT-91961,2500,20 10 2023,UTR-1\n"
        b"KYC_new_AT-4K7PQ,1000,20 10 2023,UTR-2\n"
    )
    upload(settings, settings.remittance_container, "bank_a_remittance.csv", remittance)
    upload(settings, settings.remittance_container, "broken.csv", b"TrackingId,Amount\nX,1\n")
    upload(
        settings,
        settings.wallet_confirmation_container,
        "wallet_cycle_1.csv",
        b"CreditId,Status,Reference,Reason\nCR-999999-0001,success,WAL-1,\n",
    )

    assert run_host_once() == devhost.EXIT_OK

    with context.reading() as conn:
        runs = conn.execute(
            "SELECT remittance_file, outcome_counts FROM remittance_runs"
        ).fetchall()
        confirmations = conn.execute(
            "SELECT confirmation_file, outcome_counts FROM confirmation_runs"
        ).fetchall()
        errors = conn.execute("SELECT mis, error_type FROM error_logs").fetchall()
    [(name, counts)] = runs
    assert name == "bank_a_remittance.csv"
    assert (counts["matched"], counts["short"]) == (1, 1)
    [(name, counts)] = confirmations
    assert (name, counts["unknown"]) == ("wallet_cycle_1.csv", 1)
    [(mis, error_type)] = errors
    assert mis == "broken.csv" and "PaidOn" in error_type

    client = storage.service_client(settings=settings)
    quarantined = client.get_blob_client(settings.quarantine_container, "broken.csv")
    assert quarantined.exists()
    assert not client.get_blob_client(settings.remittance_container, "broken.csv").exists()
    error_log = client.get_blob_client(settings.output_container, "error_logs.csv")
    rows = list(csv.reader(io.StringIO(error_log.download_blob().readall().decode("utf-8-sig"))))
    assert [row[1] for row in rows[1:]] == ["broken.csv"]

    # The same bytes uploaded again (a new ETag): every row a duplicate, nothing received.
    upload(settings, settings.remittance_container, "bank_a_remittance.csv", remittance)
    assert run_host_once() == devhost.EXIT_OK
    with context.reading() as conn:
        [(counts, total)] = conn.execute(
            "SELECT outcome_counts, total_received FROM remittance_runs"
            " ORDER BY remittance_run_id DESC LIMIT 1"
        ).fetchall()
        receipts = conn.execute("SELECT count(*) FROM remittance_receipts").fetchone()[0]
    assert counts["duplicate"] == 2
    assert (total, receipts) == (0, 2)
