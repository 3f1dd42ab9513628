"""The iteration report's content (SPEC §7): rows in, one IterationReport out. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from payout_core.engine.calculate import OUTCOMES
from payout_core.errors import ERROR_LOG_HEADERS
from payout_core.report.formats import INR, Currency, plural
from payout_core.report.people_csv import base64_size_bytes, csv_bytes, recut_csv

if TYPE_CHECKING:
    from payout_core.report.adjustments import AdjustmentLine
    from payout_core.report.cycle import CycleReport
    from payout_core.report.reconciliation import ReconciliationReport

# SPEC §5 business names, in order; SUCCESS_COLUMNS are the same in the database.
SUCCESS_CSV_HEADERS = (
    "CreatedAt",
    "SourceType",
    "MediumType",
    "ProductType",
    "SPId",
    "LeadId",
    "Status",
    "SubStatus",
    "DateOfSale",
    "DateOfRevenue",
    "KPI1PayinAmount",
    "KPI1PayoutAmount",
    "KPI2PayinAmount",
    "KPI2PayoutAmount",
    "TotalPayin",
    "TotalPayout",
)


# --- rows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MisRunAccounting:
    """One processed MIS file: rows read and how many rows got each outcome."""

    mis_run_id: int
    mis_file: str
    finished_at: datetime
    rows_read: int
    outcome_counts: Mapping[str, int]
    same_content_as: str | None = None
    """An earlier file, under another name, with exactly this file's content."""
    same_content_received_on: date | None = None
    total_payin: Decimal | None = None
    """The payin of every event the file made (released, held or rejected)."""
    total_payout: Decimal | None = None

    @property
    def same_content_note(self) -> str | None:
        """What finance should know about a file re-sent under a new name."""
        if self.same_content_as is None:
            return None
        received = (
            f", received on {self.same_content_received_on.isoformat()}"
            if self.same_content_received_on
            else ""
        )
        return (
            f"{self.mis_file}: same content as {self.same_content_as}{received}; processed "
            "as a new file (its rows weighed like any later file's)."
        )

    def count(self, outcome: str) -> int:
        return int(self.outcome_counts.get(outcome, 0))

    @property
    def counts_add_up(self) -> bool:
        """SPEC §4 invariant: every row lands in exactly one outcome."""
        return sum(self.count(outcome) for outcome in OUTCOMES) == self.rows_read and set(
            self.outcome_counts
        ) <= set(OUTCOMES)


@dataclass(frozen=True)
class ErrorRecord:
    error_log_id: int
    created_at: datetime
    mis: str
    error_type: str


@dataclass(frozen=True)
class SummaryLine:
    """One (date, SourceType, MediumType, ProductType) group, or the total when they are
    None: the events the iteration's files made, by their state when the email is built.
    `total_payin`/`total_payout` are the released ones (in the final table, credited to
    wallets); held ones wait for a decision; rejected ones are never paid to the SP (their
    payin is still owed by the bank, SPEC §8)."""

    date_of_revenue: date | None
    source_type: str | None
    medium_type: str | None
    product_type: str | None
    unique_sp_count: int
    lead_count: int
    total_payin: Decimal
    total_payout: Decimal
    held_payin: Decimal = Decimal(0)
    held_payout: Decimal = Decimal(0)
    rejected_payin: Decimal = Decimal(0)
    rejected_payout: Decimal = Decimal(0)

    @property
    def revenue(self) -> Decimal:
        """Revenue of the released events: TotalPayin − TotalPayout (SPEC §7)."""
        return self.total_payin - self.total_payout

    @property
    def payin_all(self) -> Decimal:
        """Every event's payin: what the files made, equal to the per-file payin."""
        return self.total_payin + self.held_payin + self.rejected_payin

    @property
    def payout_all(self) -> Decimal:
        return self.total_payout + self.held_payout + self.rejected_payout


