"""The kinds of failure the app distinguishes, and the typed errors behind them.

Terminal: the input is wrong (bad file, bad rules); record it, report it, move the file
aside, never retry. Transient: the world is wrong (database down); raise so the host
retries, and rely on exactly-once bookkeeping to make the retry safe.
"""

from __future__ import annotations

import re

# The kinds of failure, defined beside the engine that raises them (it imports nothing of
# the house but its own errors); every other part takes them from here.
from payout_core.engine.errors import (
    ConfigurationError,
    InputFileError,
    MisFileError,
    PayoutError,
    ReconciliationFileError,
    TerminalError,
    TransientError,
)

# SPEC §6: one error record, as a table row, a CSV row (storage, local folder) and an
# email attachment row alike.
ERROR_LOG_HEADERS = ("CreatedAt", "MIS", "ErrorType")
MIS_SIZE_SETTING = "PAYOUT_MIS_MAX_FILE_BYTES"
RECONCILIATION_SIZE_SETTING = "PAYOUT_RECONCILIATION_MAX_FILE_BYTES"


class SettingError(ConfigurationError):
    """Settings whose values are refused: one sentence per setting, naming it, its value
    and what is expected (`settings`: the names)."""

    def __init__(self, settings: list[str], sentences: list[str]) -> None:
        self.settings = settings
        super().__init__("; ".join(sentences))


__all__ = [
    "ERROR_LOG_HEADERS",
    "ERROR_TEXT_MAX_CHARS",
    "ConfigurationError",
    "DecisionRefused",
    "InputFileError",
    "MisFileError",
    "MisFileTooLargeError",
    "PayoutError",
    "ReconciliationFileError",
    "SettingError",
    "TerminalError",
    "TransientError",
    "check_mis_file_size",
    "clean_error_text",
    "describe_error",
]


ERROR_TEXT_MAX_CHARS = 1_000  # SPEC §6: ErrorType is at most 1,000 characters
# Control characters (C0, DEL, C1) and the lone surrogates of undecodable bytes: PostgreSQL
# text refuses NUL, and none of them is meant for a person to read. Line breaks and tabs
# become spaces (the text stays readable), the others U+FFFD.
_LINE_BREAKS = re.compile(r"[\t\n\r]")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_error_text(
    text: str, max_chars: int = ERROR_TEXT_MAX_CHARS, total_chars: int | None = None
) -> str:
    """Text any error record can hold and a person can read (SPEC §6): control characters
    (NUL included) replaced, at most `max_chars`, with a note saying what was cut.
    Cleaning clean text changes nothing, so callers may clean again to be safe.
    `total_chars`: the length of the whole text when `text` is only its start."""
    total_chars = max(total_chars or 0, len(text))
    if total_chars > max_chars:
        note = f" [… cut: {total_chars:,} characters in all, the first {{kept:,}} kept]"
        kept = max(max_chars - len(note.format(kept=max_chars)), 0)
        text = text[:kept] + note.format(kept=kept)
    return _CONTROL_CHARACTERS.sub("\ufffd", _LINE_BREAKS.sub(" ", text))


def describe_error(error: BaseException) -> str:
    """The ErrorType text: the real cause in plain words, without repeating the file name,
    cleaned and capped for the error record (`clean_error_text`)."""
    if isinstance(error, MisFileError):
        return clean_error_text(error.cause)
    return clean_error_text(str(error) or type(error).__name__)


class MisFileTooLargeError(MisFileError):
    """An input file over its size limit: the one size check, whichever way the file came
    in (a blob's stated size, the bytes actually downloaded, a local file) and whatever it
    is (MIS, remittance, wallet confirmation; `setting` names the limit)."""

    def __init__(
        self, mis_file: str, size_bytes: int, max_bytes: int, setting: str = MIS_SIZE_SETTING
    ) -> None:
        super().__init__(
            mis_file,
            f"file is over the limit of {max_bytes:,} bytes ({setting}): "
            f"{size_bytes:,} bytes or more",
        )


def check_mis_file_size(
    mis_file: str, size_bytes: int, max_bytes: int, setting: str = MIS_SIZE_SETTING
) -> None:
    """Raise MisFileTooLargeError when `size_bytes` is over `max_bytes`."""
    if size_bytes > max_bytes:
        raise MisFileTooLargeError(mis_file, size_bytes, max_bytes, setting)


class DecisionRefused(TerminalError):
    """A hold decision refused as a whole (SPEC §8): nothing of it was recorded. Names every
    event that stopped it and why (unknown, not held, already decided, maker = checker)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"decision refused, nothing decided:\n{listing}")
