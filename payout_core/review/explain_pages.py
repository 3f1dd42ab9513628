"""Every amount explained on the review page (SPEC §10), behind the same sign-in: a search
box (LeadId or SPId), a lead's story, an SP's cycles with each cycle's credit and events,
and an SP's printable statement for a cycle. The lead page shows flows/explain.lead_story,
the model `payout explain` prints; the statement is flows/statements'. Everything that
came from a file is escaped. Pages are chosen by `?view=`, on the review page's route."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from decimal import Decimal
from html import escape
from typing import Any
from urllib.parse import urlencode

from payout_core.flows import statements
from payout_core.flows.explain import lead_story, sp_page
from payout_core.flows.unit_of_work import Context
from payout_core.report.explain_text import source_words
from payout_core.report.formats import money
from payout_core.report.statement import STYLE as STATEMENT_STYLE
from payout_core.report.statement import statement_html
from payout_core.review.html import _document

VIEWS = ("find", "lead", "sp", "statement")
STATEMENT_STYLE_HASH = base64.b64encode(
    hashlib.sha256(STATEMENT_STYLE.encode("utf-8")).digest()
).decode("ascii")
STATEMENT_CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{STATEMENT_STYLE_HASH}'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def wants(params: Mapping[str, str]) -> bool:
    return params.get("view") in VIEWS


def _link(path: str, **query: object) -> str:
    return escape(f"{path}?{urlencode(query)}")


def _search_form(path: str, text: str = "") -> str:
    return (
        f'<form class="filters" method="get" action="{escape(path)}" id="find-form">'
        '<input type="hidden" name="view" value="find">'
        '<div><label for="find-q">LeadId or SPId</label>'
        f'<input type="text" id="find-q" name="q" value="{escape(text)}"></div>'
        '<button type="submit" id="find-go">Find</button></form>'
    )


def _frame(title: str, body: str, path: str, search: str = "") -> str:
    header = (
        f"<header><h1>{escape(title)}</h1>"
        f'<span class="who"><a href="{escape(path)}">Held payouts</a> · '
        f'<a href="{_link(path, view="find")}">Find</a></span></header>'
    )
    return _document(f"{header}<main>{_search_form(path, search)}{body}</main>")


def _td(label: str, value: object, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    text = "" if value is None else str(value)
    return f'<td data-label="{escape(label)}"{cls}>{escape(text)}</td>'


def _row(*cells: str) -> str:
    return "<tr>" + "".join(cells) + "</tr>"


def _amount(label: str, value: object) -> str:
    amount = Decimal(str(value)) if value is not None else Decimal(0)
    return _td(label, money(amount), "amount negative" if amount < 0 else "amount")


def _table(headers: tuple[str, ...], rows: list[str], table_id: str) -> str:
    if not rows:
        return '<p class="muted">None.</p>'
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    return (
        f'<div class="table-wrap"><table class="cards" id="{escape(table_id)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _credit_words(credit: dict[str, Any] | None) -> str:
    if credit is None:
        return "not yet in a wallet credit"
    words = f"cycle {credit['cycle_number']}, {credit['credit_id']}: {credit['confirmation']}"
    if credit["sent_again_as"]:
        words += f", sent again as {credit['sent_again_as']}"
    return words


def _hold_words(hold: dict[str, Any] | None) -> str:
    if hold is None:
        return ""
    words = f"held: {hold['reason']}"
    if hold["decision"]:
        words += f"; {hold['decision']} by {hold['decided_by']} at {hold['decided_at']}"
        if hold["decision_reason"]:
            words += f" ({hold['decision_reason']})"
    return words


def _lead_page(context: Context, lead_id: str, path: str) -> tuple[str, int]:
    story = lead_story(context, lead_id)
    if story is None:
        body = f'<p id="not-found">No lead {escape(lead_id)!s} in the ledger.</p>'
        return _frame("Lead not found", body, path, lead_id), 404
    lead = story["lead"]
    rows = []
    for event in story["events"]:
        rule = event["rule"]
        rows.append(
            "<tr>"
            + _td("When", event["created_at"])
            + _td("KPI", event["kpi"])
            + _td("Kind", event["kind"])
            + _amount("Payin", event["payin_amount"])
            + _amount("Payout", event["payout_amount"])
            + _td("Status", event["status"])
            + _td("Arithmetic", f"payin {event['arithmetic']['payin']}; "
                  f"payout {event['arithmetic']['payout']}")
            + _td("Source", source_words(event["source"]))
            + _td("Rule", f"version {rule['rule_set_version']}, "
                  f"{rule['window'][0]} to {rule['window'][1]}")
            + _td("Hold", _hold_words(event["hold"]))
            + _td("Credit", _credit_words(event["credit"]))
            + "</tr>"
        )  # fmt: skip
    payins = [
        "<tr>"
        + _td("Paid on", p["paid_on"])
        + _amount("Amount", p["amount"])
        + _td("Outcome", p["outcome"])
        + _td("Reference", p["reference"])
        + _td("File", p["remittance_file"])
        + "</tr>"
        for p in story["payins"]
    ]
    totals = story["totals"]
    sp_link = f'<a id="sp-link" href="{_link(path, view="sp", sp=lead["sp_id"])}">'
    body = (
        f"<p>SP {sp_link}{escape(str(lead['sp_id']))}</a> · {escape(str(lead['product_type']))}"
        f" · status {escape(str(lead['status']))} / {escape(str(lead['sub_status']))}"
        f" · Success at {escape(str(lead['success_at'] or '-'))}</p>"
        "<h2>Payout events</h2>"
        + _table(
            ("When", "KPI", "Kind", "Payin", "Payout", "Status", "Arithmetic", "Source",
             "Rule", "Hold", "Credit"),
            rows,
            "lead-events",
        )
        + "<h2>Payins received</h2>"
        + _table(("Paid on", "Amount", "Outcome", "Reference", "File"), payins, "lead-payins")
        + f'<p id="lead-totals">Payout {escape(money(Decimal(totals["payout"])))}'
        f' (final table {escape(money(Decimal(story["final_table"]["total_payout"] or 0)))}),'
        f' held {escape(money(Decimal(totals["held_payout"])))};'
        f' payin outstanding {escape(money(Decimal(totals["payin_outstanding"])))}</p>'
    )  # fmt: skip
    return _frame(f"Lead {lead_id}", body, path, lead_id), 200


def _lead_cell(path: str, event: dict) -> str:
    """The event's lead, linked to its story; a period incentive's slot (SPEC §11) is no
    lead: its words say what it counted."""
    lead_id = escape(str(event["lead_id"]))
    if event.get("kind") == "incentive":
        return f'<td data-label="Lead">{lead_id}</td>'
    link = _link(path, view="lead", lead=event["lead_id"])
    return f'<td data-label="Lead"><a href="{link}">{lead_id}</a></td>'


def _sp_page(context: Context, sp_id: str, path: str) -> tuple[str, int]:
    page = sp_page(context, sp_id)
    if page is None:
        body = f'<p id="not-found">No SP {escape(sp_id)} in the ledger.</p>'
        return _frame("SP not found", body, path, sp_id), 404
    sections = []
    for cycle in page["cycles"]:
        number = cycle["cycle_number"]
        link = _link(path, view="statement", sp=sp_id, cycle=number)
        credits = "; ".join(_credit_words(c) + f" ({money(Decimal(c['credit_amount']))})"
                            for c in cycle["credits"]) or "no credit (carried over)"  # fmt: skip
        rows = [
            _row(_lead_cell(path, e), _td("KPI", e["kpi"]), _td("Kind", e["kind"]),
                 _amount("Payout", e["payout_amount"]), _td("Reason", e["reason"]))
            for e in cycle["events"]
        ]
        sections.append(
            f'<h2 id="cycle-{number}">Cycle {number}</h2>'
            f"<p>{escape(credits)} · "
            f'<a class="statement-link" href="{link}">Statement</a></p>'
            + _table(("Lead", "KPI", "Kind", "Payout", "Reason"), rows, f"cycle-{number}-events")
        )
    waiting = [
        _row(_lead_cell(path, e), _td("KPI", e["kpi"]),
             _amount("Payout", e["payout_amount"]), _td("Status", e["status"]),
             _td("Why", _hold_words(e["hold"]) or e["reason"]))
        for e in page["not_in_a_cycle"]
    ]
    body = (
        "".join(sections)
        + "<h2>Not in a cycle yet</h2>"
        + _table(("Lead", "KPI", "Payout", "Status", "Why"), waiting, "sp-waiting")
    )
    return _frame(f"SP {sp_id}", body or '<p class="muted">No cycles yet.</p>', path, sp_id), 200


def _find(context: Context, text: str, path: str) -> tuple[str, int] | str:
    """A LeadId goes to its lead page, an SPId to its SP page (a redirect location)."""
    text = text.strip()
    if not text:
        return _frame("Find a lead or SP", "", path), 200
    if lead_story(context, text) is not None:
        return f"{path}?{urlencode({'view': 'lead', 'lead': text})}"
    if sp_page(context, text) is not None:
        return f"{path}?{urlencode({'view': 'sp', 'sp': text})}"
    body = f'<p id="not-found">No lead or SP {escape(text)} in the ledger.</p>'
    return _frame("Not found", body, path, text), 404


def answer(
    context: Context, params: Mapping[str, str], path: str
) -> tuple[str, int, dict[str, str]] | str:
    """(page, status, extra headers), or a location to redirect to."""
    view = params.get("view")
    if view == "find":
        found = _find(context, params.get("q", ""), path)
        return found if isinstance(found, str) else (*found, {})
    if view == "lead":
        return (*_lead_page(context, params.get("lead", ""), path), {})
    if view == "sp":
        return (*_sp_page(context, params.get("sp", ""), path), {})
    cycle_text = params.get("cycle", "")
    sp_id = params.get("sp", "")
    one = (
        statements.sp_statement(context, sp_id, int(cycle_text))
        if cycle_text.isascii() and cycle_text.isdigit() and len(cycle_text) < 9
        else None
    )
    if one is None:
        body = f'<p id="not-found">No cycle {escape(cycle_text)} for SP {escape(sp_id)}.</p>'
        return _frame("Statement not found", body, path, sp_id), 404, {}
    page = statement_html(one, back_href=f"{path}?{urlencode({'view': 'sp', 'sp': sp_id})}")
    return page, 200, {"Content-Security-Policy": STATEMENT_CONTENT_SECURITY_POLICY}
