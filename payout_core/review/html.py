"""The review page as HTML: pure, every value escaped, nothing loaded from anywhere else.

One inline style sheet and no script at all; the Content-Security-Policy allows exactly
that style sheet (by its hash), forms posting to this site, and nothing else. On a narrow
screen each table row becomes a card whose cells carry their column's name.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Sequence
from decimal import Decimal
from urllib.parse import urlencode

from payout_core.report.formats import money, plural, timestamp_text
from payout_core.review.view import (
    EventRow,
    Filters,
    ReviewView,
    Totals,
    age_text,
    requested_by,
    why_held,
)

TITLE = "Held payouts · ShiftPay"
SIGN_IN_PATH = "/.auth/login/aad"
SIGN_OUT_PATH = "/.auth/logout"

STYLE = """
:root{--ink:#1f2328;--muted:#57606a;--line:#d0d7de;--soft:#f6f8fa;--blue:#0969da;
--red:#b42318;--green:#1a7f37}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
color:var(--ink);background:#fff}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:baseline;
justify-content:space-between;padding:.8rem 1rem;border-bottom:1px solid var(--line);
background:var(--soft)}
header h1{font-size:1.2rem;margin:0}
main{padding:1rem;max-width:90rem;margin:0 auto}
h2{font-size:1.05rem;margin:1.6rem 0 .5rem}
.who{color:var(--muted)}
a{color:var(--blue)}
.message{padding:.7rem 1rem;border-radius:6px;margin:0 0 1rem;white-space:pre-wrap;
border:1px solid}
.message.ok{background:#dafbe1;border-color:#4ac26b}
.message.refused{background:#ffebe9;border-color:#ff8182}
.totals{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;margin:0 0 1rem;padding:0;
list-style:none}
.totals li{background:var(--soft);border:1px solid var(--line);border-radius:6px;
padding:.4rem .8rem}
.totals b{display:block;font-size:1.15rem}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:0 0 1rem}
label{display:block;font-size:.85rem;color:var(--muted)}
select,input[type=text],button{font:inherit;padding:.35rem .5rem;border:1px solid var(--line);
border-radius:6px;background:#fff;max-width:100%}
input[type=text]{width:100%}
button{cursor:pointer;background:var(--soft)}
button.approve{background:var(--green);color:#fff;border-color:var(--green)}
button.reject{background:var(--red);color:#fff;border-color:var(--red)}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{border-bottom:1px solid var(--line);padding:.45rem .5rem;text-align:left;
vertical-align:top;overflow-wrap:break-word}
#held th,#held td{padding:.45rem .35rem}
td.long-names{overflow-wrap:anywhere;min-width:8.5rem}
td.words{min-width:7rem}
th{background:var(--soft);white-space:nowrap}
td.amount,th.amount{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.negative{color:var(--red)}
td.code{white-space:nowrap}
input[type=checkbox]{width:1.15rem;height:1.15rem;margin:0}
tfoot td{font-weight:600;border-top:2px solid var(--ink)}
.decide{display:grid;grid-template-columns:1fr auto auto;gap:.5rem;align-items:end;
margin:1rem 0;padding:.8rem;border:1px solid var(--line);border-radius:6px;
position:sticky;bottom:0;background:#fff;box-shadow:0 -2px 6px rgba(31,35,40,.08)}
.muted{color:var(--muted)}
.select-links{margin:0 0 .5rem}
td.reason-cell input{min-width:6.5rem}
.decide .reason p{margin:.3rem 0 0;font-size:.85rem}
@media (max-width:720px){
.decide{grid-template-columns:1fr 1fr}.decide .reason{grid-column:1/-1}
table.cards thead{display:none}
table.cards,table.cards tbody,table.cards tr,table.cards td,table.cards tfoot{display:block;
width:100%}
table.cards tr{border:1px solid var(--line);border-radius:6px;margin:0 0 .7rem;padding:.3rem}
table.cards td{border:0;padding:.2rem .4rem;text-align:left;display:flex;gap:.6rem;
overflow-wrap:anywhere}
table.cards td::before{content:attr(data-label);flex:0 0 7.5rem;color:var(--muted)}
table.cards td[data-label=""]::before{display:none}
table.cards td.filler{display:none}
table.cards td.amount{text-align:left}
}
""".strip()

STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode("ascii")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"style-src 'sha256-{STYLE_HASH}'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

HELD_COLUMNS = (
    ("", ""),
    ("Event", ""),
    ("SP", ""),
    ("Lead", ""),
    ("Product", ""),
    ("KPI", ""),
    ("What", ""),
    ("Payin", "amount"),
    ("Payout", "amount"),
    ("Why held", ""),
    ("Requested by", ""),
    ("Age", ""),
    ("Own reason", ""),
)
DECIDED_COLUMNS = (
    ("Event", ""),
    ("SP", ""),
    ("Lead", ""),
    ("Product", ""),
    ("KPI", ""),
    ("Payout", "amount"),
    ("Decision", ""),
    ("By", ""),
    ("When", ""),
    ("Reason", ""),
)


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def _document(body: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="same-origin">'
        f"<title>{escape(TITLE)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def _cell(label: str, text: str, css_class: str = "") -> str:
    class_attribute = f' class="{css_class}"' if css_class else ""
    return f'<td data-label="{escape(label)}"{class_attribute}>{escape(text)}</td>'


def _amount_cell(label: str, amount: Decimal) -> str:
    return _cell(label, money(amount), "amount negative" if amount < 0 else "amount")


def _head(columns: Sequence[tuple[str, str]], symbol: str) -> str:
    """The header row; amount columns name the currency (PAYOUT_CURRENCY) once."""
    cells = "".join(
        f'<th scope="col" class="{css}">{escape(f"{name} ({symbol.strip()})")}</th>'
        if css
        else f'<th scope="col">{escape(name)}</th>'
        for name, css in columns
    )
    return f"<thead><tr>{cells}</tr></thead>"


def _held_row(event: EventRow, view: ReviewView) -> str:
    checked = " checked" if view.all_selected else ""
    checkbox = (
        f'<input type="checkbox" name="event_id" value="{event.event_id}" '
        f'id="event-{event.event_id}" aria-label="Select event {event.event_id}"{checked}>'
    )
    reason_box = (
        f'<input type="text" name="reason_{event.event_id}" id="reason-{event.event_id}" '
        f'maxlength="1000" aria-label="Reason for event {event.event_id}">'
    )
    return (
        f'<tr id="held-{event.event_id}"><td data-label="Select">{checkbox}</td>'
        + _cell("Event", f"#{event.event_id}", "code")
        + _cell("SP", event.sp_id, "code")
        + _cell("Lead", event.lead_id, "code")
        + _cell("Product", event.product_type)
        + _cell("KPI", event.kpi, "code")
        + _cell("What", event.reason, "words")
        + _amount_cell("Payin", event.payin_amount)
        + _amount_cell("Payout", event.payout_amount)
        + _cell("Why held", why_held(event, view.currency), "long-names")
        + _cell("Requested by", _requested_by(event, view), "long-names")
        + _cell("Age", age_text(event.created_at, view.now), "code")
        + f'<td data-label="Own reason" class="reason-cell">{reason_box}</td>'
        + "</tr>"
    )


def _requested_by(event: EventRow, view: ReviewView) -> str:
    if event.requested_by and (
        event.requested_by.strip().casefold() == view.reviewer.name.strip().casefold()
    ):
        return f"{event.requested_by} (you: someone else must decide)"
    return requested_by(event)


def _totals_row(totals: Totals) -> str:
    label = plural(totals.event_count, "event", "events")
    return (
        '<tfoot><tr><td data-label="" colspan="7">'
        + escape(f"Total, {label}")
        + "</td>"
        + _amount_cell("Payin", totals.payin_amount)
        + _amount_cell("Payout", totals.payout_amount)
        + '<td colspan="4" class="filler"></td></tr></tfoot>'
    )


def _totals_summary(view: ReviewView) -> str:
    everywhere = view.held_everywhere
    oldest = (
        age_text(everywhere.oldest_created_at, view.now) if everywhere.oldest_created_at else "-"
    )
    items = [
        ("Held events", f"{everywhere.event_count:,}"),
        ("Payout held", view.currency.amount(everywhere.payout_amount)),
        ("Payin of them", view.currency.amount(everywhere.payin_amount)),
        ("Oldest waits", oldest),
    ]
    listed = "".join(f"<li>{escape(name)}<b>{escape(value)}</b></li>" for name, value in items)
    return f'<ul class="totals" id="totals">{listed}</ul>'


def _select(name: str, label: str, choices: Sequence[str], chosen: str | None) -> str:
    options = ['<option value="">All</option>']
    for choice in choices:
        selected = " selected" if choice == chosen else ""
        options.append(f'<option value="{escape(choice)}"{selected}>{escape(choice)}</option>')
    if chosen and chosen not in choices:
        options.append(f'<option value="{escape(chosen)}" selected>{escape(chosen)}</option>')
    return (
        f'<div><label for="filter-{name}">{escape(label)}</label>'
        f'<select id="filter-{name}" name="{name}">{"".join(options)}</select></div>'
    )


def _filters_form(view: ReviewView, path: str) -> str:
    return (
        f'<form class="filters" method="get" action="{escape(path)}">'
        + _select("product", "Product", view.product_choices, view.filters.product_type)
        + _select("sp", "SP", view.sp_choices, view.filters.sp_id)
        + '<button type="submit">Filter</button>'
        + (f'<a href="{escape(path)}">Show all</a>' if view.filters.active else "")
        + "</form>"
    )


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def _held_section(view: ReviewView, path: str) -> str:
    if not view.held_shown:
        nothing = "Nothing matches these filters." if view.filters.active else "Nothing is held."
        return f'<p id="no-holds">{escape(nothing)}</p>'
    rows = "".join(_held_row(event, view) for event in view.held_shown)
    left_out = (
        f'<p class="muted">Showing the oldest {len(view.held_shown):,}; '
        f"{view.rows_left_out:,} more match. Filter to see them.</p>"
        if view.rows_left_out
        else ""
    )
    hidden = _hidden("form_token", view.form_token) + "".join(
        _hidden(name, value) for name, value in view.filters.as_params().items()
    )
    ticked = (
        f"All {len(view.held_shown):,} rows shown are ticked. "
        if view.all_selected
        else ""
    )
    decide = (
        '<div class="decide"><div class="reason"><label for="reason">Reason for every '
        "ticked row without a reason of its own (a rejection needs one)</label>"
        '<input type="text" id="reason" name="reason" maxlength="1000">'
        f'<p class="muted" id="reason-applies">{escape(ticked)}This reason applies to each '
        "ticked row whose Own reason box is empty; a row's own reason is kept for that row."
        "</p></div>"
        '<button type="submit" name="action" value="approve" class="approve" id="approve">'
        "Approve ticked</button>"
        '<button type="submit" name="action" value="reject" class="reject" id="reject">'
        "Reject ticked</button></div>"
    )
    head = _head(HELD_COLUMNS, view.currency.symbol)
    return (
        f"{_select_links(view, path)}"
        f'<form method="post" action="{escape(path)}" id="decide-form">{hidden}'
        f'<div class="table-wrap"><table class="cards" id="held">{head}'
        f"<tbody>{rows}</tbody>{_totals_row(view.held_matching)}</table></div>"
        f"{left_out}{decide}</form>"
    )


def _select_links(view: ReviewView, path: str) -> str:
    """Select all, per filter, without a script (the page runs none): a link to this view
    with every row shown ticked, and one back."""
    params = view.filters.as_params()
    shown = len(view.held_shown)
    what = "shown" if not view.filters.active else "matching these filters"
    if view.all_selected:
        link = f'<a id="select-none" href="{escape(_url(path, params))}">Clear the ticks</a>'
    else:
        link = (
            f'<a id="select-all" href="{escape(_url(path, dict(params, select="all")))}">'
            f"Select all {shown:,} {what}</a>"
        )
    return f'<p class="select-links">{link}</p>'


def _url(path: str, params: dict[str, str]) -> str:
    return f"{path}?{urlencode(params)}" if params else path


def _decided_row(event: EventRow) -> str:
    when = timestamp_text(event.decided_at) if event.decided_at else ""
    return (
        f'<tr id="decided-{event.event_id}">'
        + _cell("Event", f"#{event.event_id}", "code")
        + _cell("SP", event.sp_id, "code")
        + _cell("Lead", event.lead_id, "code")
        + _cell("Product", event.product_type)
        + _cell("KPI", event.kpi, "code")
        + _amount_cell("Payout", event.payout_amount)
        + _cell("Decision", event.status)
        + _cell("By", event.decided_by or "")
        + _cell("When", when)
        + _cell("Reason", event.decision_reason or "")
        + "</tr>"
    )


def _decided_section(view: ReviewView) -> str:
    heading = "<h2>Decided since the last email</h2>"
    if not view.decided:
        return heading + '<p id="no-decisions">No decisions since the last email.</p>'
    rows = "".join(_decided_row(event) for event in view.decided)
    return (
        heading + f'<div class="table-wrap"><table class="cards" id="decided">'
        f"{_head(DECIDED_COLUMNS, view.currency.symbol)}<tbody>{rows}</tbody></table></div>"
    )


def _message(view: ReviewView) -> str:
    if view.message is None:
        return ""
    kind = "ok" if view.message.ok else "refused"
    return (
        f'<div class="message {kind}" role="status" id="message">{escape(view.message.text)}</div>'
    )


def render_review_page(view: ReviewView, path: str) -> str:
    """The whole page for `view`; `path` is where its forms go (this page)."""
    sign_out = f"{SIGN_OUT_PATH}?{urlencode({'post_logout_redirect_uri': path})}"
    provider = f" ({view.reviewer.identity_provider})" if view.reviewer.identity_provider else ""
    header = (
        f"<header><h1>Held payouts</h1>"
        f'<span class="who" id="signed-in-as">Signed in as <b>{escape(view.reviewer.name)}</b>'
        f'{escape(provider)} · <a id="find-link" href="{escape(path)}?view=find">Find a lead'
        f' or SP</a> · <a href="{escape(sign_out)}">Sign out</a></span></header>'
    )
    filtered_note = ""
    if view.filters.active:
        filtered_note = (
            f'<p class="muted">{escape(_filter_words(view.filters))}: '
            f"{escape(plural(view.held_matching.event_count, 'event', 'events'))}.</p>"
        )
    body = (
        header
        + "<main>"
        + _message(view)
        + _totals_summary(view)
        + _filters_form(view, path)
        + filtered_note
        + _held_section(view, path)
        + _decided_section(view)
        + "</main>"
    )
    return _document(body)


def _filter_words(filters: Filters) -> str:
    parts = []
    if filters.product_type:
        parts.append(f"product {filters.product_type}")
    if filters.sp_id:
        parts.append(f"SP {filters.sp_id}")
    return "Held for " + " and ".join(parts)


def render_sign_in_needed(path: str) -> str:
    """The 401 page: no data, a way to sign in."""
    sign_in = f"{SIGN_IN_PATH}?{urlencode({'post_login_redirect_uri': path})}"
    return _document(
        "<header><h1>Held payouts</h1></header><main>"
        "<p>Sign in to see and decide held payouts.</p>"
        f'<p><a href="{escape(sign_in)}" id="sign-in">Sign in</a></p></main>'
    )


def render_problem(heading: str, text: str, back_path: str | None = None) -> str:
    """A page that explains why nothing can be shown or done (and shows no data)."""
    back = f'<p><a href="{escape(back_path)}">Back to the held payouts</a></p>' if back_path else ""
    return _document(
        f"<header><h1>{escape(heading)}</h1></header>"
        f'<main><p id="problem">{escape(text)}</p>{back}</main>'
    )
