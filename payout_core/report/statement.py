"""Statements per SP per cycle (engine/statements.Statement) for people: the cycle's CSV
(one line per event, written at close) and a printable HTML page per SP. Every value that
came from a file is escaped."""

from __future__ import annotations

import html
import io
from collections.abc import Iterable
from typing import Any

import polars as pl

from payout_core.engine.statements import Statement
from payout_core.report.formats import money, timestamp_text
from payout_core.report.people_csv import spreadsheet_safe

STATEMENT_CSV_HEADERS = (
    "CycleNumber",
    "SPId",
    "LeadId",
    "ProductType",
    "KPI",
    "Kind",
    "Part",
    "Payout",
    "Reason",
    "MISFile",
    "RuleVersion",
    "CreditId",
    "CarriedOver",
)


def reason_in_words(event: dict[str, Any]) -> str:
    words = event["reason"]
    if event["decision"] == "approved":
        words += f"; held ({event['hold_reason']}), approved by {event['decided_by']}"
    if event["recalculation_id"] is not None:
        words += f"; recalculation {event['recalculation_id']} by {event['requested_by'] or '-'}"
    return words


def statements_file_csv(line_slices: Iterable[pl.DataFrame]) -> bytes:
    """The cycle's statements file from slices of engine/statements.statement_file_lines
    (at least one, empty or not), in order: for each SP the lines of its statement
    (`reason_in_words` included; tests/support/statement_oracle.py writes the same row by
    row), written by Polars. Text neutralised as
    `csv_cell` does; amounts as exact text."""
    buffer = io.BytesIO()
    buffer.write("\ufeff".encode())  # as csv_bytes writes it: Excel reads non-ASCII right
    for number, lines in enumerate(line_slices):
        _statement_file_rows(lines).write_csv(
            buffer, include_header=number == 0, line_terminator="\r\n"
        )
    return buffer.getvalue()


def _statement_file_rows(lines: pl.DataFrame) -> pl.DataFrame:
    approved = pl.col("decision") == "approved"
    recalculated = pl.col("recalculation_id").is_not_null()
    reason_words = pl.concat_str(
        pl.col("reason"),
        pl.when(approved)
        .then(pl.format("; held ({}), approved by {}", "hold_reason", "decided_by"))
        .otherwise(pl.lit("")),
        pl.when(recalculated)
        .then(
            pl.format(
                "; recalculation {} by {}",
                "recalculation_id",
                pl.col("requested_by").fill_null("-"),
            )
        )
        .otherwise(pl.lit("")),
    )
    paid_here = pl.col("paid_here")
    columns = dict(
        zip(
            STATEMENT_CSV_HEADERS,
            (
                pl.col("statement_cycle"),
                spreadsheet_safe("sp_id"),
                spreadsheet_safe("lead_id"),
                spreadsheet_safe("product_type"),
                spreadsheet_safe("kpi"),
                spreadsheet_safe("kind"),
                spreadsheet_safe("part"),
                pl.col("payout_amount"),
                spreadsheet_safe("reason_words"),
                spreadsheet_safe("mis_file"),
                pl.col("rule_set_version"),
                pl.when(paid_here).then(spreadsheet_safe("credit_id")),
                pl.when(paid_here).then(pl.lit("0.00")).otherwise(pl.col("payout_amount")),
            ),
            strict=True,
        )
    )
    return lines.with_columns(reason_words=reason_words).select(
        expression.alias(header) for header, expression in columns.items()
    )


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _event_table(events: list[dict[str, Any]], reason: str = "reason") -> str:
    if not events:
        return "<p>None.</p>"
    head = "<tr><th>Lead</th><th>Product</th><th>KPI</th><th>Kind</th><th>Payout</th>"
    head += "<th>Why</th><th>MIS file</th><th>Rules</th></tr>"
    rows = []
    for event in events:
        why = event["hold_reason"] if reason == "hold" else reason_in_words(event)
        if reason == "hold" and event["decision"] == "rejected":
            why = f"rejected by {event['decided_by']}: {event['decision_reason']}"
        rows.append(
            f"<tr><td>{_e(event['lead_id'])}</td><td>{_e(event['product_type'])}</td>"
            f"<td>{_e(event['kpi'])}</td><td>{_e(event['kind'])}</td>"
            f"<td class=amount>{_e(money(event['payout_amount']))}</td><td>{_e(why)}</td>"
            f"<td>{_e(event['mis_file'] or '')}</td>"
            f"<td>{_e(event['rule_set_version'] or '')}</td></tr>"
        )
    return f"<div class=scroll><table>{head}{''.join(rows)}</table></div>"


def _credit_lines(statement: Statement) -> str:
    items = []
    for credit in statement.credits:
        fate = credit["confirmation_status"] or "awaiting confirmation"
        if credit["sent_again_as"]:
            fate += f", sent again as {credit['sent_again_as']}"
        if credit["replaces_credit_id"]:
            fate += f" (sends again {credit['replaces_credit_id']})"
        items.append(
            f"<li>{_e(credit['credit_id'])}: {_e(money(credit['amount']))}, {_e(fate)}</li>"
        )
    return f"<ul>{''.join(items)}</ul>" if items else ""


STYLE = """
body{font-family:Segoe UI,Arial,sans-serif;font-size:14px;color:#1f2328;margin:16px;}
table{border-collapse:collapse;margin:0 0 12px 0;}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top;}
td.amount{text-align:right;white-space:nowrap;}
.scroll{overflow-x:auto;max-width:100%;}
@media print{.noprint{display:none;}}
"""


def statement_html(statement: Statement, back_href: str | None = None) -> str:
    """The printable statement of one SP for one cycle (`back_href`: the SP's page)."""
    closing = statement.credit_total
    summary = [
        ("Carry-over brought in", statement.brought_in_total),
        ("This cycle's lines", statement.lines_total),
        ("Credit sent", closing),
        ("Carried to the next cycle", statement.carried_out_total),
        ("Held (not yet paid)", statement.held_total),
    ]
    summary_rows = "".join(
        f"<tr><th>{_e(label)}</th><td class=amount>{_e(money(amount))}</td></tr>"
        for label, amount in summary
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>Statement {_e(statement.sp_id)} cycle {statement.cycle_number}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>Statement for SP {_e(statement.sp_id)}, cycle {statement.cycle_number}</h1>"
        f"<p>Cycle closed {_e(timestamp_text(statement.closed_at))}.</p>"
        f"<table id=summary>{summary_rows}</table>"
        f"<p>Brought in + lines = credit + carried over: "
        f"{_e(money(statement.brought_in_total))} + {_e(money(statement.lines_total))} = "
        f"{_e(money(closing))} + {_e(money(statement.carried_out_total))}.</p>"
        f"<h2>Opening carry-over</h2>{_event_table(statement.brought_in)}"
        f"<h2>Lines of this cycle</h2>{_event_table(statement.lines)}"
        f"<h2>Closing credit</h2>{_credit_lines(statement) or '<p>No credit: carried over.</p>'}"
        f"<h2>Held, not yet paid</h2>{_event_table(statement.held, 'hold')}"
        f"<h2>Rejected in this cycle (not paid)</h2>{_event_table(statement.rejected, 'hold')}"
        + (
            f'<p class=noprint><a id="back" href="{_e(back_href)}">Back to the SP</a>'
            " · print with the browser (Ctrl+P); this line is left out of the print.</p>"
            if back_href
            else ""
        )
        + "</body></html>"
    )
