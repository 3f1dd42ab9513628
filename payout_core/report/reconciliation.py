"""Money in and money out in the iteration email (SPEC §7, §9): per bank what is owed,
received and outstanding by age, the reconciliation files of the iteration, the wallet
team's answers, and the discrepancy rows as a CSV attachment. Pure: rows in, blocks out;
text.py and html.py draw the blocks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from payout_core.report.formats import count_text, money, plural
from payout_core.report.people_csv import csv_bytes, recut_csv
from payout_core.report.shapes import Block, Table

DISCREPANCY_CSV_HEADERS = (
    "Flow",
    "File",
    "RowNumber",
    "SourceType",
    "LeadOrCreditId",
    "Reference",
    "Amount",
    "Outcome",
    "Reason",
)
RECEIVABLES_HEADERS = (
    "Bank",
    "Expected to date",
    "New this iteration",
    "Received",
    "Outstanding",
    "0–30 days",
    "31–60 days",
    "Over 60 days",
    "Over-received",
    "Discrepancies",
)
FILES_HEADERS = ("File", "Rows", "Outcomes", "Received")
RECEIVABLES_NOTE = (
    "Expected to date: the payin of every event so far, held and rejected ones included "
    "(the bank owes payin whatever the holds, SPEC §8). New this iteration: the payin of "
    "this iteration's events, that is the success summary's payin released + held (+ "
    "rejected) for the bank, plus any recalculation's."
)


@dataclass(frozen=True)
class BankLine:
    """One bank's receivables (ledger.remittances.BankReceivables) and its discrepancy rows
    in this iteration's attachment."""

    source_type: str
    expected: Decimal
    received: Decimal
    outstanding: Decimal
    outstanding_0_30: Decimal
    outstanding_31_60: Decimal
    outstanding_over_60: Decimal
    over_received: Decimal
    discrepancies: int
    this_iteration_payin: Decimal = Decimal(0)
    """The payin of this iteration's events for this bank (its files' and recalculations')."""


@dataclass(frozen=True)
class ReconciliationFile:
    file_name: str
    rows_read: int
    outcome_counts: dict[str, int]
    total_received: Decimal | None
    """None for a confirmation file (no money received)."""


@dataclass(frozen=True)
class ReconciliationReport:
    banks: tuple[BankLine, ...]
    remittance_files: tuple[ReconciliationFile, ...]
    confirmation_files: tuple[ReconciliationFile, ...]
    sent_again_count: int
    discrepancy_csv: bytes
    discrepancy_rows_attached: int
    discrepancy_count: int
    iteration_number: int
    reused_reference_count: int = 0
    """Confirmations not recorded: their Reference already confirms another credit."""

    title = "Money in and money out"

    def within(self, attachments_max_bytes: int) -> ReconciliationReport:
        """The same report with its discrepancy rows cut to a smaller attachment budget."""
        csv, attached = recut_csv(self.discrepancy_csv, attachments_max_bytes)
        return replace(self, discrepancy_csv=csv, discrepancy_rows_attached=attached)

    @property
    def discrepancy_file_name(self) -> str:
        return f"reconciliation_discrepancies_iteration_{self.iteration_number}.csv"

    @property
    def file_count(self) -> int:
        return len(self.remittance_files) + len(self.confirmation_files)

    def confirmations(self, outcome: str) -> int:
        """Confirmation rows of this iteration's files with this outcome."""
        return sum(file.outcome_counts.get(outcome, 0) for file in self.confirmation_files)

    def blocks(self) -> list[Block]:
        blocks: list[Block] = [
            "Money in, per bank (outstanding by days since the date of revenue):"
        ]
        blocks.append(_receivables_table(self.banks) if self.banks else "No payin is owed.")
        if self.banks:
            blocks.append(RECEIVABLES_NOTE)
        if self.remittance_files:
            blocks += ["Remittance files of this iteration:", _files_table(self.remittance_files)]
        blocks.append(
            f"Money out: {plural(self.confirmations('confirmed'), 'credit', 'credits')} "
            f"confirmed, {count_text(self.confirmations('failed'))} failed, "
            f"{count_text(self.sent_again_count)} sent again in this cycle, "
            f"{count_text(self.confirmations('unknown'))} unknown CreditId(s) reported."
        )
        if self.reused_reference_count:
            blocks.append(
                f"{plural(self.reused_reference_count, 'confirmation names', 'confirmations name')}"
                " a wallet Reference that already confirms another credit: one transfer "
                "cannot pay two credits, so it was not recorded and its credit still waits "
                "for an answer (rows in the discrepancies attachment); check with the wallet team."
            )
        if self.confirmation_files:
            blocks += [
                "Wallet confirmation files of this iteration:",
                _files_table(self.confirmation_files),
            ]
        return blocks

    def attachment_note(self) -> str:
        note = (
            f"{self.discrepancy_file_name}: "
            f"{plural(self.discrepancy_rows_attached, 'row', 'rows')} (the discrepancies: "
            "remittance rows not matched, over-received leads, confirmation rows not recorded)."
        )
        if self.discrepancy_count > self.discrepancy_rows_attached:
            note += (
                f" Capped: the first {self.discrepancy_rows_attached:,} of "
                f"{self.discrepancy_count:,}; all are in remittance_receipts, "
                "remittance_rejected_rows and confirmation_rejected_rows."
            )
        return note


