"""The kinds of failure the app distinguishes, and the typed errors behind them.

Terminal: the input is wrong (bad file, bad rules); record it, report it, move the file
aside, never retry. Transient: the world is wrong (database down); raise so the host
retries, and rely on exactly-once bookkeeping to make the retry safe.
"""

from __future__ import annotations

# SPEC §6: one error record, as a table row, a CSV row (storage, local folder) and an
# email attachment row alike.
ERROR_LOG_HEADERS = ("CreatedAt", "MIS", "ErrorType")


class PayoutError(Exception):
    """Base of the app's own errors."""


class TerminalError(PayoutError):
    """Retrying cannot help: the input must change."""


class TransientError(PayoutError):
    """Retrying may help: nothing of the file was written."""


class ConfigurationError(PayoutError):
    """The deployment is wrong (a setting missing, a broken bank profile): no input file is
    to blame, so none is moved aside; fix the configuration and the files run again."""


class MisFileError(TerminalError):
    """An MIS file that cannot be processed at all. Names the file and the cause."""

    def __init__(self, mis_file: str, cause: str) -> None:
        self.mis_file = mis_file
        self.cause = cause
        super().__init__(f"{mis_file}: {cause}")


class InputFileError(TerminalError):
    """A rules or leads file refused as a whole, with every offending row."""

    def __init__(self, input_file: str, problems: list[str]) -> None:
        self.input_file = input_file
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{input_file}: refused, nothing loaded:\n{listing}")


def describe_error(error: BaseException) -> str:
    """The ErrorType text: the real cause in plain words, without repeating the file name."""
    if isinstance(error, MisFileError):
        return error.cause
    return str(error) or type(error).__name__


class DecisionRefused(TerminalError):
    """A hold decision refused as a whole (SPEC §8): nothing of it was recorded. Names every
    event that stopped it and why (unknown, not held, already decided, maker = checker)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"decision refused, nothing decided:\n{listing}")
