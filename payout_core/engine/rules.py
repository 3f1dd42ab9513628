"""Payin/payout rules: read `payin_payout_rules.csv`, validate every row, find clashes.

Rules are data that business users maintain; nothing in code holds a rule value. A file
with any bad row is refused whole, naming each row and cause, so the rules in force stay.
Rows are numbered from 1 for the first data row after the header (a quoted multi-line
SuccessCriteria is one row).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from itertools import combinations
from pathlib import Path
from typing import Annotated

import polars as pl
from pydantic import BaseModel, BeforeValidator, Field, ValidationError, model_validator

from payout_core.engine.dates import STANDARD_DATE_FORMAT, parse_date
from payout_core.engine.products import MINOR_UNITS_PER_UNIT, PERCENTAGE_SCALE, all_handlers
from payout_core.errors import InputFileError

# Business header -> field name. Order is the file's documented order (SPEC §3.2).
RULE_COLUMNS = {
    "SourceType": "source_type",
    "MediumType": "medium_type",
    "ProductType": "product_type",
    "KPIStartDate": "kpi_start_date",
    "KPIEndDate": "kpi_end_date",
    "KPI1PayinPercentage": "kpi1_payin_percentage",
    "KPI1PayoutPercentage": "kpi1_payout_percentage",
    "KPI1PayinAmount": "kpi1_payin_amount",
    "KPI1PayoutAmount": "kpi1_payout_amount",
    "MinInvestedAmountBound": "min_invested_amount_bound",
    "KPI2PayinAmount": "kpi2_payin_amount",
    "KPI2PayoutAmount": "kpi2_payout_amount",
    "SuccessCriteria": "success_criteria",
}
REQUIRED_RULE_COLUMNS = [header for header in RULE_COLUMNS if header != "SuccessCriteria"]
MAX_RULE_ROWS = 10_000


def _blank_is_zero(value: object) -> object:
    """SPEC §3.2: a blank numeric cell means "not used by this product"."""
    return "0" if value is None or (isinstance(value, str) and not value.strip()) else value


def _rule_date(value: object) -> object:
    """The same date parser as MIS event dates (engine/dates.py), so both agree."""
    if isinstance(value, str):
        parsed = parse_date(value, STANDARD_DATE_FORMAT)
        if parsed is None:
            raise ValueError(f"{value!r} is not a date like '2 10 2023'")
        return parsed
    return value


Money = Annotated[Decimal, BeforeValidator(_blank_is_zero), Field(ge=0, decimal_places=2)]
Percentage = Annotated[
    Decimal, BeforeValidator(_blank_is_zero), Field(ge=0, le=100, decimal_places=4)
]
RuleDate = Annotated[dt.date, BeforeValidator(_rule_date)]
Key = Annotated[str, BeforeValidator(lambda value: (value or "").strip()), Field(min_length=1)]


class PayinPayoutRule(BaseModel, frozen=True):
    row_number: int
    source_type: Key
    medium_type: Key
    product_type: Key
    kpi_start_date: RuleDate
    kpi_end_date: RuleDate
    kpi1_payin_percentage: Percentage
    kpi1_payout_percentage: Percentage
    kpi1_payin_amount: Money
    kpi1_payout_amount: Money
    min_invested_amount_bound: Money
    kpi2_payin_amount: Money
    kpi2_payout_amount: Money
    success_criteria: str | None = None

    @model_validator(mode="after")
    def _window_and_product(self) -> PayinPayoutRule:
        if self.kpi_end_date < self.kpi_start_date:
            raise ValueError(
                f"KPIEndDate {self.kpi_end_date:%d %m %Y} is before "
                f"KPIStartDate {self.kpi_start_date:%d %m %Y}"
            )
        if self.product_type not in all_handlers():
            known = ", ".join(sorted(all_handlers()))
            raise ValueError(f"unknown product {self.product_type!r} (known: {known})")
        return self

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source_type, self.medium_type, self.product_type)


def parse_rules(text: str, source: str) -> list[PayinPayoutRule]:
    """Every row valid and no clashing windows, or InputFileError listing each problem."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [column for column in REQUIRED_RULE_COLUMNS if column not in header]
    if missing:
        raise InputFileError(source, [f"required column(s) missing: {', '.join(missing)}"])
    reader.fieldnames = header
    rules: list[PayinPayoutRule] = []
    problems: list[str] = []
    for row_number, row in enumerate(reader, start=1):
        if row_number > MAX_RULE_ROWS:
            raise InputFileError(source, [f"more than {MAX_RULE_ROWS} rules"])
        fields = {name: row.get(header) for header, name in RULE_COLUMNS.items()}
        try:
            rules.append(PayinPayoutRule(row_number=row_number, **fields))
        except ValidationError as error:
            problems.extend(_describe(row_number, error))
    problems.extend(overlapping_windows(rules))
    if problems:
        raise InputFileError(source, problems)
    if not rules:
        raise InputFileError(source, ["the file holds no rules"])
    return rules


