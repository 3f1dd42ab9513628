"""A flow's unit of work keeps what it wrote only when the flow says commit()."""

from __future__ import annotations

import pytest

from payout_core.flows.unit_of_work import Context

pytestmark = pytest.mark.integration


def _errors(context: Context) -> list[str]:
    with context.reading() as conn:
        return [row[0] for row in conn.execute("SELECT mis FROM error_logs ORDER BY mis")]


def _write(context: Context, name: str) -> None:
    with context.unit_of_work() as uow:
        uow.conn.execute("INSERT INTO error_logs (mis, error_type) VALUES (%s, 'x')", (name,))
        if name.startswith("kept"):
            uow.commit()
        if name.startswith("failed"):
            uow.commit()  # committing, then failing before the block ends, keeps nothing
            raise RuntimeError("the flow failed")


def test_only_a_committed_unit_of_work_keeps_its_writes(context: Context) -> None:
    _write(context, "forgotten.csv")
    with pytest.raises(RuntimeError):
        _write(context, "failed.csv")
    _write(context, "kept.csv")
    assert _errors(context) == ["kept.csv"]


def test_a_unit_of_work_gives_its_connection_back(context: Context) -> None:
    for _ in range(context.settings.db_pool_max_size + 2):
        _write(context, "forgotten.csv")
    assert context.database.pool.get_stats()["pool_available"] >= 1
