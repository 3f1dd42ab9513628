"""`payout host --http-port N`: the app's HTTP-triggered functions, served as Azure serves them.

Local development only. Two parts, each standing in for what Azure puts in front of the app:

- The Functions host's HTTP front: every `httpTrigger` in `function_app.app.get_functions()`
  answers at `/<routePrefix>/<route>` (host.json `extensions.http.routePrefix`, default
  `api`) for its methods. The function gets a real `azure.functions.HttpRequest` and its
  `HttpResponse` goes back to the browser; an exception is a bare 500, as in Azure. Like
  Core Tools, function keys are not enforced locally (authLevel is ignored).
- App Service Authentication ("Easy Auth", localdev/easy_auth.py): `/.auth/login/dev` (and
  any other provider name, so links written for Entra ID's `/.auth/login/aad` work too) is
  a form where a developer types a name and from then on acts as that person, landing on
  the review page (where `/` leads too) unless the link names another destination;
  `/.auth/logout` ends it, `/.auth/me` shows it. Every function request loses the
  identity headers a client sent and carries the signed-in person's, as in Azure.

It listens on 127.0.0.1 only: the sign-in has no password.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import secrets
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from localdev import easy_auth
from localdev.host_config import HostConfig
from payout_core.settings import get_settings

log = logging.getLogger("payout.host.http")

MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024
REVIEW_SECRET_SETTING = "PAYOUT_REVIEW_SECRET"
LOGIN_PATH = re.compile(r"^/\.auth/login/(?P<provider>[A-Za-z0-9_-]+)/?$")


# --- the functions ---------------------------------------------------------------------


@dataclass(frozen=True)
class HttpFunction:
    name: str
    arg_name: str
    route: str  # with the prefix, as a person types it: `api/review`
    route_pattern: re.Pattern[str]
    methods: frozenset[str]
    user_function: Callable[..., Any]


def route_pattern(route_prefix: str, route: str) -> re.Pattern[str]:
    """`orders/{id}` under `api` -> a regex for `/api/orders/<id>` naming `id`.

    Enough of the host's route templates for this app: literal segments, `{name}` and
    `{name?}` (optional, last), constraints such as `{id:int}` accepted and not checked.
    """
    segments = [segment for segment in f"{route_prefix}/{route}".split("/") if segment]
    regex = ""
    for segment in segments:
        parameter = re.fullmatch(r"\{(\w+)(?::[^}?]*)?(\?)?\}", segment)
        if parameter is None:
            regex += "/" + re.escape(segment)
        elif parameter.group(2):
            regex += f"(?:/(?P<{parameter.group(1)}>[^/]+))?"
        else:
            regex += f"/(?P<{parameter.group(1)}>[^/]+)"
    return re.compile(f"^{regex}/?$", re.IGNORECASE)


def discover_http_functions(app: func.FunctionApp, route_prefix: str) -> list[HttpFunction]:
    from localdev import devhost

    found = []
    for function in devhost.indexed_functions(app):
        trigger = function.get_trigger()
        binding = trigger.get_dict_repr() if trigger else {}
        if binding.get("type") != "httpTrigger":
            continue
        name = function.get_function_name()
        route = binding.get("route") or name
        methods = binding.get("methods") or ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
        found.append(
            HttpFunction(
                name=name,
                arg_name=binding["name"],
                route="/".join(part for part in (route_prefix, route) if part),
                route_pattern=route_pattern(route_prefix, route),
                methods=frozenset(str(getattr(m, "value", m)).upper() for m in methods),
                user_function=function.get_user_function(),
            )
        )
    return found


def landing_path(functions: list[HttpFunction]) -> str:
    """Where a sign-in without a destination lands, and where `/` leads: the first page a
    browser can open (a GET function whose route needs no value; the review page)."""
    for function in functions:
        segments = [part for part in function.route.split("/") if not part.endswith("?}")]
        if "GET" in function.methods and not any(part.startswith("{") for part in segments):
            return "/" + "/".join(segments)
    return "/"


# --- the server ----------------------------------------------------------------------------


class LocalHttpHost(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        functions: list[HttpFunction],
        signer: easy_auth.SessionSigner,
    ) -> None:
        super().__init__(address, _RequestHandler)
        self.functions = functions
        self.signer = signer
        self.landing_path = landing_path(functions)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that closes a connection early (a cancelled load) is no error of ours.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _RequestHandler(BaseHTTPRequestHandler):
    server: LocalHttpHost
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    # Every method goes through one dispatcher; the function's binding says which it takes.
    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BODY_BYTES:
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"request body too large\n")
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        signed_in = easy_auth.session_from_cookie_header(
            self.server.signer, self.headers.get("Cookie")
        )
        login = LOGIN_PATH.match(path)
        if login:
            self._sign_in(body, signed_in)
        elif path.rstrip("/") == "/.auth/logout":
            self._sign_out()
        elif path.rstrip("/") == "/.auth/me":
            self._me(signed_in)
        elif path == "/" and self.server.landing_path != "/":
            self._send(HTTPStatus.FOUND, b"", extra={"Location": self.server.landing_path})
        else:
            self._invoke(path, body, signed_in)

    # -- Easy Auth --

    def _query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.path).query))

    def _sign_in(self, body: bytes, signed_in: str | None) -> None:
        path = urlsplit(self.path).path
        if self.command == "GET":
            redirect = easy_auth.safe_redirect(
                self._query().get("post_login_redirect_uri"), default=self.server.landing_path
            )
            self._send(
                HTTPStatus.OK, easy_auth.sign_in_page(path, redirect, signed_in), html_page=True
            )
            return
        if self.command != "POST":
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"GET or POST\n")
            return
        form = dict(parse_qsl(body.decode("utf-8", errors="replace")))
        redirect = easy_auth.safe_redirect(
            form.get("post_login_redirect_uri"), default=self.server.landing_path
        )
        name = easy_auth.clean_name(form.get("name", ""))
        if name is None:
            page = easy_auth.sign_in_page(
                path, redirect, signed_in, error="Type a name (1-128 characters)."
            )
            self._send(HTTPStatus.BAD_REQUEST, page, html_page=True)
            return
        cookie = self.server.signer.set_cookie_header(name)
        log.info("signed in as %r (local sign-in)", name)
        self._send(HTTPStatus.FOUND, b"", extra={"Location": redirect, "Set-Cookie": cookie})

    def _sign_out(self) -> None:
        redirect = self._query().get("post_logout_redirect_uri")
        target = easy_auth.safe_redirect(redirect, default="/.auth/login/dev")
        cookie = easy_auth.CLEARED_SESSION_COOKIE
        self._send(HTTPStatus.FOUND, b"", extra={"Location": target, "Set-Cookie": cookie})

    def _me(self, signed_in: str | None) -> None:
        if not signed_in:
            self._send(HTTPStatus.UNAUTHORIZED, b"[]", content_type="application/json")
            return
        principal = json.loads(
            base64.b64decode(easy_auth.principal_headers(signed_in)["X-MS-CLIENT-PRINCIPAL"])
        )
        me = [
            {
                "provider_name": easy_auth.DEV_PROVIDER,
                "user_id": signed_in,
                "user_claims": principal["claims"],
            }
        ]
        self._send(HTTPStatus.OK, json.dumps(me).encode("utf-8"), content_type="application/json")

    # -- functions --

    def _invoke(self, path: str, body: bytes, signed_in: str | None) -> None:
        for function in self.server.functions:
            match = function.route_pattern.match(path)
            if match is None:
                continue
            if self.command not in function.methods:
                self._send(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    b"",
                    extra={"Allow": ", ".join(sorted(function.methods))},
                )
                return
            request = func.HttpRequest(
                method=self.command,
                url=f"http://{self.headers.get('Host') or self.server.base_url[7:]}{self.path}",
                headers=easy_auth.forwarded_headers(self.headers, signed_in),
                params=dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True)),
                route_params={k: v for k, v in match.groupdict().items() if v is not None},
                body=body,
            )
            self._send_function_response(function, request)
            return
        self._send(HTTPStatus.NOT_FOUND, b"")

    def _send_function_response(self, function: HttpFunction, request: func.HttpRequest) -> None:
        invocation_id = uuid.uuid4()
        log.info(
            "Executing 'Functions.%s' (Reason='%s %s', Id=%s)",
            function.name,
            request.method,
            urlsplit(request.url).path,
            invocation_id,
        )
        try:
            response = function.user_function(**{function.arg_name: request})
        except Exception:
            log.exception("Executed 'Functions.%s' (Failed, Id=%s)", function.name, invocation_id)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, b"")
            return
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s)", function.name, invocation_id)
        if response is None:
            self._send(HTTPStatus.NO_CONTENT, b"")
            return
        if not isinstance(response, func.HttpResponse):
            response = func.HttpResponse(str(response))
        headers = dict(response.headers.items())
        if response.mimetype and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = f"{response.mimetype}; charset={response.charset}"
        self._send(response.status_code, response.get_body(), extra=headers, content_type=None)

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        extra: Mapping[str, str] | None = None,
        content_type: str | None = "text/plain; charset=utf-8",
        html_page: bool = False,
    ) -> None:
        self.send_response(status)
        if html_page:
            content_type = "text/html; charset=utf-8"
        if content_type and body:
            self.send_header("Content-Type", content_type)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def build_server(
    port: int,
    *,
    app: func.FunctionApp | None = None,
    host_json_path: Path | None = None,
    bind_address: str = "127.0.0.1",
    signer: easy_auth.SessionSigner | None = None,
) -> LocalHttpHost:
    from localdev import devhost

    app = app or devhost.load_function_app()
    prefix = HostConfig.from_host_json(host_json_path or devhost.HOST_JSON_PATH).route_prefix
    functions = discover_http_functions(app, prefix)
    server = LocalHttpHost((bind_address, port), functions, signer or easy_auth.SessionSigner())
    log.info(
        "HTTP functions on %s: %s; sign in at %s/.auth/login/dev",
        server.base_url,
        ", ".join(f"{f.name} at /{f.route}" for f in functions) or "none",
        server.base_url,
    )
    return server


@contextlib.contextmanager
def serving(port: int, **options: Any) -> Iterator[LocalHttpHost]:
    """Serve the HTTP functions on a background thread for as long as the block runs."""
    server = build_server(port, **options)
    thread = threading.Thread(target=server.serve_forever, name="http-host", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def review_secret_for_local_use() -> None:
    """The review page signs its forms with PAYOUT_REVIEW_SECRET, which Azure must set. A
    developer's host makes one up when it is unset: forms then last as long as the host."""
    if not os.environ.get(REVIEW_SECRET_SETTING):
        os.environ[REVIEW_SECRET_SETTING] = secrets.token_urlsafe(32)
        get_settings.cache_clear()
        log.info("%s unset: using a random one for this host's lifetime", REVIEW_SECRET_SETTING)
