"""Reconciliation files end to end (SPEC §9), each one unit of work.

Money in: a bank's remittance file -> read, matched against what its leads owe, receipts
recorded. Money out: the wallet team's confirmation file -> each credit confirmed or
failed (the next cycle close sends a failed one again). Shared by the blob triggers and
`payout remittance` / `payout confirmations`, so every way in takes the same path.

A file is read whole (its rows are narrow) and recorded in one transaction: a failure
leaves nothing, a retry starts over, and a re-delivered file finds its References (or
its credits' answers) recorded and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import polars as pl

from payout_core.adapters.local_files import sha256_of_file
from payout_core.engine import confirmations, remittance
from payout_core.engine.amounts import minor_to_decimal
from payout_core.engine.banks import load_bank_profiles
from payout_core.engine.calculate import InvariantViolation
from payout_core.errors import (
    RECONCILIATION_SIZE_SETTING,
    check_mis_file_size,
)
from payout_core.flows.stage_clock import StageClock
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import confirmations as confirmation_ledger
from payout_core.ledger import db, remittances

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconciliationRunResult:
    """What one remittance or confirmation file did."""

    file_name: str
    run_id: int
    rows_read: int
    outcome_counts: dict[str, int] = field(default_factory=dict)
    total_received: Decimal | None = None
    """None for a confirmation file (money out: nothing is received)."""

    def to_json(self) -> dict[str, object]:
        described: dict[str, object] = {
            "file": self.file_name,
            "rows": self.rows_read,
            "outcomes": self.outcome_counts,
        }
        if self.total_received is not None:
            described["total_received"] = str(self.total_received)
        return described

    def describe(self) -> str:
        outcomes = ", ".join(f"{name} {count}" for name, count in self.outcome_counts.items())
        line = f"{self.file_name}: {self.rows_read} rows ({outcomes})"
        if self.total_received is not None:
            line += f"; received {self.total_received}"
        return line


def check_file_size(path: Path, file_name: str, max_file_bytes: int) -> None:
    check_mis_file_size(file_name, path.stat().st_size, max_file_bytes, RECONCILIATION_SIZE_SETTING)


def _check_every_row_has_an_outcome(
    file_name: str, rows_read: int, outcome_counts: dict[str, int]
) -> None:
    if sum(outcome_counts.values()) != rows_read:
        raise InvariantViolation(
            f"{file_name}: {rows_read} rows read, but outcomes {outcome_counts}"
        )


def process_remittance_file(
    path: Path,
    remittance_file: str | None = None,
    *,
    context: Context,
    etag: str | None = None,
) -> ReconciliationRunResult:
    """Reconcile the remittance file at `path` (named `remittance_file` in errors and the
    ledger). Raises ReconciliationFileError (terminal: record, quarantine, never retry) or
    TransientError (nothing was written; retry)."""
    remittance_file = remittance_file or path.name
    settings = context.settings
    check_file_size(path, remittance_file, settings.reconciliation_max_file_bytes)
    clock = StageClock()
    with clock.stage("read"):
        profiles = load_bank_profiles(settings.banks_file)
        layout = remittance.inspect_layout(path, remittance_file, profiles)
        rows = remittance.read_rows(path, layout)
        content_sha256 = sha256_of_file(path)
    profiled = frozenset(profiles.by_source_type)
    result = db.retry_on_conflict(
        remittance_file,
        lambda: _record_once(context, rows, remittance_file, content_sha256, etag, clock, profiled),
    )
    log.info("%s: %s; time: %s", remittance_file, result.to_json(), clock)
    return result


def _record_once(
    context: Context,
    rows: pl.DataFrame,
    remittance_file: str,
    content_sha256: str,
    etag: str | None,
    clock: StageClock,
    profiled_banks: frozenset[str],
) -> ReconciliationRunResult:
    started_at = dt.datetime.now(dt.UTC)
    with context.unit_of_work() as uow:
        run = remittances.RemittanceLedger.begin(
            uow.conn,
            remittance_file=remittance_file,
            content_sha256=content_sha256,
            etag=etag,
            started_at=started_at,
        )
        with clock.stage("lookup"):
            owed, recorded = run.owed_and_recorded(rows)
            unknown_banks = run.unknown_banks(rows, profiled_banks)
        with clock.stage("match"):
            reconciled = remittance.reconcile(rows, owed, recorded, unknown_banks)
            outcome_counts = remittance.outcome_counts(reconciled)
            total_received = minor_to_decimal(remittance.received_total_minor(reconciled))
        _check_every_row_has_an_outcome(remittance_file, rows.height, outcome_counts)
        with clock.stage("write"):
            run.record(reconciled)
            run.finish(
                rows_read=rows.height, outcome_counts=outcome_counts, total_received=total_received
            )
        uow.commit()
        commit_started = time.perf_counter()
    clock.seconds["commit"] += time.perf_counter() - commit_started
    return ReconciliationRunResult(
        file_name=remittance_file,
        run_id=run.remittance_run_id,
        rows_read=rows.height,
        outcome_counts=outcome_counts,
        total_received=total_received,
    )


# --- money out --------------------------------------------------------------------------


def process_confirmation_file(
    path: Path,
    confirmation_file: str | None = None,
    *,
    context: Context,
    etag: str | None = None,
) -> ReconciliationRunResult:
    """Record the wallet team's confirmation file at `path`. Raises ReconciliationFileError
    (terminal) or TransientError (nothing was written; retry)."""
    confirmation_file = confirmation_file or path.name
    max_file_bytes = context.settings.reconciliation_max_file_bytes
    check_file_size(path, confirmation_file, max_file_bytes)
    read = confirmations.read_file(path, confirmation_file)
    content_sha256 = sha256_of_file(path)
    result = db.retry_on_conflict(
        confirmation_file,
        lambda: _record_confirmations_once(context, read, content_sha256, etag),
    )
    log.info("%s: %s", confirmation_file, result.to_json())
    return result


def _record_confirmations_once(
    context: Context, read: confirmations.ConfirmationFile, content_sha256: str, etag: str | None
) -> ReconciliationRunResult:
    rows = read.rows
    with context.unit_of_work() as uow:
        run = confirmation_ledger.ConfirmationLedger.begin(
            uow.conn,
            confirmation_file=read.file_name,
            content_sha256=content_sha256,
            etag=etag,
            started_at=dt.datetime.now(dt.UTC),
        )
        reconciled = confirmations.reconcile(rows, run.credits(rows), run.references_in_use(rows))
        outcome_counts = confirmations.outcome_counts(reconciled)
        _check_every_row_has_an_outcome(read.file_name, rows.height, outcome_counts)
        run.record(reconciled)
        run.finish(rows_read=rows.height, outcome_counts=outcome_counts)
        uow.commit()
    return ReconciliationRunResult(
        file_name=read.file_name,
        run_id=run.confirmation_run_id,
        rows_read=rows.height,
        outcome_counts=outcome_counts,
    )
