"""One MIS file, end to end: read -> calculate -> record, as one unit of work.

Shared by the blob trigger, the local host and `payout process`, so every way in takes
the same path. The whole file is one database transaction, however large: batches
bound the memory of this process, the transaction bounds what a failure can leave
behind (nothing). A retry after any failure starts over and pays each lead once.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO, Protocol

import polars as pl

from payout_core import calculate, db, ledger, mis, report
from payout_core.banks import load_bank_profiles
from payout_core.errors import MisFileError
from payout_core.settings import get_settings

log = logging.getLogger(__name__)

CONFLICT_ATTEMPTS = 3  # a deadlock with a racing file is retried here before the host's retry
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
LOST_REASON = "another MIS file paid this lead first"


class StageClock:
    """Seconds spent per stage of one file, logged with the result: where the time goes."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.2f}s" for name, seconds in self.seconds.items())


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
    etag: str | None = None,
    outputs: OutputSink | None = None,
) -> MisRunResult:
    """Process the MIS file at `path` (named `mis_file` in errors and the ledger).

    Raises MisFileError (terminal: record, quarantine, never retry) or TransientError
    (nothing was written; retry).
    """
    settings = get_settings()
    mis_file = mis_file or path.name
    size_bytes = path.stat().st_size
    if size_bytes > settings.mis_max_file_bytes:
        raise MisFileError(
            mis_file, f"{size_bytes} bytes is over the {settings.mis_max_file_bytes}-byte limit"
        )
    layout = mis.inspect_layout(path, mis_file, load_bank_profiles(settings.banks_file))
    content_sha256 = ledger.sha256_of_file(path)
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return _process_once(path, layout, content_sha256, etag, outputs)
        except db.ConflictError:
            if attempt == CONFLICT_ATTEMPTS:
                raise
            log.warning("%s: collided with another file, retrying (%d)", mis_file, attempt)
    raise AssertionError("unreachable")


def _process_once(
    path: Path,
    layout: mis.MisLayout,
    content_sha256: str,
    etag: str | None,
    outputs: OutputSink | None,
) -> MisRunResult:
    settings = get_settings()
    handler = layout.handler
    started_at = dt.datetime.now(dt.UTC)
    with (
        tempfile.TemporaryDirectory(prefix="payout-") as work_folder,
        db.connection() as conn,
        conn.transaction(),
    ):
        run = ledger.MisRunLedger.begin(
            conn,
            mis_file=layout.mis_file,
            content_sha256=content_sha256,
            etag=etag,
            product_type=handler.product_type,
            started_at=started_at,
        )
        rules_in_force = ledger.active_rules(conn, handler.product_type)
        stem = f"{Path(layout.mis_file).stem}.run-{run.mis_run_id}"
        rejected_csv = Path(work_folder) / f"{stem}.rejected.csv"
        success_csv = Path(work_folder) / f"{stem}.success.csv"
        counts: Counter[str] = Counter()
        rows_read = 0
        earlier_lead_ids = pl.Series("lead_id", [], dtype=pl.String)
        clock = StageClock()
        with rejected_csv.open("wb") as rejected_stream, success_csv.open("wb") as success_stream:
            _write_rejected(rejected_stream, _empty_rejected(), include_header=True)
            success_stream.write((",".join(report.SUCCESS_CSV_HEADERS) + "\n").encode())
            batches = mis.read_batches(path, layout, settings.mis_batch_rows)
            while True:
                with clock.stage("read"):
                    batch = next(batches, None)
                if batch is None:
                    break
                batch_lead_ids = batch["lead_id"].drop_nulls().unique()
                with clock.stage("lookup"):
                    leads = run.fetch_leads(batch_lead_ids)
                with clock.stage("calculate"):
                    classified = calculate.classify(
                        batch,
                        earlier_lead_ids=earlier_lead_ids,
                        leads=leads,
                        rules=rules_in_force,
                        handler=handler,
                    )
                    counts.update(calculate.outcome_counts(classified))
                    rows_read += batch.height
                    earlier_lead_ids = pl.concat([earlier_lead_ids, batch_lead_ids])
                with clock.stage("stage"):
                    paid = calculate.paid_rows(classified, handler)
                    run.stage_paid(paid)
                with clock.stage("success_csv"):
                    _write_success(success_stream, paid, started_at)
                with clock.stage("rejected_csv"):
                    _write_rejected(rejected_stream, calculate.rejected_rows(classified))
                del classified, leads, paid
            with clock.stage("record"):
                written = run.record_paid(started_at)
            lost = written.lost_to_another_file
            if not lost.is_empty():
                counts["paid"] -= lost.height
                counts["already_paid"] += lost.height
                _write_rejected(rejected_stream, _lost_as_rejected(lost))
        if not lost.is_empty():
            _drop_from_success_csv(success_csv, lost)
        outcome_counts = {outcome: counts[outcome] for outcome in calculate.OUTCOMES}
        _check_accounting(layout.mis_file, rows_read, outcome_counts, written.paid_count)
        run.finish(
            rows_read=rows_read,
            outcome_counts=outcome_counts,
            total_payin=written.total_payin,
            total_payout=written.total_payout,
        )
        # Published before commit: if publishing fails, nothing is committed and a retry
        # redoes both; a commit that fails afterwards is retried and republished.
        if outputs is not None:
            with clock.stage("publish"):
                outputs.publish_outputs(layout.mis_file, success_csv, rejected_csv)
        clock_started = time.perf_counter()
    clock.seconds["commit"] += time.perf_counter() - clock_started
    result = MisRunResult(
        mis_file=layout.mis_file,
        mis_run_id=run.mis_run_id,
        product_type=handler.product_type,
        rows_read=rows_read,
        outcome_counts=outcome_counts,
        total_payin=written.total_payin,
        total_payout=written.total_payout,
    )
    log.info("%s: %s; time: %s", layout.mis_file, result.to_json(), clock)
    return result


