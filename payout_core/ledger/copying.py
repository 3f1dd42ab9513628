"""COPY in and out: how the ledger moves frames to and from PostgreSQL in bulk.

Never a round trip per row. Money in the calculation is integer minor units; it arrives
here already as `numeric` text (engine/amounts.minor_text), with no float on the way.
"""

from __future__ import annotations

import io

import polars as pl
import psycopg
from psycopg import sql

COPY_CHUNK_ROWS = 50_000  # bounds the CSV text of one COPY write


def copy_frame(cursor: psycopg.Cursor, table: str, frame: pl.DataFrame) -> None:
    """COPY a frame into the table's columns of the same names, in bounded CSV chunks."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    )
    with cursor.copy(statement) as copy:
        for offset in range(0, frame.height, COPY_CHUNK_ROWS):
            buffer = io.BytesIO()
            frame.slice(offset, COPY_CHUNK_ROWS).write_csv(buffer, include_header=False)
            copy.write(buffer.getvalue())


def copy_out(
    cursor: psycopg.Cursor,
    query: sql.Composable,
    schema: dict,
    params: dict[str, object] | None = None,
) -> pl.DataFrame:
    """The rows of `query` as a frame of `schema`, through COPY (CSV)."""
    buffer = io.BytesIO()
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)
    with cursor.copy(statement, params) as copy:
        for data in copy:
            buffer.write(data)
    if buffer.tell() == 0:
        return pl.DataFrame(schema=schema)
    buffer.seek(0)
    return pl.read_csv(buffer, has_header=False, schema=schema)


