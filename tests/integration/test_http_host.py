"""`payout host --http-port`: HTTP functions served on loopback as Azure serves them, with the
local stand-in for App Service Authentication in front.

A small FunctionApp of the test's own echoes what the function received, so these tests
see exactly what a function would: the route, the query, the body, and which identity
headers reach it (only the emulator's, never a client's).
"""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import azure.functions as func
import pytest

from localdev import easy_auth, http_host


def echo_app() -> func.FunctionApp:
    app = func.FunctionApp()

    @app.route(route="echo/{item?}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
    def echo(req: func.HttpRequest) -> func.HttpResponse:
        seen = {
            "method": req.method,
            "url": req.url,
            "params": dict(req.params),
            "route_params": dict(req.route_params),
            "body": req.get_body().decode(),
            "headers": {name: value for name, value in req.headers.items()},
        }
        return func.HttpResponse(json.dumps(seen), mimetype="application/json", status_code=201)

    @app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("the function failed")

    return app


@pytest.fixture
def server(tmp_path: Path) -> Iterator[http_host.LocalHttpHost]:
    with http_host.serving(0, app=echo_app(), host_json_path=tmp_path / "none.json") as running:
        yield running


def request(
    server: http_host.LocalHttpHost,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> http.client.HTTPResponse:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    response.read_body = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


def sign_in(server: http_host.LocalHttpHost, name: str) -> str:
    """The sign-in form, posted as a browser would; returns the session cookie."""
    form = urlencode({"name": name, "post_login_redirect_uri": "/api/echo"}).encode()
    response = request(
        server,
        "POST",
        "/.auth/login/dev",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 302
    assert response.getheader("Location") == "/api/echo"
    cookie = response.getheader("Set-Cookie") or ""
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    return cookie.split(";")[0]


def echoed(response: http.client.HTTPResponse) -> dict[str, object]:
    return json.loads(response.read_body)  # type: ignore[attr-defined]


def test_an_http_function_gets_a_real_request_and_its_response_goes_back(
    server: http_host.LocalHttpHost,
) -> None:
    response = request(server, "POST", "/api/echo/42?product=Personal%20Loan", body=b"a=1")
    assert response.status == 201
    assert response.getheader("Content-Type", "").startswith("application/json")
    seen = echoed(response)
    assert seen["method"] == "POST"
    assert seen["params"] == {"product": "Personal Loan"}
    assert seen["route_params"] == {"item": "42"}
    assert seen["body"] == "a=1"
    assert str(seen["url"]).endswith("/api/echo/42?product=Personal%20Loan")


def test_routes_methods_and_failures_answer_as_the_host_does(
    server: http_host.LocalHttpHost,
) -> None:
    assert request(server, "GET", "/api/nothing-here").status == 404
    assert request(server, "GET", "/echo").status == 404  # only under the route prefix
    assert request(server, "DELETE", "/api/echo").status == 405
    failed = request(server, "GET", "/api/boom")
    assert failed.status == 500
    assert b"the function failed" not in failed.read_body  # type: ignore[attr-defined]


def test_signed_in_requests_carry_the_identity_like_easy_auth(
    server: http_host.LocalHttpHost,
) -> None:
    cookie = sign_in(server, "alice@shiftpay.example")
    headers = echoed(request(server, "GET", "/api/echo", headers={"Cookie": cookie}))["headers"]
    assert isinstance(headers, dict)
    assert headers["x-ms-client-principal-name"] == "alice@shiftpay.example"
    assert headers["x-ms-client-principal-idp"] == "dev"
    principal = json.loads(base64.b64decode(headers["x-ms-client-principal"]))
    name_claims = [c["val"] for c in principal["claims"] if c["typ"] == principal["name_typ"]]
    assert name_claims == ["alice@shiftpay.example"]
    me = request(server, "GET", "/.auth/me", headers={"Cookie": cookie})
    assert json.loads(me.read_body)[0]["user_id"] == "alice@shiftpay.example"  # type: ignore[attr-defined]


def test_identity_headers_sent_by_a_client_never_reach_the_function(
    server: http_host.LocalHttpHost,
) -> None:
    forged = {
        "X-MS-CLIENT-PRINCIPAL-NAME": "mallory",
        "x-ms-client-principal": base64.b64encode(b'{"claims": []}').decode(),
        "X-MS-CLIENT-PRINCIPAL-ID": "1",
        "X-MS-TOKEN-AAD-ID-TOKEN": "t",
    }
    headers = echoed(request(server, "GET", "/api/echo", headers=forged))["headers"]
    assert isinstance(headers, dict)
    assert not [name for name in headers if name.startswith(("x-ms-client-", "x-ms-token-"))]
    # Signed in as alice, a forged name header still loses to the session.
    cookie = sign_in(server, "alice")
    headers = echoed(request(server, "GET", "/api/echo", headers={**forged, "Cookie": cookie}))[
        "headers"
    ]
    assert isinstance(headers, dict)
    assert headers["x-ms-client-principal-name"] == "alice"


def test_a_forged_or_cleared_session_is_nobody(server: http_host.LocalHttpHost) -> None:
    cookie = sign_in(server, "alice")
    name, _, value = cookie.partition("=")
    payload, _, signature = value.partition(".")
    other = easy_auth.SessionSigner().cookie_value("mallory")  # another host's key
    for forged in (f"{name}={other}", f"{name}={payload}x.{signature}", f"{name}=garbage"):
        headers = echoed(request(server, "GET", "/api/echo", headers={"Cookie": forged}))["headers"]
        assert isinstance(headers, dict)
        assert "x-ms-client-principal-name" not in headers
    logout = request(server, "GET", "/.auth/logout?post_logout_redirect_uri=/api/echo")
    assert logout.status == 302 and logout.getheader("Location") == "/api/echo"
    assert "Max-Age=0" in (logout.getheader("Set-Cookie") or "")


def test_the_sign_in_page_refuses_blank_names_and_foreign_redirects(
    server: http_host.LocalHttpHost,
) -> None:
    page = request(server, "GET", "/.auth/login/aad?post_login_redirect_uri=/api/review")
    assert page.status == 200
    assert b'name="post_login_redirect_uri" value="/api/review"' in page.read_body  # type: ignore[attr-defined]
    blank = request(
        server,
        "POST",
        "/.auth/login/dev",
        body=b"name=+++",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert blank.status == 400 and blank.getheader("Set-Cookie") is None
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        assert easy_auth.safe_redirect(target) == "/"


def test_session_expires() -> None:
    now = [1_800_000_000.0]
    signer = easy_auth.SessionSigner(b"k" * 32, clock=lambda: now[0])
    value = signer.cookie_value("alice")
    assert signer.name_from(value) == "alice"
    now[0] += easy_auth.SESSION_LIFETIME_SECONDS + 1
    assert signer.name_from(value) is None


def test_route_templates() -> None:
    pattern = http_host.route_pattern("api", "orders/{id:int}/lines/{line?}")
    match = pattern.match("/api/orders/12/lines")
    assert match is not None and match.group("id") == "12" and match.group("line") is None
    assert http_host.route_pattern("", "review").match("/review")
    assert not http_host.route_pattern("api", "review").match("/api/reviews")


def test_signing_in_without_a_destination_lands_on_the_page_and_slash_leads_there(
    server: http_host.LocalHttpHost,
) -> None:
    """Issue 26: the sign-in used to land on `/`, which no function answers (404)."""
    signed_in = request(
        server,
        "POST",
        "/.auth/login/dev",
        body=b"name=alice",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert signed_in.status == 302 and signed_in.getheader("Location") == "/api/echo"
    form = request(server, "GET", "/.auth/login/dev")
    assert b'name="post_login_redirect_uri" value="/api/echo"' in form.read_body  # type: ignore[attr-defined]
    root = request(server, "GET", "/")
    assert root.status == 302 and root.getheader("Location") == "/api/echo"
