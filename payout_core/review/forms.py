"""Only the page's own forms, filled in by the person they were made for, decide anything.

Easy Auth's session cookie rides along with any request the browser sends to the app,
including a form another site makes it post (cross-site request forgery). So a POST
must carry, besides the cookie:

- a form token: HMAC-SHA256 (key: PAYOUT_REVIEW_SECRET) over the signed-in person's name
  and the time it was issued. Another person's token, an old one (TOKEN_LIFETIME_SECONDS)
  or one made without the key is refused; a site that cannot read our page cannot know it.
- an Origin (or, failing that, Referer) of this very site: browsers set it on every form
  POST and pages cannot forge it.

The result of a decision travels to the page shown after the redirect in the URL, signed
the same way and bound to the person, so a link cannot make the page claim what did not
happen.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

TOKEN_LIFETIME_SECONDS = 12 * 3600
MAX_MESSAGE_CHARS = 1500


@dataclass(frozen=True)
class Message:
    """What happened to the last form: `ok` decides its colour."""

    ok: bool
    text: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, *parts: object) -> str:
    # JSON keeps the parts apart: no name can be made to look like another name plus a time.
    signed = json.dumps(parts, ensure_ascii=True).encode("ascii")
    return _b64url(hmac.new(secret, signed, hashlib.sha256).digest())


def form_token(secret: bytes, reviewer_name: str, now_seconds: float) -> str:
    issued = int(now_seconds)
    return f"{issued}.{_mac(secret, 'review-form', issued, reviewer_name)}"


def is_page_text(value: str | None) -> bool:
    """Text the page itself writes into its links and forms: printable ASCII. (str.isdigit
    accepts '²' and '٣', which int() refuses or reads as 3; compare_digest refuses
    non-ASCII text with a TypeError.)"""
    return value is None or (value.isascii() and value.isprintable())


def form_token_is_valid(
    secret: bytes, reviewer_name: str, token: str | None, now_seconds: float
) -> bool:
    issued_text, _, mac = (token or "").partition(".")
    if not is_page_text(token) or not issued_text.isdigit() or not mac:
        return False
    issued = int(issued_text)
    if not 0 <= now_seconds - issued <= TOKEN_LIFETIME_SECONDS:
        return False
    return hmac.compare_digest(mac, _mac(secret, "review-form", issued, reviewer_name))


def sign_message(secret: bytes, reviewer_name: str, message: Message) -> str:
    payload = _b64url(json.dumps([message.ok, message.text[:MAX_MESSAGE_CHARS]]).encode("utf-8"))
    return f"{payload}.{_mac(secret, 'review-result', payload, reviewer_name)}"


def read_message(secret: bytes, reviewer_name: str, signed: str | None) -> Message | None:
    payload, _, mac = (signed or "").partition(".")
    if (
        not payload
        or not is_page_text(signed)
        or not hmac.compare_digest(mac, _mac(secret, "review-result", payload, reviewer_name))
    ):
        return None
    try:
        ok, text = json.loads(_b64url_decode(payload))
    except (ValueError, TypeError):
        return None
    return Message(ok=bool(ok), text=str(text))


def _host_of(url: str | None) -> str | None:
    if not url or url == "null":
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return parts.netloc.lower() or None


def comes_from_this_site(
    headers: Mapping[str, str], request_url: str, public_urls: Iterable[str | None] = ()
) -> bool:
    """The form was posted by a page of this site: its Origin (else Referer) names the host
    of the request's URL, or the page's public address (PAYOUT_REVIEW_URL, for a proxy
    in front). The scheme is not compared: behind App Service's front end the app may see
    http for what the browser sent as https."""
    lowered = {name.lower(): value for name, value in headers.items()}
    sender = _host_of(lowered.get("origin")) or _host_of(lowered.get("referer"))
    if sender is None:
        return False
    ours = {_host_of(request_url)}
    ours.update(_host_of(url) for url in public_urls)
    ours.discard(None)
    return sender in ours
