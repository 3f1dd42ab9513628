"""The kinds of failure the engine raises: its own, so that it imports nothing else of the
house. payout_core/errors.py (the rest of the app's failures and how they are told)
takes them from here.

Terminal: the input is wrong (bad file, bad rules); record it, report it, move the file
aside, never retry. Transient: the world is wrong (database down); raise so the host
retries. Configuration: the deployment is wrong; no input file is to blame.
"""

from __future__ import annotations


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


class ReconciliationFileError(MisFileError):
    """A remittance or wallet confirmation file that cannot be processed at all (SPEC §9);
    recorded and moved aside exactly like an MIS file."""


class InputFileError(TerminalError):
    """A rules or leads file refused as a whole, with every offending row."""

    def __init__(self, input_file: str, problems: list[str]) -> None:
        self.input_file = input_file
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{input_file}: refused, nothing loaded:\n{listing}")
