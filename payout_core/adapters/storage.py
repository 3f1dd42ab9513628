"""Blob Storage port: the MIS inbox, the outputs for people, the error log and quarantine.

Everything the app does with Blob Storage goes through here, so the limits live in one
place: every client has bounded retries and per-request timeouts, and files move in
chunks between Storage and local disk (never whole in memory) because MIS files can be
larger than a Consumption instance's memory.
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Protocol

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobClient, BlobServiceClient, ContentSettings

from payout_core.adapters import entra
from payout_core.errors import (
    ERROR_LOG_HEADERS,
    MIS_SIZE_SETTING,
    ConfigurationError,
    check_mis_file_size,
    clean_error_text,
)
from payout_core.report.people_csv import neutralise_formula
from payout_core.settings import Settings

log = logging.getLogger(__name__)

# One HTTP request moves at most this much; it bounds the SDK's buffers per transfer.
TRANSFER_CHUNK_BYTES = 4 * 1024 * 1024
ERROR_LOG_BLOB = "error_logs.csv"
CSV_CONTENT = ContentSettings(content_type="text/csv; charset=utf-8")
# Same-account copies are usually done when the request returns; large ones are not.
COPY_WAIT_SECONDS_MAX = 600
COPY_POLL_SECONDS = 0.5
METADATA_VALUE_CHARS_MAX = 1024


class ErrorRecord(Protocol):
    """What `payout_core.ledger.store.record_error` returns; only these fields are written."""

    @property
    def created_at(self) -> object: ...
    @property
    def mis(self) -> str: ...
    @property
    def error_type(self) -> str: ...


@dataclass(frozen=True)
class StoredErrorRecord:
    """An ErrorRecord made without the database (when the table cannot be written)."""

    created_at: datetime
    mis: str
    error_type: str


@dataclass(frozen=True)
class BlobVersion:
    """The version of a blob a run works on: its ETag pins every later read and delete."""

    container: str
    name: str
    etag: str
    size_bytes: int


@dataclass(frozen=True)
class DownloadedBlob:
    path: Path
    etag: str
    size_bytes: int


def service_client(settings: Settings, connection_string: str | None = None) -> BlobServiceClient:
    """A client for the `MisStorage` account (or `connection_string`) with bounded I/O.

    `MisStorage` as a connection string (local, Azurite), or identity-based as the
    Functions host reads it: `MisStorage__blobServiceUri` with a managed identity
    (`MisStorage__clientId` for a user-assigned one).
    """
    options = {
        "retry_total": settings.storage_retry_total,
        "connection_timeout": settings.storage_connect_timeout_seconds,
        "read_timeout": settings.storage_read_timeout_seconds,
        "max_single_get_size": TRANSFER_CHUNK_BYTES,
        "max_chunk_get_size": TRANSFER_CHUNK_BYTES,
        "max_single_put_size": TRANSFER_CHUNK_BYTES,
        "max_block_size": TRANSFER_CHUNK_BYTES,
    }
    connection_string = connection_string or settings.storage_connection_string
    if connection_string:
        return BlobServiceClient.from_connection_string(connection_string, **options)
    if not settings.storage_blob_service_uri:
        raise ConfigurationError("MisStorage (or MisStorage__blobServiceUri) is not set")
    return BlobServiceClient(
        settings.storage_blob_service_uri,
        credential=entra.token_credential(settings.storage_client_id),
        **options,
    )


def ensure_containers(client: BlobServiceClient, names: Iterable[str]) -> None:
    for name in names:
        try:
            client.create_container(name)
            log.info("created container %s", name)
        except ResourceExistsError:
            pass


def blob_version(
    client: BlobServiceClient, container: str, name: str, etag: str | None = None
) -> BlobVersion:
    """The blob's current version, or the version `etag` names.

    Raises ResourceNotFoundError when the blob is gone and ResourceModifiedError when it
    was replaced since `etag`: in both cases another invocation owns what is there now.
    """
    blob = client.get_blob_client(container, name)
    conditions = etag_condition(etag)
    properties = blob.get_blob_properties(**conditions)
    return BlobVersion(container, name, properties.etag, properties.size)


def download_to_tempfile(
    client: BlobServiceClient,
    version: BlobVersion,
    *,
    max_bytes: int,
    max_bytes_setting: str = MIS_SIZE_SETTING,
    directory: Path | None = None,
) -> DownloadedBlob:
    """Stream exactly `version` to a new temporary file, chunk by chunk; the caller deletes it.

    The ETag condition makes every ranged GET fail if the blob is replaced mid-download,
    so the file on disk is one version, never a mix. `max_bytes` is checked while
    writing as well (MisFileTooLargeError), so a blob that lies about its size cannot
    fill the disk.
    """
    blob = client.get_blob_client(version.container, version.name)
    suffix = PurePosixPath(version.name).suffix or ".csv"
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - handed to the caller by path
        prefix="mis-", suffix=suffix, dir=directory, delete=False
    )
    path = Path(handle.name)
    try:
        with handle:
            downloader = blob.download_blob(max_concurrency=1, **etag_condition(version.etag))
            written_bytes = 0
            for chunk in downloader.chunks():
                written_bytes += len(chunk)
                check_mis_file_size(version.name, written_bytes, max_bytes, max_bytes_setting)
                handle.write(chunk)
        return DownloadedBlob(path, downloader.properties.etag, written_bytes)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def output_names(mis_file: str) -> tuple[str, str]:
    """Blob names of a file's success and rejected CSVs; folders in the MIS name are kept."""
    stem = str(PurePosixPath(mis_file).with_suffix(""))
    return f"success/{stem}.success.csv", f"rejected/{stem}.rejected.csv"


