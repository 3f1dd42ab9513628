"""The review page's function, called directly with azure.functions.HttpRequest as the Azure
samples do, on a real database: who may see it, what it shows, and which forms decide.

Identity arrives as App Service Authentication delivers it (X-MS-CLIENT-PRINCIPAL-* headers).
Every decision is checked in the ledger afterwards through ledger.holds, the same reads the
CLI uses: a refused form must leave nothing decided.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit

import azure.functions as func
import pytest

import function_app
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import holds
from payout_core.settings import get_settings
from tests.integration.held_rows import insert_held_clawback
from tests.support.postgres import this_tests_database, with_settings_read_again

pytestmark = pytest.mark.integration

PAGE_URL = "http://payout.example/api/review"
ORIGIN = "http://payout.example"
SECRET = "s" * 40
HOSTILE_SP = '<script>alert("sp")</script>'


@pytest.fixture
def ledger(
    database_url: str, monkeypatch: pytest.MonkeyPatch, context: Context
) -> Iterator[dict[str, int]]:
    """alice asked for the clawback of AT-00001 (SP-001); carol for AT-00002 (a hostile SP id)."""
    monkeypatch.setenv("PAYOUT_REVIEW_SECRET", SECRET)
    context = with_settings_read_again(context)
    with context.reading() as conn:
        ids = {
            "alice": insert_held_clawback(
                conn, lead_id="AT-00001", sp_id="SP-001", requested_by="alice@shiftpay.example"
            ),
            "carol": insert_held_clawback(
                conn, lead_id="AT-00002", sp_id=HOSTILE_SP, requested_by="carol@shiftpay.example"
            ),
        }
        conn.commit()
    yield ids


def identity(name: str) -> dict[str, str]:
    principal = {
        "auth_typ": "aad",
        "claims": [{"typ": "name", "val": name}],
        "name_typ": "name",
        "role_typ": "roles",
    }
    return {
        "X-MS-CLIENT-PRINCIPAL-NAME": name,
        "X-MS-CLIENT-PRINCIPAL-IDP": "aad",
        "X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(principal).encode()).decode(),
    }


def get(headers: dict[str, str], query: str = "") -> func.HttpResponse:
    params = dict(parse_qsl(query))
    url = f"{PAGE_URL}?{query}" if query else PAGE_URL
    request = func.HttpRequest("GET", url, headers=headers, params=params, body=b"")
    return function_app.review(request)


def post(headers: dict[str, str], fields: list[tuple[str, str]]) -> func.HttpResponse:
    request = func.HttpRequest(
        "POST",
        PAGE_URL,
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        body=urlencode(fields).encode(),
    )
    return function_app.review(request)


def text(response: func.HttpResponse) -> str:
    return response.get_body().decode("utf-8")


def form_token(name: str) -> str:
    page = text(get(identity(name)))
    match = re.search(r'name="form_token" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def decide(
    name: str, action: str, event_ids: list[int], reason: str = "", **extra: str
) -> func.HttpResponse:
    fields = [("form_token", form_token(name)), ("action", action), ("reason", reason)]
    fields += [("event_id", str(event_id)) for event_id in event_ids]
    fields += list(extra.items())
    return post({**identity(name), "Origin": ORIGIN}, fields)


def result_page(name: str, redirect: func.HttpResponse) -> str:
    """Follow the 303 as a browser would, as the same person."""
    assert redirect.status_code == 303
    location = urlsplit(redirect.headers["Location"])
    assert location.path == "/api/review"
    return text(get(identity(name), location.query))


def states() -> dict[int, tuple[str, str | None]]:
    with this_tests_database() as conn:
        return {
            event.event_id: (event.status, event.decided_by)
            for event in holds.list_holds(conn, include_decided=True)
        }


def test_no_identity_gets_401_and_no_data(ledger: dict[str, int]) -> None:
    for headers in ({}, {"X-MS-CLIENT-PRINCIPAL-NAME": "  "}):
        response = get(headers)
        assert response.status_code == 401
        assert "AT-00001" not in text(response) and "SP-001" not in text(response)
        assert "/.auth/login/" in text(response)
    refused = post({"Origin": ORIGIN}, [("action", "approve"), ("event_id", str(ledger["carol"]))])
    assert refused.status_code == 401
    assert states()[ledger["carol"]] == ("held", None)


def test_the_page_shows_held_events_escaped_with_a_strict_policy(ledger: dict[str, int]) -> None:
    response = get(identity("bob@shiftpay.example"))
    assert response.status_code == 200
    page = text(response)
    assert "AT-00001" in page and "AT-00002" in page
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;sp&quot;)&lt;/script&gt;" in page
    assert "Signed in as <b>bob@shiftpay.example</b>" in page
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "form-action 'self'" in policy
    assert response.headers["Cache-Control"] == "no-store"
    filtered = text(get(identity("bob@shiftpay.example"), "sp=SP-001"))
    assert 'id="held-' + str(ledger["alice"]) in filtered
    assert 'id="held-' + str(ledger["carol"]) not in filtered


def test_the_maker_cannot_approve_and_the_page_says_why(ledger: dict[str, int]) -> None:
    redirect = decide("alice@shiftpay.example", "approve", [ledger["alice"]])
    page = result_page("alice@shiftpay.example", redirect)
    message = re.search(r'<div class="message refused"[^>]*>(.*?)</div>', page, re.S)
    assert message is not None
    assert "Nothing was decided" in message.group(1) and "maker-checker" in message.group(1)
    assert states()[ledger["alice"]] == ("held", None)


def test_a_checker_approves_as_themselves_whatever_the_form_says(ledger: dict[str, int]) -> None:
    redirect = decide(
        "bob@shiftpay.example", "approve", [ledger["alice"]], decided_by="alice@shiftpay.example"
    )
    page = result_page("bob@shiftpay.example", redirect)
    assert f"Approved 1 event(s): #{ledger['alice']}." in page
    assert states()[ledger["alice"]] == ("approved", "bob@shiftpay.example")
    assert f'id="decided-{ledger["alice"]}"' in page
    assert f'id="held-{ledger["alice"]}"' not in page
    # The result in the URL is for bob only: shown to carol, it says nothing.
    carol_sees = text(get(identity("carol"), urlsplit(redirect.headers["Location"]).query))
    assert "Approved 1 event" not in carol_sees


def test_one_refused_event_refuses_the_whole_form(ledger: dict[str, int]) -> None:
    redirect = decide("carol@shiftpay.example", "approve", [ledger["alice"], ledger["carol"]])
    page = result_page("carol@shiftpay.example", redirect)
    assert "Nothing was decided" in page
    assert states() == {ledger["alice"]: ("held", None), ledger["carol"]: ("held", None)}


def test_a_rejection_needs_a_reason_and_keeps_it(ledger: dict[str, int], context: Context) -> None:
    page = result_page("bob", decide("bob", "reject", [ledger["carol"]], reason="  "))
    assert "A rejection needs a reason" in page
    assert states()[ledger["carol"]] == ("held", None)
    reason = "<b>not</b> this SP's loan"
    page = result_page("bob", decide("bob", "reject", [ledger["carol"]], reason=reason))
    assert "Rejected 1 event(s)" in page
    assert "&lt;b&gt;not&lt;/b&gt; this SP&#x27;s loan" in page
    with context.reading() as conn:
        (event,) = holds.list_holds(conn, include_decided=True, sp_id=HOSTILE_SP)
    assert (event.status, event.decided_by, event.decision_reason) == ("rejected", "bob", reason)


def test_forged_forms_decide_nothing(ledger: dict[str, int]) -> None:
    event = str(ledger["alice"])
    bob = identity("bob")
    fields = [("action", "approve"), ("event_id", event)]
    forged_token = "1800000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    attempts = {
        "no token": post({**bob, "Origin": ORIGIN}, fields),
        "made-up token": post({**bob, "Origin": ORIGIN}, [("form_token", forged_token), *fields]),
        "carol's token": post(
            {**bob, "Origin": ORIGIN}, [("form_token", form_token("carol")), *fields]
        ),
        "another site": post(
            {**bob, "Origin": "https://evil.example"}, [("form_token", form_token("bob")), *fields]
        ),
        "no origin": post(bob, [("form_token", form_token("bob")), *fields]),
    }
    for what, response in attempts.items():
        assert response.status_code == 403, what
        assert "Nothing was decided" in text(response), what
    assert states()[ledger["alice"]] == ("held", None)


def test_a_replayed_form_changes_nothing_more(ledger: dict[str, int], context: Context) -> None:
    fields = [
        ("form_token", form_token("bob")),
        ("action", "approve"),
        ("event_id", str(ledger["carol"])),
    ]
    headers = {**identity("bob"), "Origin": ORIGIN}
    assert "Approved 1 event" in result_page("bob", post(headers, fields))
    replay = result_page("bob", post(headers, fields))
    assert "already approved by bob" in replay
    with context.reading() as conn:
        (event,) = holds.list_holds(conn, include_decided=True, sp_id=HOSTILE_SP)
    assert event.status == "approved"


def test_without_its_secret_the_page_shows_nothing(
    ledger: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYOUT_REVIEW_SECRET", "too-short")
    get_settings.cache_clear()
    response = get(identity("bob"))
    assert response.status_code == 503
    assert "PAYOUT_REVIEW_SECRET" in text(response) and "AT-00001" not in text(response)


def test_on_app_service_without_authentication_the_page_shows_nothing(
    ledger: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "payout")
    monkeypatch.delenv("WEBSITE_AUTH_ENABLED", raising=False)
    response = get(identity("bob"))
    assert response.status_code == 503 and "AT-00001" not in text(response)


def test_the_iteration_email_links_to_the_page_while_something_is_held(
    ledger: dict[str, int], storage_env: object, monkeypatch: pytest.MonkeyPatch, context: Context
) -> None:
    from payout_core.flows import iteration
    from tests.fakes.email_senders import RecordingEmailSender

    monkeypatch.setenv("PAYOUT_REVIEW_URL", "https://payout.example/api/review")
    context = with_settings_read_again(context)
    sender = RecordingEmailSender()
    iteration.run_summary(sender, context=context)
    (message,) = sender.messages
    assert 'href="https://payout.example/api/review"' in message.html_body
    assert "https://payout.example/api/review" in message.text_body


def test_a_database_outage_shows_try_again_and_decides_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from localdev import embedded

    unreachable = f"postgresql://payout@127.0.0.1:{embedded.free_port()}/payout"
    monkeypatch.setenv("PAYOUT_DATABASE_URL", unreachable)
    monkeypatch.setenv("PAYOUT_DB_CONNECT_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("PAYOUT_REVIEW_SECRET", SECRET)
    get_settings.cache_clear()
    response = get(identity("bob"))
    assert response.status_code == 503
    assert "Try again" in text(response) and "127.0.0.1" not in text(response)


def reasons() -> dict[int, str | None]:
    with this_tests_database() as conn:
        return {
            event.event_id: event.decision_reason
            for event in holds.list_holds(conn, include_decided=True)
        }


def test_a_rejection_keeps_each_rows_own_reason_and_the_common_one_for_the_rest(
    ledger: dict[str, int],
) -> None:
    alice, carol = ledger["alice"], ledger["carol"]
    redirect = decide(
        "bob@shiftpay.example",
        "reject",
        [alice, carol],
        "the bank corrected it",
        **{f"reason_{alice}": "SP disputes the clawback"},
    )
    page = result_page("bob@shiftpay.example", redirect)
    assert "Rejected 2 event(s)" in page
    assert reasons() == {alice: "SP disputes the clawback", carol: "the bank corrected it"}


def test_a_rejection_with_a_row_left_without_any_reason_decides_nothing(
    ledger: dict[str, int],
) -> None:
    alice, carol = ledger["alice"], ledger["carol"]
    redirect = decide(
        "bob@shiftpay.example", "reject", [alice, carol], "", **{f"reason_{alice}": "disputed"}
    )
    page = result_page("bob@shiftpay.example", redirect)
    assert f"#{carol} have none of their own" in page
    assert states() == {alice: ("held", None), carol: ("held", None)}


def test_the_page_says_the_currency_and_select_all_ticks_every_row(
    ledger: dict[str, int],
) -> None:
    page = text(get(identity("bob@shiftpay.example"), "select=all"))
    assert page.count(' checked>') == 2
    assert "Payout (₹)" in page and "₹" in re.search(r'id="totals">(.*?)</ul>', page).group(1)