def parse_rules_file(path: Path) -> list[PayinPayoutRule]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(str(path), [f"cannot read the file: {error}"]) from error
    return parse_rules(text, str(path))


def _describe(row_number: int, error: ValidationError) -> list[str]:
    headers = {name: header for header, name in RULE_COLUMNS.items()}
    problems = []
    for detail in error.errors():
        field = headers.get(str(detail["loc"][0]), "") if detail["loc"] else ""
        message = detail["msg"].removeprefix("Value error, ")
        problems.append(f"row {row_number}: {field + ': ' if field else ''}{message}")
    return problems


def overlapping_windows(rules: list[PayinPayoutRule]) -> list[str]:
    """Two rules for one (SourceType, MediumType, ProductType) must not share a day."""
    by_key: dict[tuple[str, str, str], list[PayinPayoutRule]] = {}
    for rule in rules:
        by_key.setdefault(rule.key, []).append(rule)
    clashes = []
    for key, keyed in by_key.items():
        for first, second in combinations(keyed, 2):
            if (
                first.kpi_start_date <= second.kpi_end_date
                and second.kpi_start_date <= first.kpi_end_date
            ):
                clashes.append(
                    f"rows {first.row_number} and {second.row_number}: windows overlap for "
                    f"{' / '.join(key)}"
                )
    return clashes


# The calculation's view of rules: integer minor units and ten-thousandths of a percent.
RULE_FRAME_SCHEMA = {
    "rule_id": pl.Int64,
    "source_type": pl.String,
    "medium_type": pl.String,
    "product_type": pl.String,
    "kpi_start_date": pl.Date,
    "kpi_end_date": pl.Date,
    "kpi1_payin_percentage_e4": pl.Int64,
    "kpi1_payout_percentage_e4": pl.Int64,
    "kpi1_payin_amount_minor": pl.Int64,
    "kpi1_payout_amount_minor": pl.Int64,
    "min_invested_amount_bound_minor": pl.Int64,
    "kpi2_payin_amount_minor": pl.Int64,
    "kpi2_payout_amount_minor": pl.Int64,
}


def rules_frame(rules: list[PayinPayoutRule], rule_ids: list[int] | None = None) -> pl.DataFrame:
    """Rules as the calculation joins them; `rule_ids` default to row numbers (tests)."""
    ids = rule_ids or [rule.row_number for rule in rules]
    return pl.DataFrame(
        [
            (
                rule_id,
                *rule.key,
                rule.kpi_start_date,
                rule.kpi_end_date,
                int(rule.kpi1_payin_percentage * PERCENTAGE_SCALE),
                int(rule.kpi1_payout_percentage * PERCENTAGE_SCALE),
                *(
                    int(amount * MINOR_UNITS_PER_UNIT)
                    for amount in (
                        rule.kpi1_payin_amount,
                        rule.kpi1_payout_amount,
                        rule.min_invested_amount_bound,
                        rule.kpi2_payin_amount,
                        rule.kpi2_payout_amount,
                    )
                ),
            )
            for rule_id, rule in zip(ids, rules, strict=True)
        ],
        schema=RULE_FRAME_SCHEMA,
        orient="row",
    )
