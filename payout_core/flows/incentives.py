"""Period incentives (SPEC §11): loading `incentive_rules.csv`, the true-ups a cycle close
appends, and `payout incentives show`.

A close (flows/iteration.py) calls `evaluate_at_close` inside its transaction, under its
advisory lock, before the cycle takes its candidates: the true-ups join that very cycle
(a released one is credited, a clawback is held). It weighs only the SPs with something
new since the last close (their files, recalculations, decisions, holds), or every SP with
leads in the rules' periods once after a new version of the rules; and only periods not yet
final. A second close finds every worth as the ledger last recorded it: nothing to append.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg

from payout_core.adapters.local_files import sha256_of_file
from payout_core.engine import incentives
from payout_core.engine.holds import HoldLimits
from payout_core.engine.incentive_rules import parse_incentive_rules_file
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import incentives as ledger
from payout_core.ledger.iteration_rows import Unreported

CENTS = Decimal("0.01")


def load_incentives_file(context: Context, path: Path) -> str:
    """The file becomes the new version in force (or stays, when it is the same)."""
    loaded = parse_incentive_rules_file(path)
    with context.unit_of_work() as uow:
        summary = ledger.load_incentive_rules(uow.conn, loaded, str(path), sha256_of_file(path))
        uow.commit()
    return summary


def evaluate_at_close(
    conn: psycopg.Connection,
    *,
    cycle_number: int,
    today: dt.date,
    grace_days: int,
    limits: HoldLimits,
    unreported: Unreported,
    decided_event_ids: Sequence[int],
) -> tuple[incentives.IncentiveEvent, ...]:
    """Append each changed slot's true-up for the SPs with something new; record the
    evaluation; return the true-ups appended. Call inside the close's transaction, after
    its lock."""
    version, rules = ledger.rules_in_force(conn)
    open_rules = {
        rule_id: rule
        for rule_id, rule in rules.items()
        if not incentives.is_final(rule, today, grace_days)
    }
    last = ledger.last_evaluation(conn)
    sp_ids: set[str] = set()
    if open_rules:
        sp_ids = ledger.sps_with_something_new(
            conn,
            mis_run_ids=unreported.mis_run_ids,
            recalculation_ids=unreported.recalculation_ids,
            decided_event_ids=decided_event_ids,
            holds_since_cycle=last.cycle_number if last else None,
        )
        if last is None or last.incentive_set_version != version:
            sp_ids |= ledger.sps_in_periods(conn, open_rules.values())
    events: list[incentives.IncentiveEvent] = []
    if sp_ids:
        chosen = sorted(sp_ids)
        standings = incentives.standings(
            chosen,
            open_rules,
            ledger.measure(conn, open_rules, chosen),
            ledger.balances(conn, chosen),
        )
        events = incentives.true_ups(standings, limits)
        ledger.append_events(conn, events, cycle_number)
    ledger.record_evaluation(conn, cycle_number, version, len(sp_ids), len(events))
    return tuple(events)


@dataclass(frozen=True)
class IncentiveLine:
    """One row of `payout incentives show`: an SP's incentive for a period."""

    sp_id: str
    incentive_id: str
    period_start: dt.date
    period_end: dt.date
    measure: Decimal
    worth: Decimal
    paid: Decimal
    final: bool
    measure_name: str

    def to_json(self) -> dict[str, object]:
        return {
            "sp_id": self.sp_id,
            "incentive_id": self.incentive_id,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "measure": str(self.measure),
            "worth": str(self.worth.quantize(CENTS)),
            "paid": str(self.paid.quantize(CENTS)),
            "final": self.final,
        }


def show(
    context: Context, *, sp_id: str | None, today: dt.date, grace_days: int
) -> list[IncentiveLine]:
    """Per SP, incentive and period of the rules in force: the measure, the worth now (the
    winner of an exclusivity group carries the group's worth, the others 0), what was paid
    (released incentive events; a group's, on its winner, or on the incentive paid last
    when none qualifies now), and whether the period is final."""
    with context.reading() as conn:
        _, rules = ledger.rules_in_force(conn)
        chosen = [sp_id] if sp_id is not None else None
        measured = ledger.measure(conn, rules, chosen)
        balances = ledger.balances(conn, chosen)
        sp_ids = {sp for sp, _ in measured} | ledger.sps_with_incentive_events(conn)
        if sp_id is not None:
            sp_ids &= {sp_id}
    lines = []
    for standing in incentives.standings(sp_ids, rules, measured, balances):
        if (
            not any(m.lead_count for m in standing.measured.values())
            and standing.key not in balances
        ):
            continue
        shown_id = standing.shown[0]
        for rule_id, rule in standing.rules:
            final = incentives.is_final(rule, today, grace_days)
            # A final period's worth is the one the ledger last recorded: no close weighs it
            # again, whatever changes after.
            worth = standing.balance.last_worth_amount if final else standing.worth
            lines.append(
                IncentiveLine(
                    sp_id=standing.sp_id,
                    incentive_id=rule.incentive_id,
                    period_start=rule.period_start,
                    period_end=rule.period_end,
                    measure=standing.measured[rule_id].of(rule),
                    worth=worth if rule_id == shown_id else Decimal(0),
                    paid=standing.balance.released_amount if rule_id == shown_id else Decimal(0),
                    final=final,
                    measure_name=rule.measure,
                )
            )
    return sorted(lines, key=lambda line: (line.sp_id, line.period_start, line.incentive_id))
