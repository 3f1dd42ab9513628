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
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from itertools import combinations
from pathlib import Path
from typing import Annotated, TypeVar

import polars as pl
from pydantic import BaseModel, BeforeValidator, Field, ValidationError, model_validator

from payout_core.engine.amounts import AMOUNT_MAX_INTEGER_DIGITS
from payout_core.engine.csv_records import repeated_columns_problem
from payout_core.engine.dates import STANDARD_DATE_FORMAT, parse_date
from payout_core.engine.errors import InputFileError
from payout_core.engine.products import (
    MONEY,
    PERCENTAGE,
    RuleParameter,
    all_handlers,
    all_rule_parameters,
)

# Business header -> field name, for the columns every rule has (SPEC §3.2). The numeric
# parameters between the window and SuccessCriteria are declared by the product handlers.
KEY_AND_WINDOW_COLUMNS = {
    "SourceType": "source_type",
    "MediumType": "medium_type",
    "ProductType": "product_type",
    "KPIStartDate": "kpi_start_date",
    "KPIEndDate": "kpi_end_date",
}
MAX_RULE_ROWS = 10_000


def rule_columns() -> dict[str, str]:
    """Every column of the rules file, header -> field name, in the file's documented order:
    key, window, each product's parameters, SuccessCriteria."""
    return {
        **KEY_AND_WINDOW_COLUMNS,
        **{parameter.header: parameter.name for parameter in all_rule_parameters()},
        "SuccessCriteria": "success_criteria",
    }


def _rule_date(value: object) -> object:
    """The same date parser as MIS event dates (engine/dates.py), so both agree."""
    if isinstance(value, str):
        parsed = parse_date(value, STANDARD_DATE_FORMAT)
        if parsed is None:
            raise ValueError(f"{value!r} is not a date like '2 10 2023'")
        return parsed
    return value


RuleDate = Annotated[dt.date, BeforeValidator(_rule_date)]
Key = Annotated[str, BeforeValidator(lambda value: (value or "").strip()), Field(min_length=1)]
# A rule's money is held to the MIS amounts' limit (engine/amounts.py): every amount the
# ledger computes from rules then fits its columns (numeric(16, 2): a lead's KPIs summed,
# a percentage of an MIS amount, an adjustment), and the minor units stay inside Int64.
MONEY_MAX = Decimal(10**AMOUNT_MAX_INTEGER_DIGITS) - Decimal("0.01")
PARAMETER_LIMITS = {
    PERCENTAGE: (Decimal(100), 4),  # (largest value, most decimals)
    MONEY: (MONEY_MAX, 2),
}


class PayinPayoutRule(BaseModel, frozen=True, extra="allow"):
    """One rule row. Its parameters (every product's, 0 where not used) are attributes by
    field name too (`rule.kpi1_payin_percentage`), and all of them are in `parameters`."""

    row_number: int
    source_type: Key
    medium_type: Key
    product_type: Key
    kpi_start_date: RuleDate
    kpi_end_date: RuleDate
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

    @property
    def parameters(self) -> dict[str, Decimal]:
        """Field name -> value of every declared parameter, in integer-free Decimals."""
        extra = self.__pydantic_extra__ or {}
        return {p.name: extra.get(p.name, Decimal(0)) for p in all_rule_parameters()}


def parse_parameter(parameter: RuleParameter, cell: str | None, required: bool) -> Decimal:
    """A rule cell -> its exact value, or ValueError saying why not. A blank cell is 0
    (not used) unless the rule's product needs the parameter."""
    text = (cell or "").strip()
    if not text:
        if required:
            raise ValueError("is blank, but rules of this product need it")
        return Decimal(0)
    try:
        value = Decimal(text)
    except InvalidOperation as error:
        raise ValueError(f"{text!r} is not a {parameter.kind.value}") from error
    largest, decimals = PARAMETER_LIMITS[parameter.kind]
    if not value.is_finite() or value < 0:
        raise ValueError(f"{text!r} is not a {parameter.kind.value} (0 to {largest:,})")
    if value > largest:
        as_mis = f" (as MIS amounts: {AMOUNT_MAX_INTEGER_DIGITS} digits before the point)"
        raise ValueError(
            f"{_cut(text)!r} is too large: a {parameter.kind.value} is at most {largest:,}"
            + (as_mis if parameter.kind is MONEY else "")
        )
    if -value.as_tuple().exponent > decimals:
        raise ValueError(f"{text!r} has more than {decimals} decimals")
    return value


