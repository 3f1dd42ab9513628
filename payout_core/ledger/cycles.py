"""Closing a payout cycle (SPEC §8) inside the summary job's transaction, and reading
cycles and wallet credits back.

The iteration is the cycle: its number is the iteration number, and it closes in the same
transaction (under the same advisory lock) that numbers the iteration and sends its email,
so a retried tick never makes a second cycle or a second credit. In that transaction:

1. `prepare_cycle`: one statement snapshots the candidates (events effectively released
   and in no cycle) into a temporary table; an event committed a moment later, or a
   decision taken meanwhile, waits for the next cycle. The plan (engine/holds.py) says
   which are held now, which join the cycle under which SP's credit, which SPs carry.
2. `close_cycle`: append the holds, the cycle, its credits and its events; refresh the
   final table of the leads whose events were just held; check that every credit is the
   sum of its events. A crash anywhere rolls all of it back.

Carry (a net ≤ 0 is not sent): the SP's events simply stay out of the cycle and are
netted again at the next one. So every event in a cycle belongs to exactly one sent
credit, and "credits sum to the released events" holds per cycle and per SP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import polars as pl
import psycopg
from psycopg import sql

from payout_core.engine.amounts import minor_text, minor_to_decimal
from payout_core.engine.calculate import InvariantViolation
from payout_core.engine.holds import (
    CANDIDATES_SCHEMA,
    CyclePlan,
    HoldLimits,
    credit_id,
    plan_cycle,
)
from payout_core.engine.products import MINOR_UNITS_PER_UNIT
from payout_core.ledger import confirmations
from payout_core.ledger.copying import copy_frame, copy_out
from payout_core.ledger.holds import AWAITING_DECISION

# The batches of events no close has read yet (009_periodic_work_reads_what_is_new.sql):
# one row per statement that appended events, a small table.
SNAPSHOT_NEW_BATCHES = """
CREATE TEMP TABLE cycle_new_batches ON COMMIT DROP AS
SELECT b.batch_id, b.first_event_id, b.last_event_id FROM event_batches b
WHERE NOT EXISTS (SELECT 1 FROM closed_event_batches c WHERE c.batch_id = b.batch_id)
"""
# What the close looks at: the events left out of earlier cycles and the new batches'
# events (a temporary table, analyzed, so that the planner reads their states through the
# primary keys instead of hashing the whole ledger), each with its state. `candidate`:
# released and in no cycle; `outside`: in no cycle and not rejected (it may be paid later).
SNAPSHOT_SCOPE_IDS = """
CREATE TEMP TABLE cycle_scope ON COMMIT DROP AS
SELECT o.event_id FROM events_outside_cycles o
UNION
SELECT e.event_id FROM cycle_new_batches b
JOIN payout_events e ON e.event_id BETWEEN b.first_event_id AND b.last_event_id
"""
SNAPSHOT_SCOPE = f"""
CREATE TEMP TABLE cycle_candidates ON COMMIT DROP AS
SELECT s.event_id, s.lead_id, s.kpi, s.sp_id, s.kind,
       (s.payout_amount * {MINOR_UNITS_PER_UNIT})::bigint AS payout_amount_minor,
       s.decision_id IS NOT NULL AS approved,
       s.effective_status = 'released' AND s.cycle_number IS NULL AS candidate,
       s.effective_status <> 'rejected' AND s.cycle_number IS NULL AS outside
FROM payout_event_states s
WHERE s.event_id IN (SELECT x.event_id FROM cycle_scope x)
"""

# Every credit of the cycle is the sum and count of its events, every event of the cycle
# exists, is effectively released and names a credit of this cycle: checked after writing,
# before anything is sent (cycle_events has no foreign keys, for speed; this is the check).
CYCLE_NOT_ADDING_UP = """
SELECT coalesce(w.credit_id, p.credit_id)
FROM (SELECT credit_id, amount, event_count FROM wallet_credits
      WHERE cycle_number = %(cycle)s AND replaces_credit_id IS NULL) w
