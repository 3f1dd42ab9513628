"""What happens to a file that could not be processed: its error recorded (the `error_logs`
table, then `error_logs.csv`), the file moved aside, and, while the host still retries
it, the cause of each failed attempt noted beside it for the poison handler."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from azure.core.exceptions import ResourceNotFoundError

from payout_core.adapters import storage, telemetry
from payout_core.errors import describe_error
from payout_core.flows.unit_of_work import Context

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

    from payout_core.settings import Settings

log = logging.getLogger(__name__)

# Where a failed attempt leaves its cause for the poison handler (output container).
ATTEMPTS_PREFIX = "attempts/"
# host.json `extensions.queues.maxDequeueCount`: the poison handler's own last attempt.
POISON_HANDLER_ATTEMPTS_MAX = 5
FAILURE_CONFIGURATION = "configuration"
FAILURE_TRANSIENT = "transient"
FAILURE_UNEXPECTED = "unexpected"


class ErrorLog(Protocol):
    """Where `error_logs.csv` is kept: the output container, or `payout process`'s folder."""

    def append_error_log(self, record: storage.ErrorRecord) -> None: ...


def record_error(
    context: Context, mis_file: str, error_type: str, error_log: ErrorLog | None
) -> object:
    """The one path that records an error: the `error_logs` table, then `error_logs.csv`.

    The table comes first: if the database is down this raises TransientError before
    anything is written, and the retry records the error once. Returns the table's record.
    """
    from payout_core.ledger import error_logs

    with context.unit_of_work() as uow:
        record = error_logs.record_error(uow.conn, mis_file, error_type)
        uow.commit()
    if error_log is not None:
        error_log.append_error_log(record)
    return record


def record_file_error(
    client: BlobServiceClient, context: Context, mis_file: str, error_type: str
) -> None:
    """`record_error` with the output container's `error_logs.csv` (the caller made sure
    the output and quarantine containers exist)."""
    outputs = storage.BlobOutputs(client, context.settings.output_container)
    record_error(context, mis_file, error_type, outputs)


def refuse_file(
    client: BlobServiceClient,
    context: Context,
    version: storage.BlobVersion,
    error_type: str,
) -> None:
    settings = context.settings
    log.error(
        "%s: refused, moving to %s: %s", version.name, settings.quarantine_container, error_type
    )
    record_file_error(client, context, version.name, error_type)
    telemetry.file_refused()
    # Last, because once the blob has left the inbox nothing would retry the steps above.
    storage.quarantine(client, version, settings.quarantine_container, reason=error_type)


@dataclass(frozen=True)
class FailedAttempt:
    """The cause of a blob's latest failed attempt, kept for the poison handler: the
    host's poison message says which blob, never why."""

    kind: str
    cause: str
    noted_at: str


def attempt_note_name(container: str, blob_name: str) -> str:
    return f"{ATTEMPTS_PREFIX}{container}/{blob_name}.json"


def note_failed_attempt(
    client: BlobServiceClient,
    settings: Settings,
    container: str,
    blob_name: str,
    kind: str,
    error: BaseException,
) -> None:
    cause = describe_error(error)
    if kind == FAILURE_UNEXPECTED:
        cause = f"unexpected {type(error).__name__}: {cause}"
    note = FailedAttempt(kind, cause, datetime.now(UTC).isoformat())
    try:
        storage.ensure_containers(client, (settings.output_container,))
        client.get_blob_client(
            settings.output_container, attempt_note_name(container, blob_name)
        ).upload_blob(json.dumps(note.__dict__).encode("utf-8"), overwrite=True)
    except Exception:
        # Storage may be what failed; the poison handler then says the cause is unknown.
        log.warning("%s: could not note the failure's cause", blob_name, exc_info=True)


def read_failed_attempt(
    client: BlobServiceClient, settings: Settings, container: str, blob_name: str
) -> FailedAttempt | None:
    blob = client.get_blob_client(
        settings.output_container, attempt_note_name(container, blob_name)
    )
    try:
        return FailedAttempt(**json.loads(blob.download_blob().readall()))
    except ResourceNotFoundError:
        return None
    except (ValueError, TypeError):
        log.warning("%s: unreadable failure note", blob_name)
        return None


def last_resort_refusal(
    client: BlobServiceClient, settings: Settings, version: storage.BlobVersion, error_type: str
) -> None:
    """The database stayed down through every retry of the poison message: the row goes
    to error_logs.csv alone and the file aside, so neither is lost; the message itself
    then lands on the `-poison` queue for a person."""
    log.error("%s: error_logs table unreachable; recording in error_logs.csv only", version.name)
    record = storage.StoredErrorRecord(datetime.now(UTC), version.name, error_type)
    storage.append_error_log(client, settings.output_container, record)
    storage.quarantine(client, version, settings.quarantine_container, reason=error_type)


def forget_failed_attempt(
    client: BlobServiceClient, settings: Settings, container: str, blob_name: str
) -> None:
    blob = client.get_blob_client(
        settings.output_container, attempt_note_name(container, blob_name)
    )
    with contextlib.suppress(ResourceNotFoundError):
        blob.delete_blob()
