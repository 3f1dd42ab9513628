"""`payout host`: a small local Azure Functions host for the triggers `function_app.app` declares.

Core Tools cannot be installed everywhere, so this runs the app against Azurite the way
the real host would, closely enough to exercise the same code paths, and it writes no
business table: whatever the app records, its own functions record.

- localdev/host_config.py: local.settings.json, host.json, `%SETTING%` references.
- localdev/discovery.py: the functions, from `app.get_functions()`; blob, queue and timer
  triggers are run, other kinds (HTTP) are listed for a server to pick up.
- Blob triggers (here): the containers are scanned every PAYOUT_HOST_POLL_INTERVAL_SECONDS
  (Azurite publishes no events). For a trigger whose source is EventGrid each new blob
  version becomes an Event Grid BlobCreated event and is delivered as one
  (localdev/blob_events.py); the function gets what the worker passes (the SDK-type
  BlobClient, made by the extension's own converter). Receipts (localdev/host_storage.py)
  keep a version from running twice; a failing invocation is retried up to host.json's
  `poisonBlobThreshold` attempts, then the host puts the real host's message on
  `webjobs-blobtrigger-poison` in the trigger's account and leaves the blob in place.
- Queue triggers (localdev/queues.py): e.g. the app's poison-queue function, which
  records the poisoned blob and moves it aside, as in Azure.
- Timer triggers (localdev/timers.py): NCRONTAB, UTC, past-due at start-up.

`--once` processes every waiting blob (retries included), then every queue message, runs
no timer and exits: 0, or 1 if any blob was poisoned. Without it the host loops until Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.core.exceptions import AzureError, ServiceRequestError, ServiceResponseError
from azure.storage.blob import BlobServiceClient

from localdev import blob_events, queues
from localdev.discovery import (
    BlobTriggerFunction,
    HostedFunctions,
    discover_functions,
    indexed_functions,
    load_function_app,
)
from localdev.host_config import (
    DEFAULT_HOST_ID,
    HOST_ID_SETTING,
    HOST_JSON_PATH,
    LOCAL_SETTINGS_PATH,
    HostConfig,
    HostConfigError,
    app_setting,
    export_connection_setting,
    load_local_settings,
    resolve_setting_references,
)
from localdev.host_storage import (
    RECEIPT_COMPLETED,
    RECEIPT_PENDING,
    RECEIPT_POISONED,
    HostStorage,
    Receipt,
)
from localdev.invocation import invoke
from localdev.queues import BLOB_POISON_QUEUE as POISON_QUEUE
from localdev.queues import QueueTriggers
from localdev.timers import TimerTriggers
from payout_core.adapters import storage
from payout_core.errors import PayoutError
from payout_core.settings import Settings, get_settings

log = logging.getLogger("payout.host")

EXIT_OK = 0
EXIT_POISONED = 1

__all__ = [  # the names tests and `payout host` use; the modules above hold the rest
    "EXIT_OK",
    "EXIT_POISONED",
    "HOST_JSON_PATH",
    "POISON_QUEUE",
    "HostConfig",
    "HostConfigError",
    "LocalHost",
    "build_host",
    "discover_functions",
    "indexed_functions",
    "resolve_setting_references",
    "run_host",
]


@dataclass(frozen=True)
class BlobCandidate:
    function: BlobTriggerFunction
    item: Any  # azure.storage.blob.BlobProperties from the listing
    receipt_name: str
    attempts: int


class LocalHost:
    def __init__(
        self,
        functions: HostedFunctions,
        settings: Settings,
        config: HostConfig,
        *,
        host_id: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.functions = functions
        self.settings = settings
        self.config = config
        webjobs_connection = (
            settings.webjobs_storage_connection_string or settings.storage_connection_string
        )
        self.host_storage = HostStorage(
            storage.service_client(settings, webjobs_connection), host_id
        )
        self.queue_triggers = QueueTriggers(functions.queue_functions, settings, config)
        self.timers = TimerTriggers(functions.timer_functions, self.host_storage)
        self._clients: dict[str, BlobServiceClient] = {}
        self._containers_made: set[tuple[str, str]] = set()
        self._retry_not_before: dict[str, float] = {}
        self._sleep = sleep
        self.poisoned_count = 0
        self.completed_count = 0
        self._last_failure = ""  # said once, however often the passes fail alike
        self._failed_passes = 0  # in a row

    # -- blobs --

    def _client_for(self, function: BlobTriggerFunction) -> BlobServiceClient:
        if function.connection_setting not in self._clients:
            connection = app_setting(function.connection_setting, self.settings)
            self._clients[function.connection_setting] = storage.service_client(
                self.settings, connection
            )
        client = self._clients[function.connection_setting]
        # Per function: several triggers (MIS, remittance, confirmations) share a connection.
        if (function.connection_setting, function.container) not in self._containers_made:
            storage.ensure_containers(client, (function.container,))
            self._containers_made.add((function.connection_setting, function.container))
        return client

    def pending_blobs(self) -> Iterator[BlobCandidate]:
        """Blob versions with no completed or poisoned receipt, for every blob function."""
        for function in self.functions.blob_functions:
            container = self._client_for(function).get_container_client(function.container)
            for item in container.list_blobs(include=["metadata"]):
                candidate = self._candidate(function, item)
                if candidate is not None:
                    yield candidate

    def _candidate(self, function: BlobTriggerFunction, item: Any) -> BlobCandidate | None:
        if not function.name_pattern.match(item.name):
            return None
        receipt_name = self.host_storage.receipt_name(
            function.function_id, function.container, item.name, item.etag
        )
        receipt = self.host_storage.read_receipt(receipt_name)
        if receipt and receipt.status in (RECEIPT_COMPLETED, RECEIPT_POISONED):
            return None
        return BlobCandidate(function, item, receipt_name, receipt.attempts if receipt else 0)

    def deliver_blob_event(self, event: dict[str, Any]) -> list[str]:
        """An Event Grid BlobCreated event, as the blobs extension's webhook receives it:
        run each EventGrid-source blob function whose path matches. Returns the receipts'
        new statuses (one per function run)."""
        created = blob_events.blob_from_event(event)
        if created is None:
            return []
        statuses = []
        for function in self.functions.blob_functions:
            if function.source != "EventGrid" or function.container != created.container:
                continue
            blob = self._client_for(function).get_blob_client(created.container, created.name)
            item = blob.get_blob_properties()
            if created.etag and item.etag.strip('"') != created.etag.strip('"'):
                continue  # replaced since the event: the new version has its own event
            candidate = self._candidate(function, item)
            if candidate is not None:
                statuses.append(self.process_blob(candidate))
        return statuses

    def process_blob(self, candidate: BlobCandidate) -> str:
        """One invocation of a blob function; returns the receipt's new status."""
        function, item = candidate.function, candidate.item
        blob_path = f"{function.container}/{item.name}"
        attempt = candidate.attempts + 1
        blob = self._client_for(function).get_blob_client(function.container, item.name)
        argument = blob_events.binding_argument(
            function.parameter_type,
            connection_setting=function.connection_setting,
            blob=blob,
            item=item,
        )
        error = invoke(
            function.name,
            function.user_function,
            {function.arg_name: argument},
            reason=f"New blob detected({function.source}): {blob_path} (attempt {attempt})",
        )
        if error is None:
            self.host_storage.write_receipt(
                candidate.receipt_name, Receipt(RECEIPT_COMPLETED, attempt)
            )
            self.completed_count += 1
            return RECEIPT_COMPLETED
        if attempt >= self.config.poison_blob_threshold:
            self._poison(candidate, attempt)
            return RECEIPT_POISONED
        self.host_storage.write_receipt(candidate.receipt_name, Receipt(RECEIPT_PENDING, attempt))
        self._retry_not_before[candidate.receipt_name] = (
            time.monotonic() + self.settings.host_retry_delay_seconds
        )
        log.warning(
            "%s: attempt %d of %d failed; will retry",
            blob_path,
            attempt,
            self.config.poison_blob_threshold,
        )
        return RECEIPT_PENDING

    def _poison(self, candidate: BlobCandidate, attempts: int) -> None:
        """Like the real host: a message on the poison queue, the blob left where it is.
        What happens next is the app's business (its poison-queue function, if any)."""
        function, item = candidate.function, candidate.item
        log.error(
            "%s/%s: failed %d times (poisonBlobThreshold); message on %s",
            function.container,
            item.name,
            attempts,
            POISON_QUEUE,
        )
        self.poisoned_count += 1
        queues.send_blob_poison_message(function, item.name, item.etag, self.settings)
        self.host_storage.write_receipt(candidate.receipt_name, Receipt(RECEIPT_POISONED, attempts))

    def _ready(self, candidate: BlobCandidate) -> bool:
        return self._retry_not_before.get(candidate.receipt_name, 0.0) <= time.monotonic()

    def run_blob_pass(self) -> tuple[int, int]:
        """Invoke every ready pending blob once. Returns (invoked, still pending)."""
        pending = list(self.pending_blobs())
        ready = [candidate for candidate in pending if self._ready(candidate)]
        if not ready:
            return 0, len(pending)
        workers = min(self.config.max_degree_of_parallelism, len(ready))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="blob") as pool:
            statuses = list(pool.map(self.process_blob, ready))
        still_pending = len(pending) - len(ready) + statuses.count(RECEIPT_PENDING)
        return len(ready), still_pending

    def drain_blobs(self) -> int:
        """Every waiting blob until it completes or is poisoned."""
        while True:
            invoked, still_pending = self.run_blob_pass()
            if still_pending == 0:
                break
            if invoked == 0:
                self._sleep(min(self.settings.host_retry_delay_seconds, 1.0) or 0.05)
        log.info("blobs done: %d processed, %d poisoned", self.completed_count, self.poisoned_count)
        return EXIT_POISONED if self.poisoned_count else EXIT_OK

    def drain(self) -> int:
        """`--once`: the blobs, then the queues (the poison messages the blobs left)."""
        exit_code = self.drain_blobs()
        self.queue_triggers.drain(self._sleep)
        return exit_code

    # -- the loop --

    def run_forever(
        self, stop: threading.Event, services_up: Callable[[], bool] = lambda: True
    ) -> int:
        """Poll until `stop`. `services_up` is asked before each pass (localdev/host_services.py:
        False skips the pass, an exception ends the host) and after a failed one."""
        next_due: dict[str, datetime] | None = None
        was_up = True
        while not stop.is_set():
            up = services_up()
            if up and not was_up:
                # Storage answers again, perhaps an emulator restarted without its data.
                self._containers_made.clear()
            was_up = up
            if up:
                try:
                    if next_due is None:  # in the loop: start-up reads storage too
                        next_due = self.timers.start(datetime.now(UTC))
                    self.run_blob_pass()
                    self.queue_triggers.run_pass()
                    self.timers.run_due(next_due, datetime.now(UTC))
                    self._last_failure, self._failed_passes = "", 0
                except Exception as error:
                    self._pass_failed(error, services_up)
            stop.wait(self.settings.host_poll_interval_seconds)
        return EXIT_OK

    def _pass_failed(self, error: Exception, services_up: Callable[[], bool]) -> None:
        """Storage unreachable for a moment must not end the host; the next poll retries.
        An outage the watch reports is said once, there; an app or SDK error in one line;
        anything else is a bug, with its traceback."""
        self._containers_made.clear()  # made again at the next pass, should one be gone
        self._failed_passes += 1
        if not services_up():
            return
        failure = str(error).splitlines()[0] if str(error) else type(error).__name__
        # A connection lost once is most likely an outage beginning, which the watch names
        # at the next poll; a failure said already is not said again.
        lost_connection = isinstance(error, ServiceRequestError | ServiceResponseError)
        if failure == self._last_failure or (lost_connection and self._failed_passes == 1):
            log.debug("host pass failed: %s", failure)
            return
        self._last_failure = failure
        if isinstance(error, PayoutError | AzureError):
            log.warning("host pass failed: %s; retrying at every poll", failure)
        else:
            log.exception("host pass failed; retrying at every poll")


