"""Pure parts of the Blob Storage port: output names and CSV escaping."""

from __future__ import annotations

import csv
import io

from payout_core.adapters import storage


def test_output_names_keep_folders_and_drop_the_extension() -> None:
    assert storage.output_names("bank_a.csv") == (
        "success/bank_a.success.csv",
        "rejected/bank_a.rejected.csv",
    )
    assert storage.output_names("2023/10/bank b.CSV") == (
        "success/2023/10/bank b.success.csv",
        "rejected/2023/10/bank b.rejected.csv",
    )


def test_csv_line_escapes_commas_quotes_and_newlines() -> None:
    values = ("2023-10-02T10:00:00+00:00", 'bank "A", daily.csv', "missing columns:\nTrackingId")
    line = storage.csv_line(values)
    assert next(csv.reader(io.StringIO(line.decode("utf-8")))) == list(values)