def _receivables_table(banks: Sequence[BankLine]) -> Table:
    def cells(line: BankLine) -> tuple[str, ...]:
        return (
            line.source_type,
            *(
                money(amount)
                for amount in (
                    line.expected,
                    line.this_iteration_payin,
                    line.received,
                    line.outstanding,
                    line.outstanding_0_30,
                    line.outstanding_31_60,
                    line.outstanding_over_60,
                    line.over_received,
                )
            ),
            count_text(line.discrepancies),
        )

    return Table(
        RECEIVABLES_HEADERS,
        tuple(cells(line) for line in banks),
        None,
        frozenset(range(1, len(RECEIVABLES_HEADERS))),
    )


def _files_table(files: Sequence[ReconciliationFile]) -> Table:
    """Remittance files show the money they brought; confirmation files have no such column."""
    with_received = any(file.total_received is not None for file in files)

    def cells(file: ReconciliationFile) -> tuple[str, ...]:
        outcomes = ", ".join(
            f"{name} {count:,}" for name, count in file.outcome_counts.items() if count
        )
        received = "" if file.total_received is None else money(file.total_received)
        return (
            file.file_name,
            count_text(file.rows_read),
            outcomes or "none",
            *((received,) if with_received else ()),
        )

    if with_received:
        return Table(FILES_HEADERS, tuple(map(cells, files)), None, frozenset({1, 3}))
    return Table(FILES_HEADERS[:-1], tuple(map(cells, files)), None, frozenset({1}))


def build_reconciliation_report(
    *,
    iteration_number: int,
    banks: Sequence[BankLine],
    remittance_files: Sequence[ReconciliationFile],
    confirmation_files: Sequence[ReconciliationFile],
    sent_again_count: int,
    discrepancy_rows: Iterable[Sequence[object]],
    discrepancy_count: int,
    attachments_max_bytes: int,
    reused_reference_count: int = 0,
) -> ReconciliationReport:
    csv, attached = csv_bytes(DISCREPANCY_CSV_HEADERS, discrepancy_rows, attachments_max_bytes)
    return ReconciliationReport(
        banks=tuple(banks),
        remittance_files=tuple(remittance_files),
        confirmation_files=tuple(confirmation_files),
        sent_again_count=sent_again_count,
        discrepancy_csv=csv,
        discrepancy_rows_attached=attached,
        discrepancy_count=discrepancy_count,
        iteration_number=iteration_number,
        reused_reference_count=reused_reference_count,
    )
