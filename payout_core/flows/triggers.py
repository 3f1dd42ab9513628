"""What the functions in function_app.py do, kept here so the doorway stays thin.

Failure policy, the same for every way in (Azure, `payout host`, tests):

- TerminalError (a bad file): record it (`error_logs` table + `error_logs.csv`), move the
  blob to the quarantine container, return normally. Retrying cannot help, and raising
  would make the host retry and finally poison a file we already understand.
- TransientError (database down; ConflictError, a deadlock, is one) and ANY exception
  nobody foresaw: log, note the cause beside the file (`attempts/` in the output
  container), raise. The host retries (host.json poisonBlobThreshold); the ledger's
  exactly-once bookkeeping makes each retry safe.
- ConfigurationError (the deployment is wrong: a broken bank profile, a missing setting):
  log and raise like a transient failure, but the file is never moved aside: no input
  is to blame.
- After the last retry the host puts the blob on the poison queue; `handle_poisoned_blob`
  (a queue-triggered function) records the noted cause and moves the file aside through
  the same `_refuse_file` as any refused file, unless the cause was the configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

from payout_core.adapters import storage, telemetry
from payout_core.errors import (
    MIS_SIZE_SETTING,
    RECONCILIATION_SIZE_SETTING,
    ConfigurationError,
    TerminalError,
    TransientError,
    check_mis_file_size,
    describe_error,
)
from payout_core.flows import process, refusals
from payout_core.flows.unit_of_work import Context
from payout_core.settings import Settings, get_settings

if TYPE_CHECKING:
    from pathlib import Path

    from azure.storage.blob import BlobServiceClient

    from payout_core.flows.mis_processing import MisRunResult

log = logging.getLogger(__name__)




def split_blob_path(blob_path: str, default_container: str) -> tuple[str, str]:
    """`container/name/with/folders` -> (container, name). The trigger's `blob.name`
    carries the container; a bare name is taken to be in `default_container`."""
    container, separator, name = blob_path.partition("/")
    if not separator or not name:
        return default_container, blob_path
    return container, name


# --- the blob triggers: MIS, remittance and wallet confirmation files ----------------------


class FileResult(Protocol):
    """What processing one inbox file returns (MisRunResult, ReconciliationRunResult)."""

    def to_json(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class InboxFile:
    """What differs between the app's inboxes: where files land, their size limit, and
    how one is processed (a downloaded file's path, its name, its ETag -> a result)."""

    container: str
    max_bytes: int
    max_bytes_setting: str
    process: Callable[[Context, Path, str, str | None], FileResult]


def _inbox(inbox_name: str, settings: Settings, client: BlobServiceClient) -> InboxFile:
    """The app's inboxes, by name: one row each, so adding a kind of file is one row."""
    from payout_core.flows import mis_processing, reconciliation_processing

    outputs = storage.BlobOutputs(client, settings.output_container)
    inboxes = {
        "mis": InboxFile(
            settings.mis_container,
            settings.mis_max_file_bytes,
            MIS_SIZE_SETTING,
            lambda context, path, name, etag: mis_processing.process_mis_file(
                path, name, context=context, etag=etag, outputs=outputs
            ),
        ),
        "remittance": InboxFile(
            settings.remittance_container,
            settings.reconciliation_max_file_bytes,
            RECONCILIATION_SIZE_SETTING,
            lambda context, path, name, etag: reconciliation_processing.process_remittance_file(
                path, name, context=context, etag=etag
            ),
        ),
        "wallet_confirmation": InboxFile(
            settings.wallet_confirmation_container,
            settings.reconciliation_max_file_bytes,
            RECONCILIATION_SIZE_SETTING,
            lambda context, path, name, etag: reconciliation_processing.process_confirmation_file(
                path, name, context=context, etag=etag
            ),
        ),
    }
    return inboxes[inbox_name]


def handle_mis_blob(blob_name: str, *, etag: str | None = None) -> MisRunResult | None:
    """Process one MIS blob (`container/name`), the body of the MIS blob trigger."""
    return _handle_blob("mis", blob_name, etag)  # type: ignore[return-value]


def handle_remittance_blob(blob_name: str, *, etag: str | None = None) -> object | None:
    """Reconcile one remittance blob (money in, SPEC §9), the body of its blob trigger."""
    return _handle_blob("remittance", blob_name, etag)


def handle_wallet_confirmation_blob(blob_name: str, *, etag: str | None = None) -> object | None:
    """Record one wallet confirmation blob (money out, SPEC §9), the body of its trigger."""
    return _handle_blob("wallet_confirmation", blob_name, etag)


def _handle_blob(inbox_name: str, blob_name: str, etag: str | None) -> object | None:
    """Process one blob of the named inbox under the failure policy of the module docstring.

    Returns the run result, or None when the blob was refused (recorded, quarantined) or
    is no longer there in the version the trigger fired for (its replacement fires its own
    run). Raises for the host to retry.
    """
    with telemetry.file_work(inbox_name, blob_name):
        settings = get_settings()
        client = storage.service_client(settings)
        inbox = _inbox(inbox_name, settings, client)
        container, file_name = split_blob_path(blob_name, inbox.container)
        try:
            context = process.PROCESS.get()
            return _process_blob(client, context, inbox, container, file_name, etag)
        except ConfigurationError as error:
            log.error("%s: configuration error, not processed; raising: %s", file_name, error)
            refusals.note_failed_attempt(
                client, settings, container, file_name, refusals.FAILURE_CONFIGURATION, error
            )
            raise
        except Exception as error:
            transient = isinstance(error, TransientError)
            kind = refusals.FAILURE_TRANSIENT if transient else refusals.FAILURE_UNEXPECTED
            log.exception("%s: %s failure, raising so the host retries", file_name, kind)
            refusals.note_failed_attempt(client, settings, container, file_name, kind, error)
            raise


def _process_blob(
    client: BlobServiceClient,
    context: Context,
    inbox: InboxFile,
    container: str,
    file_name: str,
    etag: str | None,
) -> object | None:
    settings = context.settings
    storage.ensure_containers(client, (settings.output_container, settings.quarantine_container))
    try:
        version = storage.blob_version(client, container, file_name, etag)
    except ResourceNotFoundError:
        log.warning("%s/%s is gone; nothing to process", container, file_name)
        return None
    except ResourceModifiedError:
        log.info("%s/%s was replaced after the trigger; the new version runs on its own",
                 container, file_name)  # fmt: skip
        return None

    try:
        check_mis_file_size(
            version.name, version.size_bytes, inbox.max_bytes, inbox.max_bytes_setting
        )
        downloaded = storage.download_to_tempfile(
            client, version, max_bytes=inbox.max_bytes, max_bytes_setting=inbox.max_bytes_setting
        )
        try:
            result = inbox.process(context, downloaded.path, version.name, downloaded.etag)
        finally:
            downloaded.path.unlink(missing_ok=True)
    except TerminalError as error:
        refusals.refuse_file(client, context, version, describe_error(error))
        return None
    log.info("%s: %s", version.name, result.to_json())
    telemetry.file_processed(result)
    return result


# --- failed attempts and the poison queue --------------------------------------------------


@dataclass(frozen=True)
class PoisonMessage:
    """The Functions host's poison message (its BlobTriggerMessage, as JSON)."""

    function_id: str
    container: str
    blob_name: str
    etag: str | None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> PoisonMessage:
        try:
            return cls(
                function_id=str(body.get("FunctionId") or ""),
                container=str(body["ContainerName"]),
                blob_name=str(body["BlobName"]),
                etag=str(body["ETag"]) if body.get("ETag") else None,
            )
        except KeyError as missing:
            raise TerminalError(f"poison message without {missing}: {dict(body)}") from None


def handle_poisoned_blob(body: Mapping[str, Any], *, dequeue_count: int = 1) -> str:
    """The body of the poison-queue function: a blob failed on every attempt.

    Records the error with the noted cause and moves the blob aside, through the same
    `_refuse_file` as any refused file; a configuration failure is recorded and the file
    stays (fix the configuration, then upload it again). Returns the ErrorType recorded.
    If the database is still down this raises so the queue retries the message; on the
    queue's last attempt the file goes aside with its row in error_logs.csv only.
    """
    settings = get_settings()
    message = PoisonMessage.from_json(body)
    with telemetry.file_work(telemetry.POISON_WORK, f"{message.container}/{message.blob_name}"):
        context = process.PROCESS.get()
        client = storage.service_client(settings)
        containers = (settings.output_container, settings.quarantine_container)
        storage.ensure_containers(client, containers)
        note = refusals.read_failed_attempt(client, settings, message.container, message.blob_name)
        cause = note.cause if note else "no cause was noted; see the function's logs"
        version = storage.BlobVersion(message.container, message.blob_name, message.etag or "*", 0)
        if note is not None and note.kind == refusals.FAILURE_CONFIGURATION:
            error_type = (
                f"not processed, the deployment's configuration is wrong: {cause}; the file "
                f"stays in {message.container}: fix the configuration, then upload it again"
            )
            refusals.record_file_error(client, context, message.blob_name, error_type)
        else:
            error_type = f"failed on every attempt, moved aside: {cause}"
            try:
                refusals.refuse_file(client, context, version, error_type)
            except TransientError:
                if dequeue_count < refusals.POISON_HANDLER_ATTEMPTS_MAX:
                    raise
                refusals.last_resort_refusal(client, settings, version, error_type)
                raise
        refusals.forget_failed_attempt(client, settings, message.container, message.blob_name)
        return error_type


# --- the iteration summary timer -----------------------------------------------------------


def run_summary_timer(past_due: bool) -> object:
    """The body of the iteration-summary timer: one iteration email, or a retry later."""
    from payout_core.flows import iteration

    if past_due:
        log.warning("iteration summary timer is past due; running now")
    with telemetry.iteration_work():
        try:
            context = process.PROCESS.get()
            outcome = iteration.run_summary(context=context)
        except TransientError:
            log.exception("iteration summary: transient failure, raising so the host retries")
            raise
        log.info("iteration summary: %s", outcome)
        _publish_credits_files(context)
        _observe_holds(context)
        return outcome


def _observe_holds(context: Context) -> None:
    """Record the holds awaiting a decision at each summary tick: the 'hold older than N
    days' alert then has a fresh value even when nothing else runs."""
    from payout_core.ledger import cycles

    with context.reading() as conn:
        waiting = cycles.holds_awaiting(conn)
    telemetry.holds_waiting(waiting.count, waiting.oldest_held_at)


def _publish_credits_files(context: Context) -> None:
    """The wallet team's credits CSV of every closed cycle not yet in the output container.
    The cycle is committed and its email sent: a Storage failure here is logged, and the
    next tick publishes what is still missing."""
    from payout_core.flows import iteration

    settings = context.settings
    try:
        client = storage.service_client(settings)
        storage.ensure_containers(client, (settings.output_container,))
        iteration.publish_pending_credits_files(
            context, storage.BlobOutputs(client, settings.output_container)
        )
    except Exception:
        log.exception("wallet credits CSV not published; the next summary tick retries")
