"""`payout host`: a small local Azure Functions host for the two trigger kinds this app uses.

Core Tools cannot be installed everywhere, so this runs `function_app.app` against
Azurite the way the real host would, closely enough to exercise the same code paths:

- Functions and bindings come from `function_app.app.get_functions()` (the same metadata
  the Python worker hands the real host); there is no second list of functions here.
  `%SETTING%` references in paths and schedules resolve from the environment, then the
  defaults in payout_core/settings.py. local.settings.json's Values are loaded first,
  like Core Tools does, without overriding variables already set.
- Blob trigger: the container is scanned every PAYOUT_HOST_POLL_INTERVAL_SECONDS. Each
  blob version is tracked by a receipt blob in `azure-webjobs-hosts`, laid out like the
  real host's: `blobreceipts/<host id>/<function id>/<etag>/<container>/<blob name>`
  (the ETag before the name because names may contain slashes). A completed receipt
  means a restart does not re-run that version; a re-upload has a new ETag and runs.
  A failing invocation is retried up to host.json's `extensions.blobs.poisonBlobThreshold`
  attempts (counted in the receipt, so restarts keep counting), then the blob is
  poisoned: a message on the `webjobs-blobtrigger-poison` queue in the real host's
  format, plus an error record (table, best effort, and `error_logs.csv`) so the
  operator sees it. Like the real host, the poisoned blob stays where it is.
- Timer trigger: NCRONTAB schedules (payout_core/ncrontab.py), UTC. With use_monitor the
  schedule status is kept in `timers/<host id>/<function id>/status`, so an occurrence
  missed while the host was down runs at start-up with `past_due=True`.

`--once` processes every waiting blob (retries included), runs no timer and exits:
0, or 1 if any blob ended poisoned. Without it the host loops until Ctrl-C.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobServiceClient

from localdev import ncrontab
from payout_core import storage
from payout_core.errors import describe_error
from payout_core.settings import PROJECT_ROOT, Settings, get_settings

log = logging.getLogger("payout.host")

LOCAL_SETTINGS_PATH = PROJECT_ROOT / "local.settings.json"
HOST_JSON_PATH = PROJECT_ROOT / "host.json"
FUNCTION_APP_MODULE = "function_app"

HOSTS_CONTAINER = "azure-webjobs-hosts"
RECEIPTS_PREFIX = "blobreceipts"
TIMERS_PREFIX = "timers"
POISON_QUEUE = "webjobs-blobtrigger-poison"
HOST_ID_SETTING = "AzureFunctionsWebHost__hostid"
DEFAULT_HOST_ID = "shiftpay-payout-local"
# The blobs extension's defaults when host.json says nothing.
DEFAULT_POISON_BLOB_THRESHOLD = 5
DEFAULT_MAX_DEGREE_OF_PARALLELISM = 1

EXIT_OK = 0
EXIT_POISONED = 1

RECEIPT_PENDING = "pending"
RECEIPT_COMPLETED = "completed"
RECEIPT_POISONED = "poisoned"


class HostConfigError(Exception):
    """The function app or its settings cannot be hosted as written."""


# --- configuration --------------------------------------------------------------------


def load_local_settings(path: Path) -> list[str]:
    """Copy local.settings.json's Values into the environment, never over a set variable.

    Returns the names it set. A missing file is fine: the settings defaults apply.
    """
    if not path.is_file():
        return []
    values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    applied = []
    for name, value in values.items():
        if name not in os.environ and value is not None:
            os.environ[name] = str(value)
            applied.append(name)
    log.info("loaded %d setting(s) from %s", len(applied), path)
    return applied


@dataclass(frozen=True)
class HostConfig:
    poison_blob_threshold: int = DEFAULT_POISON_BLOB_THRESHOLD
    max_degree_of_parallelism: int = DEFAULT_MAX_DEGREE_OF_PARALLELISM

    @classmethod
    def from_host_json(cls, path: Path) -> HostConfig:
        if not path.is_file():
            return cls()
        blobs = json.loads(path.read_text(encoding="utf-8")).get("extensions", {}).get("blobs", {})
        return cls(
            poison_blob_threshold=max(
                1, int(blobs.get("poisonBlobThreshold", DEFAULT_POISON_BLOB_THRESHOLD))
            ),
            max_degree_of_parallelism=max(
                1, int(blobs.get("maxDegreeOfParallelism", DEFAULT_MAX_DEGREE_OF_PARALLELISM))
            ),
        )


def app_setting(name: str, settings: Settings) -> str | None:
    """An app setting as the host sees it: the environment, else the app's own default."""
    if name in os.environ:
        return os.environ[name]
    for field_name, field_info in Settings.model_fields.items():
        if field_info.alias == name:
            value = getattr(settings, field_name)
            return None if value is None else str(value)
    return None


