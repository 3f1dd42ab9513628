"""error_logs (SPEC §6): one record per file that could not be processed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg

from payout_core.errors import clean_error_text


@dataclass(frozen=True)
class ErrorLogRecord:
    """SPEC §6: CreatedAt, MIS, ErrorType."""

    created_at: dt.datetime
    mis: str
    error_type: str


def record_error(conn: psycopg.Connection, mis_file: str, error_type: str) -> ErrorLogRecord:
    """Keep one error record. Both texts are cleaned and capped here (SPEC §6), whoever
    wrote them: a record that cannot be written (a NUL byte, 50 MB of junk) loses the error."""
    mis_file = clean_error_text(mis_file)
    error_type = clean_error_text(error_type)
    created_at = conn.execute(
        "INSERT INTO error_logs (mis, error_type) VALUES (%s, %s) RETURNING created_at",
        (mis_file, error_type),
    ).fetchone()[0]
    return ErrorLogRecord(created_at, mis_file, error_type)