FULL JOIN (SELECT c.credit_id, sum(s.payout_amount) AS amount, count(s.event_id) AS event_count,
                  count(*) AS row_count, bool_and(s.effective_status = 'released') AS released
           FROM cycle_events c LEFT JOIN payout_event_states s ON s.event_id = c.event_id
           WHERE c.cycle_number = %(cycle)s
           GROUP BY c.credit_id) p ON p.credit_id = w.credit_id
WHERE w.credit_id IS NULL OR p.credit_id IS NULL OR p.amount IS DISTINCT FROM w.amount
   OR p.event_count <> w.event_count OR p.row_count <> p.event_count OR NOT p.released
LIMIT 5
"""


@dataclass(frozen=True)
class CreditResend:
    """A failed credit sent again in this cycle (reconciliation, SPEC §9)."""

    replaces_credit_id: str
    sp_id: str
    amount: Decimal
    event_count: int


@dataclass(frozen=True)
class PreparedCycle:
    cycle_number: int
    plan: CyclePlan
    resends: tuple[CreditResend, ...]
    left_out: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"event_id": pl.Int64})
    )
    """(event_id) of the events looked at and not in this cycle that may still be paid."""

    @property
    def is_empty(self) -> bool:
        return self.plan.is_empty and not self.resends


@dataclass(frozen=True)
class CycleClose:
    """What closing a cycle did, for the email and the operator."""

    cycle_number: int
    credit_count: int
    credit_total: Decimal
    event_count: int
    held_now_count: int
    carried_sp_count: int
    carried_total: Decimal
    resent_count: int = 0


def prepare_cycle(conn: psycopg.Connection, cycle_number: int, limits: HoldLimits) -> PreparedCycle:
    """Snapshot the candidates and plan the cycle; writes nothing but a temporary table."""
    conn.execute(SNAPSHOT_NEW_BATCHES)
    conn.execute("ANALYZE cycle_new_batches")
    conn.execute(SNAPSHOT_SCOPE_IDS)
    conn.execute("ANALYZE cycle_scope")
    conn.execute(SNAPSHOT_SCOPE)
    with conn.cursor() as cursor:
        candidates = copy_out(
            cursor,
            sql.SQL(
                # CSV booleans as Polars reads them (PostgreSQL writes t/f).
                "SELECT event_id, sp_id, kind, payout_amount_minor,"
                " CASE WHEN approved THEN 'true' ELSE 'false' END, lead_id, kpi"
                " FROM cycle_candidates WHERE candidate ORDER BY event_id"
            ),
            CANDIDATES_SCHEMA,
        )
        waiting = copy_out(
            cursor,
            sql.SQL(
                "SELECT event_id FROM cycle_candidates WHERE outside AND NOT candidate"
                " ORDER BY event_id"
            ),
            {"event_id": pl.Int64},
        )
    plan = plan_cycle(candidates, limits, cycle_number)
    return PreparedCycle(
        cycle_number=cycle_number,
        plan=plan,
        # Left out of this cycle, to be read again by the next: held or carried now, and
        # the events that wait for a decision.
        left_out=pl.concat(
            [
                candidates.select("event_id").join(
                    plan.cycle_events.select("event_id"), on="event_id", how="anti"
                ),
                waiting,
            ]
        ),
        # The failed credits this cycle sends again, as new credits naming the one they
        # replace (reconciliation: ledger/confirmations.py).
        resends=tuple(CreditResend(*row) for row in confirmations.credits_to_send_again(conn)),
    )


def close_cycle(conn: psycopg.Connection, prepared: PreparedCycle) -> CycleClose:
    """Append the prepared cycle: holds, the cycle, credits, events. Call inside the
    transaction that ran `prepare_cycle`."""
    number = prepared.cycle_number
    plan = prepared.plan
    conn.execute("INSERT INTO payout_cycles (cycle_number) VALUES (%s)", (number,))
    with conn.cursor() as cursor:
        if not plan.holds.is_empty():
            copy_frame(
                cursor, "event_holds", plan.holds.with_columns(pl.lit(number).alias("cycle_number"))
            )
        copy_frame(
            cursor,
            "wallet_credits",
            plan.credits.select(
                "credit_id",
                pl.lit(number).alias("cycle_number"),
                "sp_id",
                minor_text(pl.col("amount_minor")).alias("amount"),
                "event_count",
            ),
        )
        copy_frame(
            cursor,
            "cycle_events",
            plan.cycle_events.select("event_id", pl.lit(number).alias("cycle_number"), "credit_id"),
        )
        if not plan.carried.is_empty():  # who gets a statement without a credit (SPEC §10)
            copy_frame(
                cursor,
                "cycle_carried_sps",
                plan.carried.select(
                    pl.lit(number).alias("cycle_number"),
                    "sp_id",
                    minor_text(pl.col("amount_minor")).alias("amount"),
                    "event_count",
                ),
            )
    _insert_resends(conn, number, prepared.resends, first_sequence=plan.credits.height + 1)
    _remember_what_was_read(conn, left_out=prepared.left_out, cycle_number=number)
    # A credit that failed 3 times is held for a person instead (reconciliation, SPEC §9).
    confirmations.hold_credits_failed_too_often(conn, number)
    if not plan.holds.is_empty():
        # Held now, so no longer counted in the final table of their leads (SPEC §5).
        conn.execute(
            "SELECT refresh_calculations(array(SELECT DISTINCT lead_id FROM cycle_candidates"
            " WHERE event_id = ANY(%s)))",
            (plan.holds["event_id"].to_list(),),
        )
    broken = [row[0] for row in conn.execute(CYCLE_NOT_ADDING_UP, {"cycle": number})]
    if broken:
        raise InvariantViolation(
            f"cycle {number}: credits {', '.join(broken)} are not the sum of their released events"
        )
    # Summed in Int128: an Int64 sum of many large credits would wrap around silently.
    credit_total_minor = int(plan.credits["amount_minor"].cast(pl.Int128).sum() or 0)
    return CycleClose(
        cycle_number=number,
        credit_count=plan.credits.height,
        credit_total=minor_to_decimal(credit_total_minor),
        event_count=plan.cycle_events.height,
        held_now_count=plan.holds.height,
        carried_sp_count=plan.carried.height,
        carried_total=minor_to_decimal(
            int(plan.carried["amount_minor"].cast(pl.Int128).sum() or 0)
        ),
        resent_count=len(prepared.resends),
    )


def _remember_what_was_read(
    conn: psycopg.Connection, *, left_out: pl.DataFrame, cycle_number: int
) -> None:
    """The batches this close read are closed; the events it left out are the ones the
    next close reads again with the next batches (009_periodic_work_reads_what_is_new.sql).
    What the banks owe is kept beside the close (`keep_payin_balances`, 015)."""
    conn.execute(
        "INSERT INTO closed_event_batches (batch_id, cycle_number)"
        " SELECT batch_id, %s FROM cycle_new_batches",
        (cycle_number,),
    )
    conn.execute("CREATE TEMP TABLE cycle_left_out (event_id bigint) ON COMMIT DROP")
    with conn.cursor() as cursor:
        copy_frame(cursor, "cycle_left_out", left_out)
    conn.execute(
        "DELETE FROM events_outside_cycles o"
        " WHERE NOT EXISTS (SELECT 1 FROM cycle_left_out x WHERE x.event_id = o.event_id)"
    )
    conn.execute(
        "INSERT INTO events_outside_cycles (event_id) SELECT DISTINCT event_id FROM cycle_left_out"
        " ON CONFLICT (event_id) DO NOTHING"
    )


def _insert_resends(
    conn: psycopg.Connection,
    cycle_number: int,
    resends: tuple[CreditResend, ...],
    *,
    first_sequence: int,
) -> None:
    for offset, resend in enumerate(resends):
        conn.execute(
            "INSERT INTO wallet_credits (credit_id, cycle_number, sp_id, amount, event_count,"
            " replaces_credit_id) VALUES (%s, %s, %s, %s, %s, %s)",
            (
                credit_id(cycle_number, first_sequence + offset),
                cycle_number,
                resend.sp_id,
                resend.amount,
                resend.event_count,
                resend.replaces_credit_id,
            ),
        )


# --- reads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WalletCredit:
    cycle_number: int
    credit_id: str
    sp_id: str
    amount: Decimal
    event_count: int
    status: str
    """'sent', then 'confirmed' or 'failed' as the wallet team answers (004's
    wallet_credit_states)."""
    replaces_credit_id: str | None = None
    created_at: datetime | None = None

    def to_json(self) -> dict[str, object]:
        """The `payout credits --json` line: the amount as an exact decimal string."""
        return {
            "cycle": self.cycle_number,
            "credit_id": self.credit_id,
            "sp_id": self.sp_id,
            "amount": str(self.amount),
            "events": self.event_count,
            "status": self.status,
            "replaces_credit_id": self.replaces_credit_id,
        }

    def csv_row(self) -> tuple[object, ...]:
        return (self.credit_id, self.cycle_number, self.sp_id, self.amount, self.event_count)


# The one place a credit's status is derived; reconciliation extends it.
CREDIT_STATUS_SQL = "(SELECT s.status FROM wallet_credit_states s WHERE s.credit_id = w.credit_id)"


def list_credits(conn: psycopg.Connection, cycle_number: int | None = None) -> list[WalletCredit]:
    """Every credit (of one cycle, when given), in cycle and credit order."""
    rows = conn.execute(
        "SELECT w.cycle_number, w.credit_id, w.sp_id, w.amount, w.event_count,"
        f" {CREDIT_STATUS_SQL}, w.replaces_credit_id, w.created_at FROM wallet_credits w"
        " WHERE %(cycle)s::integer IS NULL OR w.cycle_number = %(cycle)s"
        " ORDER BY w.cycle_number, w.credit_id",
        {"cycle": cycle_number},
    ).fetchall()
    return [WalletCredit(*row) for row in rows]


def cycle_numbers(conn: psycopg.Connection) -> list[int]:
    return [row[0] for row in conn.execute("SELECT cycle_number FROM payout_cycles ORDER BY 1")]


@dataclass(frozen=True)
class HoldsAwaiting:
    """Held events waiting for a decision (SPEC §7: count, amount, oldest)."""

    count: int
    payout_amount: Decimal
    oldest_held_at: datetime | None


def holds_awaiting(conn: psycopg.Connection) -> HoldsAwaiting:
    row = conn.execute(
        "SELECT count(*), coalesce(sum(s.payout_amount), 0), min(s.held_at)"
        f" FROM payout_event_states s WHERE {AWAITING_DECISION} AND s.effective_status = 'held'"
    ).fetchone()
    assert row is not None  # an aggregate always returns one row
    return HoldsAwaiting(int(row[0]), row[1], row[2])


def cycles_without_published_file(conn: psycopg.Connection) -> list[int]:
    """Cycles with credits whose CSV has not reached the output container yet."""
    rows = conn.execute(
        "SELECT p.cycle_number FROM payout_cycles p"
        " WHERE NOT EXISTS (SELECT 1 FROM credit_files f WHERE f.cycle_number = p.cycle_number)"
        " AND EXISTS (SELECT 1 FROM wallet_credits w WHERE w.cycle_number = p.cycle_number)"
        " ORDER BY p.cycle_number"
    ).fetchall()
    return [row[0] for row in rows]


def record_file_published(conn: psycopg.Connection, cycle_number: int, blob_name: str) -> None:
    conn.execute(
        "INSERT INTO credit_files (cycle_number, blob_name) VALUES (%s, %s)"
        " ON CONFLICT (cycle_number) DO NOTHING",
        (cycle_number, blob_name),
    )
