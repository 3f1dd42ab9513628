"""The Blob Storage port against real Azurite: download, outputs, error log, quarantine."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from payout_core.adapters import storage
from payout_core.errors import MisFileTooLargeError, clean_error_text
from payout_core.settings import Settings

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Record:
    created_at: datetime
    mis: str
    error_type: str


@pytest.fixture
def client(storage_env: Settings) -> BlobServiceClient:
    client = storage.service_client(settings=storage_env)
    storage.ensure_containers(
        client,
        (storage_env.mis_container, storage_env.output_container, storage_env.quarantine_container),
    )
    return client


def upload(client: BlobServiceClient, container: str, name: str, data: bytes) -> None:
    client.get_blob_client(container, name).upload_blob(data, overwrite=True)


def read(client: BlobServiceClient, container: str, name: str) -> bytes:
    return client.get_blob_client(container, name).download_blob().readall()


def test_ensure_containers_is_idempotent(client: BlobServiceClient, storage_env: Settings) -> None:
    storage.ensure_containers(client, (storage_env.mis_container,))
    assert client.get_container_client(storage_env.mis_container).exists()


def test_download_streams_a_multi_chunk_blob_to_a_temp_file(
    client: BlobServiceClient, storage_env: Settings, tmp_path: Path
) -> None:
    # Larger than one transfer chunk, so the download takes several ranged requests.
    content = b"SourceType,TrackingId\n" + b"Bank_A,KYC_new_AT-91961\n" * 400_000
    assert len(content) > 2 * storage.TRANSFER_CHUNK_BYTES
    upload(client, storage_env.mis_container, "big/bank_a.csv", content)

    version = storage.blob_version(client, storage_env.mis_container, "big/bank_a.csv")
    downloaded = storage.download_to_tempfile(
        client, version, max_bytes=len(content), directory=tmp_path
    )

    assert downloaded.path.parent == tmp_path
    assert downloaded.path.suffix == ".csv"
    assert downloaded.path.read_bytes() == content
    assert (downloaded.etag, downloaded.size_bytes) == (version.etag, len(content))


def test_download_over_the_limit_fails_and_leaves_no_file(
    client: BlobServiceClient, storage_env: Settings, tmp_path: Path
) -> None:
    upload(client, storage_env.mis_container, "a.csv", b"x" * 1000)
    version = storage.blob_version(client, storage_env.mis_container, "a.csv")
    with pytest.raises(MisFileTooLargeError, match="999"):
        storage.download_to_tempfile(client, version, max_bytes=999, directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_blob_version_pins_the_etag(client: BlobServiceClient, storage_env: Settings) -> None:
    container = storage_env.mis_container
    upload(client, container, "a.csv", b"first")
    first = storage.blob_version(client, container, "a.csv")
    upload(client, container, "a.csv", b"second")
    with pytest.raises(ResourceModifiedError):
        storage.blob_version(client, container, "a.csv", first.etag)
    with pytest.raises(ResourceNotFoundError):
        storage.blob_version(client, container, "missing.csv")


def test_outputs_are_published_under_success_and_rejected(
    client: BlobServiceClient, storage_env: Settings, tmp_path: Path
) -> None:
    success_csv = tmp_path / "s.csv"
    rejected_csv = tmp_path / "r.csv"
    success_csv.write_text("CreatedAt,LeadId\n2023-10-02,AT-91961\n")
    rejected_csv.write_text("TrackingId,Outcome,Reason\nX,invalid,no TrackingId\n")

    outputs = storage.BlobOutputs(client, storage_env.output_container)
    outputs.publish_outputs("2023/bank_a.csv", success_csv, rejected_csv)
    outputs.publish_outputs("2023/bank_a.csv", success_csv, rejected_csv)  # re-run overwrites

    output = storage_env.output_container
    assert read(client, output, "success/2023/bank_a.success.csv") == success_csv.read_bytes()
    assert read(client, output, "rejected/2023/bank_a.rejected.csv") == rejected_csv.read_bytes()
    properties = client.get_blob_client(output, "success/2023/bank_a.success.csv")
    assert properties.get_blob_properties().content_settings.content_type.startswith("text/csv")


def test_error_log_appends_rows_under_a_single_header(
    client: BlobServiceClient, storage_env: Settings
) -> None:
    first = Record(datetime(2023, 10, 2, 10, 0, tzinfo=UTC), "bank_a.csv", "unknown product")
    second = Record(
        datetime(2023, 10, 2, 11, 0, tzinfo=UTC),
        'bank "b", weekly.csv',
        "required columns missing:\nTrackingId, DisbursedAmount",
    )
    storage.append_error_log(client, storage_env.output_container, first)
    storage.append_error_log(client, storage_env.output_container, second)

    text = read(client, storage_env.output_container, storage.ERROR_LOG_BLOB).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["CreatedAt", "MIS", "ErrorType"],
        ["2023-10-02T10:00:00+00:00", "bank_a.csv", "unknown product"],
        # SPEC §6: control characters (the line break too) replaced in ErrorType
        ["2023-10-02T11:00:00+00:00", 'bank "b", weekly.csv', clean_error_text(second.error_type)],
    ]
    assert rows[2][2] == "required columns missing: TrackingId, DisbursedAmount"
    blob = client.get_blob_client(storage_env.output_container, storage.ERROR_LOG_BLOB)
    assert blob.get_blob_properties().blob_type == "AppendBlob"


def test_quarantine_moves_the_blob_and_keeps_its_name(
    client: BlobServiceClient, storage_env: Settings
) -> None:
    upload(client, storage_env.mis_container, "2023/bad.csv", b"not,a,mis\n")
    version = storage.blob_version(client, storage_env.mis_container, "2023/bad.csv")

    url = storage.quarantine(
        client, version, storage_env.quarantine_container, reason="unknown product ‘Gold’"
    )

    assert url is not None and url.endswith("/2023/bad.csv")
    assert read(client, storage_env.quarantine_container, "2023/bad.csv") == b"not,a,mis\n"
    assert not client.get_blob_client(storage_env.mis_container, "2023/bad.csv").exists()
    metadata = (
        client.get_blob_client(storage_env.quarantine_container, "2023/bad.csv")
        .get_blob_properties()
        .metadata
    )
    assert metadata["payout_error"].startswith("unknown product")


def test_quarantine_leaves_a_newer_upload_in_the_inbox(
    client: BlobServiceClient, storage_env: Settings
) -> None:
    upload(client, storage_env.mis_container, "a.csv", b"bad version")
    bad = storage.blob_version(client, storage_env.mis_container, "a.csv")
    upload(client, storage_env.mis_container, "a.csv", b"fixed version")

    assert storage.quarantine(client, bad, storage_env.quarantine_container) is None
    assert read(client, storage_env.mis_container, "a.csv") == b"fixed version"
    assert not client.get_blob_client(storage_env.quarantine_container, "a.csv").exists()
