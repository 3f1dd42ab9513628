"""Who is asking: the person App Service Authentication (Easy Auth) signed in.

Azure's front end authenticates the browser and passes the person to the app as request
headers, which clients cannot set themselves (the front end drops them):
X-MS-CLIENT-PRINCIPAL-NAME (e-mail or user principal name) and X-MS-CLIENT-PRINCIPAL
(base64 JSON: auth_typ, claims [{typ, val}], name_typ, role_typ). The name is the identity
every decision is recorded under. No header, no identity: the page answers 401.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass

from payout_core.settings import running_in_azure

NAME_HEADER = "x-ms-client-principal-name"
PRINCIPAL_HEADER = "x-ms-client-principal"
PROVIDER_HEADER = "x-ms-client-principal-idp"
MAX_NAME_CHARS = 256
MAX_PRINCIPAL_HEADER_CHARS = 16 * 1024


@dataclass(frozen=True)
class Reviewer:
    name: str
    identity_provider: str | None = None


def _clean(text: str | None) -> str | None:
    name = (text or "").strip()
    if not name or len(name) > MAX_NAME_CHARS:
        return None
    if any(ord(character) < 32 or ord(character) == 127 for character in name):
        return None
    return name


def _decode_principal(encoded: str) -> dict[str, object] | None:
    if len(encoded) > MAX_PRINCIPAL_HEADER_CHARS:
        return None
    try:
        principal = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        return None
    return principal if isinstance(principal, dict) else None


def _name_claim(principal: Mapping[str, object]) -> str | None:
    name_type = principal.get("name_typ")
    claims = principal.get("claims")
    if not isinstance(claims, list):
        return None
    for claim in claims:
        if isinstance(claim, dict) and claim.get("typ") == name_type:
            return _clean(str(claim.get("val") or ""))
    return None


def reviewer_from_headers(headers: Mapping[str, str]) -> Reviewer | None:
    """The signed-in person, or None. X-MS-CLIENT-PRINCIPAL-NAME names them; without it the
    principal's own name claim does. A principal header that is not what Easy Auth writes
    means someone other than Easy Auth wrote it: no identity."""
    lowered = {name.lower(): value for name, value in headers.items()}
    encoded = lowered.get(PRINCIPAL_HEADER)
    principal = _decode_principal(encoded) if encoded else None
    if encoded and principal is None:
        return None
    name = _clean(lowered.get(NAME_HEADER)) or (_name_claim(principal) if principal else None)
    if name is None:
        return None
    provider = lowered.get(PROVIDER_HEADER) or (principal or {}).get("auth_typ")
    return Reviewer(name=name, identity_provider=str(provider) if provider else None)


def easy_auth_problem(environment: Mapping[str, str]) -> str | None:
    """Why the identity headers cannot be trusted here, if they cannot.

    In Azure the headers mean something only while App Service Authentication is on,
    which App Service says in WEBSITE_AUTH_ENABLED. Elsewhere (tests, `payout host`)
    whatever stands in front of the app vouches for them.
    """
    if not running_in_azure(environment):
        return None
    if environment.get("WEBSITE_AUTH_ENABLED", "").strip().lower() == "true":
        return None
    return (
        "App Service Authentication is off for this app, so nobody can be signed in: "
        "turn it on (README: the review page) before using the review page"
    )
