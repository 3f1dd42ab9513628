"""Outputs of `payout process` on an operator's machine: a local folder instead of Blob
Storage, and the same error record the blob trigger writes."""

from __future__ import annotations

import shutil
from pathlib import Path

from payout_core.adapters.storage import csv_line, error_log_line
from payout_core.errors import ERROR_LOG_HEADERS, PayoutError, TerminalError, describe_error
from payout_core.flows.mis_processing import MisRunResult
from payout_core.flows.unit_of_work import Context
from payout_core.ledger.error_logs import ErrorLogRecord


class LocalOutputs:
    """Implements mis_processing.OutputSink with a folder: success/ and rejected/ as in storage."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def publish_outputs(self, mis_file: str, success_csv: Path, rejected_csv: Path) -> None:
        for kind, produced in (("success", success_csv), ("rejected", rejected_csv)):
            target = self.folder / kind / produced.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(produced, target)

    def publish_credits_file(self, blob_name: str, data: bytes) -> None:
        """A cycle's wallet credits CSV, under the same relative name as in storage."""
        target = self.folder / blob_name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def append_error_log(self, record: ErrorLogRecord) -> None:
        path = self.folder / "error_logs.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        new_file = not path.exists()
        with path.open("ab") as stream:
            if new_file:
                stream.write(csv_line(ERROR_LOG_HEADERS))
            stream.write(error_log_line(record))


def record_failure(
    context: Context, mis_file: str, error: PayoutError, outputs: LocalOutputs | None = None
) -> object | None:
    """A terminal failure is kept (error_logs, and the local error log when there is one);
    a transient one is not an error of the file, so it is only reported to the caller."""
    from payout_core.flows import refusals  # the one path that records an error

    if not isinstance(error, TerminalError):
        return None
    return refusals.record_error(context, mis_file, describe_error(error), outputs)


def describe_run(result: MisRunResult) -> str:
    outcomes = ", ".join(f"{name} {count}" for name, count in result.outcome_counts.items())
    return (
        f"{result.mis_file}: {result.rows_read} rows ({outcomes}); "
        f"payin {result.total_payin}, payout {result.total_payout}"
    )
