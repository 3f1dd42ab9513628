"""Statements per SP per cycle (SPEC §10): written to the output container when a cycle
closes (statements/cycle_N.csv, beside the credits CSV), and one SP's statement on demand
for the review page. Reads only the cycle's SPs and each SP's own rows, by index."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from operator import itemgetter
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
        return list(_cycle_statements(conn, cycle_number))


def _cycle_statements(conn: psycopg.Connection, cycle_number: int) -> Iterator[Statement]:
    """Every statement of the cycle, one SP at a time, from one streamed read of the events
    they show (lead_story_rows.CYCLE_STATEMENT_EVENTS): the same statements as `_statement`
    per SP, which reads all of an SP's events and skips those an earlier cycle paid."""
    times = lead_story_rows.cycle_close_times(conn, cycle_number)
    if times is None:
        return
    closed_at, previous_closed_at = times
    credits = {  # sp_credit_rows' rows: without the SP they are grouped by
        sp_id: [{name: value for name, value in row.items() if name != "sp_id"} for row in rows]
        for sp_id, rows in groupby(
            lead_story_rows.cycle_credit_rows(conn, cycle_number), key=itemgetter("sp_id")
        )
    }
    events = groupby(
        lead_story_rows.cycle_statement_event_rows(conn, cycle_number), key=itemgetter("sp_id")
    )
    pending = next(events, None)
    for sp_id in lead_story_rows.statement_sp_ids(conn, cycle_number):
        sp_events: list = []
        # Both in the server's order of the same SPs: an SP's events, if any, come next.
        if pending is not None and pending[0] == sp_id:
            sp_events = list(pending[1])
            pending = next(events, None)
        yield statement(
            sp_id,
            cycle_number,
            closed_at,
            previous_closed_at,
            sp_events,
            credits.get(sp_id, []),
        )


def publish_statements_file(context: Context, sink: StatementFileSink, cycle_number: int) -> str:
    """Write the cycle's statements CSV next to its credits CSV; returns its name."""
    blob_name = statements_blob_name(cycle_number)
    with context.reading() as conn:
        data = statements_csv(_cycle_statements(conn, cycle_number))
    sink.publish_credits_file(blob_name, data)
    return blob_name