# --- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IterationReport:
    iteration_number: int
    report_date: date
    runs: tuple[MisRunAccounting, ...]
    errors: tuple[ErrorRecord, ...]
    summary_lines: tuple[SummaryLine, ...]
    summary_total: SummaryLine
    success_csv: bytes
    success_rows_attached: int
    error_csv: bytes
    error_rows_attached: int
    attachments_max_bytes: int
    adjustment_lines: tuple[AdjustmentLine, ...] = ()
    cycle: CycleReport | None = None
    """The payout cycle closed with this iteration (SPEC §8); set by the summary job."""
    reconciliation: ReconciliationReport | None = None
    """Money in and money out (SPEC §9); set by the summary job."""
    currency: Currency = INR

    def within(self, attachments_max_bytes: int) -> IterationReport:
        """The same report with every attachment cut to a smaller budget, shared out as
        `build_report` and the cycle and reconciliation parts share it: the email's second
        pass, without reading the ledger again."""
        error_csv, error_rows_attached = recut_csv(
            self.error_csv, error_log_share(attachments_max_bytes)
        )
        success_csv, success_rows_attached = recut_csv(
            self.success_csv, attachments_max_bytes - base64_size_bytes(len(error_csv))
        )
        return replace(
            self,
            success_csv=success_csv,
            success_rows_attached=success_rows_attached,
            error_csv=error_csv,
            error_rows_attached=error_rows_attached,
            attachments_max_bytes=attachments_max_bytes,
            cycle=self.cycle.within(attachments_max_bytes) if self.cycle else None,
            reconciliation=(
                self.reconciliation.within(attachments_max_bytes) if self.reconciliation else None
            ),
        )

    @property
    def paid_lead_count(self) -> int:
        return self.summary_total.lead_count

    @property
    def success_file_name(self) -> str:
        return f"payout_calculations_iteration_{self.iteration_number}.csv"

    @property
    def error_file_name(self) -> str:
        return f"error_logs_iteration_{self.iteration_number}.csv"

    @property
    def runs_not_adding_up(self) -> tuple[MisRunAccounting, ...]:
        return tuple(run for run in self.runs if not run.counts_add_up)

    def subject(self) -> str:
        """What happened, in the order finance asks: files, leads paid, money credited,
        what waits for a decision (all of it), reconciliation, errors."""
        return (
            f"ShiftPay payouts — iteration {self.iteration_number} "
            f"({self.report_date.isoformat()}): " + ", ".join(self.happenings(short=True))
        )

    def happenings(self, *, short: bool = False) -> list[str]:
        """The subject's facts; `short` for the subject, else the body's first sentence."""
        file_words = ("file", "files") if short else ("MIS file", "MIS files")
        parts = [
            plural(len(self.runs), *file_words),
            plural(self.paid_lead_count, "lead paid", "leads paid"),
        ]
        cycle = self.cycle
        if cycle is not None:
            parts.append(
                f"{self.currency.amount(cycle.credit_total)} credited"
                + ("" if short else f" to {plural(cycle.credit_count, 'SP', 'SPs')}")
            )
            parts.append(
                f"{plural(cycle.awaiting_count, 'event', 'events')} held for a decision"
                f" ({self.currency.amount(cycle.awaiting_payout_amount)})"
                if cycle.awaiting_count
                else "nothing held"
            )
        reconciliation = self.reconciliation
        if reconciliation is not None and reconciliation.file_count:
            parts.append(
                f"{plural(reconciliation.file_count, 'recon file', 'recon files')}, "
                f"{plural(reconciliation.discrepancy_count, 'discrepancy', 'discrepancies')}"
            )
        if reconciliation is not None and reconciliation.sent_again_count:
            parts.append(
                plural(reconciliation.sent_again_count, "failed credit", "failed credits")
                + " sent again"
            )
        parts.append(
            "no errors" if not self.errors else plural(len(self.errors), "error", "errors")
        )
        return parts

    def attachment_notes(self) -> list[str]:
        notes = [
            f"{self.success_file_name}: {plural(self.success_rows_attached, 'row', 'rows')}"
            " (the success rows).",
            f"{self.error_file_name}: {plural(self.error_rows_attached, 'row', 'rows')}"
            " (the error log).",
        ]
        if self.paid_lead_count > self.success_rows_attached:
            notes.append(
                f"The attachments are capped at {self.attachments_max_bytes:,} bytes as sent "
                f"(ACS takes at most 10 MB): the success attachment holds the first "
                f"{self.success_rows_attached:,} of {self.paid_lead_count:,} rows; the full "
                "list is in the payout_calculations table and the per-file success CSVs."
            )
        if len(self.errors) > self.error_rows_attached:
            notes.append(
                f"The error attachment is capped: it holds the first "
                f"{self.error_rows_attached:,} of {len(self.errors):,} errors; all are in "
                "the error_logs table and error_logs.csv in storage."
            )
        if self.cycle is not None:
            notes.append(self.cycle.attachment_note())
        if self.reconciliation is not None and self.reconciliation.discrepancy_rows_attached:
            notes.append(self.reconciliation.attachment_note())
        return notes

    def same_content_notes(self) -> list[str]:
        """Files re-sent under a new name with an earlier file's content (not re-deliveries:
        processed as new files), for the per-file accounting."""
        return [note for run in self.runs if (note := run.same_content_note)]

    def warnings(self) -> list[str]:
        """Ledger inconsistencies worth a human's eye; reported, not hidden, never fatal."""
        return [
            f"{run.mis_file}: the outcome counts do not add up to the {run.rows_read:,} rows read."
            for run in self.runs_not_adding_up
        ] + self.tie_out_breaks()

    def tie_out_breaks(self) -> list[str]:
        """The email's identities, checked on the numbers it shows: each one that fails is
        a warning at the top (it never should; a failure is a ledger inconsistency)."""
        total = self.summary_total
        breaks = []
        runs_payin = sum((run.total_payin or Decimal(0) for run in self.runs), Decimal(0))
        runs_payout = sum((run.total_payout or Decimal(0) for run in self.runs), Decimal(0))
        if all(run.total_payin is not None for run in self.runs) and (
            (runs_payin, runs_payout) != (total.payin_all, total.payout_all)
        ):
            breaks.append(
                "the per-file payin and payout do not equal the success summary's released"
                " + held + rejected."
            )
        cycle = self.cycle
        if cycle is not None and cycle.bridge is not None:
            if cycle.bridge.total != cycle.credit_total:
                breaks.append("the cycle's credits do not add up from where they come from.")
            if cycle.bridge.files_released != total.total_payout:
                breaks.append(
                    "the files' released payout in the cycle differs from the success summary's."
                )
            if cycle.files_held_payout != total.held_payout:
                breaks.append("the files' held payout differs from the success summary's.")
        return breaks


