"""Period incentives' rules: read `incentive_rules.csv` (SPEC §11), validate every row, find
overlapping versions of one IncentiveId. Pure.

Business users keep this file as they keep the KPI rules (engine/rules.py): a file with any
bad row is refused whole, naming each row and cause, so the incentives in force stay. Rows
are numbered from 1 for the first data row after the header.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import combinations
from pathlib import Path

from payout_core.engine.amounts import AMOUNT_MAX_INTEGER_DIGITS
from payout_core.engine.csv_records import HEAD_BYTES, not_csv_reason
from payout_core.engine.dates import STANDARD_DATE_FORMAT, parse_date
from payout_core.engine.errors import InputFileError
from payout_core.engine.products import all_handlers
from payout_core.engine.rules import RuleRowError, parse_rule_rows

COLUMNS = (
    "IncentiveId",
    "SourceType",
    "ProductType",
    "PeriodStart",
    "PeriodEnd",
    "Measure",
    "Threshold",
    "Kind",
    "PayoutAmount",
    "PayoutRate",
    "ExclusivityGroup",
)
# Blank cells are allowed in these (SPEC §11: a blank SourceType is every bank; the other
# two per Kind); the rest must be there, so a file without one of them is refused.
OPTIONAL_COLUMNS = {"SourceType", "PayoutAmount", "PayoutRate", "ExclusivityGroup"}
PAID_LEADS = "paid_leads"
# An amount measure sums this MIS column of the leads' latest facts (engine/facts.py).
AMOUNT_MEASURES = {"disbursed_amount": "DisbursedAmount", "invested_amount": "InvestedAmount"}
MEASURES = (PAID_LEADS, *AMOUNT_MEASURES)
BONUS, RATE = "bonus", "rate"
KINDS = (BONUS, RATE)
MAX_INCENTIVE_ROWS = 10_000
MONEY_MAX = Decimal(10**AMOUNT_MAX_INTEGER_DIGITS) - Decimal("0.01")
ID_MAX_CHARS = 60


@dataclass(frozen=True)
class IncentiveRule:
    """One row of incentive_rules.csv. `source_type` None: every bank. `payout_amount` is
    the bonus, `payout_rate` the percentage (the other one is None)."""

    row_number: int
    incentive_id: str
    source_type: str | None
    product_type: str
    period_start: dt.date
    period_end: dt.date
    measure: str
    threshold: Decimal
    kind: str
    payout_amount: Decimal | None
    payout_rate: Decimal | None
    exclusivity_group: str | None

    @property
    def fact_column(self) -> str | None:
        """The MIS column an amount measure sums; None for paid_leads."""
        return AMOUNT_MEASURES.get(self.measure)

    @property
    def slot(self) -> str:
        """What one SP is paid at most once per period: the exclusivity group, or the
        incentive itself when it is in none."""
        return self.exclusivity_group or self.incentive_id


def _number(text: str, column: str, *, decimals: int, largest: Decimal) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as error:
        raise ValueError(f"{column} {text!r} is not a number") from error
    if not value.is_finite() or value < 0:
        raise ValueError(f"{column} {text!r} is not a number from 0 to {largest:,}")
    if value > largest:
        raise ValueError(f"{column} {text!r} is too large (at most {largest:,})")
    if -value.as_tuple().exponent > decimals:
        raise ValueError(f"{column} {text!r} has more than {decimals} decimals")
    return value


def _cell(row: dict[str, str | None], column: str) -> str:
    return (row.get(column) or "").strip()


def _parse_row(row_number: int, row: dict[str, str | None]) -> IncentiveRule:
    if None in row and any((cell or "").strip() for cell in row[None]):  # type: ignore[index]
        raise RuleRowError([f"row {row_number}: more cells than the header has columns"])
    problems: list[str] = []

    def check(column: str, parse):
        try:
            return parse(_cell(row, column))
        except ValueError as error:
            problems.append(f"row {row_number}: {error}")
            return None

    def required(column: str) -> str:
        text = _cell(row, column)
        if not text:
            raise ValueError(f"{column} is blank")
        return text

    def date(column: str):
        text = required(column)
        parsed = parse_date(text, STANDARD_DATE_FORMAT)
        if parsed is None:
            raise ValueError(f"{column} {text!r} is not a date like '1 10 2023'")
        return parsed

    def incentive_id(text: str) -> str:
        text = required("IncentiveId")
        if len(text) > ID_MAX_CHARS or not text.isprintable():
            raise ValueError(f"IncentiveId {text[:ID_MAX_CHARS]!r} is not a short printable name")
        return text

    def product(_: str) -> str:
        text = required("ProductType")
        if text not in all_handlers():
            known = ", ".join(sorted(all_handlers()))
            raise ValueError(f"ProductType {text!r} is unknown (known: {known})")
        return text

    def measure(_: str) -> str:
        text = required("Measure").lower()
        if text not in MEASURES:
            raise ValueError(f"Measure {text!r} is none of {', '.join(MEASURES)}")
        return text

    def kind(_: str) -> str:
        text = required("Kind").lower()
        if text not in KINDS:
            raise ValueError(f"Kind {text!r} is none of {', '.join(KINDS)}")
        return text

    fields = {
        "incentive_id": check("IncentiveId", incentive_id),
        "product_type": check("ProductType", product),
        "period_start": check("PeriodStart", lambda _: date("PeriodStart")),
        "period_end": check("PeriodEnd", lambda _: date("PeriodEnd")),
        "measure": check("Measure", measure),
        "kind": check("Kind", kind),
    }
    start, end = fields["period_start"], fields["period_end"]
    if start is not None and end is not None and end < start:
        problems.append(f"row {row_number}: PeriodEnd {end:%d %m %Y} is before PeriodStart")
    counted = fields["measure"] == PAID_LEADS
    threshold = check(
        "Threshold",
        lambda _: _number(
            required("Threshold"), "Threshold", decimals=0 if counted else 2, largest=MONEY_MAX
        ),
    )
    payout_amount = payout_rate = None
    if fields["kind"] == BONUS:
        payout_amount = check(
            "PayoutAmount",
            lambda _: _number(
                required("PayoutAmount"), "PayoutAmount", decimals=2, largest=MONEY_MAX
            ),
        )
        if _cell(row, "PayoutRate"):
            problems.append(f"row {row_number}: PayoutRate is for Kind rate; a bonus has none")
        if payout_amount == 0:
            problems.append(f"row {row_number}: PayoutAmount 0 would pay nothing")
    elif fields["kind"] == RATE:
        payout_rate = check(
            "PayoutRate",
            lambda _: _number(
                required("PayoutRate"), "PayoutRate", decimals=4, largest=Decimal(100)
            ),
        )
        if _cell(row, "PayoutAmount"):
            problems.append(f"row {row_number}: PayoutAmount is for Kind bonus; a rate has none")
        if payout_rate == 0:
            problems.append(f"row {row_number}: PayoutRate 0 would pay nothing")
        if counted:
            problems.append(
                f"row {row_number}: Kind rate needs an amount measure "
                f"({', '.join(AMOUNT_MEASURES)}); paid_leads is a count, not money"
            )
    fact = AMOUNT_MEASURES.get(fields["measure"] or "")
    handler = all_handlers().get(fields["product_type"] or "")
    if fact and handler and fact not in {f.column for f in handler.facts}:
        problems.append(
            f"row {row_number}: Measure {fields['measure']} sums {fact}, which "
            f"{handler.product_type} leads do not have"
        )
    if problems:
        raise RuleRowError(problems)
    return IncentiveRule(
        row_number=row_number,
        source_type=_cell(row, "SourceType") or None,
        threshold=threshold,
        payout_amount=payout_amount,
        payout_rate=payout_rate,
        exclusivity_group=_cell(row, "ExclusivityGroup") or None,
        **fields,
    )


def parse_incentive_rules(text: str, source: str) -> list[IncentiveRule]:
    """Every row valid and no overlapping versions, or InputFileError listing each problem."""
    return parse_rule_rows(
        text,
        source,
        required_columns=[c for c in COLUMNS if c not in OPTIONAL_COLUMNS],
        max_rows=MAX_INCENTIVE_ROWS,
        what="incentive rules",
        parse_row=lambda row_number, row, _header: _parse_row(row_number, row),
        clashes=overlapping_versions,
    )


def parse_incentive_rules_file(path: Path) -> list[IncentiveRule]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputFileError(str(path), [f"cannot read the file: {error}"]) from error
    not_csv = not_csv_reason(data[:HEAD_BYTES])  # a spreadsheet, binary, not UTF-8: said so
    if not_csv:
        raise InputFileError(str(path), [not_csv])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputFileError(str(path), [f"not UTF-8 text at byte {error.start}"]) from error
    return parse_incentive_rules(text, str(path))


def overlapping_versions(loaded: list[IncentiveRule]) -> list[str]:
    """Two versions of one IncentiveId must not share a day: which one pays would be a
    guess. Different IncentiveIds may overlap (an exclusivity group decides between them)."""
    by_id: dict[str, list[IncentiveRule]] = {}
    for rule in loaded:
        by_id.setdefault(rule.incentive_id, []).append(rule)
    clashes = []
    for incentive_id, versions in by_id.items():
        for first, second in combinations(versions, 2):
            if first.period_start <= second.period_end and second.period_start <= first.period_end:
                clashes.append(
                    f"rows {first.row_number} and {second.row_number}: periods overlap for "
                    f"IncentiveId {incentive_id}"
                )
    return clashes
