"""The statements file's lines of one SP's statement, row by row from its event dicts: the
second opinion that engine.statement_file_lines and report.statements_file_csv (which
write every SP of a cycle at once, column-wise) are checked against."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from payout_core.engine.statements import Statement
from payout_core.report.statement import reason_in_words

CENTS = Decimal("0.01")


def _csv_row(statement: Statement, event: dict[str, Any], part: str) -> tuple[object, ...]:
    paid_here = event["cycle_number"] == statement.cycle_number
    return (
        statement.cycle_number,
        statement.sp_id,
        event["lead_id"],
        event["product_type"],
        event["kpi"],
        event["kind"],
        part,
        event["payout_amount"].quantize(CENTS),
        reason_in_words(event),
        event["mis_file"] or "",
        event["rule_set_version"] if event["rule_set_version"] is not None else "",
        event["credit_id"] if paid_here else "",
        (Decimal(0) if paid_here else event["payout_amount"]).quantize(CENTS),
    )


def statement_rows(statement: Statement) -> Iterable[tuple[object, ...]]:
    """Brought-in events first, then the cycle's lines. Per SP: the sum of Payout equals
    the credit sent in the cycle plus the sum of CarriedOver."""
    for event in statement.brought_in:
        yield _csv_row(statement, event, "brought in")
    for event in statement.lines:
        yield _csv_row(statement, event, "line")