def _parse_row(row_number: int, row: dict[str, str | None], header: set[str]) -> PayinPayoutRule:
    """One row, or RuleRowError listing every problem of it. A parameter column the file
    lacks is blank (a file written before a product was added still loads), unless the
    row's product needs it."""
    problems: list[str] = []
    fields = {name: row.get(header) for header, name in KEY_AND_WINDOW_COLUMNS.items()}
    handler = all_handlers().get((row.get("ProductType") or "").strip())
    needed = {parameter.header for parameter in handler.rule_parameters} if handler else set()
    parameters: dict[str, Decimal] = {}
    own = handler.rule_parameters if handler else ()  # its own first, in its order
    for parameter in (*own, *(p for p in all_rule_parameters() if p not in own)):
        if parameter.header in needed and parameter.header not in header:
            problems.append(
                f"row {row_number}: the file has no column {parameter.header}, and rules of "
                f"{handler.product_type if handler else 'this product'} need it"
            )
            continue
        try:
            parameters[parameter.name] = parse_parameter(
                parameter, row.get(parameter.header), required=parameter.header in needed
            )
        except ValueError as error:
            problems.append(f"row {row_number}: {parameter.header} {error}")
    try:
        rule = PayinPayoutRule(
            row_number=row_number,
            success_criteria=row.get("SuccessCriteria"),
            **fields,
            **parameters,
        )
    except ValidationError as error:
        problems[:0] = _describe(row_number, error)
    if problems:
        raise RuleRowError(problems)
    return rule


class RuleRowError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


Rule = TypeVar("Rule")


def parse_rules(text: str, source: str) -> list[PayinPayoutRule]:
    """Every row valid and no clashing windows, or InputFileError listing each problem."""
    return parse_rule_rows(
        text,
        source,
        required_columns=KEY_AND_WINDOW_COLUMNS,
        max_rows=MAX_RULE_ROWS,
        what="rules",
        parse_row=_parse_row,
        clashes=overlapping_windows,
    )


def parse_rule_rows(
    text: str,
    source: str,
    *,
    required_columns: Sequence[str],
    max_rows: int,
    what: str,
    parse_row: Callable[[int, dict[str, str | None], set[str]], Rule],
    clashes: Callable[[list[Rule]], list[str]],
) -> list[Rule]:
    """A versioned rules file (the KPI rules, the incentive rules) read the same way: its
    header (a BOM, a column twice, one missing), then each row numbered from 1 (blank rows
    skipped, `parse_row` raising RuleRowError with every problem of its row), then the
    rows against each other (`clashes`). Every row valid, or InputFileError listing each
    problem; `what` names the rows in its sentences."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    repeated = repeated_columns_problem(header)
    if repeated:
        raise InputFileError(source, [repeated])
    missing = [column for column in required_columns if column not in header]
    if missing:
        raise InputFileError(source, [f"required column(s) missing: {', '.join(missing)}"])
    reader.fieldnames = header
    parsed: list[Rule] = []
    problems: list[str] = []
    for row_number, row in enumerate(reader, start=1):
        if row_number > max_rows:
            raise InputFileError(source, [f"more than {max_rows} {what}"])
        if not any((value or "").strip() for value in _cells(row)):
            continue  # a blank row (Excel's `,,,,`) is no rule
        try:
            parsed.append(parse_row(row_number, row, set(header)))
        except RuleRowError as error:
            problems.extend(error.problems)
    problems.extend(clashes(parsed))
    if problems:
        raise InputFileError(source, problems)
    if not parsed:
        raise InputFileError(source, [f"the file holds no {what}"])
    return parsed


def _cells(row: dict[str | None, str | list[str] | None]) -> list[str | None]:
    """Every cell of a DictReader row, those past the header (key None) included."""
    cells: list[str | None] = []
    for value in row.values():
        cells.extend(value if isinstance(value, list) else [value])
    return cells


def _cut(text: str, max_chars: int = 40) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def parse_rules_file(path: Path) -> list[PayinPayoutRule]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(str(path), [f"cannot read the file: {error}"]) from error
    return parse_rules(text, str(path))


def _describe(row_number: int, error: ValidationError) -> list[str]:
    headers = {name: header for header, name in rule_columns().items()}
    problems = []
    for detail in error.errors():
        field = headers.get(str(detail["loc"][0]), "") if detail["loc"] else ""
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] in ("too_short", "string_too_short", "missing"):
            message = "is blank"  # pydantic's words ("at least 1 item after validation")
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
def rule_frame_schema() -> dict[str, pl.DataType]:
    return {
        "rule_id": pl.Int64,
        "source_type": pl.String,
        "medium_type": pl.String,
        "product_type": pl.String,
        "kpi_start_date": pl.Date,
        "kpi_end_date": pl.Date,
        **{parameter.frame_column: pl.Int64 for parameter in all_rule_parameters()},
    }


def rules_frame(rules: list[PayinPayoutRule], rule_ids: list[int] | None = None) -> pl.DataFrame:
    """Rules as the calculation joins them; `rule_ids` default to row numbers (tests)."""
    ids = rule_ids or [rule.row_number for rule in rules]
    parameters = all_rule_parameters()
    return pl.DataFrame(
        [
            (
                rule_id,
                *rule.key,
                rule.kpi_start_date,
                rule.kpi_end_date,
                *(int(rule.parameters[p.name] * p.kind.scale) for p in parameters),
            )
            for rule_id, rule in zip(ids, rules, strict=True)
        ],
        schema=rule_frame_schema(),
        orient="row",
    )
