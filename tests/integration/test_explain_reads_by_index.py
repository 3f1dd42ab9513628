"""SPEC §10: a lead's story, an SP's page and an SP's statement read only that lead's or
SP's rows, through indexes, so they cost the same on a ledger of any size. Every query
they send is planned with sequential scans priced out: a table with no index for the
lookup still shows a Seq Scan then, so none may appear."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from payout_core.ledger import lead_story_rows

pytestmark = pytest.mark.integration


def seq_scans(plan: dict[str, Any]) -> list[str]:
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" else []
    for child in plan.get("Plans", []):
        found += seq_scans(child)
    return found


def test_the_story_and_the_statement_read_through_indexes(database_url: str):
    sent: list[tuple[Any, Any]] = []

    class Recording(psycopg.Cursor):
        def execute(self, query, params=None, **options):  # type: ignore[no-untyped-def, override]
            sent.append((query, params))
            return super().execute(query, params, **options)

    with psycopg.connect(database_url, cursor_factory=Recording) as conn:
        lead_story_rows.lead_row(conn, "AT-1")
        lead_story_rows.lead_event_rows(conn, "AT-1")
        lead_story_rows.lead_receipt_rows(conn, "AT-1")
        lead_story_rows.sp_event_rows(conn, "SP-1")
        lead_story_rows.sp_credit_rows(conn, "SP-1")
        lead_story_rows.sp_exists(conn, "SP-1")
        lead_story_rows.cycle_close_times(conn, 3)
        lead_story_rows.statement_sp_ids(conn, 3)
    assert len(sent) == 8

    with psycopg.connect(database_url) as conn:
        conn.execute("SET enable_seqscan = off")
        # The check itself: a lookup no index serves still plans a Seq Scan.
        [[control]] = conn.execute(
            "EXPLAIN (FORMAT JSON) SELECT * FROM payout_events WHERE reason = 'x'"
        ).fetchone()
        assert seq_scans(control["Plan"]) == ["payout_events"]
        for query, params in sent:
            [[plan]] = conn.execute(f"EXPLAIN (FORMAT JSON) {query}", params).fetchone()
            scans = seq_scans(plan["Plan"])
            assert scans == [], (scans, query)
