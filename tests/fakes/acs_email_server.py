"""A local stand-in for Azure Communication Services Email, for the real SDK to talk to.

Speaks the part of the REST API `EmailClient.begin_send` uses (api-version 2025-09-01):

- `POST /emails:send?api-version=...` with a JSON message -> `202 Accepted`,
  `Operation-Location: {endpoint}/emails/operations/{id}?api-version=...`, `retry-after: 0`,
  body `{"id", "status": "Running"}`;
- `GET /emails/operations/{id}?api-version=...` -> `200` with `{"id", "status"}`, status
  `Succeeded` (or `Failed` with an `error`, when told to).
- `Operation-Id` (the SDK's `operation_id`): must be a GUID when given (400 otherwise); a
  send with the id of an operation it already has is that operation, not a second email
  (counted in `repeated_operation_ids`, never in `sent_payloads`).

Every request must carry the HMAC-SHA256 signature the SDK derives from the connection
string's access key (x-ms-date, host, x-ms-content-sha256 signed with the decoded key);
a wrong one gets 401 like the real service.

HTTPS only, because the SDK does: `EmailClient.from_connection_string` keeps the host of
`endpoint=` and always prefixes `https://`. The server makes a self-signed certificate
for 127.0.0.1 at start; clients trust it with `connection_verify=server.ca_certificate_path`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import secrets
import ssl
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class FakeAcsEmailServer:
    access_key: str = field(
        default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode()
    )
    sent_payloads: list[dict[str, Any]] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    operation_ids: list[str] = field(default_factory=list)
    repeated_operation_ids: list[str] = field(default_factory=list)
    # Behaviour switches, set by tests.
    throttle_next_sends: int = 0
    throttle_retry_after_seconds: int | None = 0
    fail_operations: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._operations: dict[str, str] = {}
        self._folder = Path(tempfile.mkdtemp(prefix="fake-acs-"))
        self.ca_certificate_path = self._folder / "cert.pem"
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- addresses -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the server first"
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def connection_string(self) -> str:
        return f"endpoint={self.endpoint}/;accesskey={self.access_key}"

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeAcsEmailServer:
        key_path = self._folder / "key.pem"
        _write_self_signed_certificate(self.ca_certificate_path, key_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_certificate_path, key_path)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @contextmanager
    def running(self) -> Iterator[FakeAcsEmailServer]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    # --- what the handler calls ----------------------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def accept_send(self, payload: dict[str, Any], operation_id: str | None) -> tuple[int, str]:
        """Returns (0, id) when queued, or (429, "") when throttling."""
        with self._lock:
            if self.throttle_next_sends > 0:
                self.throttle_next_sends -= 1
                return 429, ""
            if operation_id and operation_id in self._operations:
                self.repeated_operation_ids.append(operation_id)
                return 0, operation_id
            operation_id = operation_id or str(uuid.uuid4())
            self.sent_payloads.append(payload)
            self.operation_ids.append(operation_id)
            self._operations[operation_id] = "Failed" if self.fail_operations else "Succeeded"
            return 0, operation_id

    def operation_status(self, operation_id: str) -> str | None:
        with self._lock:
            return self._operations.get(operation_id)

    def signature_is_valid(
        self, method: str, path_and_query: str, headers: Any, body: bytes
    ) -> bool:
        date = headers.get("x-ms-date")
        content_hash = headers.get("x-ms-content-sha256")
        host = headers.get("Host")
        authorization = headers.get("Authorization") or ""
        if not (date and content_hash and host):
            return False
        if content_hash != base64.b64encode(hashlib.sha256(body).digest()).decode():
            return False
        string_to_sign = f"{method}\n{path_and_query}\n{date};{host};{content_hash}"
        digest = hmac.new(
            base64.b64decode(self.access_key), string_to_sign.encode(), hashlib.sha256
        ).digest()
        expected = (
            f"HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}"
            f"&Signature={base64.b64encode(digest).decode()}"
        )
        return hmac.compare_digest(authorization, expected)


def _handler_for(fake: FakeAcsEmailServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's requests session expects

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: pytest shows assertions, not access logs

        def do_POST(self) -> None:
            body = self._read_body()
            if not self._authorised(body):
                return
            url = urlsplit(self.path)
            if url.path != "/emails:send":
                self._reply(404, {"error": {"code": "NotFound", "message": url.path}})
                return
            api_version = parse_qs(url.query).get("api-version", [""])[0]
            try:
                payload = json.loads(body)
                _validate_message(payload)
                if self.headers.get("Operation-Id"):
                    uuid.UUID(self.headers["Operation-Id"])
            except (ValueError, KeyError, TypeError) as error:
                self._reply(400, {"error": {"code": "BadRequest", "message": str(error)}})
                return
            status, operation_id = fake.accept_send(payload, self.headers.get("Operation-Id"))
            if status == 429:
                headers = {}
                if fake.throttle_retry_after_seconds is not None:
                    headers["Retry-After"] = str(fake.throttle_retry_after_seconds)
                self._reply(
                    429,
                    {"error": {"code": "TooManyRequests", "message": "throttled (fake)"}},
                    headers,
                )
                return
            location = f"{fake.endpoint}/emails/operations/{operation_id}?api-version={api_version}"
            self._reply(
                202,
                {"id": operation_id, "status": "Running"},
                {"Operation-Location": location, "retry-after": "0"},
            )

        def do_GET(self) -> None:
            if not self._authorised(b""):
                return
            url = urlsplit(self.path)
            prefix = "/emails/operations/"
            operation_id = url.path[len(prefix) :] if url.path.startswith(prefix) else ""
            status = fake.operation_status(operation_id)
            if status is None:
                self._reply(404, {"error": {"code": "NotFound", "message": operation_id}})
                return
            result: dict[str, Any] = {"id": operation_id, "status": status}
            if status == "Failed":
                result["error"] = {
                    "code": "RecipientRejected",
                    "message": "the recipient's server refused the message (fake)",
                }
            self._reply(200, result)

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _authorised(self, body: bytes) -> bool:
            if fake.signature_is_valid(self.command, self.path, self.headers, body):
                return True
            self._reply(401, {"error": {"code": "Denied", "message": "invalid HMAC signature"}})
            return False

        def _reply(
            self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            fake.record(RecordedRequest(self.command, self.path, dict(self.headers), status))
            encoded = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(encoded)

    return Handler


def _validate_message(payload: dict[str, Any]) -> None:
    """The service's required fields; a malformed message is a 400, as in Azure."""
    if not payload["senderAddress"]:
        raise ValueError("senderAddress is required")
    if not payload["recipients"]["to"]:
        raise ValueError("recipients.to is empty")
    if not payload["content"]["subject"]:
        raise ValueError("content.subject is required")
    for attachment in payload.get("attachments") or []:
        base64.b64decode(attachment["contentInBase64"], validate=True)
        if not attachment["name"] or not attachment["contentType"]:
            raise ValueError("attachment name and contentType are required")


def _write_self_signed_certificate(certificate_path: Path, key_path: Path) -> None:
    """A one-hour certificate for 127.0.0.1 that is its own CA, so trusting it suffices."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-acs.localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
