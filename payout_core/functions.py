"""What the two functions in function_app.py do, kept here so the doorway stays thin.

Failure policy, the same for every way in (Azure, `payout host`, tests):

- TerminalError (bad file): record it (`error_logs` table + `error_logs.csv`), move the
  blob to the quarantine container, return normally. Retrying cannot help, and raising
  would make the host retry and finally poison a file we already understand.
- TransientError (database down) and Storage failures: log and raise. The host retries;
  the ledger's exactly-once bookkeeping makes the retry safe.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

from payout_core import storage
from payout_core.errors import MisFileError, TerminalError, TransientError, describe_error
from payout_core.settings import Settings, get_settings

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

    from payout_core.pipeline import MisRunResult

log = logging.getLogger(__name__)


def split_blob_path(blob_path: str, default_container: str) -> tuple[str, str]:
    """`container/name/with/folders` -> (container, name). The trigger's `blob.name`
    carries the container; a bare name is taken to be in `default_container`."""
    container, separator, name = blob_path.partition("/")
    if not separator or not name:
        return default_container, blob_path
    return container, name


def etag_from_properties(blob_properties: Mapping[str, object] | None) -> str | None:
    """The ETag the host saw when it fired, if it says (key spelling varies by host)."""
    for key in ("ETag", "Etag", "etag"):
        value = (blob_properties or {}).get(key)
        if value:
            return str(value)
    return None


def handle_mis_blob(
    blob_name: str,
    *,
    etag: str | None = None,
    blob_properties: Mapping[str, object] | None = None,
) -> MisRunResult | None:
    """Process one MIS blob (`container/name`), the body of the blob trigger.

    Returns the run result, or None when the blob was quarantined or is no longer
    there in the version the trigger fired for (its replacement fires its own run).
    """
    settings = get_settings()
    container, mis_file = split_blob_path(blob_name, settings.mis_container)
    etag = etag or etag_from_properties(blob_properties)
    client = storage.service_client(settings=settings)
    storage.ensure_containers(client, (settings.output_container, settings.quarantine_container))

    try:
        version = storage.blob_version(client, container, mis_file, etag)
    except ResourceNotFoundError:
        log.warning("%s/%s is gone; nothing to process", container, mis_file)
        return None
    except ResourceModifiedError:
        log.info(
            "%s/%s was replaced after the trigger; the new version runs on its own",
            container,
            mis_file,
        )
        return None

    if version.size_bytes > settings.mis_max_file_bytes:
        error = MisFileError(
            mis_file,
            f"file is {version.size_bytes} bytes, over the limit of "
            f"{settings.mis_max_file_bytes} bytes (PAYOUT_MIS_MAX_FILE_BYTES)",
        )
        _refuse_file(client, settings, version, error)
        return None
    return _download_and_process(client, settings, version)


def _download_and_process(
    client: BlobServiceClient, settings: Settings, version: storage.BlobVersion
) -> MisRunResult | None:
    from payout_core import pipeline

    try:
        downloaded = storage.download_to_tempfile(
            client, version, max_bytes=settings.mis_max_file_bytes
        )
    except storage.BlobTooLargeError as too_large:
        _refuse_file(client, settings, version, MisFileError(version.name, str(too_large)))
        return None
    try:
        result = pipeline.process_mis_file(
            downloaded.path,
            version.name,
            etag=downloaded.etag,
            outputs=storage.BlobOutputs(client, settings.output_container),
        )
    except TerminalError as error:
        _refuse_file(client, settings, version, error)
        return None
    except TransientError:
        log.exception("%s: transient failure, raising so the host retries", version.name)
        raise
    finally:
        downloaded.path.unlink(missing_ok=True)
    log.info(
        "%s: %d rows read, outcomes %s, payin %s, payout %s",
        version.name,
        result.rows_read,
        result.outcome_counts,
        result.total_payin,
        result.total_payout,
    )
    return result


def record_file_error(
    client: BlobServiceClient, settings: Settings, mis_file: str, error_type: str
) -> None:
    """The same error record in the `error_logs` table and in `error_logs.csv`.

    The table comes first: if the database is down this raises TransientError before
    anything is written, and the retry records the error once.
    """
    from payout_core.ledger import store

    record = store.record_error(mis_file, error_type)
    storage.append_error_log(client, settings.output_container, record)


def _refuse_file(
    client: BlobServiceClient,
    settings: Settings,
    version: storage.BlobVersion,
    error: BaseException,
) -> None:
    error_type = describe_error(error)
    log.error(
        "%s: refused, moving to %s: %s", version.name, settings.quarantine_container, error_type
    )
    record_file_error(client, settings, version.name, error_type)
    # Last, because once the blob has left the inbox nothing would retry the steps above.
    storage.quarantine(client, version, settings.quarantine_container, reason=error_type)


def run_summary_timer(past_due: bool) -> object:
    """The body of the iteration-summary timer: one iteration email, or a retry later."""
    from payout_core import summary

    if past_due:
        log.warning("iteration summary timer is past due; running now")
    try:
        outcome = summary.run_summary()
    except TransientError:
        log.exception("iteration summary: transient failure, raising so the host retries")
        raise
    log.info("iteration summary: %s", outcome)
    _publish_credits_files()
    return outcome


def _publish_credits_files() -> None:
    """The wallet team's credits CSV of every closed cycle not yet in the output container.
    The cycle is committed and its email sent: a Storage failure here is logged, and the
    next tick publishes what is still missing."""
    from payout_core import summary

    settings = get_settings()
    try:
        client = storage.service_client(settings=settings)
        storage.ensure_containers(client, (settings.output_container,))
        summary.publish_pending_credits_files(
            storage.BlobCreditFiles(client, settings.output_container)
        )
    except Exception:
        log.exception("wallet credits CSV not published; the next summary tick retries")