def _check_accounting(mis_file: str, rows_read: int, counts: dict[str, int], paid: int) -> None:
    """Rows in = sum of outcomes, and the ledger wrote exactly the rows counted paid."""
    if sum(counts.values()) != rows_read or counts["paid"] != paid:
        raise calculate.InvariantViolation(
            f"{mis_file}: {rows_read} rows read, outcomes {counts}, {paid} written as paid"
        )


def _empty_rejected() -> pl.DataFrame:
    return pl.DataFrame(schema=dict.fromkeys(REJECTED_CSV_HEADER, pl.String))


def _lost_as_rejected(lost: pl.DataFrame) -> pl.DataFrame:
    return lost.with_columns(
        pl.lit(None, pl.String).alias("tracking_id"),
        pl.lit(None, pl.String).alias("event_date_text"),
        pl.lit(None, pl.String).alias("amount_text"),
        pl.lit("already_paid").alias("outcome"),
        pl.lit(LOST_REASON).alias("reason"),
    )


def spreadsheet_safe(column: str) -> pl.Expr:
    """A cell that starts like a formula gets a leading quote, so a crafted MIS value
    cannot run in finance's spreadsheet."""
    value = pl.col(column).cast(pl.String)
    return pl.when(value.str.contains(r"^[=+\-@\t\r]")).then("'" + value).otherwise(value)


def _write_success(stream: BinaryIO, paid: pl.DataFrame, processed_at: dt.datetime) -> None:
    """The rows the ledger records for this batch, as finance reads them: the same values
    RECORD_PAID writes (processing timestamp, processing date, exact amounts)."""
    text_columns = {
        "source_type": "SourceType", "medium_type": "MediumType",
        "product_type": "ProductType", "sp_id": "SPId", "lead_id": "LeadId",
    }  # fmt: skip
    money_columns = {
        "kpi1_payin_amount_minor": "KPI1PayinAmount",
        "kpi1_payout_amount_minor": "KPI1PayoutAmount",
        "kpi2_payin_amount_minor": "KPI2PayinAmount",
        "kpi2_payout_amount_minor": "KPI2PayoutAmount",
        "total_payin_minor": "TotalPayin",
        "total_payout_minor": "TotalPayout",
    }
    paid.select(
        pl.lit(processed_at.isoformat(sep=" ")).alias("CreatedAt"),
        *(spreadsheet_safe(column).alias(header) for column, header in text_columns.items()),
        pl.lit("Success").alias("Status"),
        spreadsheet_safe("sub_status").alias("SubStatus"),
        pl.col("date_of_sale").alias("DateOfSale"),
        pl.lit(processed_at.date()).alias("DateOfRevenue"),
        *(
            ledger.minor_to_decimal_text(column).alias(header)
            for column, header in money_columns.items()
        ),
    ).write_csv(stream, include_header=False)


def _drop_from_success_csv(success_csv: Path, lost: pl.DataFrame) -> None:
    """Leads another file paid first are not this file's successes (rare: a race)."""
    kept = pl.read_csv(success_csv, infer_schema=False).filter(
        ~pl.col("LeadId").is_in(lost["lead_id"].implode())
    )
    kept.write_csv(success_csv)


def _write_rejected(stream: BinaryIO, rows: pl.DataFrame, include_header: bool = False) -> None:
    rows.select(
        spreadsheet_safe(column).alias(header) for column, header in REJECTED_CSV_HEADER.items()
    ).write_csv(stream, include_header=include_header)
