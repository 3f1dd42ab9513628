"""The payout cycle's part of the iteration email (SPEC §7, §8): the wallet credits, what
is held for approval, what was decided since the last email, and the credits CSV for the
wallet team. Pure: rows in, blocks out; text.py and html.py draw the blocks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from payout_core.engine.holds import CreditBridge
from payout_core.report import incentives
from payout_core.report.formats import INR, Currency, money, plural, timestamp_text
from payout_core.report.people_csv import csv_bytes, recut_csv
from payout_core.report.shapes import Block, Link, Table

CREDITS_CSV_HEADERS = ("CreditId", "Cycle", "SPId", "Amount", "Events")
DECISIONS_HEADERS = ("Event", "Lead", "SP", "KPI", "Kind", "Payout", "Decision", "By", "At", "Why")
BRIDGE_HEADERS = ("Where this cycle's wallet credits come from", "Payout")


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
    bridge: CreditBridge | None = None
    files_held_count: int = 0
    """Of the events waiting: those the iteration's files made (the summary's held)."""
    files_held_payout: Decimal = Decimal(0)
    currency: Currency = INR
    incentives: tuple[incentives.IncentiveEventLine, ...] = ()
    """The period incentives' true-ups this close appended (SPEC §11)."""
    incentives_csv: bytes = b""
    incentives_rows_in_csv: int = 0

    def within(self, attachments_max_bytes: int) -> CycleReport:
        """The same cycle with its attachments cut to a smaller budget (the same shares of
        it as `gather_cycle_report` gives them)."""
        credits_data, credits_rows = recut_csv(self.credits_csv, attachments_max_bytes)
        incentives_data, incentives_rows = recut_csv(
            self.incentives_csv, incentives.attachment_share(attachments_max_bytes)
        )
        return replace(
            self,
            credits_csv=credits_data,
            credits_rows_in_csv=credits_rows,
            incentives_csv=incentives_data,
            incentives_rows_in_csv=incentives_rows,
        )

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
        if self.bridge is not None and self.credit_count:
            blocks.append(bridge_table(self.bridge))
        if self.carried_sp_count:
            blocks.append(
                f"{plural(self.carried_sp_count, 'SP', 'SPs')} came to zero or less "
                f"(net {self.currency.amount(self.carried_total)}): not sent, carried to "
                "their next cycle."
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
            "Credited in this cycle: "
            f"{plural(self.credit_count, 'wallet credit', 'wallet credits')}, "
            f"total {self.currency.amount(self.credit_total)} "
            f"({plural(self.event_count, 'payout event', 'payout events')})."
        )

    def _held_sentence(self) -> str:
        """All that waits, not only what this close held; and how much of it the summary's
        "Payout held" is."""
        if self.awaiting_count == 0:
            return "Nothing is held: no event waits for a decision."
        oldest = (
            f", the oldest held since {timestamp_text(self.awaiting_oldest_held_at)}"
            if self.awaiting_oldest_held_at
            else ""
        )
        return (
            f"Waiting for a decision: {plural(self.awaiting_count, 'event', 'events')}, payout "
            f"{self.currency.amount(self.awaiting_payout_amount)}{oldest}. Of these, "
            f"{plural(self.held_now_count, 'event was', 'events were')} newly held at this "
            f"cycle's close, and {plural(self.files_held_count, 'event', 'events')} (payout "
            f"{self.currency.amount(self.files_held_payout)}) came from this iteration's "
            "files: the success summary's payout held. Held payout is not in the credits "
            "until a person approves it."
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


def bridge_table(bridge: CreditBridge) -> Table:
    """The credits total built up line by line; a line with nothing in it is left out."""
    lines = [
        ("Payout released from this iteration's files (success summary)", bridge.files_released),
        ("− carried to a later cycle (their SP's net came to zero or less)", -bridge.files_carried),
        ("+ held events approved since (not from this iteration's files)", bridge.approved_earlier),
        ("+ recalculations (payout recalculate)", bridge.recalculations),
        ("+ earlier events carried in (their SP's net is positive now)", bridge.carried_in),
        ("+ failed credits sent again", bridge.sent_again),
    ]
    rows = tuple(
        (label, money(amount))
        for position, (label, amount) in enumerate(lines)
        if position == 0 or amount
    )
    return Table(
        headers=BRIDGE_HEADERS,
        rows=rows,
        total=("= wallet credits of this cycle", money(bridge.total)),
        right_aligned=frozenset({1}),
    )


def credits_csv(rows: Sequence[Sequence[object]], max_encoded_bytes: int) -> tuple[bytes, int]:
    """The wallet team's file: one row per credit (CREDITS_CSV_HEADERS), as many as fit.
    Machine-read, so SPIds go as they are: a '-prefix would pay an SPId that does not exist
    (an SPId a spreadsheet would run is refused at `payout leads load`)."""
    return csv_bytes(CREDITS_CSV_HEADERS, rows, max_encoded_bytes, neutralised=False)
