"""Period incentives in the ledger (SPEC §11): the rules' versions, the SPs' paid leads
measured per rule, each slot's history of `incentive` events, and appending true-ups.
Rows only: engine/incentives.py decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import psycopg

from payout_core.engine.incentive_rules import IncentiveRule
from payout_core.engine.incentives import (
    INCENTIVE_KIND,
    INCENTIVE_KPI,
    IncentiveEvent,
    Measured,
    SlotBalance,
)
from payout_core.ledger.rules import new_version

EVERY_BANK = "(every bank)"
EVERY_CHANNEL = "(every channel)"
RULE_COLUMNS = """
    incentive_rule_id, row_number, incentive_id, source_type, product_type, period_start,
    period_end, measure, threshold, kind, payout_amount, payout_rate, exclusivity_group
"""


def load_incentive_rules(
    conn: psycopg.Connection, loaded: list[IncentiveRule], source: str, content_sha256: str
) -> str:
    """The file becomes the new version in force; earlier versions stay for history."""
    version, is_new = new_version(
        conn,
        "incentive_rule_sets",
        "incentive_set_version",
        source=source,
        content_sha256=content_sha256,
    )
    if not is_new:
        return f"incentives: unchanged, version {version} stays in force"
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO incentive_rules (incentive_set_version, row_number, incentive_id,"
            " source_type, product_type, period_start, period_end, measure, threshold, kind,"
            " payout_amount, payout_rate, exclusivity_group)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    version,
                    rule.row_number,
                    rule.incentive_id,
                    rule.source_type,
                    rule.product_type,
                    rule.period_start,
                    rule.period_end,
                    rule.measure,
                    rule.threshold,
                    rule.kind,
                    rule.payout_amount,
                    rule.payout_rate,
                    rule.exclusivity_group,
                )
                for rule in loaded
            ],
        )
    return f"incentives: version {version} in force, {len(loaded)} incentive rule(s) from {source}"


def rules_in_force(conn: psycopg.Connection) -> tuple[int | None, dict[int, IncentiveRule]]:
    """(version, rule id -> rule) of the newest version; (None, {}) before any load."""
    rows = conn.execute(
        f"SELECT incentive_set_version, {RULE_COLUMNS} FROM incentive_rules"
        " WHERE incentive_set_version = (SELECT max(incentive_set_version)"
        "                                FROM incentive_rule_sets)"
        " ORDER BY incentive_rule_id"
    ).fetchall()
    if not rows:
        return None, {}
    return rows[0][0], {row[1]: _rule(row[2:]) for row in rows}


def _rule(row: Sequence[object]) -> IncentiveRule:
    """A stored rule (RULE_COLUMNS after its id: the dataclass's fields, in order)."""
    return IncentiveRule(*row)  # type: ignore[arg-type]


@dataclass(frozen=True)
class LastEvaluation:
    cycle_number: int
    incentive_set_version: int | None


def last_evaluation(conn: psycopg.Connection) -> LastEvaluation | None:
    row = conn.execute(
        "SELECT cycle_number, incentive_set_version FROM incentive_evaluations"
        " ORDER BY cycle_number DESC LIMIT 1"
    ).fetchone()
    return LastEvaluation(*row) if row else None


def sps_with_something_new(
    conn: psycopg.Connection,
    *,
    mis_run_ids: Sequence[int],
    recalculation_ids: Sequence[int],
    decided_event_ids: Sequence[int],
    holds_since_cycle: int | None,
) -> set[str]:
    """The SPs whose counted leads may have changed since the last evaluation: leads paid
    or adjusted by the iteration's files and recalculations, events decided since the last
    email, events a close or a failed credit held since the last evaluation. Each through
    an index (the runs' calculations, the later events by run, events by recalculation)."""
    rows = conn.execute(
        """
        SELECT sp_id FROM payout_calculations WHERE mis_run_id = ANY(%(runs)s)
        UNION SELECT sp_id FROM payout_events
              WHERE outcome <> 'paid' AND mis_run_id = ANY(%(runs)s)
        UNION SELECT sp_id FROM payout_events
              WHERE recalculation_id IS NOT NULL AND recalculation_id = ANY(%(recalcs)s)
        UNION SELECT sp_id FROM payout_events WHERE event_id = ANY(%(decided)s)
        UNION SELECT e.sp_id FROM event_holds h JOIN payout_events e ON e.event_id = h.event_id
              WHERE %(since)s::integer IS NOT NULL AND h.cycle_number >= %(since)s
        """,
        {
            "runs": list(mis_run_ids),
            "recalcs": list(recalculation_ids),
            "decided": list(decided_event_ids),
            "since": holds_since_cycle,
        },
    ).fetchall()
    return {row[0] for row in rows}


def sps_in_periods(conn: psycopg.Connection, rules: Iterable[IncentiveRule]) -> set[str]:
    """Every SP with a paid lead that these rules may count, or an incentive history:
    what a close weighs after a new version of the rules (once per version)."""
    rules = list(rules)
    if not rules:
        return set()
    rows = conn.execute(
        """
        SELECT DISTINCT c.sp_id FROM payout_calculations c
        JOIN unnest(%s::text[], %s::date[], %s::date[]) AS r(product_type, period_start, period_end)
          ON c.product_type = r.product_type
         AND c.date_of_sale BETWEEN r.period_start AND r.period_end
        UNION SELECT sp_id FROM payout_events WHERE kind = 'incentive'
        """,
        (
            [rule.product_type for rule in rules],
            [rule.period_start for rule in rules],
            [rule.period_end for rule in rules],
        ),
    ).fetchall()
    return {row[0] for row in rows}


def measure(
    conn: psycopg.Connection, rules: dict[int, IncentiveRule], sp_ids: Sequence[str] | None
) -> dict[tuple[str, int], Measured]:
    """(SP, rule id) -> the SP's paid leads the rule counts: how many, and the sum of the
    rule's amount fact in their latest facts. A lead counts when its KPI1 earned event is
    released (held ones wait for a person, rejected ones never count). `sp_ids` None: every
    SP (the operator's `payout incentives show`).

    Read from the SPs' KPI1 events (payout_events_by_sp) with the effective status spelled
    out over the small hold tables, then each lead's calculation by its key: every join an
    equality, so a close right after a million-row file (statistics not yet gathered)
    cannot fall into a nested loop over the ledger."""
    if not rules or (sp_ids is not None and not sp_ids):
        return {}
    ordered = sorted(rules.items())
    of_sps = "AND e.sp_id = ANY(%(sps)s)" if sp_ids is not None else ""
    rows = conn.execute(
        f"""
        WITH r AS (
            SELECT * FROM unnest(%(ids)s::bigint[], %(sources)s::text[], %(products)s::text[],
                                 %(starts)s::date[], %(ends)s::date[], %(facts)s::text[])
                AS r(rule_id, source_type, product_type, period_start, period_end, fact)
        ), counted AS MATERIALIZED (
            SELECT c.sp_id, c.source_type, c.product_type, c.date_of_sale, c.basis_facts,
                   c.basis_amount
            FROM payout_events e
            LEFT JOIN event_holds h ON h.event_id = e.event_id
            LEFT JOIN hold_decisions d ON d.event_id = e.event_id
            JOIN payout_calculations c ON c.lead_id = e.lead_id
            WHERE e.kind = 'earned' AND e.kpi = 'KPI1' AND e.kpi_sequence = 1 {of_sps}
              AND e.product_type = ANY(%(products)s)
              -- effectively released (payout_event_states' rule): approved by a person, or
              -- written released and never held since
              AND e.status <> 'rejected'
              AND (d.decision = 'approved'
                   OR (d.decision IS NULL AND e.status = 'released' AND h.event_id IS NULL))
              AND c.date_of_sale BETWEEN %(first_day)s AND %(last_day)s
        )
        SELECT l.sp_id, r.rule_id, count(*),
               coalesce(sum(CASE WHEN r.fact IS NULL THEN 0
                                 ELSE coalesce((l.basis_facts ->> r.fact)::numeric,
                                               l.basis_amount, 0) END), 0)
        FROM counted l
        JOIN r ON l.product_type = r.product_type
              AND (r.source_type IS NULL OR l.source_type = r.source_type)
              AND l.date_of_sale BETWEEN r.period_start AND r.period_end
        GROUP BY l.sp_id, r.rule_id
        """,
        {
            "ids": [rule_id for rule_id, _ in ordered],
            "sources": [rule.source_type for _, rule in ordered],
            "products": [rule.product_type for _, rule in ordered],
            "starts": [rule.period_start for _, rule in ordered],
            "ends": [rule.period_end for _, rule in ordered],
            "facts": [rule.fact_column for _, rule in ordered],
            "first_day": min(rule.period_start for _, rule in ordered),
            "last_day": max(rule.period_end for _, rule in ordered),
            "sps": list(sp_ids or []),
        },
    ).fetchall()
    return {
        (sp_id, rule_id): Measured(int(count), Decimal(amount))
        for sp_id, rule_id, count, amount in rows
    }


def balances(conn: psycopg.Connection, sp_ids: Sequence[str] | None) -> dict[str, SlotBalance]:
    """Ledger key -> what its incentive events come to (`sp_ids` None: every SP)."""
    rows = conn.execute(
        """
        SELECT s.lead_id,
               coalesce(sum(s.payout_amount)
                        FILTER (WHERE s.effective_status IN ('released', 'held')), 0),
               coalesce(sum(s.payout_amount) FILTER (WHERE s.effective_status = 'released'), 0),
               (array_agg(s.payout_worth_amount ORDER BY s.kpi_sequence DESC))[1],
               max(s.kpi_sequence),
               (array_agg(e.incentive_id ORDER BY s.kpi_sequence DESC))[1]
        FROM payout_event_states s
        JOIN payout_events e ON e.event_id = s.event_id
        WHERE s.kind = 'incentive' AND e.kind = 'incentive'
          AND (%(all)s OR s.sp_id = ANY(%(sps)s))
        GROUP BY s.lead_id
        """,
        {"all": sp_ids is None, "sps": list(sp_ids or [])},
    ).fetchall()
    return {row[0]: SlotBalance(*row[1:]) for row in rows}


def sps_with_incentive_events(conn: psycopg.Connection) -> set[str]:
    return {
        row[0]
        for row in conn.execute("SELECT DISTINCT sp_id FROM payout_events WHERE kind = 'incentive'")
    }


EVENT_COLUMNS = (
    "lead_id", "sp_id", "source_type", "medium_type", "product_type", "kpi", "kind", "outcome",
    "kpi_sequence", "payin_amount", "payout_amount", "reason", "rule_id", "status",
    "hold_reason", "payin_worth_amount", "payout_worth_amount", "incentive_rule_id",
    "incentive_id", "period_start", "period_end", "measure_amount", "evaluated_in_cycle",
)  # fmt: skip


def append_events(
    conn: psycopg.Connection, events: Sequence[IncentiveEvent], cycle_number: int
) -> None:
    """Append the true-ups (COPY: a close after a big file may append one per SP), held or
    released as the engine decided. Two closes that saw the same history claim the same
    (key, position): the unique index lets one of them have it."""
    if not events:
        return
    statement = f"COPY payout_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        for event in events:
            copy.write_row(
                (
                    event.key,
                    event.sp_id,
                    event.rule.source_type or EVERY_BANK,
                    EVERY_CHANNEL,
                    event.rule.product_type,
                    INCENTIVE_KPI,
                    INCENTIVE_KIND,
                    INCENTIVE_KIND,
                    event.sequence,
                    0,
                    event.payout_amount,
                    event.reason,
                    0,
                    "held" if event.hold_reason else "released",
                    event.hold_reason,
                    0,
                    event.worth_amount,
                    event.incentive_rule_id,
                    event.rule.incentive_id,
                    event.rule.period_start,
                    event.rule.period_end,
                    event.measure_amount,
                    cycle_number,
                )
            )


def record_evaluation(
    conn: psycopg.Connection,
    cycle_number: int,
    incentive_set_version: int | None,
    evaluated_sp_count: int,
    event_count: int,
) -> None:
    conn.execute(
        "INSERT INTO incentive_evaluations (cycle_number, incentive_set_version,"
        " evaluated_sp_count, event_count) VALUES (%s, %s, %s, %s)",
        (cycle_number, incentive_set_version, evaluated_sp_count, event_count),
    )


def events_of_cycle(conn: psycopg.Connection, cycle_number: int) -> list[tuple]:
    """The incentive events a close appended, with their state now: (SPId, IncentiveId,
    period start and end, measure, worth, payout, state, reason), in the order written."""
    return conn.execute(
        "SELECT e.sp_id, e.incentive_id, e.period_start, e.period_end, e.measure_amount,"
        " e.payout_worth_amount, e.payout_amount, s.effective_status, e.reason"
        " FROM payout_events e JOIN payout_event_states s ON s.event_id = e.event_id"
        " WHERE e.kind = 'incentive' AND e.evaluated_in_cycle = %s ORDER BY e.event_id",
        (cycle_number,),
    ).fetchall()
