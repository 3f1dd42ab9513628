"""Held payout events and the decisions people take on them (SPEC §8): the rows behind
`payout holds`, the review page and the email's "decided since the last email". The
decision's rules are flows/review_decisions.py's. An event's state comes from the view
`payout_event_states`, never from a column someone updates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

import psycopg

from payout_core.ledger.events import check_release_invariant
from payout_core.ledger.iteration_rows import LAST_ITERATION_HORIZON

HELD_EVENT_COLUMNS = """
    s.event_id, s.lead_id, s.sp_id, s.product_type, s.kpi, s.kind, s.payin_amount,
    s.payout_amount, s.reason, s.hold_reason,
    CASE s.decision WHEN 'approved' THEN 'approved' WHEN 'rejected' THEN 'rejected'
         ELSE 'held' END,
    s.requested_by, s.created_at, s.decided_by, s.decided_at, s.decision_reason,
    s.held_at, s.decision_id, s.cycle_number,
    (SELECT r.mis_file FROM mis_runs r WHERE r.mis_run_id = s.mis_run_id)
"""
# Events ever held: written held (a small partial index) or held later (event_holds).
EVER_HELD = """
    s.event_id IN (SELECT event_id FROM payout_events WHERE status = 'held'
                   UNION ALL SELECT event_id FROM event_holds)
"""
# Events ever held and not decided yet: the ids come from the indexes alone (the decided
# ones are left out by hold_decisions' unique index), and only these few are looked up in
# payout_event_states, however many holds were decided before.
AWAITING_DECISION = """
    s.event_id IN (SELECT h.event_id
                   FROM (SELECT event_id FROM payout_events WHERE status = 'held'
                         UNION ALL SELECT event_id FROM event_holds) h
                   WHERE NOT EXISTS (SELECT 1 FROM hold_decisions d
                                     WHERE d.event_id = h.event_id))
