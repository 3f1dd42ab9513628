"""What the local host keeps in AzureWebJobsStorage, in the real host's places.

- Blob receipts, in `azure-webjobs-hosts`:
  `blobreceipts/<host id>/<function id>/<etag>/<container>/<blob>` (the ETag before the
  name because names may contain slashes). A completed or poisoned receipt means a
  restart does not re-run that version; a re-upload has a new ETag. The attempts are
  counted in the receipt, so restarts keep counting.
- Timer status: `timers/<host id>/<function id>/status` ({Last, Next, LastUpdated}).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from payout_core.adapters import storage

HOSTS_CONTAINER = "azure-webjobs-hosts"
RECEIPTS_PREFIX = "blobreceipts"
TIMERS_PREFIX = "timers"

RECEIPT_PENDING = "pending"
RECEIPT_COMPLETED = "completed"
RECEIPT_POISONED = "poisoned"


@dataclass(frozen=True)
class Receipt:
    status: str
    attempts: int


class HostStorage:
    def __init__(self, client: BlobServiceClient, host_id: str) -> None:
        self.client = client
        self.host_id = host_id
        storage.ensure_containers(client, (HOSTS_CONTAINER,))
        self._hosts = client.get_container_client(HOSTS_CONTAINER)

    def receipt_name(self, function_id: str, container: str, blob_name: str, etag: str) -> str:
        bare_etag = etag.strip('"')
        return f"{RECEIPTS_PREFIX}/{self.host_id}/{function_id}/{bare_etag}/{container}/{blob_name}"

    def read_receipt(self, receipt_name: str) -> Receipt | None:
        try:
            metadata = self._hosts.get_blob_client(receipt_name).get_blob_properties().metadata
        except ResourceNotFoundError:
            return None
        return Receipt(metadata.get("status", RECEIPT_PENDING), int(metadata.get("attempts", "0")))

    def write_receipt(self, receipt_name: str, receipt: Receipt) -> None:
        metadata = {"status": receipt.status, "attempts": str(receipt.attempts)}
        self._write(receipt_name, b"", metadata=metadata)

    def timer_status_name(self, function_id: str) -> str:
        return f"{TIMERS_PREFIX}/{self.host_id}/{function_id}/status"

    def read_timer_status(self, function_id: str) -> dict[str, str] | None:
        try:
            raw = self._hosts.get_blob_client(self.timer_status_name(function_id)).download_blob()
            return json.loads(raw.readall())
        except (ResourceNotFoundError, ValueError):
            return None

    def write_timer_status(self, function_id: str, status: Mapping[str, str]) -> None:
        self._write(self.timer_status_name(function_id), json.dumps(dict(status)).encode("utf-8"))

    def _write(self, blob_name: str, data: bytes, **options: object) -> None:
        """Write a host blob; a container gone meanwhile (an emulator restarted without its
        data) is made again."""
        blob = self._hosts.get_blob_client(blob_name)
        try:
            blob.upload_blob(data, overwrite=True, **options)
        except ResourceNotFoundError:
            storage.ensure_containers(self.client, (HOSTS_CONTAINER,))
            blob.upload_blob(data, overwrite=True, **options)
