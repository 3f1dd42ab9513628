"""Statements per SP per cycle (SPEC §10): written to the output container when a cycle
closes (statements/cycle_N.csv, beside the credits CSV), and one SP's statement on demand
for the review page. Reads only the cycle's SPs and each SP's own rows, by index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

import polars as pl
import psycopg

from payout_core.engine.statements import Statement, statement, statement_file_lines
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import lead_story_rows
from payout_core.report.statement import statements_file_csv

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# SPs whose statement lines are read and written at a time: about 16 events each after a
# million-row file, so a slice is some 300,000 rows in memory, whatever the cycle's size.
STATEMENT_SPS_PER_READ = 20_000


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


def publish_statements_file(context: Context, sink: StatementFileSink, cycle_number: int) -> str:
    """Write the cycle's statements CSV next to its credits CSV; returns its name."""
    blob_name = statements_blob_name(cycle_number)
    with context.reading() as conn:
        data = cycle_statements_file(conn, cycle_number)
    sink.publish_credits_file(blob_name, data)
    return blob_name


def cycle_statements_file(conn: psycopg.Connection, cycle_number: int) -> bytes:
    """Every statement line of the cycle: for each of its SPs (in id order), the lines
    `_statement` gives it (brought in, then lines), read STATEMENT_SPS_PER_READ SPs at a
    time so that memory holds one slice, not the cycle. A cycle that never closed has a
    file of headers only."""
    times = lead_story_rows.cycle_close_times(conn, cycle_number)
    if times is None:
        empty = pl.DataFrame(schema=lead_story_rows.CYCLE_STATEMENT_EVENTS_SCHEMA)
        return statements_file_csv([statement_file_lines(empty, cycle_number, 0, None)])
    closed_at, previous_closed_at = times
    closed_at_us = epoch_microseconds(closed_at)
    previous_closed_at_us = (
        epoch_microseconds(previous_closed_at) if previous_closed_at is not None else None
    )
    # Code point order, as the frames sort their SPs: the file is in one order throughout.
    sp_ids = sorted(lead_story_rows.statement_sp_ids(conn, cycle_number))
    return statements_file_csv(
        statement_file_lines(
            lead_story_rows.cycle_statement_events(
                conn, cycle_number, sp_ids[first : first + STATEMENT_SPS_PER_READ]
            ),
            cycle_number,
            closed_at_us,
            previous_closed_at_us,
        )
        for first in range(0, max(len(sp_ids), 1), STATEMENT_SPS_PER_READ)
    )


def epoch_microseconds(moment: datetime) -> int:
    """Exact: PostgreSQL keeps microseconds, and so does the frame's comparison."""
    return (moment - EPOCH) // timedelta(microseconds=1)
