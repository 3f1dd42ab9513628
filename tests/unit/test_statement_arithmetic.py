"""A statement's identity (SPEC §10): lines + brought in = credit + carried out, whatever
happened to the SP's events (engine/statements, pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from payout_core.engine.statements import statement

D = Decimal
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def event(payout: str, created: datetime, cycle: int | None, **state: object) -> dict:
    return {
        "payout_amount": D(payout),
        "created_at": created,
        "cycle_number": cycle,
        "status_at_creation": state.get("status", "released"),
        "hold_reason": state.get("hold_reason"),
        "held_at": state.get("held_at"),
        "decision": state.get("decision"),
        "decided_at": state.get("decided_at"),
    }


def test_carried_clawback_held_and_rejected_events_tie_out():
    close_1, close_2 = T0 + 7 * DAY, T0 + 14 * DAY
    events = [
        event("300", T0 + DAY, 1),  # paid in cycle 1: not in cycle 2's statement
        event("-200", T0 + 3 * DAY, 2),  # carried at close 1, paid in cycle 2
        event("500", T0 + 9 * DAY, 2),
        event("-39", T0 + 9 * DAY, 2, status="held", hold_reason="negative",
              held_at=T0 + 9 * DAY, decision="approved", decided_at=T0 + 10 * DAY),
        event("2000", T0 + 9 * DAY, None, status="held", hold_reason="above the limit",
              held_at=T0 + 9 * DAY),
        event("-400", T0 + 9 * DAY, None, status="held", hold_reason="negative",
              held_at=T0 + 9 * DAY, decision="rejected", decided_at=T0 + 11 * DAY),
        event("-50", T0 + 12 * DAY, None),  # available, not paid: carried out
    ]  # fmt: skip
    result = statement("SP-1", 2, close_2, close_1, events, [])
    assert result.brought_in_total == D("-200")
    assert result.lines_total == D("411")
    assert result.credit_total == D("261")
    assert result.carried_out_total == D("-50")
    assert result.held_total == D("2000")
    assert [e["payout_amount"] for e in result.rejected] == [D("-400")]
    assert result.ties_out
