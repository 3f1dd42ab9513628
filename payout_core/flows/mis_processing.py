"""One MIS file, end to end: read -> calculate -> record, as one unit of work.

Shared by the blob trigger, the local host and `payout process`, so every way in takes
the same path. The whole file is one database transaction, however large: batches
bound the memory of this process, the transaction bounds what a failure can leave
behind (nothing). A retry after any failure starts over and pays each lead once.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import queue
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

import polars as pl
import psycopg

from payout_core import report
from payout_core.adapters.local_files import sha256_of_file
from payout_core.engine import calculate, ledger_rows, mis
from payout_core.engine.amounts import minor_to_decimal
from payout_core.engine.banks import load_bank_profiles
from payout_core.errors import check_mis_file_size
from payout_core.flows.stage_clock import StageClock
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import db, mis_run
from payout_core.ledger import rules as rules_ledger
from payout_core.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
_END = object()

SUCCESS_CSV_HEADER = dict(zip(calculate.SUCCESS_COLUMNS, report.SUCCESS_CSV_HEADERS, strict=True))
REJECTED_CSV_HEADER = {
    "row_number": "RowNumber",
    "tracking_id": "TrackingId",
    "lead_id": "LeadId",
    "source_type": "SourceType",
    "medium_type": "MediumType",
    "product_type": "ProductType",
    "event_date_text": "EventDate",
    "amount_text": "Amount",
    "outcome": "Outcome",
    "reason": "Reason",
}


class OutputSink(Protocol):
    """Where the per-file CSVs for people go (an output container, or a local folder)."""

    def publish_outputs(self, mis_file: str, success_csv: Path, rejected_csv: Path) -> None: ...


@dataclass(frozen=True)
class MisRunResult:
    mis_file: str
    mis_run_id: int
    product_type: str
    rows_read: int
    outcome_counts: dict[str, int] = field(default_factory=dict)
    total_payin: Decimal = Decimal(0)
    total_payout: Decimal = Decimal(0)

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.mis_file,
            "rows": self.rows_read,
            "outcomes": self.outcome_counts,
            "total_payin": str(self.total_payin),
            "total_payout": str(self.total_payout),
        }


def process_mis_file(
    path: Path,
    mis_file: str | None = None,
    *,
    context: Context,
    etag: str | None = None,
    outputs: OutputSink | None = None,
) -> MisRunResult:
    """Process the MIS file at `path` (named `mis_file` in errors and the ledger), with the
    settings its entry point read.

    Raises MisFileError (terminal: record, quarantine, never retry) or TransientError
    (nothing was written; retry).
    """
    mis_file = mis_file or path.name
    settings = context.settings
    check_mis_file_size(mis_file, path.stat().st_size, settings.mis_max_file_bytes)
    layout = mis.inspect_layout(path, mis_file, load_bank_profiles(settings.banks_file))
    content_sha256 = sha256_of_file(path)
    return db.retry_on_conflict(
        mis_file, lambda: _process_once(path, layout, content_sha256, etag, outputs, context)
    )


def _process_once(
    path: Path,
    layout: mis.MisLayout,
    content_sha256: str,
    etag: str | None,
    outputs: OutputSink | None,
    context: Context,
) -> MisRunResult:
    handler = layout.handler
    settings = context.settings
    started_at = dt.datetime.now(dt.UTC)
    with (
        tempfile.TemporaryDirectory(prefix="payout-") as work_folder,
        context.unit_of_work() as uow,
    ):
        conn = uow.conn
        run = mis_run.MisRunLedger.begin(
            conn,
            mis_file=layout.mis_file,
            content_sha256=content_sha256,
            etag=etag,
            product_type=handler.product_type,
            started_at=started_at,
            hold_limits=settings.hold_limits,
        )
        rules_in_force = rules_ledger.active_rules(conn, handler.product_type)
        stem = f"{Path(layout.mis_file).stem}.run-{run.mis_run_id}"
        rejected_csv = Path(work_folder) / f"{stem}.rejected.csv"
        success_csv = Path(work_folder) / f"{stem}.success.csv"
        tally = FileTally()
        clock = StageClock()
        file_run = FileRun(
            layout,
            rules_in_force,
            run.mis_run_id,
            run.redelivery_of_run,
            started_at,
            tally,
            clock,
            context,
        )
        with (
            rejected_csv.open("wb") as rejected_stream,
            success_csv.open("wb") as success_stream,
        ):
            prepared = _prepared_batches(path, file_run, success_stream, rejected_stream)
            with _read_ahead(prepared) as ready_to_record:
                for record in ready_to_record:
                    with clock.stage("write"):
                        run.write(record)
                    del record  # before the next batch arrives
        with clock.stage("mark_paid"):
            run.mark_leads_paid(handler.success_sub_status, tally.counts["paid"])
            run.refresh_projection()
        outcome_counts = {outcome: tally.counts[outcome] for outcome in calculate.OUTCOMES}
        _check_accounting(layout.mis_file, tally.rows_read, outcome_counts)
        total_payin = minor_to_decimal(tally.totals_minor["net_payin_minor"])
        total_payout = minor_to_decimal(tally.totals_minor["net_payout_minor"])
        run.finish(
            rows_read=tally.rows_read,
            outcome_counts=outcome_counts,
            total_payin=total_payin,
            total_payout=total_payout,
        )
        # Published before commit: if publishing fails, nothing is committed and a retry
        # redoes both; a commit that fails afterwards is retried and republished.
        if outputs is not None:
            with clock.stage("publish"):
                outputs.publish_outputs(layout.mis_file, success_csv, rejected_csv)
        uow.commit()
        clock_started = time.perf_counter()
    clock.seconds["commit"] += time.perf_counter() - clock_started
    result = MisRunResult(
        mis_file=layout.mis_file,
        mis_run_id=run.mis_run_id,
        product_type=handler.product_type,
        rows_read=tally.rows_read,
        outcome_counts=outcome_counts,
        total_payin=total_payin,
        total_payout=total_payout,
    )
    log.info("%s: %s; time: %s", layout.mis_file, result.to_json(), clock)
    return result


@dataclass
class FileTally:
    """What the batches of one file add up to (kept by the thread that prepares them)."""

    rows_read: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    totals_minor: Counter[str] = field(default_factory=Counter)
    seen: calculate.SeenLeadIds = field(default_factory=calculate.SeenLeadIds)


@dataclass(frozen=True)
class FileRun:
    """What every batch of one file shares."""

    layout: mis.MisLayout
    rules_in_force: pl.DataFrame
    mis_run_id: int
    redelivery_of_run: int | None
    processed_at: dt.datetime
    tally: FileTally
    clock: StageClock
    context: Context

    @property
    def settings(self) -> Settings:
        return self.context.settings


def _prepared_batches(
    path: Path, file_run: FileRun, success_stream: BinaryIO, rejected_stream: BinaryIO
) -> Generator[ledger_rows.BatchRecord]:
    """read -> lookup -> calculate -> per-file CSVs; yields what each batch records
    (engine/ledger_rows.BatchRecord). Leads are fetched once per span of the file (one scan of the
    leads table per PAYOUT_MIS_LOOKUP_ROWS rows), then its batches are classified.

    The leads are looked up on a connection of their own, not in the file's transaction,
    and that is safe: the file changes leads only in its last statement (mark_leads_paid),
    which re-checks every status; until then the committed leads are exactly what the
    file's own transaction would read.
    """
    layout, tally, clock = file_run.layout, file_run.tally, file_run.clock
    handler = layout.handler
    _write_header(success_stream, SUCCESS_CSV_HEADER)
    _write_header(rejected_stream, REJECTED_CSV_HEADER)
    with file_run.context.reading() as lookup_conn:
        for batch, known in _batches_with_leads(
            path, layout, lookup_conn, clock, file_run.settings
        ):
            with clock.stage("calculate"):
                classified = calculate.classify(
                    batch,
                    seen=tally.seen,
                    leads=known.leads,
                    balances=known.balances,
                    rules=file_run.rules_in_force,
                    handler=handler,
                    redelivery_of_run=file_run.redelivery_of_run,
                )
                tally.seen.add(batch["lead_id"])
                tally.rows_read += batch.height
                tally.counts.update(calculate.outcome_counts(classified))
                tally.totals_minor.update(calculate.net_totals_minor(classified))
                record = ledger_rows.batch_record(
                    classified,
                    handler,
                    hold_limits=file_run.settings.hold_limits,
                    mis_run_id=file_run.mis_run_id,
                    processed_at=file_run.processed_at,
                )
            with clock.stage("csv"):
                _write_rows(success_stream, record.calculations, SUCCESS_CSV_HEADER)
                _write_rows(
                    rejected_stream,
                    calculate.rejected_rows(classified),
                    REJECTED_CSV_HEADER,
                )
            # The CSVs above keep the file's order; the ledger takes the paid rows in LeadId
            # order, sorted here, overlapping the previous batch's write. Rebound, not
            # yielded inline: the unsorted frames must not stay alive in this suspended
            # generator while the sorted ones are written.
            record = record.in_ledger_order()
            del batch, known, classified
            yield record


def _batches_with_leads(
    path: Path,
    layout: mis.MisLayout,
    lookup_conn: psycopg.Connection,
    clock: StageClock,
    settings: Settings,
) -> Iterator[tuple[pl.DataFrame, mis_run.LeadsOfSpan]]:
    """Each batch with (at least) the leads of its LeadIds, fetched once per span."""
    spans = mis.read_spans(path, layout, settings.mis_lookup_rows)
    while (span := clock.next("read", spans)) is not None:
        with clock.stage("lookup"):
            leads = mis_run.fetch_leads(lookup_conn, span.lead_ids)
        batches = mis.read_batches(path, layout, settings.mis_batch_rows, span=span)
        while (batch := clock.next("read", batches)) is not None:
            # The batch's own leads only: joining the whole span's leads would hash them
            # all again for every batch (about 100 MB more at the peak).
            yield batch, leads.of(batch["lead_id"])


@contextmanager
def _read_ahead(items: Generator[T]) -> Iterator[Iterator[T]]:
    """`items` produced on a worker thread, ahead of the consumer.

    Preparing the next batch then overlaps with recording this one: the database serves
    both sessions at once, and Polars and psycopg release the GIL while they work. An
    error on the worker is raised to the consumer; a consumer that stops early stops the
    worker, whose generator is closed (and its connection returned).
    """
    handoff: queue.Queue[tuple[str, object]] = queue.Queue()
    # The worker is at most two items ahead of the consumer: one was not enough to ride out
    # a slow batch (measured), and every item ahead is a batch held in memory.
    may_prepare = threading.Semaphore(2)
    stopping = threading.Event()

    def wait_for_turn() -> bool:
        while not stopping.is_set():
            if may_prepare.acquire(timeout=0.1):
                return True
        return False

    def produce() -> None:
        try:
            while wait_for_turn():
                item = next(items, _END)
                handoff.put(("end", None) if item is _END else ("item", item))
                if item is _END:
                    return
        except BaseException as error:  # handed to the consumer, raised there
            handoff.put(("error", error))
        finally:
            items.close()

    def consume() -> Iterator[T]:
        while True:
            kind, value = handoff.get()
            may_prepare.release()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    # In a copy of the file's context: its trace and its log attributes (telemetry.py).
    in_files_context = contextvars.copy_context().run
    worker = threading.Thread(
        target=in_files_context, args=(produce,), name="payout-read-ahead", daemon=True
    )
    worker.start()
    try:
        yield consume()
    finally:
        stopping.set()
        worker.join()


def _check_accounting(mis_file: str, rows_read: int, counts: dict[str, int]) -> None:
    """Rows in = sum of outcomes (the ledger's side, paid = leads moved, is checked by
    MisRunLedger.mark_leads_paid)."""
    if sum(counts.values()) != rows_read:
        raise calculate.InvariantViolation(
            f"{mis_file}: {rows_read} rows read, but outcomes {counts}"
        )


def _write_header(stream: BinaryIO, header: dict[str, str]) -> None:
    stream.write((",".join(header.values()) + "\n").encode())


def _write_rows(stream: BinaryIO, rows: pl.DataFrame, header: dict[str, str]) -> None:
    """Rows for people: business headers, cells that look like formulas neutralised
    (amounts are never negative and dates start with a digit, so only text can)."""
    rows.select(
        report.spreadsheet_safe(column).alias(name) for column, name in header.items()
    ).write_csv(stream, include_header=False)
