"""Malformed and real-shaped MIS files through the blob trigger on Azurite (issue 11):
files that are not CSV are quarantined with a readable error record; a ragged row is
`invalid`, never paid a wrong amount."""

from __future__ import annotations

import pytest

from localdev import devhost
from payout_core.flows.unit_of_work import Context
from payout_core.settings import PROJECT_ROOT
from tests.e2e.conftest import Services, run_host_once, runs_by_file

pytestmark = pytest.mark.e2e

CORPUS = PROJECT_ROOT / "tests" / "corpus" / "mis"
NOT_CSV = ["gzip_named.csv", "nul_junk.csv", "xlsx_named.csv", "header_only.csv"]
RAGGED = "ragged_unquoted_thousands.csv"


def test_files_that_are_not_csv_are_quarantined_and_ragged_rows_are_invalid(
    services: Services,
    context: Context,
) -> None:
    settings = services.settings
    for name in [*NOT_CSV, RAGGED, "excel_saved_bom_crlf.csv"]:
        services.upload(name, (CORPUS / name).read_bytes())

    assert run_host_once() == devhost.EXIT_OK

    for name in NOT_CSV:
        assert services.exists(settings.quarantine_container, name), name
        assert not services.exists(settings.mis_container, name), name
    with context.reading() as conn:
        errors = dict(conn.execute("SELECT mis, error_type FROM error_logs").fetchall())
    assert set(errors) == set(NOT_CSV)
    assert "gzip" in errors["gzip_named.csv"] and "NUL" in errors["nul_junk.csv"]
    assert "no data rows" in errors["header_only.csv"]
    header, *rows = services.csv_rows(settings.output_container, "error_logs.csv")
    assert header == ["CreatedAt", "MIS", "ErrorType"]
    assert {row[1]: row[2] for row in rows} == errors

    runs = runs_by_file()
    assert set(runs) == {RAGGED, "excel_saved_bom_crlf.csv"}  # never read as 0 rows
    [ragged] = runs[RAGGED]
    assert ragged["rows_read"] == 3
    assert ragged["outcomes"]["invalid"] == 2
    [excel] = runs["excel_saved_bom_crlf.csv"]  # processed first: pays AT-91961 right
    assert excel["rows_read"] == 3 and excel["outcomes"]["invalid"] == 0
    with context.reading() as conn:
        [(payout,)] = conn.execute(
            "SELECT sum(payout_amount) FROM payout_events WHERE lead_id = 'AT-91961'"
        ).fetchall()
    assert payout == 1500  # KPI1 and KPI2 of 2616, never a payment computed from "2"
    rejected = services.csv_rows(
        settings.output_container, "rejected/ragged_unquoted_thousands.rejected.csv"
    )
    reasons = {row[2]: row[-1] for row in rejected[1:]}
    assert "7 cells" in reasons["AT-91961"]