def resolve_setting_references(text: str, settings: Settings) -> str:
    """Replace each `%NAME%` with the app setting NAME, as the host does for bindings."""

    def replace(match: re.Match[str]) -> str:
        value = app_setting(match.group(1), settings)
        if value is None:
            raise HostConfigError(f"binding refers to %{match.group(1)}% but no such setting")
        return value

    return re.sub(r"%([^%]+)%", replace, text)


# --- function discovery ---------------------------------------------------------------


@dataclass(frozen=True)
class BlobTriggerFunction:
    name: str
    arg_name: str
    container: str
    name_pattern: re.Pattern[str]
    connection_setting: str
    user_function: Callable[..., Any]

    @property
    def function_id(self) -> str:
        return f"Host.Functions.{self.name}"


@dataclass(frozen=True)
class TimerTriggerFunction:
    name: str
    arg_name: str
    schedule: ncrontab.CronSchedule
    run_on_startup: bool
    use_monitor: bool
    user_function: Callable[..., Any]

    @property
    def function_id(self) -> str:
        return f"Host.Functions.{self.name}"


@dataclass(frozen=True)
class HostedFunctions:
    blob_functions: list[BlobTriggerFunction]
    timer_functions: list[TimerTriggerFunction]


def load_function_app(module_name: str = FUNCTION_APP_MODULE) -> func.FunctionApp:
    """Import the app the way the Python worker indexes it: `function_app.app`."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    module = importlib.import_module(module_name)
    app = getattr(module, "app", None)
    if not isinstance(app, func.FunctionApp):
        raise HostConfigError(f"{module_name}.app is not an azure.functions.FunctionApp")
    return app


def indexed_functions(app: func.FunctionApp) -> list[func.Function]:
    """`app.get_functions()`, callable more than once per process.

    azure-functions 1.26 remembers the names get_functions() validated, so a second call
    (a second host in one process, or a test) fails with "does not have a unique function
    name". The worker indexes once per process; forgetting that memo restores its view.
    """
    app.functions_bindings = None
    return app.get_functions()


def blob_path_pattern(pattern: str) -> re.Pattern[str]:
    """`{name}` binding expressions match the rest of a blob name, slashes included."""
    parts = re.split(r"(\{[^}]+\})", pattern)
    regex = "".join(
        f"(?P<{part[1:-1]}>.+)" if part.startswith("{") else re.escape(part) for part in parts
    )
    return re.compile(f"^{regex}$")


def discover_functions(app: func.FunctionApp, settings: Settings) -> HostedFunctions:
    blob_functions: list[BlobTriggerFunction] = []
    timer_functions: list[TimerTriggerFunction] = []
    for function in indexed_functions(app):
        name = function.get_function_name()
        trigger = function.get_trigger()
        binding = trigger.get_dict_repr() if trigger else {}
        kind = binding.get("type")
        if kind == "blobTrigger":
            path = resolve_setting_references(binding["path"], settings)
            container, _, name_pattern = path.partition("/")
            blob_functions.append(
                BlobTriggerFunction(
                    name=name,
                    arg_name=binding["name"],
                    container=container,
                    name_pattern=blob_path_pattern(name_pattern or "{name}"),
                    connection_setting=binding["connection"],
                    user_function=function.get_user_function(),
                )
            )
        elif kind == "timerTrigger":
            expression = resolve_setting_references(binding["schedule"], settings)
            timer_functions.append(
                TimerTriggerFunction(
                    name=name,
                    arg_name=binding["name"],
                    schedule=ncrontab.parse(expression),
                    run_on_startup=bool(binding.get("runOnStartup") or False),
                    use_monitor=binding.get("useMonitor") is not False,
                    user_function=function.get_user_function(),
                )
            )
        else:
            log.warning("function %s: trigger %r is not emulated by the local host", name, kind)
    return HostedFunctions(blob_functions, timer_functions)


# --- the blob trigger's input -------------------------------------------------------


class LazyBlobInputStream(func.blob.InputStream):
    """A func.InputStream whose content is downloaded only if the function reads it.

    Our function streams the blob itself, so the host must not download it first.
    """

    def __init__(self, blob: BlobClient, *, container: str, item: Any) -> None:
        properties = {
            "ETag": item.etag,
            "Length": item.size,
            "LastModified": item.last_modified.isoformat() if item.last_modified else None,
            "ContentType": getattr(item.content_settings, "content_type", None),
        }
        super().__init__(
            data=b"",
            name=f"{container}/{item.name}",
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


# --- host storage: receipts, timer status, poison queue ---------------------------------


@dataclass(frozen=True)
class Receipt:
    status: str
    attempts: int


class HostStorage:
    """What the host keeps in AzureWebJobsStorage, in the real host's places."""

    def __init__(self, client: BlobServiceClient, connection_string: str, host_id: str) -> None:
        self.client = client
        self.connection_string = connection_string
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
        self._hosts.get_blob_client(receipt_name).upload_blob(
            b"",
            overwrite=True,
            metadata={"status": receipt.status, "attempts": str(receipt.attempts)},
        )

    def timer_status_name(self, function_id: str) -> str:
        return f"{TIMERS_PREFIX}/{self.host_id}/{function_id}/status"

    def read_timer_status(self, function_id: str) -> dict[str, str] | None:
        try:
            raw = self._hosts.get_blob_client(self.timer_status_name(function_id)).download_blob()
            return json.loads(raw.readall())
        except (ResourceNotFoundError, ValueError):
            return None

    def write_timer_status(self, function_id: str, status: Mapping[str, str]) -> None:
        self._hosts.get_blob_client(self.timer_status_name(function_id)).upload_blob(
            json.dumps(dict(status)).encode("utf-8"), overwrite=True
        )

    def send_poison_message(self, message: Mapping[str, str]) -> None:
        # Imported here: only the local host needs the queue SDK (requirements-dev.txt).
        from azure.storage.queue import QueueClient

        settings = get_settings()
        queue = QueueClient.from_connection_string(
            self.connection_string,
            POISON_QUEUE,
            retry_total=settings.storage_retry_total,
            connection_timeout=settings.storage_connect_timeout_seconds,
            read_timeout=settings.storage_read_timeout_seconds,
        )
        with contextlib.suppress(ResourceExistsError):
            queue.create_queue()
        # Base64, the Functions queue extension's default encoding, so a queue trigger
        # on the poison queue would read it as the real host's message.
        body = json.dumps(dict(message)).encode("utf-8")
        queue.send_message(base64.b64encode(body).decode("ascii"))


