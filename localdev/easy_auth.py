"""The local stand-in for App Service Authentication ("Easy Auth"); local development only.

Azure's front end signs people in at `/.auth/login/<provider>`, keeps the session in its
own cookie (`AppServiceAuthSession`) and passes the signed-in person to the app as
`X-MS-CLIENT-PRINCIPAL-NAME`, `-ID`, `-IDP` and a base64 JSON `X-MS-CLIENT-PRINCIPAL`
(auth_typ, claims, name_typ, role_typ), dropping headers of those names that a client
sent. This module does the same from a cookie signed with a key made when the host starts
(restarting the host signs everyone out). There is no password: whoever types a name acts
as that person, so this must never face anything but 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

# Headers only App Service's front end may set (the identity it vouches for).
FRONT_END_HEADER_PREFIXES = ("x-ms-client-principal", "x-ms-token-")
SESSION_COOKIE = "AppServiceAuthSession"  # the name App Service gives its session cookie
SESSION_LIFETIME_SECONDS = 8 * 3600
CLEARED_SESSION_COOKIE = f"{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
DEV_PROVIDER = "dev"
NAME_CLAIM_TYPE = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
ROLE_CLAIM_TYPE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
MAX_NAME_CHARS = 128


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def principal_id(name: str) -> str:
    """A stable id per name, as a provider's object id is stable per person."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"payout-local-sign-in:{name}"))


def principal_headers(name: str) -> dict[str, str]:
    """What App Service adds to each request of a signed-in person."""
    principal = {
        "auth_typ": DEV_PROVIDER,
        "claims": [
            {"typ": NAME_CLAIM_TYPE, "val": name},
            {"typ": "name", "val": name},
            {
                "typ": "http://schemas.microsoft.com/identity/claims/objectidentifier",
                "val": principal_id(name),
            },
        ],
        "name_typ": NAME_CLAIM_TYPE,
        "role_typ": ROLE_CLAIM_TYPE,
    }
    encoded = base64.b64encode(json.dumps(principal).encode("utf-8")).decode("ascii")
    return {
        "X-MS-CLIENT-PRINCIPAL-NAME": name,
        "X-MS-CLIENT-PRINCIPAL-ID": principal_id(name),
        "X-MS-CLIENT-PRINCIPAL-IDP": DEV_PROVIDER,
        "X-MS-CLIENT-PRINCIPAL": encoded,
    }


def clean_name(text: str) -> str | None:
    """A typed name, or None if it cannot be one (blank, too long, control characters)."""
    name = text.strip()
    if not name or len(name) > MAX_NAME_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return None
    return name


def safe_redirect(target: str | None, default: str = "/") -> str:
    """Only a path on this host: a sign-in must not bounce the browser to another site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    return target


class SessionSigner:
    """The sign-in cookie: the name and when it was issued, signed with this host's key."""

    def __init__(self, key: bytes | None = None, clock: Callable[[], float] = time.time) -> None:
        self._key = key or secrets.token_bytes(32)
        self._clock = clock

    def _signature(self, payload: str) -> str:
        return _b64url(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def cookie_value(self, name: str) -> str:
        payload = _b64url(json.dumps({"name": name, "iat": int(self._clock())}).encode("utf-8"))
        return f"{payload}.{self._signature(payload)}"

    def set_cookie_header(self, name: str) -> str:
        """The Set-Cookie value that signs `name` in (HttpOnly: no page script reads it)."""
        return (
            f"{SESSION_COOKIE}={self.cookie_value(name)}; Path=/; HttpOnly; SameSite=Lax; "
            f"Max-Age={SESSION_LIFETIME_SECONDS}"
        )

    def name_from(self, cookie_value: str) -> str | None:
        payload, _, signature = cookie_value.partition(".")
        try:
            if not hmac.compare_digest(signature, self._signature(payload)):
                return None
            session = json.loads(_b64url_decode(payload))
        except (ValueError, UnicodeError):
            return None
        if self._clock() - int(session.get("iat", 0)) > SESSION_LIFETIME_SECONDS:
            return None
        return clean_name(str(session.get("name", "")))


def session_from_cookie_header(signer: SessionSigner, cookie_header: str | None) -> str | None:
    if not cookie_header:
        return None
    cookies = SimpleCookie()
    try:
        cookies.load(cookie_header)
    except CookieError:
        return None
    morsel = cookies.get(SESSION_COOKIE)
    return signer.name_from(morsel.value) if morsel else None


def forwarded_headers(
    incoming: Mapping[str, str] | Any, signed_in_name: str | None
) -> dict[str, str]:
    """The request headers the app sees: the client's, less what only the front end may
    say, plus the signed-in person's identity."""
    headers = {
        name: value
        for name, value in incoming.items()
        if not name.lower().startswith(FRONT_END_HEADER_PREFIXES)
    }
    if signed_in_name:
        headers.update(principal_headers(signed_in_name))
    return headers


SIGN_IN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in (local development)</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;
color:#1f2328}}
input,button{{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box;margin:.3rem 0}}
button{{background:#1f6feb;color:#fff;border:0;border-radius:4px}}
p.note{{color:#57606a;font-size:.9rem}} p.error{{color:#9a1c1c}}
</style></head><body>
<h1>Sign in</h1>
<p class="note">Local stand-in for App Service Authentication. In Azure this is your
organisation's sign-in; here you act as whoever you type.</p>
{error}
<form method="post" action="{action}">
<label for="name">Your name (as finance knows you, e.g. an e-mail address)</label>
<input id="name" name="name" autocomplete="username" required maxlength="{max_chars}"
 value="{current}" autofocus>
<input type="hidden" name="post_login_redirect_uri" value="{redirect}">
<button type="submit" id="sign-in">Sign in</button>
</form>
{signed_in}
</body></html>
"""


def sign_in_page(action: str, redirect: str, current: str | None, error: str = "") -> bytes:
    signed_in = (
        f'<p class="note">Signed in now as <b>{html.escape(current)}</b>. '
        f'<a href="/.auth/logout">Sign out</a></p>'
        if current
        else ""
    )
    return SIGN_IN_PAGE.format(
        action=html.escape(action),
        redirect=html.escape(redirect),
        current=html.escape(current or ""),
        max_chars=MAX_NAME_CHARS,
        error=f'<p class="error">{html.escape(error)}</p>' if error else "",
        signed_in=signed_in,
    ).encode("utf-8")
