"""One request to the review page: who asks, what they may see, what they decided.

GET shows the held events (filters in the query), the totals and the decisions since the
last email. POST decides: only for a signed-in person, only from this site's own form
made for that person (forms.py), always as that person (the decider is never a form
field), through ledger.holds.decide, the same code as `payout holds approve|reject`: all
named events or none, maker-checker, an append-only audit trail. Then it redirects back
to GET (303) with the result, so a reload never posts twice.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

import azure.functions as func

from payout_core.errors import DecisionRefused, SettingError, TransientError, clean_error_text
from payout_core.flows import review_decisions
from payout_core.flows.process import PROCESS
from payout_core.flows.unit_of_work import Context
from payout_core.report.formats import Currency
from payout_core.review import explain_pages, forms, html
from payout_core.review.signed_in import Reviewer, easy_auth_problem, reviewer_from_headers
from payout_core.review.view import Filters, build_view
from payout_core.settings import REVIEW_SECRET_MIN_CHARS, Settings, get_settings

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 64 * 1024
MAX_EVENTS_PER_DECISION = 1000
MAX_REASON_CHARS = 1000
EVENT_ID_MAX_DIGITS = 18  # event ids are bigint
# Fields only the page itself writes (its links and forms): printable ASCII, always.
PAGE_WRITTEN_PARAMS = ("result",)
PAGE_WRITTEN_FIELDS = ("form_token", "action", "event_id")
NOT_UNDERSTOOD = "Request not understood"

SECURITY_HEADERS = {
    "Content-Security-Policy": html.CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _page(body: str, status_code: int = 200) -> func.HttpResponse:
    return func.HttpResponse(
        body,
        status_code=status_code,
        headers=dict(SECURITY_HEADERS),
        mimetype="text/html",
        charset="utf-8",
    )


def _redirect(location: str) -> func.HttpResponse:
    headers = dict(SECURITY_HEADERS, Location=location)
    return func.HttpResponse(status_code=303, headers=headers)


def _secret(settings: Settings) -> bytes | None:
    secret = settings.review_secret
    value = secret.get_secret_value() if secret else ""
    return value.encode("utf-8") if len(value) >= REVIEW_SECRET_MIN_CHARS else None


def _not_understood(path: str, where: str) -> func.HttpResponse:
    text = (
        f"This link or form holds {where} the review page never writes; nothing was decided. "
        "Open the review page again from its address."
    )
    return _page(html.render_problem(NOT_UNDERSTOOD, text, path), 400)


def _foreign_fields(request: func.HttpRequest) -> list[str]:
    """The page-written fields of the request that hold text the page never writes."""
    foreign = [
        name for name in PAGE_WRITTEN_PARAMS if not forms.is_page_text(request.params.get(name))
    ]
    if request.method == "POST":
        form = request.form
        foreign += [
            name
            for name in PAGE_WRITTEN_FIELDS
            if not all(forms.is_page_text(value) for value in form.getlist(name))
        ]
    return foreign


def handle_request(request: func.HttpRequest) -> func.HttpResponse:
    """Every answer to input is a page: 400 with a plain message for what cannot be read,
    never a 500."""
    try:
        path = urlsplit(request.url).path or "/api/review"
    except ValueError:
        path = "/api/review"
    try:
        return _answer(request, path)
    except (ValueError, TypeError, UnicodeError, OverflowError):
        # A request no check above foresaw: the details go to the log, a sentence to the
        # browser, and nothing was decided (a decision is one transaction).
        log.exception("review page: a request it could not read")
        return _not_understood(path, "something")


def _answer(request: func.HttpRequest, path: str) -> func.HttpResponse:
    problem = easy_auth_problem(os.environ)
    if problem:
        log.error("review page: %s", problem)
        return _page(html.render_problem("Review page not available", problem), 503)
    reviewer = reviewer_from_headers(request.headers)
    if reviewer is None:
        return _page(html.render_sign_in_needed(path), 401)
    try:
        settings = get_settings()
    except SettingError as refused:  # the sentence goes to the log, the names to the page
        log.error("review page: %s", refused)
        text = f"The review page is not configured: the app refuses {', '.join(refused.settings)}."
        return _page(html.render_problem("Review page not available", text), 503)
    secret = _secret(settings)
    if secret is None:
        log.error("review page: PAYOUT_REVIEW_SECRET is unset or shorter than 32 characters")
        text = (
            "The review page is not configured: the app setting PAYOUT_REVIEW_SECRET "
            f"must hold at least {REVIEW_SECRET_MIN_CHARS} random characters."
        )
        return _page(html.render_problem("Review page not available", text), 503)
    foreign = _foreign_fields(request)
    if foreign:
        log.warning(
            "review page: %s sent characters the page never writes in %s", reviewer.name, foreign
        )
        return _not_understood(path, f"characters in {', '.join(foreign)} that")
    try:
        # The deployed app's one context, opened from the settings its entry points read.
        context = PROCESS.get()
        if request.method == "POST":
            return _decide(context, request, reviewer, secret, path)
        if request.method in ("GET", "HEAD"):
            return _show(context, request, reviewer, secret, path)
    except TransientError as unavailable:
        # Details (server names) go to the log, not to the browser; an outage is no bug,
        # so one line, without a traceback.
        log.warning("review page: %s", unavailable)
        text = "The ledger database did not answer; nothing was changed. Try again shortly."
        return _page(html.render_problem("Try again in a moment", text, path), 503)
    return func.HttpResponse(status_code=405, headers={"Allow": "GET, POST"})


def _show(
    context: Context, request: func.HttpRequest, reviewer: Reviewer, secret: bytes, path: str
) -> func.HttpResponse:
    if explain_pages.wants(request.params):  # SPEC §10: search, lead, SP, statement
        answer = explain_pages.answer(context, dict(request.params), path)
        if isinstance(answer, str):
            return _redirect(answer)
        body, status_code, headers = answer
        response = _page(body, status_code)
        response.headers.update(headers)
        return response
    held, decided = review_decisions.waiting_and_decided(context)
    view = build_view(
        reviewer=reviewer,
        now=datetime.now(UTC),
        filters=Filters.from_params(dict(request.params)),
        held=held,
        decided=decided,
        form_token=forms.form_token(secret, reviewer.name, time.time()),
        message=forms.read_message(secret, reviewer.name, request.params.get("result")),
        currency=Currency(context.settings.currency, context.settings.currency_symbol),
        all_selected=request.params.get("select") == "all",
    )
    return _page(html.render_review_page(view, path))


def _refused_form(path: str, why: str) -> func.HttpResponse:
    text = f"{why} Nothing was decided. Open the page again and use its form."
    return _page(html.render_problem("Form not accepted", text, path), 403)


def _decide(
    context: Context, request: func.HttpRequest, reviewer: Reviewer, secret: bytes, path: str
) -> func.HttpResponse:
    body = request.get_body()
    if len(body) > MAX_FORM_BYTES:
        return _page(html.render_problem("Form too large", "Nothing was decided.", path), 413)
    public_urls = [context.settings.review_url]
    if not forms.comes_from_this_site(request.headers, request.url, public_urls):
        log.warning("review page: POST by %s from another site refused", reviewer.name)
        return _refused_form(path, "This form was not sent from this site.")
    form = request.form
    if not forms.form_token_is_valid(secret, reviewer.name, form.get("form_token"), time.time()):
        log.warning("review page: POST by %s with a missing or wrong form token", reviewer.name)
        return _refused_form(path, "This form is out of date or was not made for you.")
    filters = Filters.from_params({"product": form.get("product", ""), "sp": form.get("sp", "")})
    row_reasons = {
        name.removeprefix("reason_"): form.get(name, "")
        for name in form
        if name.startswith("reason_") and form.get(name, "").strip()
    }
    message = _decision_message(
        context,
        reviewer,
        form.get("action", ""),
        form.getlist("event_id"),
        form.get("reason", ""),
        row_reasons,
    )
    query = dict(filters.as_params(), result=forms.sign_message(secret, reviewer.name, message))
    return _redirect(f"{path}?{urlencode(query)}")


def _reason(text: str) -> str | None:
    """Kept in the audit trail: control characters (a NUL, which PostgreSQL text refuses)
    replaced, at most MAX_REASON_CHARS, saying what was cut."""
    return clean_error_text(" ".join(text.split()), MAX_REASON_CHARS) or None


def _is_event_number(text: str) -> bool:
    digits = text.strip()
    return digits.isascii() and digits.isdigit() and len(digits) <= EVENT_ID_MAX_DIGITS


def _decision_message(
    context: Context,
    reviewer: Reviewer,
    action: str,
    event_id_texts: list[str],
    reason_text: str,
    row_reason_texts: dict[str, str] | None = None,
) -> forms.Message:
    if action not in ("approve", "reject"):
        return forms.Message(False, "Choose Approve or Reject.")
    if any(not _is_event_number(text) for text in event_id_texts):
        return forms.Message(False, "Event numbers must be whole numbers; nothing was decided.")
    event_ids = sorted({int(text) for text in event_id_texts})
    if not event_ids:
        return forms.Message(False, "Select the events to decide (tick their boxes).")
    if len(event_ids) > MAX_EVENTS_PER_DECISION:
        return forms.Message(
            False, f"At most {MAX_EVENTS_PER_DECISION} events at once; nothing was decided."
        )
    reason = _reason(reason_text)
    # A ticked row's own reason box; an unticked row's text is not a decision.
    row_reasons = {
        int(key): cleaned
        for key, text in (row_reason_texts or {}).items()
        if _is_event_number(key) and int(key) in event_ids and (cleaned := _reason(text))
    }
    without_reason = [event_id for event_id in event_ids if event_id not in row_reasons]
    if action == "reject" and reason is None and without_reason:
        numbers = ", ".join(f"#{event_id}" for event_id in without_reason)
        return forms.Message(
            False,
            f"A rejection needs a reason: {numbers} have none of their own and the reason "
            "for every ticked row is empty; nothing was decided.",
        )
    try:
        decisions = review_decisions.decide(
            context,
            event_ids,
            decision=action,
            decided_by=reviewer.name,
            reason=reason,
            reasons_by_event=row_reasons,
        )
    except DecisionRefused as refused:
        log.info("review page: %s's decision refused: %s", reviewer.name, refused.problems)
        listing = "\n".join(f"- {problem}" for problem in refused.problems)
        return forms.Message(False, f"Nothing was decided:\n{listing}")
    done = "Approved" if action == "approve" else "Rejected"
    numbers = ", ".join(f"#{decision.event_id}" for decision in decisions)
    log.info("review page: %s %s events %s", reviewer.name, done.lower(), numbers)
    return forms.Message(True, f"{done} {len(decisions)} event(s): {numbers}.")
