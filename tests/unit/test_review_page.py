"""The review page's pure parts: who is signed in, which forms count, what the page shows.

The page itself, with a database behind it, is tested in tests/integration/test_review_page.py
and in a real browser in tests/e2e/test_review_browser.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape

from payout_core.ledger.holds import HeldEvent
from payout_core.review import forms, html
from payout_core.review.signed_in import Reviewer, easy_auth_problem, reviewer_from_headers
from payout_core.review.view import Filters, age_text, build_view

SECRET = b"k" * 32
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script>&"\''


def principal(name: str, *, name_type: str = "name_type") -> str:
    document = {
        "auth_typ": "aad",
        "claims": [{"typ": name_type, "val": name}],
        "name_typ": name_type,
        "role_typ": "roles",
    }
    return base64.b64encode(json.dumps(document).encode()).decode()


def held_event(event_id: int = 7, **changes: object) -> HeldEvent:
    fields: dict[str, object] = {
        "event_id": event_id,
        "lead_id": "AT-91961",
        "sp_id": "SP-001",
        "product_type": "Personal Loan",
        "kpi": "KPI1",
        "kind": "adjustment",
        "payin_amount": Decimal("-96.00"),
        "payout_amount": Decimal("-39.00"),
        "reason": "KPI1 adjusted: disbursed 43850 -> 40000",
        "hold_reason": "negative adjustment: money taken back from the SP",
        "status": "held",
        "requested_by": "alice@shiftpay.example",
        "created_at": NOW - timedelta(days=2, hours=3),
        "decided_by": None,
        "decided_at": None,
        "decision_reason": None,
    }
    fields.update(changes)
    return HeldEvent(**fields)  # type: ignore[arg-type]


# --- identity ------------------------------------------------------------------------------


def test_the_name_header_names_the_reviewer() -> None:
    reviewer = reviewer_from_headers(
        {
            "X-MS-CLIENT-PRINCIPAL-NAME": " bob@shiftpay.example ",
            "X-MS-CLIENT-PRINCIPAL-IDP": "aad",
            "X-MS-CLIENT-PRINCIPAL": principal("bob@shiftpay.example"),
        }
    )
    assert reviewer == Reviewer("bob@shiftpay.example", "aad")


def test_no_identity_headers_no_reviewer() -> None:
    assert reviewer_from_headers({}) is None
    assert reviewer_from_headers({"x-ms-client-principal-name": "   "}) is None
    assert reviewer_from_headers({"x-ms-client-principal-name": "bob\nX-Evil: 1"}) is None
    assert reviewer_from_headers({"x-ms-client-principal-name": "b" * 257}) is None


def test_a_principal_easy_auth_did_not_write_means_no_reviewer() -> None:
    forged = {"x-ms-client-principal-name": "bob", "x-ms-client-principal": "not base64!"}
    assert reviewer_from_headers(forged) is None
    not_an_object = base64.b64encode(b'["bob"]').decode()
    assert reviewer_from_headers({"x-ms-client-principal": not_an_object}) is None


def test_the_principal_alone_names_the_reviewer_by_its_name_claim() -> None:
    reviewer = reviewer_from_headers({"x-ms-client-principal": principal("carol@shiftpay.example")})
    assert reviewer == Reviewer("carol@shiftpay.example", "aad")


def test_on_app_service_the_page_needs_app_service_authentication_on() -> None:
    assert easy_auth_problem({}) is None  # tests, `payout host`
    assert easy_auth_problem({"WEBSITE_INSTANCE_ID": "payout"}) is not None
    assert easy_auth_problem({"WEBSITE_INSTANCE_ID": "payout", "WEBSITE_AUTH_ENABLED": "False"})
    assert (
        easy_auth_problem({"WEBSITE_INSTANCE_ID": "payout", "WEBSITE_AUTH_ENABLED": "True"}) is None
    )


# --- forms ---------------------------------------------------------------------------------


def test_a_form_token_is_good_only_for_its_person_and_for_a_while() -> None:
    now = 1_800_000_000.0
    token = forms.form_token(SECRET, "bob", now)
    assert forms.form_token_is_valid(SECRET, "bob", token, now + 60)
    assert not forms.form_token_is_valid(SECRET, "alice", token, now + 60)
    assert not forms.form_token_is_valid(b"o" * 32, "bob", token, now + 60)
    assert not forms.form_token_is_valid(
        SECRET, "bob", token, now + forms.TOKEN_LIFETIME_SECONDS + 1
    )
    assert not forms.form_token_is_valid(SECRET, "bob", token, now - 3600)  # from the future
    issued, _, mac = token.partition(".")
    assert not forms.form_token_is_valid(SECRET, "bob", f"{int(issued) + 1}.{mac}", now)
    assert not forms.form_token_is_valid(SECRET, "bob", None, now)
    assert not forms.form_token_is_valid(SECRET, "bob", "", now)


def test_a_result_message_reads_back_only_for_its_person() -> None:
    signed = forms.sign_message(SECRET, "bob", forms.Message(True, "Approved 1 event(s): #7."))
    assert forms.read_message(SECRET, "bob", signed) == forms.Message(
        True, "Approved 1 event(s): #7."
    )
    assert forms.read_message(SECRET, "alice", signed) is None
    _, _, mac = signed.partition(".")
    forged = base64.urlsafe_b64encode(json.dumps([True, "Paid you"]).encode()).decode()
    assert forms.read_message(SECRET, "bob", f"{forged.rstrip('=')}.{mac}") is None
    assert forms.read_message(SECRET, "bob", "garbage") is None


def test_only_forms_posted_from_this_site_count() -> None:
    url = "http://payout.azurewebsites.net/api/review"
    assert forms.comes_from_this_site({"Origin": "https://payout.azurewebsites.net"}, url)
    assert forms.comes_from_this_site({"Referer": "https://payout.azurewebsites.net/api/x"}, url)
    assert not forms.comes_from_this_site({"Origin": "https://evil.example"}, url)
    assert not forms.comes_from_this_site(
        {"Origin": "https://evil.example", "Referer": "https://payout.azurewebsites.net/"}, url
    )
    assert not forms.comes_from_this_site({"Origin": "null"}, url)
    assert not forms.comes_from_this_site({}, url)
    assert forms.comes_from_this_site(
        {"Origin": "https://finance.shiftpay.example"},
        url,
        ["https://finance.shiftpay.example/api/review"],
    )


# --- what the page shows -------------------------------------------------------------------


def render(
    held: list[HeldEvent],
    decided: list[HeldEvent] | None = None,
    *,
    reviewer: str = "bob@shiftpay.example",
    filters: Filters | None = None,
    message: forms.Message | None = None,
    all_selected: bool = False,
) -> str:
    view = build_view(
        reviewer=Reviewer(reviewer, "aad"),
        now=NOW,
        filters=filters or Filters(),
        held=held,
        decided=decided or [],
        form_token="token-123",
        message=message,
        all_selected=all_selected,
    )
    return html.render_review_page(view, "/api/review")


def test_the_page_lists_each_held_event_with_what_finance_needs() -> None:
    page = render([held_event()])
    row = re.search(r'<tr id="held-7">(.*?)</tr>', page, re.S)
    assert row is not None
    cells = re.findall(r'<td data-label="([^"]+)"[^>]*>(.*?)</td>', row.group(1), re.S)
    shown = {label: text for label, text in cells}
    assert shown["SP"] == "SP-001"
    assert shown["Lead"] == "AT-91961"
    assert shown["Product"] == "Personal Loan"
    assert shown["KPI"] == "KPI1"
    assert shown["What"] == "KPI1 adjusted: disbursed 43850 -&gt; 40000"
    assert shown["Payin"] == "-96.00"
    assert shown["Payout"] == "-39.00"
    assert shown["Why held"] == (
        "Money taken back from the SP (-₹39.00): every clawback waits for a person."
    )
    assert shown["Requested by"] == "alice@shiftpay.example"
    assert shown["Age"] == "2 d 3 h"
    assert 'name="event_id" value="7"' in row.group(1)
    assert 'name="form_token" value="token-123"' in page
    as_maker = render([held_event()], reviewer="Alice@shiftpay.example")
    assert "alice@shiftpay.example (you: someone else must decide)" in as_maker


def test_everything_shown_is_escaped() -> None:
    hostile = held_event(
        sp_id=HOSTILE,
        lead_id=HOSTILE,
        reason=HOSTILE,
        hold_reason=HOSTILE,
        requested_by=HOSTILE,
        product_type=HOSTILE,
    )
    decided = held_event(
        8, status="rejected", decided_by=HOSTILE, decided_at=NOW, decision_reason=HOSTILE
    )
    page = render(
        [hostile],
        [decided],
        reviewer=HOSTILE,
        message=forms.Message(False, HOSTILE),
        filters=Filters(product_type=HOSTILE, sp_id=HOSTILE),
    )
    assert "<script>" not in page
    assert 'alert("x")' not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&quot;&#x27;" in page
    # Attributes too: the filter choice is quoted and escaped in its <option value="...">.
    assert f'value="{html.escape(HOSTILE)}"' in page


def test_totals_say_how_much_is_held_overall_and_in_the_filter() -> None:
    events = [
        held_event(1, payout_amount=Decimal("-39.00"), payin_amount=Decimal("-96.00")),
        held_event(
            2,
            sp_id="SP-002",
            payout_amount=Decimal("1500.00"),
            kind="earned",
            payin_amount=Decimal("2500.00"),
            created_at=NOW - timedelta(days=5),
        ),
    ]
    page = render(events, filters=Filters(sp_id="SP-001"))
    totals = dict(re.findall(r"<li>([^<]+)<b>([^<]+)</b></li>", page))
    assert totals == {
        "Held events": "2",
        "Payout held": "₹1,461.00",
        "Payin of them": "₹2,404.00",
        "Oldest waits": "5 d",
    }
    assert 'id="held-1"' in page and 'id="held-2"' not in page
    footer = re.search(r"<tfoot>(.*?)</tfoot>", page, re.S)
    assert footer is not None and "Total, 1 event" in footer.group(1)
    assert ">-39.00<" in footer.group(1)


def test_filters_offer_what_is_held() -> None:
    events = [held_event(1), held_event(2, sp_id="SP-002", product_type="Savings Account")]
    page = render(events)
    assert '<option value="Savings Account">' in page and '<option value="SP-002">' in page
    assert Filters.from_params({"product": " Personal Loan ", "sp": ""}) == Filters(
        "Personal Loan", None
    )


def test_decided_events_show_below_with_who_and_why() -> None:
    decided = held_event(
        9, status="rejected", decided_by="carol", decided_at=NOW, decision_reason="duplicate"
    )
    page = render([], [decided])
    assert 'id="no-holds"' in page
    row = re.search(r'<tr id="decided-9">(.*?)</tr>', page, re.S)
    assert row is not None
    assert "rejected" in row.group(1) and "carol" in row.group(1) and "duplicate" in row.group(1)


def test_the_page_loads_nothing_from_elsewhere_and_its_policy_allows_its_style() -> None:
    page = render([held_event()])
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "<script" not in page
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest())
    assert f"'sha256-{digest.decode()}'" in html.CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in html.CONTENT_SECURITY_POLICY
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page


def test_ages_read_in_the_largest_unit() -> None:
    assert age_text(NOW - timedelta(minutes=5), NOW) == "5 min"
    assert age_text(NOW - timedelta(hours=3, minutes=2), NOW) == "3 h 2 min"
    assert age_text(NOW - timedelta(days=1), NOW) == "1 d"
    assert age_text(NOW + timedelta(minutes=5), NOW) == "0 min"


def test_why_held_says_the_limit_and_the_amount_that_crossed_it_once() -> None:
    over_event_limit = held_event(
        kind="earned",
        payout_amount=Decimal("1504.00"),
        reason="KPI1 earned: 1.25 % of 120300",
        hold_reason="payout above the per-event limit of 1500.00 (PAYOUT_HOLD_EVENT_ABOVE)",
    )
    page = render([over_event_limit])
    why = re.search(r'<td data-label="Why held"[^>]*>(.*?)</td>', page, re.S)
    assert why is not None
    assert why.group(1) == (
        "Payout ₹1,504.00 is above the per-event limit of ₹1,500.00 "
        "(PAYOUT_HOLD_EVENT_ABOVE) by ₹4.00."
    )
    assert page.count("KPI1 earned: 1.25 % of 120300") == 1  # in What, not again in Why held
    over_sp_limit = held_event(
        kind="earned",
        payout_amount=Decimal("800.00"),
        hold_reason="the SP's cycle total of 2300.00 is above the limit of 2000.00"
        " (PAYOUT_HOLD_SP_CYCLE_ABOVE)",
    )
    assert (
        "The SP's cycle total ₹2,300.00 is above the SP cycle limit of ₹2,000.00 "
        "(PAYOUT_HOLD_SP_CYCLE_ABOVE) by ₹300.00; this payout of ₹800.00 is part of it."
    ) in unescape(render([over_sp_limit]))


def test_an_mis_made_event_names_its_file_as_the_requester() -> None:
    page = render([held_event(requested_by=None, mis_file="bank_b_personal_loan_2023-10-03.csv")])
    assert ">MIS file bank_b_personal_loan_2023-10-03.csv</td>" in page


def test_select_all_per_filter_ticks_every_row_shown_without_a_script() -> None:
    events = [held_event(1), held_event(2, sp_id="SP-002"), held_event(3)]
    page = render(events, filters=Filters(sp_id="SP-001"))
    link = re.search(r'<a id="select-all" href="([^"]+)">([^<]+)</a>', page)
    assert link is not None
    assert link.group(1) == "/api/review?sp=SP-001&amp;select=all"
    assert link.group(2) == "Select all 2 matching these filters"
    assert "checked" not in page
    ticked = render(events, filters=Filters(sp_id="SP-001"), all_selected=True)
    assert ticked.count(" checked>") == 2 and 'id="select-none"' in ticked
    assert "All 2 rows shown are ticked." in ticked
    assert "<script" not in ticked


def test_each_row_has_its_own_reason_box_and_the_common_reason_says_where_it_applies() -> None:
    page = render([held_event(1), held_event(2)])
    assert 'name="reason_1"' in page and 'name="reason_2"' in page
    assert (
        "This reason applies to each ticked row whose Own reason box is empty" in page
    )
