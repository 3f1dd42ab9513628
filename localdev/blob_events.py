"""Blob triggers as Azure delivers them: Event Grid BlobCreated events, and the argument the
Python worker passes to the function.

- `blob_created_event` builds the `Microsoft.Storage.BlobCreated` event (Event Grid
  schema) that a storage account's event subscription posts to the blobs extension's
  webhook; the local host makes one for each new blob version it finds on Azurite (which
  publishes no events) and delivers it through `blob_from_event`, the same parsing a
  webhook endpoint would use.
- `binding_argument` makes what the worker passes: for an SDK type
  (`azurefunctions.extensions.bindings.blob.BlobClient`) it calls the extension's own
  converter with the host's `model_binding_data` ({Connection, ContainerName, BlobName}),
  so the client is built from the connection setting exactly as in Azure; for
  `func.InputStream` a stream that downloads only when read.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import azure.functions as func
from azure.storage.blob import BlobClient

from payout_core.adapters import storage

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
SUBJECT_PREFIX = "/blobServices/default/containers/"
# What the Functions host sends the worker for an SDK-type blob binding.
MODEL_BINDING_SOURCE = "AzureStorageBlobs"
MODEL_BINDING_CONTENT_TYPE = "application/json"


def blob_created_event(blob: BlobClient, item: Any) -> dict[str, Any]:
    """The Event Grid event for a new blob version (`item`: its listed BlobProperties)."""
    return {
        "topic": f"/subscriptions/local/resourceGroups/local/providers/"
        f"Microsoft.Storage/storageAccounts/{blob.account_name}",
        "subject": f"{SUBJECT_PREFIX}{blob.container_name}/blobs/{blob.blob_name}",
        "eventType": BLOB_CREATED,
        "id": str(uuid.uuid4()),
        "eventTime": (item.last_modified or datetime.now(UTC)).isoformat(),
        "data": {
            "api": "PutBlob",
            "eTag": item.etag,
            "contentType": getattr(item.content_settings, "content_type", None),
            "contentLength": item.size,
            "blobType": "BlockBlob",
            "url": blob.url,
            "sequencer": f"{int((item.last_modified or datetime.now(UTC)).timestamp() * 1e6):032x}",
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }


@dataclass(frozen=True)
class CreatedBlob:
    container: str
    name: str
    etag: str | None


def blob_from_event(event: dict[str, Any]) -> CreatedBlob | None:
    """The blob a BlobCreated event names; None for any other event."""
    if event.get("eventType") != BLOB_CREATED:
        return None
    subject = str(event.get("subject", ""))
    if not subject.startswith(SUBJECT_PREFIX) or "/blobs/" not in subject:
        return None
    container, _, name = subject[len(SUBJECT_PREFIX) :].partition("/blobs/")
    return CreatedBlob(container, unquote(name), (event.get("data") or {}).get("eTag"))


@dataclass(frozen=True)
class ModelBindingData:
    """The shape of the host's ModelBindingData message, as the extension reads it."""

    content: bytes
    version: str = "1.0"
    source: str = MODEL_BINDING_SOURCE
    content_type: str = MODEL_BINDING_CONTENT_TYPE


def is_sdk_type(parameter_type: Any) -> bool:
    from azurefunctions.extensions.base import SdkType

    return isinstance(parameter_type, type) and issubclass(parameter_type, SdkType)


def binding_argument(
    parameter_type: Any, *, connection_setting: str, blob: BlobClient, item: Any
) -> Any:
    """What the worker passes for a blob trigger parameter of `parameter_type`."""
    if is_sdk_type(parameter_type):
        from azurefunctions.extensions.base import Datum
        from azurefunctions.extensions.bindings.blob import BlobClientConverter

        content = json.dumps(
            {
                "Connection": connection_setting,
                "ContainerName": blob.container_name,
                "BlobName": blob.blob_name,
            }
        ).encode("utf-8")
        datum = Datum(ModelBindingData(content), "model_binding_data")
        return BlobClientConverter.decode(datum, trigger_metadata=None, pytype=parameter_type)
    return LazyBlobInputStream(blob, item=item)


class LazyBlobInputStream(func.blob.InputStream):
    """A func.InputStream whose content is downloaded only if the function reads it."""

    def __init__(self, blob: BlobClient, *, item: Any) -> None:
        properties = {
            "ETag": item.etag,
            "Length": item.size,
            "LastModified": item.last_modified.isoformat() if item.last_modified else None,
            "ContentType": getattr(item.content_settings, "content_type", None),
        }
        super().__init__(
            data=b"",
            name=f"{blob.container_name}/{blob.blob_name}",
            uri=blob.url,
            length=item.size,
            blob_properties=properties,
            metadata=dict(item.metadata or {}),
        )
        self._blob = blob
        self._etag = item.etag
        self._downloader: Any = None

    def read(self, size: int | None = -1) -> bytes:
        if self._downloader is None:
            self._downloader = self._blob.download_blob(**storage.etag_condition(self._etag))
        return self._downloader.read(-1 if size is None else size)

    read1 = read