class BlobOutputs:
    """The output container as every function writes to it: the pipeline's OutputSink,
    the summary job's credits files, and `error_logs.csv` (functions.ErrorLog); in a local
    folder, outputs.LocalOutputs."""

    def __init__(self, client: BlobServiceClient, container: str) -> None:
        self._client = client
        self._container = container

    def publish_outputs(self, mis_file: str, success_csv: Path, rejected_csv: Path) -> None:
        success_name, rejected_name = output_names(mis_file)
        for local_path, blob_name in ((success_csv, success_name), (rejected_csv, rejected_name)):
            upload_file(self._client.get_blob_client(self._container, blob_name), local_path)
            log.info("published %s/%s", self._container, blob_name)

    def publish_credits_file(self, blob_name: str, data: bytes) -> None:
        # Overwrite: the file of a committed cycle is always the same bytes.
        self._client.get_blob_client(self._container, blob_name).upload_blob(
            data, overwrite=True, max_concurrency=1, content_settings=CSV_CONTENT
        )
        log.info("published %s/%s", self._container, blob_name)

    def append_error_log(self, record: ErrorRecord) -> None:
        append_error_log(self._client, self._container, record)


def credits_blob_name(cycle_number: int) -> str:
    """Where a cycle's wallet credits CSV goes in the output container."""
    return f"credits/wallet_credits_cycle_{cycle_number}.csv"


def upload_file(blob: BlobClient, path: Path) -> None:
    # Overwrite: a re-run of the same file (new ETag) describes the same MIS name anew.
    with path.open("rb") as stream:
        blob.upload_blob(
            stream,
            overwrite=True,
            length=path.stat().st_size,
            max_concurrency=1,
            content_settings=CSV_CONTENT,
        )


def csv_line(values: Iterable[object]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return buffer.getvalue().encode("utf-8")


def append_error_log(client: BlobServiceClient, container: str, record: ErrorRecord) -> None:
    """Append one row to `error_logs.csv` (an Append Blob), writing the header first if new.

    Safe against concurrent writers without a lock: the header goes in only at append
    position 0, so exactly one writer puts it there and every row lands after it.
    """
    blob = client.get_blob_client(container, ERROR_LOG_BLOB)
    try:
        blob.create_append_blob(
            content_settings=CSV_CONTENT, match_condition=MatchConditions.IfMissing
        )
    except (ResourceExistsError, HttpResponseError) as error:
        if not _is_exists_or_precondition(error):
            raise
    try:
        blob.append_block(csv_line(ERROR_LOG_HEADERS), appendpos_condition=0)
    except HttpResponseError as error:
        if error.status_code != 412:  # the blob already has its header (and maybe rows)
            raise
    blob.append_block(error_log_line(record))


def error_log_line(record: ErrorRecord) -> bytes:
    """One `error_logs.csv` row (SPEC §6), the same in storage and in a local folder: the
    texts cleaned and capped, and neutralised as the email's attachment is (a file named
    `=cmd|...` must not run as a formula in the spreadsheet finance opens it with)."""
    created_at = record.created_at
    created_text = created_at.isoformat() if hasattr(created_at, "isoformat") else created_at
    mis, error_type = (
        neutralise_formula(clean_error_text(text)) for text in (record.mis, record.error_type)
    )
    return csv_line((created_text, mis, error_type))


def quarantine(
    client: BlobServiceClient,
    version: BlobVersion,
    quarantine_container: str,
    *,
    reason: str | None = None,
) -> str | None:
    """Move the blob (copy, then delete) to the quarantine container under the same name.

    Both steps are conditioned on the ETag: if someone uploaded a new version meanwhile,
    that one stays in the inbox for its own run and nothing is moved (returns None).
    Returns the quarantined blob's URL.
    """
    source = client.get_blob_client(version.container, version.name)
    target = client.get_blob_client(quarantine_container, version.name)
    metadata = {"payout_source_etag": _ascii(version.etag.strip('"'))}
    if reason:
        metadata["payout_error"] = _ascii(reason)
    try:
        copy = target.start_copy_from_url(
            source.url, metadata=metadata, **_source_etag_condition(version)
        )
        _wait_for_copy(target, copy.get("copy_status"))
        source.delete_blob(**etag_condition(version.etag))
    except HttpResponseError as error:
        if error.status_code not in (404, 412):
            raise
        log.warning(
            "%s/%s changed or vanished since it was read; not quarantined",
            version.container,
            version.name,
        )
        return None
    log.info("quarantined %s/%s -> %s", version.container, version.name, target.url)
    return target.url


def _wait_for_copy(target: BlobClient, status: str | None) -> None:
    deadline = time.monotonic() + COPY_WAIT_SECONDS_MAX
    while status == "pending":
        if time.monotonic() > deadline:
            raise TimeoutError(f"copy to {target.url} still pending after {COPY_WAIT_SECONDS_MAX}s")
        time.sleep(COPY_POLL_SECONDS)
        status = target.get_blob_properties().copy.status
    if status != "success":
        raise HttpResponseError(f"copy to {target.url} ended with status {status!r}")


def etag_condition(etag: str | None) -> dict[str, object]:
    if etag is None:
        return {}
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def _source_etag_condition(version: BlobVersion) -> dict[str, object]:
    return {"source_etag": version.etag, "source_match_condition": MatchConditions.IfNotModified}


def _is_exists_or_precondition(error: HttpResponseError) -> bool:
    return isinstance(error, ResourceExistsError) or error.status_code in (409, 412)


def _ascii(text: str) -> str:
    # Blob metadata values travel as HTTP headers: ASCII only, bounded length.
    cleaned = text.encode("ascii", "replace").decode("ascii").replace("\n", " ").replace("\r", " ")
    return cleaned[:METADATA_VALUE_CHARS_MAX]
