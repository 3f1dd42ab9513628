"""Storage queues as the Functions host uses them: the blob trigger's poison queue, and
queue triggers (run here like the queues extension runs them).

Messages are base64 JSON, the queues extension's default encoding (`messageEncoding`),
so what the local host writes reads the same in Azure and vice versa. A queue trigger's
message is received with a visibility timeout, passed as `func.QueueMessage` (with its
dequeue count), deleted when the function succeeds, made visible again after
PAYOUT_HOST_RETRY_DELAY_SECONDS when it fails, and moved to `<queue>-poison` after
host.json's `extensions.queues.maxDequeueCount` attempts.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import azure.functions as func
from azure.core.exceptions import ResourceExistsError

from localdev.discovery import BlobTriggerFunction, QueueTriggerFunction
from localdev.host_config import HostConfig, HostConfigError, app_setting
from localdev.invocation import invoke
from payout_core.adapters import entra
from payout_core.settings import Settings

log = logging.getLogger("payout.host")

BLOB_POISON_QUEUE = "webjobs-blobtrigger-poison"
POISON_SUFFIX = "-poison"
# Long enough for one invocation of ours; the host's default is 10 minutes.
RECEIVE_VISIBILITY_SECONDS = 600


def queue_client(connection_setting: str, queue_name: str, settings: Settings) -> Any:
    """A QueueClient for the account a connection setting names (string or identity)."""
    from azure.storage.queue import QueueClient  # requirements-dev.txt: local host only

    options = {
        "retry_total": settings.storage_retry_total,
        "connection_timeout": settings.storage_connect_timeout_seconds,
        "read_timeout": settings.storage_read_timeout_seconds,
    }
    service_uri = os.environ.get(f"{connection_setting}__queueServiceUri")
    if service_uri:
        credential = entra.token_credential(os.environ.get(f"{connection_setting}__clientId"))
        client = QueueClient(service_uri, queue_name, credential=credential, **options)
    else:
        connection = app_setting(connection_setting, settings)
        if not connection:
            raise HostConfigError(f"connection setting {connection_setting!r} is not set")
        client = QueueClient.from_connection_string(connection, queue_name, **options)
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    return client


def encode(body: Mapping[str, Any]) -> str:
    return base64.b64encode(json.dumps(dict(body)).encode("utf-8")).decode("ascii")


def decode(content: str) -> bytes:
    try:
        return base64.b64decode(content, validate=True)
    except ValueError:
        return content.encode("utf-8")  # a message someone put in as plain text


def blob_poison_message(function: BlobTriggerFunction, blob_name: str, etag: str) -> dict:
    """The host's BlobTriggerMessage for a blob that failed poisonBlobThreshold times."""
    return {
        "Type": "BlobTrigger",
        "FunctionId": function.function_id,
        "BlobType": "BlockBlob",
        "ContainerName": function.container,
        "BlobName": blob_name,
        "ETag": etag,
    }


def send_blob_poison_message(
    function: BlobTriggerFunction, blob_name: str, etag: str, settings: Settings
) -> None:
    """On the poison queue of the trigger's own storage account, as the host does."""
    queue = queue_client(function.connection_setting, BLOB_POISON_QUEUE, settings)
    queue.send_message(encode(blob_poison_message(function, blob_name, etag)))


class QueueTriggers:
    """Runs the queue-triggered functions over their queues."""

    def __init__(
        self, functions: list[QueueTriggerFunction], settings: Settings, config: HostConfig
    ) -> None:
        self.functions = functions
        self.settings = settings
        self.config = config
        self._queues: dict[str, Any] = {}
        self.poisoned_count = 0

    def _queue(self, function: QueueTriggerFunction) -> Any:
        if function.name not in self._queues:
            self._queues[function.name] = queue_client(
                function.connection_setting, function.queue_name, self.settings
            )
        return self._queues[function.name]

    def run_pass(self) -> int:
        """Invoke every visible message once; returns how many were invoked."""
        invoked = 0
        for function in self.functions:
            queue = self._queue(function)
            for message in queue.receive_messages(
                messages_per_page=16, visibility_timeout=RECEIVE_VISIBILITY_SECONDS
            ):
                invoked += 1
                self._handle(function, queue, message)
        return invoked

    def pending_count(self) -> int:
        """Messages still in the queues, visible or waiting for a retry."""
        return sum(
            self._queue(function).get_queue_properties().approximate_message_count
            for function in self.functions
        )

    def drain(self, sleep: Callable[[float], None]) -> None:
        while True:
            invoked = self.run_pass()
            if not self.pending_count():
                return
            if invoked == 0:
                sleep(min(self.settings.host_retry_delay_seconds, 1.0) or 0.05)

    def _handle(self, function: QueueTriggerFunction, queue: Any, message: Any) -> None:
        argument = func.queue.QueueMessage(
            id=message.id,
            body=decode(message.content),
            dequeue_count=message.dequeue_count,
            expiration_time=message.expires_on,
            insertion_time=message.inserted_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        error = invoke(
            function.name,
            function.user_function,
            {function.arg_name: argument},
            reason=f"New queue message detected on '{function.queue_name}'",
        )
        if error is None:
            queue.delete_message(message.id, message.pop_receipt)
            return
        if message.dequeue_count >= self.config.max_dequeue_count:
            poison_name = function.queue_name + POISON_SUFFIX
            log.error(
                "message %s on %s failed %d times; moving it to %s",
                message.id,
                function.queue_name,
                message.dequeue_count,
                poison_name,
            )
            poison = queue_client(function.connection_setting, poison_name, self.settings)
            poison.send_message(message.content)
            queue.delete_message(message.id, message.pop_receipt)
            self.poisoned_count += 1
            return
        queue.update_message(
            message.id,
            message.pop_receipt,
            visibility_timeout=int(self.settings.host_retry_delay_seconds),
        )
