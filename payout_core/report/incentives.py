"""The period incentives' part of the iteration email (SPEC §7, §11): per incentive, the SPs
and the payout of the true-ups this close appended (released and held), and a CSV with one
row per true-up and its arithmetic in words. Pure: rows in, blocks and bytes out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from payout_core.report.formats import money, plural
from payout_core.report.people_csv import csv_bytes
from payout_core.report.shapes import Block, Table

SUMMARY_HEADERS = ("Incentive", "SPs", "True-ups", "Payout released", "Held")
CSV_HEADERS = (
    "SPId", "IncentiveId", "PeriodStart", "PeriodEnd", "Measure", "Worth", "Payout", "Status",
    "Why",
)  # fmt: skip


@dataclass(frozen=True)
class IncentiveEventLine:
    """One incentive event a close appended, with its state when the email was built."""

    sp_id: str
    incentive_id: str
    period_start: date
    period_end: date
    measure_amount: Decimal
    worth_amount: Decimal
    payout_amount: Decimal
    status: str
    reason: str


def file_name(cycle_number: int) -> str:
    return f"incentives_cycle_{cycle_number}.csv"


def summary_table(lines: Sequence[IncentiveEventLine]) -> Table:
    """Per incentive: how many SPs, true-ups, the payout released and the payout held."""
    per_incentive: dict[str, list[IncentiveEventLine]] = {}
    for line in lines:
        per_incentive.setdefault(line.incentive_id, []).append(line)
    rows = []
    for incentive_id, events in sorted(per_incentive.items()):
        released = sum((e.payout_amount for e in events if e.status == "released"), Decimal(0))
        held = sum((e.payout_amount for e in events if e.status == "held"), Decimal(0))
        rows.append(
            (
                incentive_id,
                f"{len({e.sp_id for e in events}):,}",
                f"{len(events):,}",
                money(released),
                money(held),
            )
        )
    return Table(SUMMARY_HEADERS, tuple(rows), None, frozenset({1, 2, 3, 4}))


def blocks(
    lines: Sequence[IncentiveEventLine], attached_name: str = "", rows_attached: int = 0
) -> list[Block]:
    """Nothing when the close appended no incentive event."""
    if not lines:
        return []
    total = sum((line.payout_amount for line in lines), Decimal(0))
    sps = len({line.sp_id for line in lines})
    said: list[Block] = [
        f"Period incentives: {plural(len(lines), 'true-up', 'true-ups')} for "
        f"{plural(sps, 'SP', 'SPs')}, net payout {money(total)} (a negative one is held "
        "as a clawback).",
        summary_table(lines),
    ]
    if attached_name and rows_attached < len(lines):
        said.append(
            f"{attached_name} holds the first {rows_attached:,} of the {len(lines):,} "
            "true-ups (the email's size limit); `payout incentives show` lists every SP."
        )
    return said


def attachment_share(attachments_max_bytes: int) -> int:
    """An eighth of the email's attachment budget: the success rows and the credits come
    first."""
    return attachments_max_bytes // 8


def incentives_csv(
    lines: Sequence[IncentiveEventLine], max_encoded_bytes: int
) -> tuple[bytes, int]:
    return csv_bytes(
        CSV_HEADERS,
        (
            (
                line.sp_id,
                line.incentive_id,
                line.period_start,
                line.period_end,
                line.measure_amount,
                line.worth_amount,
                line.payout_amount,
                line.status,
                line.reason,
            )
            for line in lines
        ),
        max_encoded_bytes,
    )
