"""One MIS file, end to end: read -> calculate -> record, as one unit of work.

Shared by the blob trigger, the local host and `payout process`, so every way in takes
the exact same path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Protocol


class OutputSink(Protocol):
    """Where the per-file CSVs for people go (an output container, or a local folder)."""

    def publish_outputs(self, mis_file: str, success_csv: Path, rejected_csv: Path) -> None: ...


@dataclass(frozen=True)
class MisRunResult:
    mis_file: str
    mis_run_id: int
    product_type: str
    rows_read: int
    outcome_counts: dict[str, int] = field(default_factory=dict)
    total_payin: Decimal = Decimal(0)
    total_payout: Decimal = Decimal(0)

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.mis_file,
            "rows": self.rows_read,
            "outcomes": self.outcome_counts,
            "total_payin": str(self.total_payin),
            "total_payout": str(self.total_payout),
        }


def process_mis_file(
    path: Path,
    mis_file: str | None = None,
    *,
    etag: str | None = None,
    outputs: OutputSink | None = None,
) -> MisRunResult:
    """Process the MIS file at `path` (named `mis_file` in errors and the ledger).

    Raises MisFileError (terminal: record, quarantine, never retry) or TransientError
    (nothing was written; retry). IMPLEMENTATION IN PROGRESS.
    """
    raise NotImplementedError