# --- the host -------------------------------------------------------------------------


@dataclass(frozen=True)
class BlobCandidate:
    function: BlobTriggerFunction
    item: Any  # azure.storage.blob.BlobProperties from the listing
    receipt_name: str
    attempts: int


@dataclass
class PoisonRecord:
    """The error record when the database cannot give one (often why a blob is poisoned)."""

    mis: str
    error_type: str
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


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
            storage.service_client(webjobs_connection, settings), webjobs_connection, host_id
        )
        self._clients: dict[str, BlobServiceClient] = {}
        self._containers_made: set[tuple[str, str]] = set()
        self._retry_not_before: dict[str, float] = {}
        self._sleep = sleep
        self.poisoned_count = 0
        self.completed_count = 0

    # -- blobs --

    def _client_for(self, function: BlobTriggerFunction) -> BlobServiceClient:
        if function.connection_setting not in self._clients:
            connection = app_setting(function.connection_setting, self.settings)
            if not connection:
                raise HostConfigError(
                    f"function {function.name}: connection setting "
                    f"{function.connection_setting!r} is not set"
                )
            self._clients[function.connection_setting] = storage.service_client(
                connection, self.settings
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
                if not function.name_pattern.match(item.name):
                    continue
                receipt_name = self.host_storage.receipt_name(
                    function.function_id, function.container, item.name, item.etag
                )
                receipt = self.host_storage.read_receipt(receipt_name)
                if receipt and receipt.status in (RECEIPT_COMPLETED, RECEIPT_POISONED):
                    continue
                yield BlobCandidate(
                    function, item, receipt_name, receipt.attempts if receipt else 0
                )

    def process_blob(self, candidate: BlobCandidate) -> str:
        """One invocation of a blob function; returns the receipt's new status."""
        function, item = candidate.function, candidate.item
        blob_path = f"{function.container}/{item.name}"
        attempt = candidate.attempts + 1
        client = self._client_for(function)
        stream = LazyBlobInputStream(
            client.get_blob_client(function.container, item.name),
            container=function.container,
            item=item,
        )
        error = self._invoke(
            function.name,
            function.user_function,
            {function.arg_name: stream},
            reason=f"New blob detected(LogsAndContainerScan): {blob_path} (attempt {attempt})",
        )
        if error is None:
            self.host_storage.write_receipt(
                candidate.receipt_name, Receipt(RECEIPT_COMPLETED, attempt)
            )
            self.completed_count += 1
            return RECEIPT_COMPLETED
        if attempt >= self.config.poison_blob_threshold:
            self._poison(candidate, attempt, error)
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

    def _poison(self, candidate: BlobCandidate, attempts: int, error: BaseException) -> None:
        function, item = candidate.function, candidate.item
        log.error(
            "%s/%s: failed %d times (poisonBlobThreshold); poisoning it",
            function.container,
            item.name,
            attempts,
        )
        self.poisoned_count += 1
        self.host_storage.write_receipt(candidate.receipt_name, Receipt(RECEIPT_POISONED, attempts))
        message = {
            "Type": "BlobTrigger",
            "FunctionId": function.function_id,
            "BlobType": "BlockBlob",
            "ContainerName": function.container,
            "BlobName": item.name,
            "ETag": item.etag,
        }
        error_type = (
            f"gave up after {attempts} attempts; the file stays in {function.container} "
            f"(re-upload it to retry): {describe_error(error)}"
        )
        for step in (
            lambda: self.host_storage.send_poison_message(message),
            lambda: self._record_poison(item.name, error_type),
        ):
            try:
                step()
            except Exception:
                # Best effort: the receipt already stops retries; say what was not recorded.
                log.exception(
                    "%s/%s: could not record the poisoning", function.container, item.name
                )

    def _record_poison(self, mis_file: str, error_type: str) -> None:
        record: Any
        try:
            from payout_core.ledger import store

            record = store.record_error(mis_file, error_type)
        except Exception:
            log.exception("%s: error_logs table not written; error_logs.csv still is", mis_file)
            record = PoisonRecord(mis_file, error_type)
        client = storage.service_client(settings=self.settings)
        storage.ensure_containers(client, (self.settings.output_container,))
        storage.append_error_log(client, self.settings.output_container, record)

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
        """`--once`: every waiting blob until it completes or is poisoned."""
        while True:
            invoked, still_pending = self.run_blob_pass()
            if still_pending == 0:
                break
            if invoked == 0:
                self._sleep(min(self.settings.host_retry_delay_seconds, 1.0) or 0.05)
        log.info(
            "done: %d blob(s) processed, %d poisoned", self.completed_count, self.poisoned_count
        )
        return EXIT_POISONED if self.poisoned_count else EXIT_OK

    # -- timers --

    def start_timers(self, now: datetime) -> dict[str, datetime]:
        """Run what start-up calls for (a missed occurrence, runOnStartup); return next dues."""
        next_due: dict[str, datetime] = {}
        for timer in self.functions.timer_functions:
            status = (
                self.host_storage.read_timer_status(timer.function_id)
                if timer.use_monitor
                else None
            ) or {}
            missed_at = _parse_time(status.get("Next"))
            if missed_at is not None and missed_at <= now:
                self.fire_timer(timer, scheduled=missed_at, now=now, past_due=True)
            elif timer.run_on_startup:
                self.fire_timer(timer, scheduled=now, now=now, past_due=False)
            else:
                self._save_timer_status(
                    timer,
                    last=status.get("Last", ""),
                    next_due=timer.schedule.next_after(now),
                    now=now,
                )
            next_due[timer.name] = timer.schedule.next_after(now)
            log.info(
                "timer %s (%s): next run %s",
                timer.name,
                timer.schedule.expression,
                next_due[timer.name].isoformat(),
            )
        return next_due

    def fire_timer(
        self, timer: TimerTriggerFunction, *, scheduled: datetime, now: datetime, past_due: bool
    ) -> None:
        next_due = timer.schedule.next_after(now)
        request = func.timer.TimerRequest(
            past_due=past_due,
            schedule_status={
                "Last": scheduled.isoformat(),
                "Next": next_due.isoformat(),
                "LastUpdated": now.isoformat(),
            },
            schedule={"AdjustForDST": True},
        )
        # Timer failures are not retried, as in Azure: the next occurrence runs anew.
        self._invoke(
            timer.name,
            timer.user_function,
            {timer.arg_name: request},
            reason=f"Timer fired at {now.isoformat()}" + (" (past due)" if past_due else ""),
        )
        self._save_timer_status(timer, last=scheduled.isoformat(), next_due=next_due, now=now)

    def _save_timer_status(
        self, timer: TimerTriggerFunction, *, last: str, next_due: datetime, now: datetime
    ) -> None:
        if timer.use_monitor:
            self.host_storage.write_timer_status(
                timer.function_id,
                {"Last": last, "Next": next_due.isoformat(), "LastUpdated": now.isoformat()},
            )

    def run_due_timers(self, next_due: dict[str, datetime], now: datetime) -> None:
        for timer in self.functions.timer_functions:
            if next_due[timer.name] <= now:
                self.fire_timer(timer, scheduled=next_due[timer.name], now=now, past_due=False)
                next_due[timer.name] = timer.schedule.next_after(now)

    def run_forever(self, stop: threading.Event) -> int:
        next_due = self.start_timers(datetime.now(UTC))
        while not stop.is_set():
            try:
                self.run_blob_pass()
                self.run_due_timers(next_due, datetime.now(UTC))
            except Exception:
                # Storage unreachable for a moment must not end the host; the next poll retries.
                log.exception("host pass failed; retrying at the next poll")
            stop.wait(self.settings.host_poll_interval_seconds)
        return EXIT_OK

    # -- invocation --

    def _invoke(
        self,
        name: str,
        user_function: Callable[..., Any],
        arguments: dict[str, Any],
        *,
        reason: str,
    ) -> BaseException | None:
        invocation_id = uuid.uuid4()
        log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", name, reason, invocation_id)
        started = time.monotonic()
        try:
            user_function(**arguments)
        except Exception as error:
            duration_ms = (time.monotonic() - started) * 1000
            log.error(
                "Executed 'Functions.%s' (Failed, Id=%s, Duration=%.0fms): %s",
                name,
                invocation_id,
                duration_ms,
                error,
                exc_info=True,
            )
            return error
        duration_ms = (time.monotonic() - started) * 1000
        log.info(
            "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%.0fms)",
            name,
            invocation_id,
            duration_ms,
        )
        return None


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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
    config = HostConfig.from_host_json(host_json_path)
    host_id = os.environ.get(HOST_ID_SETTING, DEFAULT_HOST_ID)
    log.info(
        "host %s: %d blob function(s) %s, %d timer function(s) %s; poisonBlobThreshold=%d",
        host_id,
        len(functions.blob_functions),
        [f"{f.name} <- {f.container}" for f in functions.blob_functions],
        len(functions.timer_functions),
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
) -> int:
    """Host function_app.app locally. `once`: drain waiting blobs, run no timer, exit."""
    host = build_host(
        app=app, local_settings_path=local_settings_path, host_json_path=host_json_path
    )
    if once:
        return host.drain_blobs()
    log.info("host running; Ctrl-C stops it")
    try:
        return host.run_forever(stop or threading.Event())
    except KeyboardInterrupt:
        log.info("stopped")
        return EXIT_OK
