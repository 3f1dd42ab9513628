"""What the end-to-end tests share: Azurite and PostgreSQL with the samples loaded, and the
local host run once over what was uploaded."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from localdev import devhost
from payout_core.adapters import storage
from payout_core.flows.unit_of_work import Context
from payout_core.settings import Settings, get_settings
from tests.integration.sample_ledger import load_samples
from tests.support.postgres import this_tests_database


@dataclass
class Services:
    settings: Settings
    client: BlobServiceClient
    connection_string: str

    def upload(self, name: str, data: bytes) -> str:
        blob = self.client.get_blob_client(self.settings.mis_container, name)
        return blob.upload_blob(data, overwrite=True)["etag"]

    def read(self, container: str, name: str) -> bytes:
        return self.client.get_blob_client(container, name).download_blob().readall()

    def exists(self, container: str, name: str) -> bool:
        return self.client.get_blob_client(container, name).exists()

    def csv_rows(self, container: str, name: str) -> list[list[str]]:
        return list(csv.reader(io.StringIO(self.read(container, name).decode("utf-8"))))


@pytest.fixture
def services(
    database_url: str,
    storage_env: Settings,
    tmp_state: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Services]:
    monkeypatch.setenv("PAYOUT_HOST_RETRY_DELAY_SECONDS", "0")
    get_settings.cache_clear()
    settings = get_settings()
    loading = Context.open(settings)  # the operator's `payout rules load` / `leads load`
    try:
        load_samples(loading)
    finally:
        loading.close()
    client = storage.service_client(settings=settings)
    storage.ensure_containers(client, (settings.mis_container,))
    assert settings.storage_connection_string
    for queue_name in (devhost.POISON_QUEUE, devhost.POISON_QUEUE + "-poison"):
        # One Azurite serves every test: start from empty poison queues.
        queue = QueueClient.from_connection_string(settings.storage_connection_string, queue_name)
        with contextlib.suppress(ResourceNotFoundError):
            queue.clear_messages()
    yield Services(settings, client, settings.storage_connection_string)


def run_host_once(host_json: Path = devhost.HOST_JSON_PATH) -> int:
    # No local.settings.json: the test's environment is the whole configuration.
    return devhost.run_host(once=True, local_settings_path=None, host_json_path=host_json)


def runs_by_file() -> dict[str, list[dict]]:
    with this_tests_database() as conn:
        rows = conn.execute(
            "SELECT mis_file, rows_read, outcome_counts FROM mis_runs ORDER BY mis_run_id"
        ).fetchall()
    runs: dict[str, list[dict]] = {}
    for mis_file, rows_read, outcome_counts in rows:
        runs.setdefault(mis_file, []).append({"rows_read": rows_read, "outcomes": outcome_counts})
    return runs
