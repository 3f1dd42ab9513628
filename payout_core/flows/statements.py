"""Statements per SP per cycle (SPEC §10): written to the output container when a cycle
closes (statements/cycle_N.csv, beside the credits CSV), and one SP's statement on demand
for the review page. Reads only the cycle's SPs and each SP's own rows, by index."""

from __future__ import annotations

from typing import Protocol

import psycopg

from payout_core.engine.statements import Statement, statement
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import lead_story_rows
from payout_core.report.statement import statements_csv


class StatementFileSink(Protocol):
    def publish_credits_file(self, blob_name: str, data: bytes) -> None: ...


def statements_blob_name(cycle_number: int) -> str:
    return f"statements/cycle_{cycle_number}.csv"


def _statement(conn: psycopg.Connection, sp_id: str, cycle_number: int) -> Statement | None:
    times = lead_story_rows.cycle_close_times(conn, cycle_number)
    if times is None:
        return None
    closed_at, previous_closed_at = times
    return statement(
        sp_id,
        cycle_number,
        closed_at,
        previous_closed_at,
        lead_story_rows.sp_event_rows(conn, sp_id),
        lead_story_rows.sp_credit_rows(conn, sp_id),
    )


def sp_statement(context: Context, sp_id: str, cycle_number: int) -> Statement | None:
    """One SP's statement for one cycle; None when no such cycle closed."""
    with context.reading() as conn:
        return _statement(conn, sp_id, cycle_number)


def cycle_statements(context: Context, cycle_number: int) -> list[Statement]:
    with context.reading() as conn:
        sp_ids = lead_story_rows.statement_sp_ids(conn, cycle_number)
        found = [_statement(conn, sp_id, cycle_number) for sp_id in sp_ids]
    return [one for one in found if one is not None]


def publish_statements_file(context: Context, sink: StatementFileSink, cycle_number: int) -> str:
    """Write the cycle's statements CSV next to its credits CSV; returns its name."""
    blob_name = statements_blob_name(cycle_number)
    sink.publish_credits_file(blob_name, statements_csv(cycle_statements(context, cycle_number)))
    return blob_name
