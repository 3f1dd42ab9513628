"""The cycle's statements file (engine.statement_file_lines, column-wise) says what each
SP's statement (engine.statement, event by event) says: the same events brought in and
the same lines, in the same order, paid here or carried over."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl

from payout_core.engine.statements import (
    PART_BROUGHT_IN,
    PART_LINE,
    statement,
    statement_file_lines,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PREVIOUS_CLOSE = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CLOSE = datetime(2026, 11, 8, 12, 0, tzinfo=UTC)
CYCLE = 5
# Moments on both sides of each close and exactly on them (the rule is "at or before").
MOMENTS = [
    PREVIOUS_CLOSE - timedelta(days=3),
    PREVIOUS_CLOSE - timedelta(microseconds=1),
    PREVIOUS_CLOSE,
    PREVIOUS_CLOSE + timedelta(microseconds=1),
    CLOSE - timedelta(days=1),
    CLOSE,
    CLOSE + timedelta(microseconds=1),
]


def microseconds(moment: datetime | None) -> int | None:
    return None if moment is None else (moment - EPOCH) // timedelta(microseconds=1)


def random_events(count: int, seed: int) -> list[dict]:
    chance = random.Random(seed)
    events = []
    for event_id in range(1, count + 1):
        status = chance.choice(["released", "released", "held", "rejected"])
        held_later = status == "released" and chance.random() < 0.2
        decision = (
            chance.choice([None, "approved", "rejected"])
            if status == "held" or held_later
            else None
        )
        created_at = chance.choice(MOMENTS)
        decided_at = chance.choice([m for m in MOMENTS if m >= created_at]) if decision else None
        events.append(
            {
                "event_id": event_id,
                "sp_id": f"SP-{chance.randint(1, 12):02d}",
                "status_at_creation": status,
                "hold_reason": "over the limit" if status == "held" or held_later else None,
                "held_at": created_at if status == "held" or held_later else None,
                "decision": decision,
                "decided_at": decided_at,
                "created_at": created_at,
                "cycle_number": chance.choice([None, None, CYCLE - 1, CYCLE, CYCLE + 1]),
                "payout_amount": Decimal(chance.randint(-500, 900)),
            }
        )
    return events


def one_by_one(events: list[dict], previous_close: datetime | None) -> list[tuple]:
    rows = []
    for sp_id in sorted({event["sp_id"] for event in events}):
        of_sp = [event for event in events if event["sp_id"] == sp_id]
        told = statement(sp_id, CYCLE, CLOSE, previous_close, of_sp, [])
        paid = {event["event_id"] for event in told.paid_in_cycle}
        for part, listed in ((PART_BROUGHT_IN, told.brought_in), (PART_LINE, told.lines)):
            rows += [(sp_id, part, e["event_id"], e["event_id"] in paid) for e in listed]
    return rows


def all_at_once(events: list[dict], previous_close: datetime | None) -> list[tuple]:
    frame = pl.DataFrame(
        {
            "sp_id": [e["sp_id"] for e in events],
            "event_id": [e["event_id"] for e in events],
            "status_at_creation": [e["status_at_creation"] for e in events],
            "hold_reason": [e["hold_reason"] for e in events],
            "decision": [e["decision"] for e in events],
            "created_at_us": [microseconds(e["created_at"]) for e in events],
            "decided_at_us": [microseconds(e["decided_at"]) for e in events],
            "cycle_number": [e["cycle_number"] for e in events],
        },
        schema_overrides={
            "hold_reason": pl.String,
            "decision": pl.String,
            "decided_at_us": pl.Int64,
            "cycle_number": pl.Int64,
        },
    )
    lines = statement_file_lines(frame, CYCLE, microseconds(CLOSE), microseconds(previous_close))
    return list(lines.select("sp_id", "part", "event_id", "paid_here").iter_rows())


def test_every_kind_of_event_is_listed_as_its_sps_statement_lists_it():
    for seed in range(20):
        events = random_events(300, seed)
        expected = one_by_one(events, PREVIOUS_CLOSE)
        assert expected and all_at_once(events, PREVIOUS_CLOSE) == expected, seed


def test_the_first_cycle_brings_nothing_in():
    events = random_events(300, seed=99)
    rows = all_at_once(events, None)
    assert rows == one_by_one(events, None)
    assert {part for _, part, _, _ in rows} == {PART_LINE}


def test_the_file_writes_each_line_as_the_statement_rows_do():
    """Reason in words (approved holds, recalculations), neutralised text, exact amounts,
    the credit only where this cycle paid, blanks for what is not known."""
    from payout_core.engine.statements import Statement
    from payout_core.report.people_csv import csv_cell
    from payout_core.report.statement import statements_file_csv
    from tests.support.statement_oracle import statement_rows

    common = {
        "product_type": "Savings Account", "kpi": "KPI1", "kind": "earned",
        "status_at_creation": "released", "hold_reason": None, "decision": None,
        "decided_by": None, "recalculation_id": None, "requested_by": None,
        "mis_file": "bank_a.csv", "rule_set_version": 3, "credit_id": "CR-000005-0001",
    }  # fmt: skip
    events = [
        {**common, "event_id": 1, "lead_id": "AT-1", "payout_amount": Decimal("1000.00"),
         "reason": "account opened", "cycle_number": CYCLE},
        {**common, "event_id": 2, "lead_id": "=HYPERLINK(\"x\")", "kind": "adjustment",
         "payout_amount": Decimal("-39.50"), "reason": "correction, lower amount",
         "hold_reason": "clawback", "decision": "approved", "decided_by": "Ravi",
         "cycle_number": None, "credit_id": None, "mis_file": None},
        {**common, "event_id": 3, "lead_id": "AT-3", "payout_amount": Decimal("12.00"),
         "reason": "recalculated", "recalculation_id": 7, "requested_by": None,
         "rule_set_version": None, "cycle_number": CYCLE},
    ]  # fmt: skip
    told = Statement(sp_id="+SP-1", cycle_number=CYCLE, closed_at=CLOSE)
    told.brought_in, told.lines = [events[1]], [events[0], events[2]]
    expected = [[csv_cell(value) for value in row] for row in statement_rows(told)]

    frame = pl.DataFrame(
        [
            {**event, "sp_id": "+SP-1", "payout_amount": str(event["payout_amount"]),
             "part": PART_BROUGHT_IN if event is events[1] else PART_LINE,
             "paid_here": event["cycle_number"] == CYCLE, "statement_cycle": CYCLE}
            for event in (events[1], events[0], events[2])
        ],
        infer_schema_length=None,
    )  # fmt: skip
    data = statements_file_csv([frame])

    assert data.startswith("\ufeff".encode())
    header, *written = csv.reader(io.StringIO(data.decode("utf-8-sig")))
    assert header[0] == "CycleNumber" and written == expected
    assert written[0][2] == '\'=HYPERLINK("x")' and written[0][7] == "-39.50"
    assert "approved by Ravi" in written[0][8] and written[2][8].endswith("recalculation 7 by -")
