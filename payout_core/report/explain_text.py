"""A lead's story (flows/explain.lead_story) as text for people (`payout explain`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from payout_core.report.formats import money


def _money(text: object) -> str:
    return money(Decimal(str(text))) if text is not None else "-"


def source_words(source: dict[str, Any]) -> str:
    """Where an event came from, in words: the MIS file and row, or the recalculation."""
    if source["type"] == "mis_file":
        row = f" row {source['row_number']}" if source["row_number"] is not None else ""
        return f"MIS file {source['mis_file']}{row} (run {source['mis_run_id']})"
    who = source["requested_by"] or "someone unnamed"
    return f"recalculation {source['recalculation_id']} requested by {who}"


def _rule_text(rule: dict[str, Any]) -> str:
    numbers = ", ".join(f"{name} {value}" for name, value in sorted(rule["parameters"].items()))
    window = f"{rule['window'][0]} to {rule['window'][1]}"
    return (
        f"rule {rule['rule_id']} of rules version {rule['rule_set_version']}"
        f" ({rule['rules_file']}, row {rule['row_number']}), window {window}: {numbers}"
    )


def _hold_lines(hold: dict[str, Any]) -> list[str]:
    lines = [f"    held: {hold['reason']} (since {hold['held_at']})"]
    if hold["decision"]:
        why = f": {hold['decision_reason']}" if hold["decision_reason"] else ""
        lines.append(f"    {hold['decision']} by {hold['decided_by']} at {hold['decided_at']}{why}")
    else:
        lines.append("    awaiting a decision")
    return lines


def _credit_lines(credit: dict[str, Any] | None, status: str) -> list[str]:
    if credit is None:
        if status != "released":
            return [f"    not paid ({status})"]
        return [
            "    not yet in a wallet credit: it joins the SP's next cycle with a total above"
            " zero (a total of zero or less is carried over)"
        ]
    line = (
        f"    paid in cycle {credit['cycle_number']}, credit {credit['credit_id']}"
        f" of {_money(credit['credit_amount'])}: {credit['confirmation']}"
    )
    if credit["confirmation_reference"]:
        line += f" (reference {credit['confirmation_reference']})"
    if credit["confirmation_reason"]:
        line += f" ({credit['confirmation_reason']})"
    lines = [line]
    if credit["sent_again_as"]:
        lines.append(f"    sent again as credit {credit['sent_again_as']}")
    return lines


def lead_story_text(story: dict[str, Any]) -> str:
    lead = story["lead"]
    lines = [
        f"Lead {lead['lead_id']}: SP {lead['sp_id']}, {lead['product_type']},"
        f" status {lead['status']} / {lead['sub_status']}",
        f"  became Success: {lead['success_at'] or 'not paid'}"
        f" (date of sale {lead['date_of_sale'] or '-'})",
        "",
        "Payout events, in time order:",
    ]
    if not story["events"]:
        lines.append("  none")
    for event in story["events"]:
        lines += [
            f"  {event['created_at']}  event {event['event_id']}  {event['kpi']} {event['kind']}"
            f"  payin {_money(event['payin_amount'])}  payout {_money(event['payout_amount'])}"
            f"  [{event['status']}]",
            f"    {event['reason']}",
            f"    payin: {event['arithmetic']['payin']}",
            f"    payout: {event['arithmetic']['payout']}",
            f"    source: {source_words(event['source'])}",
            f"    {_rule_text(event['rule'])}",
        ]
        if event["hold"]:
            lines += _hold_lines(event["hold"])
        lines += _credit_lines(event["credit"], event["status"])
    lines += ["", "Payins received:"]
    if not story["payins"]:
        lines.append("  none")
    for payin in story["payins"]:
        why = f" ({payin['reason']})" if payin["reason"] else ""
        lines.append(
            f"  {payin['paid_on']}  {_money(payin['amount'])}  {payin['outcome']}{why}"
            f"  reference {payin['reference']},"
            f" {payin['remittance_file']} row {payin['row_number']}"
        )
    totals, final = story["totals"], story["final_table"]
    lines += [
        "",
        f"Totals: payin {_money(totals['payin'])}, payout {_money(totals['payout'])}"
        f" (final table: payin {_money(final['total_payin'])},"
        f" payout {_money(final['total_payout'])}); held {_money(totals['held_payout'])}",
        f"Payin expected {_money(totals['payin_expected'])},"
        f" received {_money(totals['payin_received'])},"
        f" outstanding {_money(totals['payin_outstanding'])}",
    ]
    return "\n".join(lines) + "\n"