def build_host(
    *,
    app: func.FunctionApp | None = None,
    local_settings_path: Path | None = LOCAL_SETTINGS_PATH,
    host_json_path: Path = HOST_JSON_PATH,
) -> LocalHost:
    if local_settings_path is not None and load_local_settings(local_settings_path):
        get_settings.cache_clear()
    settings = get_settings()
    functions = discover_functions(app or load_function_app(), settings)
    for connection_setting in {
        function.connection_setting
        for function in [*functions.blob_functions, *functions.queue_functions]
    }:
        export_connection_setting(connection_setting, settings)
    config = HostConfig.from_host_json(host_json_path)
    host_id = os.environ.get(HOST_ID_SETTING, DEFAULT_HOST_ID)
    log.info(
        "host %s: blob %s, queue %s, timer %s; poisonBlobThreshold=%d",
        host_id,
        [f"{f.name} <- {f.container} ({f.source})" for f in functions.blob_functions],
        [f"{f.name} <- {f.queue_name}" for f in functions.queue_functions],
        [f"{f.name} @ {f.schedule.expression}" for f in functions.timer_functions],
        config.poison_blob_threshold,
    )
    return LocalHost(functions, settings, config, host_id=host_id)


def run_host(
    once: bool,
    *,
    app: func.FunctionApp | None = None,
    local_settings_path: Path | None = LOCAL_SETTINGS_PATH,
    host_json_path: Path = HOST_JSON_PATH,
    stop: threading.Event | None = None,
    services_up: Callable[[], bool] = lambda: True,
) -> int:
    """Host function_app.app locally. `once`: drain blobs and queues, run no timer, exit."""
    host = build_host(
        app=app, local_settings_path=local_settings_path, host_json_path=host_json_path
    )
    if once:
        return host.drain()
    log.info("host running; Ctrl-C stops it")
    try:
        return host.run_forever(stop or threading.Event(), services_up)
    except KeyboardInterrupt:
        log.info("stopped")
        return EXIT_OK
