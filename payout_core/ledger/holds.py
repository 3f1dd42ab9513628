"""Held payout events and the decisions people take on them (SPEC §8): the SQL behind
`payout holds`, the review page and the email's "decided since the last email".

This module's API is a contract other parts code against (the review page, the summary
job): `list_holds`, `decide`, `decisions_since_last_iteration`. An event's state comes from
the view `payout_event_states`, never from a column someone updates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

import psycopg

from payout_core.errors import DecisionRefused

DECISIONS = {"approve": "approved", "reject": "rejected"}

HELD_EVENT_COLUMNS = """
    s.event_id, s.lead_id, s.sp_id, s.product_type, s.kpi, s.kind, s.payin_amount,
    s.payout_amount, s.reason, s.hold_reason,
    CASE s.decision WHEN 'approved' THEN 'approved' WHEN 'rejected' THEN 'rejected'
         ELSE 'held' END,
    s.requested_by, s.created_at, s.decided_by, s.decided_at, s.decision_reason,
    s.held_at, s.decision_id, s.cycle_number
"""
# Events ever held: written held (a small partial index) or held later (event_holds).
EVER_HELD = """
    s.event_id IN (SELECT event_id FROM payout_events WHERE status = 'held'
                   UNION ALL SELECT event_id FROM event_holds)
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


def _held_events(conn: psycopg.Connection, where: str, params: Sequence[object]) -> list[HeldEvent]:
    rows = conn.execute(
        f"SELECT {HELD_EVENT_COLUMNS} FROM payout_event_states s WHERE {EVER_HELD} AND {where}"
        " ORDER BY s.held_at, s.event_id",
        params,
    ).fetchall()
    return [HeldEvent(*row) for row in rows]


def list_holds(
    conn: psycopg.Connection,
    *,
    include_decided: bool = False,
    product_type: str | None = None,
    sp_id: str | None = None,
) -> list[HeldEvent]:
    """Events awaiting a decision, oldest hold first; with `include_decided`, every event
    ever held, decided ones included."""
    return _held_events(
        conn,
        "(%s OR s.decision_id IS NULL) AND (%s::text IS NULL OR s.product_type = %s)"
        " AND (%s::text IS NULL OR s.sp_id = %s)",
        (include_decided, product_type, product_type, sp_id, sp_id),
    )


def decisions_since_last_iteration(conn: psycopg.Connection) -> list[HeldEvent]:
    """Decided events whose decision no iteration email has reported yet."""
    return _held_events(
        conn,
        "s.decision_id IS NOT NULL AND NOT EXISTS"
        " (SELECT 1 FROM reported_decisions r WHERE r.decision_id = s.decision_id)",
        (),
    )


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


def _same_person(first: str | None, second: str | None) -> bool:
    return bool(first and second) and first.strip().casefold() == second.strip().casefold()


def _problems(event_ids: Sequence[int], found: dict[int, HeldEvent], decided_by: str) -> list[str]:
    problems = []
    for event_id in event_ids:
        event = found.get(event_id)
        if event is None:
            problems.append(f"event {event_id}: no such held event (unknown, or never held)")
        elif event.status != "held":
            problems.append(
                f"event {event_id}: already {event.status} by {event.decided_by}"
                f" at {event.decided_at:%Y-%m-%d %H:%M:%S %Z}".rstrip()
            )
        elif _same_person(decided_by, event.requested_by):
            problems.append(
                f"event {event_id}: {decided_by} asked for the change that made it and cannot"
                " decide it too (maker-checker: someone else must)"
            )
    return problems


def decide(
    conn: psycopg.Connection,
    event_ids: Sequence[int],
    *,
    decision: Literal["approve", "reject"],
    decided_by: str,
    reason: str | None,
) -> list[Decision]:
    """Approve or reject held events, all or none, in one transaction.

    Raises DecisionRefused naming every problem: no event named, an unknown id, an event
    not held or already decided, a blank `decided_by`, a rejection without a reason, or
    `decided_by` being the person who asked for the change that made an event. Approved
    events are released into the next cycle; the final table of their leads is refreshed.
    """
    recorded_decision = DECISIONS.get(decision)
    decided_by = (decided_by or "").strip()
    reason = (reason or "").strip() or None
    unique_ids = list(dict.fromkeys(int(event_id) for event_id in event_ids))
    problems = []
    if recorded_decision is None:
        problems.append(f"unknown decision {decision!r}: approve or reject")
    if not unique_ids:
        problems.append("no event named")
    if not decided_by:
        problems.append("the person deciding must be named (--by)")
    if recorded_decision == "rejected" and reason is None:
        problems.append("a rejection needs a reason (--reason)")
    if problems:
        raise DecisionRefused(problems)
    try:
        with conn.transaction():
            found = {
                event.event_id: event
                for event in _held_events(conn, "s.event_id = ANY(%s)", (unique_ids,))
            }
            problems = _problems(unique_ids, found, decided_by)
            if problems:
                raise DecisionRefused(problems)
            rows = conn.execute(
                "INSERT INTO hold_decisions (event_id, decision, decided_by, decision_reason)"
                " SELECT unnest(%s::bigint[]), %s, %s, %s"
                " RETURNING decision_id, event_id, decision, decided_by, decided_at,"
                " decision_reason",
                (unique_ids, recorded_decision, decided_by, reason),
            ).fetchall()
            lead_ids = sorted({found[event_id].lead_id for event_id in unique_ids})
            conn.execute("SELECT refresh_calculations(%s)", (lead_ids,))
    except psycopg.errors.UniqueViolation as error:
        raise DecisionRefused(
            [
                "another decision on one of these events was recorded at the same moment;"
                " list the holds again"
            ]
        ) from error
    except psycopg.errors.CheckViolation as error:
        # The database's own check (maker-checker, not held), for a state that changed
        # between the read above and the insert.
        raise DecisionRefused([error.diag.message_primary or str(error)]) from error
    return [Decision(*row) for row in rows]
