"""A person's decision on held payout events (SPEC §8): approve, or reject with a reason.

The code behind `payout holds approve|reject` and the review page, one unit of work per
decision: all the named events or none. Every other event still waiting for the same KPI
of the same lead is decided with them, so a correction is never released on top of money
that the other decision may still take back or waive; its decision's reason says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import psycopg

from payout_core.engine.people import UnreadableName, person_name, same_person
from payout_core.errors import DecisionRefused, clean_error_text
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import holds
from payout_core.ledger.holds import Decision, HeldEvent

DECISIONS = {"approve": "approved", "reject": "rejected"}


def waiting_and_decided(context: Context) -> tuple[list[HeldEvent], list[HeldEvent]]:
    """What the review page shows: the events awaiting a decision, and those decided since
    the last iteration email."""
    with context.reading() as conn:
        return holds.list_holds(conn), holds.decisions_since_last_iteration(conn)


def decide(
    context: Context,
    event_ids: Sequence[int],
    *,
    decision: Literal["approve", "reject"],
    decided_by: str,
    reason: str | None,
    reasons_by_event: Mapping[int, str] | None = None,
) -> list[Decision]:
    """Approve or reject held events, all or none. `reasons_by_event`: an event's own
    reason (the review page's reason per row); the others take `reason`.

    Raises DecisionRefused naming every problem: no event named, an unknown id, an event
    not held or already decided, an unreadable or blank `decided_by`, a rejection without
    a reason, `decided_by` being the person who asked for the change that made an event
    (names compared as people read them), or an approval for a KPI already rejected.
    Approved events are released into the next cycle; the final table of their leads is
    refreshed and the release invariant checked before anything commits.
    """
    recorded_decision = DECISIONS.get(decision)
    reason = clean_error_text(reason or "").strip() or None
    unique_ids = list(dict.fromkeys(int(event_id) for event_id in event_ids))
    own_reasons = {
        int(event_id): cleaned
        for event_id, text in (reasons_by_event or {}).items()
        if int(event_id) in unique_ids and (cleaned := clean_error_text(text or "").strip())
    }
    problems = []
    try:
        decided_by = person_name(decided_by, role="person deciding (--by)")
    except UnreadableName as error:
        problems.append(str(error))
    if recorded_decision is None:
        problems.append(f"unknown decision {decision!r}: approve or reject")
    if not unique_ids:
        problems.append("no event named")
    without_reason = [event_id for event_id in unique_ids if event_id not in own_reasons]
    if recorded_decision == "rejected" and reason is None and without_reason:
        problems.append(
            "a rejection needs a reason (--reason)"
            if not own_reasons
            else "a rejection needs a reason: events "
            + ", ".join(map(str, without_reason))
            + " have none of their own and no reason was given for the rest"
        )
    if problems:
        raise DecisionRefused(problems)
    try:
        with context.unit_of_work() as uow:
            found = holds.held_events(uow.conn, unique_ids)
            problems = _problems(unique_ids, found)
            if problems:
                raise DecisionRefused(problems)
            group = holds.waiting_together(uow.conn, [found[i] for i in unique_ids])
            rejected_kpis = holds.rejected_kpis(uow.conn, [event.lead_id for event in group])
            problems = _group_problems(group, decided_by, recorded_decision, rejected_kpis)
            if problems:
                raise DecisionRefused(problems)
            made = holds.insert_decisions(
                uow.conn,
                _decision_rows(
                    group, set(unique_ids), recorded_decision, decided_by, reason, own_reasons
                ),
            )
            uow.commit()
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
    return made


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


def _decision_rows(
    group: list[HeldEvent],
    named_ids: set[int],
    decision: str,
    decided_by: str,
    reason: str | None,
    own_reasons: Mapping[int, str] | None = None,
) -> tuple[list[int], list[str], list[str], list[str | None]]:
    """Columns of the decisions to insert: the named events with their own reason or
    `reason`; the events decided with them take the reason of the first named event of
    their KPI and say with which."""
    own_reasons = own_reasons or {}
    named_of_kpi: dict[tuple[str, str], list[int]] = {}
    for event in group:
        if event.event_id in named_ids:
            named_of_kpi.setdefault((event.lead_id, event.kpi), []).append(event.event_id)
    reasons = []
    for event in group:
        if event.event_id in named_ids:
            reasons.append(own_reasons.get(event.event_id, reason))
            continue
        named = named_of_kpi[(event.lead_id, event.kpi)]
        together = ", ".join(str(i) for i in named)
        note = f"decided together with event(s) {together}: the same KPI of the same lead"
        their_reason = own_reasons.get(named[0], reason)
        reasons.append(f"{their_reason} ({note})" if their_reason else note)
    return (
        [event.event_id for event in group],
        [decision] * len(group),
        [decided_by] * len(group),
        reasons,
    )