def error_log_share(attachments_max_bytes: int) -> int:
    """The error log's part of the attachment budget (at most a quarter); the success rows
    get what it leaves."""
    return attachments_max_bytes // 4


def build_report(
    *,
    iteration_number: int,
    report_date: date,
    runs: Sequence[MisRunAccounting],
    errors: Sequence[ErrorRecord],
    summary_lines: Sequence[SummaryLine],
    summary_total: SummaryLine,
    success_rows: Iterable[Sequence[object]],
    attachments_max_bytes: int,
    adjustment_lines: Sequence[AdjustmentLine] = (),
    currency: Currency = INR,
) -> IterationReport:
    """Pure: rows in, report out. `success_rows` are SUCCESS_COLUMNS tuples, consumed lazily
    and only as far as the attachments hold: both CSVs together stay within
    `attachments_max_bytes` once base64-encoded (the error log gets at most a quarter,
    the success rows the rest)."""
    error_csv, error_rows_attached = csv_bytes(
        ERROR_LOG_HEADERS,
        ((error.created_at, error.mis, error.error_type) for error in errors),
        error_log_share(attachments_max_bytes),
    )
    success_csv, success_rows_attached = csv_bytes(
        SUCCESS_CSV_HEADERS,
        success_rows,
        attachments_max_bytes - base64_size_bytes(len(error_csv)),
    )
    return IterationReport(
        iteration_number=iteration_number,
        report_date=report_date,
        runs=tuple(runs),
        errors=tuple(errors),
        summary_lines=tuple(summary_lines),
        summary_total=summary_total,
        success_csv=success_csv,
        success_rows_attached=success_rows_attached,
        error_csv=error_csv,
        error_rows_attached=error_rows_attached,
        attachments_max_bytes=attachments_max_bytes,
        adjustment_lines=tuple(adjustment_lines),
        currency=currency,
    )
