"""The review page never answers 500 to input (issue 21, item 10): what its own links and
forms never hold gets a 400 with a plain sentence, and nothing is decided. The three
reported requests first, then a fuzz of non-ASCII digits and junk at every parameter of
both methods (query, form fields, raw bodies, the Origin header), on a real ledger."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import function_app
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import holds
from payout_core.review import forms
from tests.integration.held_rows import insert_held_clawback
from tests.integration.test_review_page import ORIGIN, PAGE_URL, SECRET, identity
from tests.support.postgres import this_tests_database, with_settings_read_again

pytestmark = pytest.mark.integration

BOB = "bob@shiftpay.example"
ARABIC_INDIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"


@pytest.fixture
def held_event(
    database_url: str, monkeypatch: pytest.MonkeyPatch, context: Context
) -> Iterator[int]:
    """One clawback alice asked for, held: bob may decide it."""
    monkeypatch.setenv("PAYOUT_REVIEW_SECRET", SECRET)
    context = with_settings_read_again(context)
    with context.reading() as conn:
        event_id = insert_held_clawback(
            conn, lead_id="AT-00001", sp_id="SP-001", requested_by="alice@shiftpay.example"
        )
        conn.commit()
    yield event_id


def get(query: str) -> func.HttpResponse:
    """As the host hands a query over: decoded into params, the raw text in the URL."""
    from urllib.parse import parse_qsl

    params = dict(parse_qsl(query))
    url = f"{PAGE_URL}?{query}" if query else PAGE_URL
    return function_app.review(
        func.HttpRequest("GET", url, headers=identity(BOB), params=params, body=b"")
    )


def post(body: bytes, content_type: str = "application/x-www-form-urlencoded", **headers: str):
    request = func.HttpRequest(
        "POST",
        PAGE_URL,
        headers={"Content-Type": content_type, **identity(BOB), "Origin": ORIGIN, **headers},
        body=body,
    )
    return function_app.review(request)


def fields(**values: str | list[str]) -> bytes:
    pairs: list[tuple[str, str]] = []
    for name, value in values.items():
        pairs += [(name, one) for one in (value if isinstance(value, list) else [value])]
    return urlencode(pairs).encode()


def token() -> str:
    return forms.form_token(SECRET.encode(), BOB, time.time())


def state(event_id: int) -> str:
    with this_tests_database() as conn:
        return next(e.status for e in holds.list_holds(conn, include_decided=True)
                    if e.event_id == event_id)  # fmt: skip


def assert_plain_400(response: func.HttpResponse) -> None:
    assert response.status_code == 400
    page = response.get_body().decode("utf-8")
    assert "Request not understood" in page and "nothing was decided" in page
    assert "Traceback" not in page


def test_a_result_with_a_non_ascii_character_is_a_plain_400(held_event: int) -> None:
    assert_plain_400(get("result=" + quote("a.é")))
    assert get("result=a.b").status_code == 200  # ASCII junk: no message, the page shows


def test_a_form_token_of_non_ascii_digits_is_a_plain_400(held_event: int) -> None:
    issued, _, mac = token().partition(".")
    foreign = "".join(ARABIC_INDIC_DIGITS[int(digit)] for digit in issued)
    response = post(
        fields(form_token=f"{foreign}.{mac}", action="approve", event_id=str(held_event))
    )
    assert_plain_400(response)
    assert state(held_event) == "held"


@pytest.mark.parametrize("event_number", ["²", "NON-ASCII 3", "½"])
def test_an_event_id_of_non_ascii_digits_is_a_plain_400_and_decides_nothing(
    held_event: int, event_number: str
) -> None:
    if event_number == "NON-ASCII 3":  # int() reads these as the event's own number
        event_number = "".join(ARABIC_INDIC_DIGITS[int(digit)] for digit in str(held_event))
    response = post(fields(form_token=token(), action="approve", event_id=event_number))
    assert_plain_400(response)
    assert state(held_event) == "held"


@pytest.mark.parametrize("event_number", ["abc", "9" * 30, "-1", "1e3", " "])
def test_ascii_junk_event_ids_get_the_forms_own_message(held_event: int, event_number: str) -> None:
    response = post(fields(form_token=token(), action="approve", event_id=event_number))
    assert response.status_code == 303
    assert state(held_event) == "held"


# --- the fuzz ----------------------------------------------------------------------------------

JUNK = st.one_of(
    st.text(alphabet=st.characters(categories=["Nd", "No", "Nl"]), max_size=12),
    st.text(max_size=40),
    st.sampled_from(["²", "٣", "½", "a.é", "1.\x00", "\ud800", "%FF", "9" * 5000, "", " "]),
)
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["result", "product", "sp", "other"]), JUNK))
def test_fuzz_get_parameters_never_answer_500(held_event: int, params: dict[str, str]) -> None:
    query = urlencode(
        {name: value.encode("utf-8", "surrogatepass") for name, value in params.items()}
    )
    request = func.HttpRequest(
        "GET", f"{PAGE_URL}?{query}", headers=identity(BOB), params=params, body=b""
    )
    assert function_app.review(request).status_code < 500


FORM_PARAMETERS = ["form_token", "action", "event_id", "reason", "product", "sp", "Origin"]
new_leads = iter(range(10_000, 100_000))


def new_held_event() -> int:
    with this_tests_database() as conn:
        event_id = insert_held_clawback(
            conn, lead_id=f"AT-{next(new_leads)}", sp_id="SP-001", requested_by="alice"
        )
        conn.commit()
    return event_id


@FUZZ
@given(
    parameter=st.sampled_from(FORM_PARAMETERS),
    junk=JUNK,
    action=st.sampled_from(["approve", "reject"]),
)
def test_fuzz_each_form_parameter_alone_never_answers_500(
    held_event: int, parameter: str, junk: str, action: str
) -> None:
    """A form that would decide a held event, with one parameter junk."""
    valid = {
        "form_token": token(),
        "action": action,
        "event_id": str(new_held_event()),
        "reason": "not this SP's loan",
        "product": "",
        "sp": "",
        "Origin": ORIGIN,
    }
    form = {**valid, parameter: junk}
    origin = form.pop("Origin").encode("utf-8", "replace").decode("latin-1")
    body = urlencode(form, encoding="utf-8", errors="surrogatepass").encode()
    assert post(body, Origin=origin).status_code < 500


@FUZZ
@given(
    form_token=st.one_of(JUNK, st.just("VALID")),
    action=st.one_of(JUNK, st.sampled_from(["approve", "reject"])),
    event_ids=st.lists(st.one_of(JUNK, st.just("HELD")), max_size=3),
    reason=JUNK,
)
def test_fuzz_form_fields_together_never_answer_500(
    held_event: int, form_token: str, action: str, event_ids: list[str], reason: str
) -> None:
    body = urlencode(
        [
            ("form_token", token() if form_token == "VALID" else form_token),
            ("action", action),
            *(("event_id", str(new_held_event()) if e == "HELD" else e) for e in event_ids),
            ("reason", reason),
        ],
        encoding="utf-8",
        errors="surrogatepass",
    ).encode()
    assert post(body).status_code < 500


@FUZZ
@given(
    body=st.binary(max_size=300),
    content_type=st.sampled_from(
        ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", ""]
    ),
    method=st.sampled_from(["POST", "GET", "PUT", "DELETE", "HEAD", "PATCH"]),
)
def test_fuzz_raw_bodies_and_methods_never_answer_500(
    held_event: int, body: bytes, content_type: str, method: str
) -> None:
    request = func.HttpRequest(
        method,
        PAGE_URL,
        headers={"Content-Type": content_type, **identity(BOB), "Origin": ORIGIN},
        body=b"form_token=" + token().encode() + b"&" + body,
    )
    assert function_app.review(request).status_code < 500
