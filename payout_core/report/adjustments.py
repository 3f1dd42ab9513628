"""The email's "Adjustments and KPIs earned late" section (SPEC §7): per product, how many
events, and the payin and payout they add up to (an adjustment may be negative). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from payout_core.report.formats import count_text, money
from payout_core.report.shapes import Table

SECTION_TITLE = "Adjustments and KPIs earned late"
NO_ADJUSTMENTS_SENTENCE = "No adjustments and no KPIs earned late in this iteration."
# The events' outcome (payout_events.outcome) -> what finance reads.
WHAT = {"kpi_earned": "KPIs earned late", "adjusted": "Adjustments"}
HEADERS = ("Product", "What", "Events", "Payin", "Payout")
NOTE = (
    "Every event of this iteration's files and recalculations that is not a lead's first "
    "payment, released, held or rejected (a negative amount takes money back); the files' "
    "ones are also in the success summary and the per-file payin and payout."
)


@dataclass(frozen=True)
class AdjustmentLine:
    """The events of one product and outcome (`kpi_earned` or `adjusted`)."""

    product_type: str
    outcome: str
    event_count: int
    total_payin: Decimal
    total_payout: Decimal


def adjustments_table(lines: Sequence[AdjustmentLine]) -> Table:
    def cells(line: AdjustmentLine) -> tuple[str, ...]:
        return (
            line.product_type,
            WHAT.get(line.outcome, line.outcome),
            count_text(line.event_count),
            money(line.total_payin),
            money(line.total_payout),
        )

    total = (
        "Total",
        "",
        count_text(sum(line.event_count for line in lines)),
        money(sum((line.total_payin for line in lines), Decimal(0))),
        money(sum((line.total_payout for line in lines), Decimal(0))),
    )
    return Table(
        headers=HEADERS,
        rows=tuple(cells(line) for line in lines),
        total=total,
        right_aligned=frozenset({2, 3, 4}),
    )
