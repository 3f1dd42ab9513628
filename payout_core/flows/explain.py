"""Every amount explained (SPEC §10): a lead's whole story, from the ledger alone. One
function feeds `payout explain` and the review page; the model is plain JSON-able data
(amounts as exact decimal strings), rendered by report/explain_text.py and the page."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import product_handlers  # noqa: F401  (registers the shipped products)
from payout_core.engine.explanations import event_arithmetic, worth_words
from payout_core.engine.products import handler_for
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import lead_story_rows

Story = dict[str, Any]


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _source(row: dict[str, Any]) -> dict[str, object]:
    if row["mis_run_id"] is not None:
        return {
            "type": "mis_file",
            "mis_file": row["mis_file"],
            "row_number": row["mis_row_number"],
            "mis_run_id": row["mis_run_id"],
        }
    if row["kind"] == "incentive":  # SPEC §11: appended by a cycle close, its words say why
        return {"type": "period_incentive", "evaluated_by": "a cycle close"}
    return {
        "type": "recalculation",
        "recalculation_id": row["recalculation_id"],
        "requested_by": row["requested_by"],
    }


def _credit(row: dict[str, Any]) -> dict[str, object] | None:
    if row["credit_id"] is None:
        return None
    status = row["confirmation_status"] or "awaiting confirmation"
    return {
        "cycle_number": row["cycle_number"],
        "credit_id": row["credit_id"],
        "credit_amount": _plain(row["credit_amount"]),
        "confirmation": status,
        "confirmation_reference": row["confirmation_reference"],
        "confirmation_reason": row["confirmation_reason"],
        "sent_again_as": row["sent_again_as"],
    }


def event_story(row: dict[str, Any], facts: dict[str, object]) -> dict[str, object]:
    """One payout event, with its arithmetic, source, rule, hold and credit."""
    parameters = json.loads(row["rule_parameters"]) if row["rule_parameters"] else {}
    handler = handler_for(row["product_type"])
    amount_column = handler.amount_column if handler else None
    arithmetic = {
        side: event_arithmetic(
            kind=row["kind"],
            payout_amount=row[f"{side}_amount"],
            payout_worth_amount=row[f"{side}_worth_amount"],
            worth=worth_words(row["kpi"], parameters, facts, amount_column, side),
        )
        for side in ("payin", "payout")
    }
    if handler is not None:  # the product's own numbers, by their rules-file names
        own = {parameter.name: parameter.header for parameter in handler.rule_parameters}
        parameters = {own[name]: value for name, value in parameters.items() if name in own}
    hold = None
    if row["hold_reason"] is not None or row["status_at_creation"] == "rejected":
        hold = {
            "reason": row["hold_reason"],
            "held_at": _plain(row["held_at"]),
            "decision": row["decision"],
            "decided_by": row["decided_by"],
            "decided_at": _plain(row["decided_at"]),
            "decision_reason": row["decision_reason"],
        }
    return {
        "event_id": row["event_id"],
        "created_at": _plain(row["created_at"]),
        "lead_id": row["lead_id"],
        "sp_id": row["sp_id"],
        "product_type": row["product_type"],
        "kpi": row["kpi"],
        "kind": row["kind"],
        "payin_amount": _plain(row["payin_amount"]),
        "payout_amount": _plain(row["payout_amount"]),
        "status": row["effective_status"],
        "reason": row["reason"],
        "arithmetic": arithmetic,
        "source": _source(row),
        "rule": {
            "rule_id": row["rule_id"],
            "rule_set_version": row["rule_set_version"],
            "rules_file": row["rules_file"],
            "row_number": row["rule_row_number"],
            "window": [_plain(row["kpi_start_date"]), _plain(row["kpi_end_date"])],
            "parameters": {name: str(value) for name, value in parameters.items()},
        },
        "hold": hold,
        "credit": _credit(row),
    }


def _sum(events: list[dict[str, Any]], field: str, status: str) -> Decimal:
    return sum((Decimal(e[field]) for e in events if e["status"] == status), Decimal("0"))


def lead_story(context: Context, lead_id: str) -> Story | None:
    """The lead's whole story, or None when the ledger knows no such lead."""
    with context.reading() as conn:
        lead = lead_story_rows.lead_row(conn, lead_id)
        if lead is None:
            return None
        event_rows = lead_story_rows.lead_event_rows(conn, lead_id)
        receipt_rows = lead_story_rows.lead_receipt_rows(conn, lead_id)
    facts = json.loads(lead["basis_facts"]) if lead["basis_facts"] else {}
    events = [event_story(row, facts) for row in event_rows]
    expected_payin = sum((row["payin_amount"] for row in event_rows), Decimal("0"))
    received = sum((row["amount"] for row in receipt_rows), Decimal("0"))
    return {
        "lead": {
            "lead_id": lead["lead_id"],
            "sp_id": lead["sp_id"],
            "product_type": lead["product_type"],
            "status": lead["status"],
            "sub_status": lead["sub_status"],
            "success_at": _plain(lead["success_at"]),
            "date_of_sale": _plain(lead["date_of_sale"]),
            "facts": facts,
        },
        "events": events,
        "payins": [
            {
                "remittance_file": row["remittance_file"],
                "row_number": row["row_number"],
                "reference": row["reference"],
                "amount": _plain(row["amount"]),
                "paid_on": _plain(row["paid_on"]),
                "outcome": row["outcome"],
                "owed_before": _plain(row["owed_before"]),
                "reason": row["reason"],
            }
            for row in receipt_rows
        ],
        "totals": {
            "payin": _plain(_sum(events, "payin_amount", "released")),
            "payout": _plain(_sum(events, "payout_amount", "released")),
            "held_payout": _plain(_sum(events, "payout_amount", "held")),
            "payin_expected": _plain(expected_payin),
            "payin_received": _plain(received),
            "payin_outstanding": _plain(expected_payin - received),
        },
        "final_table": {
            "total_payin": _plain(lead["total_payin"]),
            "total_payout": _plain(lead["total_payout"]),
        },
    }


def sp_page(context: Context, sp_id: str) -> Story | None:
    """An SP's cycles, each with its credits and the events each carried, and the events
    not in a cycle yet; None when the ledger knows no such SP."""
    with context.reading() as conn:
        event_rows = lead_story_rows.sp_event_rows(conn, sp_id)
        credit_rows = lead_story_rows.sp_credit_rows(conn, sp_id)
        if not event_rows and not credit_rows and not lead_story_rows.sp_exists(conn, sp_id):
            return None
    events = [event_story(row, {}) for row in event_rows]
    cycle_numbers = sorted(
        {row["cycle_number"] for row in credit_rows}
        | {e["credit"]["cycle_number"] for e in events if e["credit"]}
    )
    cycles = []
    for number in cycle_numbers:
        credits = [
            {
                "cycle_number": row["cycle_number"],
                "credit_id": row["credit_id"],
                "credit_amount": _plain(row["amount"]),
                "confirmation": row["confirmation_status"] or "awaiting confirmation",
                "sent_again_as": row["sent_again_as"],
                "replaces_credit_id": row["replaces_credit_id"],
            }
            for row in credit_rows
            if row["cycle_number"] == number
        ]
        in_cycle = [e for e in events if e["credit"] and e["credit"]["cycle_number"] == number]
        cycles.append({"cycle_number": number, "credits": credits, "events": in_cycle})
    return {
        "sp_id": sp_id,
        "cycles": cycles,
        "not_in_a_cycle": [e for e in events if e["credit"] is None],
    }