"""


@dataclass(frozen=True)
class HeldEvent:
    """A payout event that was held, with its decision if one was taken."""

    event_id: int
    lead_id: str
    sp_id: str
    product_type: str
    kpi: str
    kind: str
    payin_amount: Decimal
    payout_amount: Decimal
    reason: str
    hold_reason: str
    status: Literal["held", "approved", "rejected"]
    requested_by: str | None
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    held_at: datetime | None = None
    decision_id: int | None = None
    cycle_number: int | None = None
    """The cycle that paid it (approved events, once a cycle closed after the approval)."""
    mis_file: str | None = None
    """The MIS file that made it (None: a recalculation, which names its requester)."""

    def to_json(self) -> dict[str, object]:
        """The `payout holds list --json` line: amounts as exact decimal strings."""
        return {
            "event_id": self.event_id,
            "lead_id": self.lead_id,
            "sp_id": self.sp_id,
            "product_type": self.product_type,
            "kpi": self.kpi,
            "kind": self.kind,
            "payin_amount": str(self.payin_amount),
            "payout_amount": str(self.payout_amount),
            "reason": self.reason,
            "hold_reason": self.hold_reason,
            "status": self.status,
            "requested_by": self.requested_by,
            "mis_file": self.mis_file,
            "held_at": self.held_at.isoformat() if self.held_at else None,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decision_reason": self.decision_reason,
            "cycle": self.cycle_number,
        }


@dataclass(frozen=True)
class Decision:
    decision_id: int
    event_id: int
    decision: Literal["approved", "rejected"]
    decided_by: str
    decided_at: datetime
    decision_reason: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "decision_id": self.decision_id,
            "event_id": self.event_id,
            "decision": self.decision,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat(),
            "decision_reason": self.decision_reason,
        }


def _held_events(
    conn: psycopg.Connection,
    where: str,
    params: Sequence[object],
    limit: int | None = None,
    among: str = EVER_HELD,
) -> list[HeldEvent]:
    rows = conn.execute(
        f"SELECT {HELD_EVENT_COLUMNS} FROM payout_event_states s WHERE {among} AND {where}"
        " ORDER BY s.held_at, s.event_id LIMIT %s",
        (*params, limit),
    ).fetchall()
    return [HeldEvent(*row) for row in rows]


def list_holds(
    conn: psycopg.Connection,
    *,
    include_decided: bool = False,
    product_type: str | None = None,
    sp_id: str | None = None,
    limit: int | None = None,
    after_event_id: int | None = None,
) -> list[HeldEvent]:
    """Events awaiting a decision, oldest hold first; with `include_decided`, every event
    ever held, decided ones included. A page: at most `limit` of them, those listed after
    event `after_event_id` (the last of the previous page) in that order."""
    return _held_events(
        conn,
        "(%s OR s.decision_id IS NULL) AND (%s::text IS NULL OR s.product_type = %s)"
        " AND (%s::text IS NULL OR s.sp_id = %s)"
        " AND (%s::bigint IS NULL OR (s.held_at, s.event_id) >"
        "      (SELECT a.held_at, a.event_id FROM payout_event_states a WHERE a.event_id = %s))",
        (include_decided, product_type, product_type, sp_id, sp_id, after_event_id,
         after_event_id),
        limit,
        EVER_HELD if include_decided else AWAITING_DECISION,
    )


# Decided, and no email reported it: among the decisions recorded at or past the last
# iteration's horizon (an index range, 014), not every decision ever taken.
DECIDED_SINCE_LAST_ITERATION = (
    "s.decision_id IN (SELECT d.decision_id FROM hold_decisions d"
    f" WHERE d.recorded_xact >= {LAST_ITERATION_HORIZON})"
    " AND NOT EXISTS (SELECT 1 FROM reported_decisions r WHERE r.decision_id = s.decision_id)"
)


def decisions_since_last_iteration(conn: psycopg.Connection) -> list[HeldEvent]:
    """Decided events whose decision no iteration email has reported yet."""
    return _held_events(conn, DECIDED_SINCE_LAST_ITERATION, ())


def record_decisions_reported(
    conn: psycopg.Connection, decision_ids: Sequence[int], iteration_number: int
) -> None:
    """Mark exactly these decisions reported by iteration `iteration_number` (by id: a
    decision taken after the report was built stays for the next one)."""
    conn.execute(
        "INSERT INTO reported_decisions (decision_id, iteration_number)"
        " SELECT unnest(%s::bigint[]), %s",
        (list(decision_ids), iteration_number),
    )


def held_events(conn: psycopg.Connection, event_ids: Sequence[int]) -> dict[int, HeldEvent]:
    """These events, by id, when they were ever held."""
    return {
        event.event_id: event
        for event in _held_events(conn, "s.event_id = ANY(%s)", (list(event_ids),))
    }


def waiting_together(conn: psycopg.Connection, named: Sequence[HeldEvent]) -> list[HeldEvent]:
    """Every event still waiting for the same KPI of the same lead as a named one (the
    named ones included)."""
    pairs = sorted({(event.lead_id, event.kpi) for event in named})
    return _held_events(
        conn,
        "s.decision_id IS NULL AND (s.lead_id, s.kpi) IN"
        " (SELECT * FROM unnest(%s::text[], %s::text[]))",
        ([lead for lead, _ in pairs], [kpi for _, kpi in pairs]),
    )


def rejected_kpis(conn: psycopg.Connection, lead_ids: Sequence[str]) -> set[tuple[str, str]]:
    """(LeadId, KPI) of these leads whose earned event a person rejected."""
    rows = conn.execute(
        "SELECT DISTINCT lead_id, kpi FROM payout_event_states WHERE lead_id = ANY(%s)"
        " AND kind = 'earned' AND effective_status = 'rejected'",
        (sorted(set(lead_ids)),),
    ).fetchall()
    return {(lead, kpi) for lead, kpi in rows}


def insert_decisions(
    conn: psycopg.Connection,
    rows: tuple[list[int], list[str], list[str], list[str | None]],
) -> list[Decision]:
    """Append decisions (event ids, decisions, who, why), then the final table of their
    leads, with the release invariant checked on them (SPEC §8). The database refuses a
    decision on an event not held, maker = checker, and an approval for a rejected KPI."""
    made = conn.execute(
        "INSERT INTO hold_decisions (event_id, decision, decided_by, decision_reason)"
        " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[])"
        " RETURNING decision_id, event_id, decision, decided_by, decided_at, decision_reason",
        rows,
    ).fetchall()
    lead_ids = [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT lead_id FROM payout_events WHERE event_id = ANY(%s)", (rows[0],)
        )
    ]
    conn.execute("SELECT refresh_calculations(%s)", (lead_ids,))
    check_release_invariant(conn, lead_ids)
    return sorted((Decision(*row) for row in made), key=lambda decided: decided.event_id)
