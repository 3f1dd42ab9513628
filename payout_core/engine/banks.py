"""Bank profiles: how one bank names the standard MIS columns and writes its dates/amounts.

Loaded from config/banks.toml (PAYOUT_BANKS_FILE); see that file for the format. The
profiles are checked when loaded (unknown keys, unknown or blank columns, date formats,
thousands separators): a broken profile is the deployment's fault, not an MIS file's, so
it raises ConfigurationError, and no file is refused for it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from payout_core.engine.dates import STANDARD_DATE_FORMAT, date_format_problem
from payout_core.engine.errors import ConfigurationError
from payout_core.engine.products import COMMON_MIS_COLUMNS, all_handlers

__all__ = [
    "STANDARD_DATE_FORMAT",
    "BankProfile",
    "BankProfiles",
    "BankProfilesError",
    "load_bank_profiles",
]

TOP_LEVEL_KEYS = ("standard", "bank")
STANDARD_KEYS = ("date_format", "thousands_separator")
BANK_KEYS = ("source_type", "date_format", "thousands_separator", "columns")
# A thousands separator is one character that cannot be confused with the amount itself or
# with the CSV around it.
THOUSANDS_SEPARATORS = (",", " ", "'", "_", "\u00a0", "\u202f")


class BankProfilesError(ConfigurationError):
    """config/banks.toml cannot be used: names the file and lists every problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(
            f"bank configuration {source} is broken (a deployment fault: no MIS file is "
            f"refused for it; fix it and the files run again): {'; '.join(problems)}"
        )


@dataclass(frozen=True)
class BankProfile:
    source_type: str | None
    """None for the standard layout."""
    date_format: str = STANDARD_DATE_FORMAT
    columns: dict[str, str] = field(default_factory=dict)
    """Standard column name -> the header this bank uses for it."""
    thousands_separator: str | None = None
    """Declared by the bank: `2,616` (quoted in the CSV) is then 2616. None: no separator."""

    def header_for(self, standard_column: str) -> str:
        return self.columns.get(standard_column, standard_column)

    @property
    def name(self) -> str:
        """For messages: the layout a file was read with."""
        return "the standard layout" if self.source_type is None else f"{self.source_type}'s layout"


@dataclass(frozen=True)
class BankProfiles:
    standard: BankProfile
    by_source_type: dict[str, BankProfile]

    def source_type_headers(self) -> set[str]:
        """Every header some bank uses for SourceType (the column that says who sent the file)."""
        headers = {self.standard.header_for("SourceType")}
        headers.update(profile.header_for("SourceType") for profile in self.by_source_type.values())
        return headers


# Columns of a remittance file (SPEC §9) that no MIS file has; TrackingId is common.
REMITTANCE_ONLY_COLUMNS = ("Amount", "PaidOn", "Reference")


def standard_columns() -> set[str]:
    """Every standard MIS column a profile may rename (SPEC §3.1 and each product's)."""
    columns = set(COMMON_MIS_COLUMNS)
    columns.update(REMITTANCE_ONLY_COLUMNS)  # a bank's remittance files use its names too
    for handler in all_handlers().values():
        columns.add(handler.event_date_column)
        columns.update(fact.column for fact in handler.facts)
        columns.update(handler.informational_columns)
    return columns


def load_bank_profiles(path: Path) -> BankProfiles:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BankProfilesError(str(path), [f"cannot read it: {error}"]) from error
    return parse_bank_profiles(text, str(path))


def parse_bank_profiles(text: str, source: str) -> BankProfiles:
    """The profiles in `text`, or ConfigurationError listing every problem."""
    problems: list[str] = []
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BankProfilesError(source, [f"not valid TOML: {error}"]) from error
    problems += _unknown_keys("the file", document, TOP_LEVEL_KEYS)
    standard_entry = document.get("standard", {})
    if not isinstance(standard_entry, dict):
        problems.append("[standard] must be a table")
        standard_entry = {}
    problems += _unknown_keys("[standard]", standard_entry, STANDARD_KEYS)
    standard = _profile(None, standard_entry, "[standard]", None, problems)
    by_source_type: dict[str, BankProfile] = {}
    banks = document.get("bank", [])
    if not isinstance(banks, list):
        problems.append("bank must be a list of [[bank]] tables")
        banks = []
    for position, entry in enumerate(banks, start=1):
        where = f"[[bank]] #{position}"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a table")
            continue
        source_type = entry.get("source_type")
        if not isinstance(source_type, str) or not source_type.strip():
            problems.append(f"{where}: source_type is missing")
            continue
        where = f"{where} ({source_type})"
        problems += _unknown_keys(where, entry, BANK_KEYS)
        if source_type in by_source_type:
            problems.append(f"{where}: {source_type} is configured twice")
            continue
        by_source_type[source_type] = _profile(source_type, entry, where, standard, problems)
    if problems:
        raise BankProfilesError(source, problems)
    return BankProfiles(standard, by_source_type)


def _profile(
    source_type: str | None,
    entry: dict,
    where: str,
    standard: BankProfile | None,
    problems: list[str],
) -> BankProfile:
    default_format = standard.date_format if standard else STANDARD_DATE_FORMAT
    date_format = entry.get("date_format", default_format)
    problem = date_format_problem(date_format)
    if problem:
        problems.append(f"{where}: {problem}")
    separator = entry.get("thousands_separator")
    if separator is not None and separator not in THOUSANDS_SEPARATORS:
        allowed = ", ".join(repr(choice) for choice in THOUSANDS_SEPARATORS)
        problems.append(f"{where}: thousands_separator {separator!r} is not one of {allowed}")
    columns = entry.get("columns", {})
    if not isinstance(columns, dict):
        problems.append(f"{where}: columns must be a table of standard name = bank header")
        columns = {}
    problems += _column_problems(where, columns)
    return BankProfile(
        source_type,
        date_format if isinstance(date_format, str) else STANDARD_DATE_FORMAT,
        {str(key): str(value).strip() for key, value in columns.items()},
        separator if isinstance(separator, str) else None,
    )


def _column_problems(where: str, columns: dict) -> list[str]:
    known = standard_columns()
    problems = []
    for standard_name, header in columns.items():
        if standard_name not in known:
            problems.append(
                f"{where}: columns.{standard_name} is not a standard MIS column "
                f"(known: {', '.join(sorted(known))})"
            )
        if not isinstance(header, str) or not header.strip():
            problems.append(f"{where}: columns.{standard_name} has no header name")
    headers = [str(header).strip() for header in columns.values()]
    for header in sorted({header for header in headers if headers.count(header) > 1}):
        problems.append(f"{where}: header {header!r} is mapped to more than one column")
    return problems


def _unknown_keys(where: str, table: dict, known: tuple[str, ...]) -> list[str]:
    return [
        f"{where}: unknown key {key!r} (known: {', '.join(known)})"
        for key in table
        if key not in known
    ]
