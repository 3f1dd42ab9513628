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

from payout_core.engine.people import UnreadableName, person_name, same_person
from payout_core.errors import DecisionRefused
from payout_core.ledger.events import check_release_invariant

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


def _problems(event_ids: Sequence[int], found: dict[int, HeldEvent]) -> list[str]:
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
    return problems


def _group_problems(
    group: list[HeldEvent], decided_by: str, decision: str, rejected_kpis: set[tuple[str, str]]
) -> list[str]:
    problems = []
    for event in group:
        if same_person(decided_by, event.requested_by):
            problems.append(
                f"event {event.event_id}: {decided_by} asked for the change that made it and"
                " cannot decide it too (maker-checker: someone else must)"
            )
        if decision == "approved" and (event.lead_id, event.kpi) in rejected_kpis:
            problems.append(
                f"event {event.event_id}: {event.kpi} of lead {event.lead_id} was rejected;"
                " nothing more is paid for it (reject this event instead)"
            )
    return problems


def _waiting_together(conn: psycopg.Connection, named: list[HeldEvent]) -> list[HeldEvent]:
    """Every event still waiting for the same KPI of the same lead as a named one: they
    are decided together (SPEC §8), so a correction is never released on top of money
    that the other decision may still take back or waive."""
    pairs = sorted({(event.lead_id, event.kpi) for event in named})
    return _held_events(
        conn,
        "s.decision_id IS NULL AND (s.lead_id, s.kpi) IN"
        " (SELECT * FROM unnest(%s::text[], %s::text[]))",
        ([lead for lead, _ in pairs], [kpi for _, kpi in pairs]),
    )


def _rejected_kpis(conn: psycopg.Connection, group: list[HeldEvent]) -> set[tuple[str, str]]:
    leads = sorted({event.lead_id for event in group})
    rows = conn.execute(
        "SELECT DISTINCT lead_id, kpi FROM payout_event_states WHERE lead_id = ANY(%s)"
        " AND kind = 'earned' AND effective_status = 'rejected'",
        (leads,),
    ).fetchall()
    return {(lead, kpi) for lead, kpi in rows}


def decide(
    conn: psycopg.Connection,
    event_ids: Sequence[int],
    *,
    decision: Literal["approve", "reject"],
    decided_by: str,
    reason: str | None,
) -> list[Decision]:
    """Approve or reject held events, all or none, in one transaction. Every other event
    still waiting for the same KPI of the same lead is decided with them (SPEC §8): its
    decision's reason says so.

    Raises DecisionRefused naming every problem: no event named, an unknown id, an event
    not held or already decided, an unreadable or blank `decided_by`, a rejection without
    a reason, `decided_by` being the person who asked for the change that made an event
    (names compared as people read them), or an approval for a KPI already rejected.
    Approved events are released into the next cycle; the final table of their leads is
    refreshed and the release invariant checked before anything commits.
    """
    recorded_decision = DECISIONS.get(decision)
    reason = (reason or "").strip() or None
    unique_ids = list(dict.fromkeys(int(event_id) for event_id in event_ids))
    problems = []
    try:
        decided_by = person_name(decided_by, role="person deciding (--by)")
    except UnreadableName as error:
        problems.append(str(error))
    if recorded_decision is None:
        problems.append(f"unknown decision {decision!r}: approve or reject")
    if not unique_ids:
        problems.append("no event named")
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
            problems = _problems(unique_ids, found)
            if problems:
                raise DecisionRefused(problems)
            named = [found[event_id] for event_id in unique_ids]
            group = _waiting_together(conn, named)
            rejected_kpis = _rejected_kpis(conn, group)
            problems = _group_problems(group, decided_by, recorded_decision, rejected_kpis)
            if problems:
                raise DecisionRefused(problems)
            rows = conn.execute(
                "INSERT INTO hold_decisions (event_id, decision, decided_by, decision_reason)"
                " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[])"
                " RETURNING decision_id, event_id, decision, decided_by, decided_at,"
                " decision_reason",
                _decision_rows(group, set(unique_ids), recorded_decision, decided_by, reason),
            ).fetchall()
            lead_ids = sorted({event.lead_id for event in group})
            conn.execute("SELECT refresh_calculations(%s)", (lead_ids,))
            check_release_invariant(conn, lead_ids)
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
    return sorted((Decision(*row) for row in rows), key=lambda made: made.event_id)


def _decision_rows(
    group: list[HeldEvent],
    named_ids: set[int],
    decision: str,
    decided_by: str,
    reason: str | None,
) -> tuple[list[int], list[str], list[str], list[str | None]]:
    """Columns of the decisions to insert: the named events with `reason`; the events
    decided with them say with which."""
    named_of_kpi: dict[tuple[str, str], list[int]] = {}
    for event in group:
        if event.event_id in named_ids:
            named_of_kpi.setdefault((event.lead_id, event.kpi), []).append(event.event_id)
    reasons = []
    for event in group:
        if event.event_id in named_ids:
            reasons.append(reason)
            continue
        together = ", ".join(str(i) for i in named_of_kpi[(event.lead_id, event.kpi)])
        note = f"decided together with event(s) {together}: the same KPI of the same lead"
        reasons.append(f"{reason} ({note})" if reason else note)
    return (
        [event.event_id for event in group],
        [decision] * len(group),
        [decided_by] * len(group),
        reasons,
    )
