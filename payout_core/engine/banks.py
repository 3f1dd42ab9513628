"""Bank profiles: how one bank names the standard MIS columns and writes its dates.

Loaded from config/banks.toml (PAYOUT_BANKS_FILE); see that file for the format.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from payout_core.errors import InputFileError

STANDARD_DATE_FORMAT = "%d %m %Y"


@dataclass(frozen=True)
class BankProfile:
    source_type: str | None
    """None for the standard layout."""
    date_format: str = STANDARD_DATE_FORMAT
    columns: dict[str, str] = field(default_factory=dict)
    """Standard column name -> the header this bank uses for it."""

    def header_for(self, standard_column: str) -> str:
        return self.columns.get(standard_column, standard_column)


@dataclass(frozen=True)
class BankProfiles:
    standard: BankProfile
    by_source_type: dict[str, BankProfile]

    def source_type_headers(self) -> set[str]:
        """Every header some bank uses for SourceType (the column that says who sent the file)."""
        headers = {self.standard.header_for("SourceType")}
        headers.update(profile.header_for("SourceType") for profile in self.by_source_type.values())
        return headers


def load_bank_profiles(path: Path) -> BankProfiles:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InputFileError(str(path), [f"cannot read bank configuration: {error}"]) from error
    standard = BankProfile(
        None, document.get("standard", {}).get("date_format", STANDARD_DATE_FORMAT)
    )
    problems: list[str] = []
    by_source_type: dict[str, BankProfile] = {}
    for position, entry in enumerate(document.get("bank", []), start=1):
        source_type = entry.get("source_type")
        if not isinstance(source_type, str) or not source_type:
            problems.append(f"[[bank]] #{position}: source_type is missing")
            continue
        if source_type in by_source_type:
            problems.append(f"[[bank]] #{position}: {source_type} is configured twice")
            continue
        by_source_type[source_type] = BankProfile(
            source_type,
            entry.get("date_format", standard.date_format),
            dict(entry.get("columns", {})),
        )
    if problems:
        raise InputFileError(str(path), problems)
    return BankProfiles(standard, by_source_type)
