"""The payout cycle's part of the iteration email (SPEC §7, §8): the wallet credits, what
is held for approval, what was decided since the last email, and the credits CSV for the
wallet team. Pure: rows in, blocks out; text.py and html.py draw the blocks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from payout_core.report import incentives
from payout_core.report.formats import count_text, money, plural, timestamp_text
from payout_core.report.people_csv import csv_bytes
from payout_core.report.shapes import Block, Link, Table

CREDITS_CSV_HEADERS = ("CreditId", "Cycle", "SPId", "Amount", "Events")
DECISIONS_HEADERS = ("Event", "Lead", "SP", "KPI", "Kind", "Payout", "Decision", "By", "At", "Why")
# The body lists this many decisions; `payout holds list --all` has every one.
BODY_DECISIONS_MAX = 200


@dataclass(frozen=True)
class DecisionLine:
    event_id: int
    lead_id: str
    sp_id: str
    kpi: str
    kind: str
    payout_amount: Decimal
    decision: str
    decided_by: str
    decided_at: datetime
    decision_reason: str | None


@dataclass(frozen=True)
class CycleReport:
    cycle_number: int
    credit_count: int
    credit_total: Decimal
    event_count: int
    held_now_count: int
    carried_sp_count: int
    carried_total: Decimal
    awaiting_count: int
    awaiting_payout_amount: Decimal
    awaiting_oldest_held_at: datetime | None
    decisions: tuple[DecisionLine, ...]
    credits_csv: bytes
    credits_rows_in_csv: int
    credits_blob_name: str
    review_url: str | None = None
    incentives: tuple[incentives.IncentiveEventLine, ...] = ()
    """The period incentives' true-ups this close appended (SPEC §11)."""
    incentives_csv: bytes = b""
    incentives_rows_in_csv: int = 0

    @property
    def incentives_file_name(self) -> str:
        return incentives.file_name(self.cycle_number)

    @property
    def credits_file_name(self) -> str:
        return f"wallet_credits_cycle_{self.cycle_number}.csv"

    @property
    def credits_attached(self) -> bool:
        """Attached only whole: a partial credits file would invite paying part of a cycle."""
        return self.credits_rows_in_csv == self.credit_count and self.credit_count > 0

    def attachment_note(self) -> str:
        if self.credit_count == 0:
            return "No wallet credits in this cycle: no credits file."
        if self.credits_attached:
            return (
                f"{self.credits_file_name}: {plural(self.credit_count, 'row', 'rows')}"
                " (the cycle's wallet credits, for the wallet team)."
            )
        return (
            f"The wallet credits ({self.credit_count:,}) are too many to attach: the file is "
            f"{self.credits_blob_name} in the output container (`payout credits --cycle "
            f"{self.cycle_number}` lists them)."
        )

    def blocks(self) -> list[Block]:
        """The section's paragraphs and tables, in order (its title is `title`)."""
        blocks: list[Block] = [self._credits_sentence()]
        if self.carried_sp_count:
            blocks.append(
                f"{plural(self.carried_sp_count, 'SP', 'SPs')} came to zero or less "
                f"(net {money(self.carried_total)}): not sent, carried to their next cycle."
            )
        blocks.append(self._held_sentence())
        if self.awaiting_count and self.review_url:
            blocks.append(Link("Review and decide the held events:", self.review_url))
        if self.decisions:
            blocks.append(
                f"Decided since the last email: {plural(len(self.decisions), 'event', 'events')}."
            )
            blocks.append(decisions_table(self.decisions[:BODY_DECISIONS_MAX]))
            left_out = len(self.decisions) - BODY_DECISIONS_MAX
            if left_out > 0:
                blocks.append(f"…and {left_out:,} more: `payout holds list --all` has them all.")
        else:
            blocks.append("No hold was decided since the last email.")
        blocks.extend(
            incentives.blocks(
                self.incentives, self.incentives_file_name, self.incentives_rows_in_csv
            )
        )
        return blocks

    @property
    def title(self) -> str:
        return f"Payout cycle {self.cycle_number}: wallet credits and holds"

    def _credits_sentence(self) -> str:
        if self.credit_count == 0:
            return "No wallet credits in this cycle."
        return (
            f"{plural(self.credit_count, 'wallet credit', 'wallet credits')} to "
            f"{plural(self.credit_count, 'SP', 'SPs')}, total {money(self.credit_total)} "
            f"({plural(self.event_count, 'payout event', 'payout events')})."
        )

    def _held_sentence(self) -> str:
        if self.awaiting_count == 0:
            return "Nothing is held for approval."
        oldest = (
            f", oldest held since {timestamp_text(self.awaiting_oldest_held_at)}"
            if self.awaiting_oldest_held_at
            else ""
        )
        held_now = (
            f" ({count_text(self.held_now_count)} held at this cycle's close)"
            if self.held_now_count
            else ""
        )
        return (
            f"Held for approval: {plural(self.awaiting_count, 'event', 'events')}, payout "
            f"{money(self.awaiting_payout_amount)}{oldest}{held_now}."
        )


def decisions_table(decisions: Sequence[DecisionLine]) -> Table:
    return Table(
        headers=DECISIONS_HEADERS,
        rows=tuple(
            (
                str(line.event_id),
                line.lead_id,
                line.sp_id,
                line.kpi,
                line.kind,
                money(line.payout_amount),
                line.decision,
                line.decided_by,
                timestamp_text(line.decided_at),
                line.decision_reason or "",
            )
            for line in decisions
        ),
        total=None,
        right_aligned=frozenset({0, 5}),
    )


def credits_csv(rows: Sequence[Sequence[object]], max_encoded_bytes: int) -> tuple[bytes, int]:
    """The wallet team's file: one row per credit (CREDITS_CSV_HEADERS), as many as fit.
    Machine-read, so SPIds go as they are: a '-prefix would pay an SPId that does not exist
    (an SPId a spreadsheet would run is refused at `payout leads load`)."""
    return csv_bytes(CREDITS_CSV_HEADERS, rows, max_encoded_bytes, neutralised=False)
