"""Email senders: the port the iteration report goes out through.

One small interface (`EmailSender.send(EmailMessage) -> message id`) and two adapters,
chosen by `PAYOUT_EMAIL_SENDER`:

- `acs`: Azure Communication Services Email through the official SDK (production).
- `outbox`: a standard `.eml` file per message in `PAYOUT_OUTBOX_DIR` (local runs, the demo);
  any mail client opens it, attachments included.

A sender either returns an id for a message it handed over, or raises `EmailSendError`;
the summary job relies on that to leave an iteration unreported when the send fails.
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from payout_core.errors import TerminalError, TransientError
from payout_core.report.people_csv import base64_size_bytes
from payout_core.settings import Settings

if TYPE_CHECKING:
    from azure.communication.email import EmailClient

log = logging.getLogger(__name__)

# Our own retries of a throttled send, on top of the SDK's retry policy: the SDK retries a
# POST on 429 only when ACS sends Retry-After, and gives up after `ACS_SDK_RETRY_TOTAL`.
ACS_SEND_ATTEMPTS_MAX = 3
ACS_THROTTLED_BACKOFF_SECONDS = 10.0
ACS_THROTTLED_DELAY_MAX_SECONDS = 60.0
ACS_SDK_RETRY_TOTAL = 3
# Poll interval when ACS sends no retry-after; the SDK's own default (30 s) would idle most
# of the send timeout away.
ACS_POLL_INTERVAL_SECONDS = 5
# ACS Email refuses a message over 10 MB (bodies, attachments as base64, headers);
# we stay under 10,000,000 bytes to leave room for what JSON escaping adds.
ACS_MESSAGE_MAX_BYTES = 10_000_000
MESSAGE_OVERHEAD_BYTES = 16_384


class EmailSendError(TransientError):
    """The message was not (known to be) handed over; the iteration stays unreported."""


class EmailConfigurationError(TerminalError):
    """The email settings cannot work (e.g. `acs` without a connection string or endpoint)."""


@dataclass(frozen=True)
class Attachment:
    file_name: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class EmailMessage:
    """What to say; who sends it and to whom is the sender's configuration."""

    subject: str
    text_body: str
    html_body: str
    attachments: tuple[Attachment, ...] = ()
    iteration_number: int | None = None
    """Names the outbox file; not part of what the recipient sees."""
    idempotency_key: str | None = None
    """The same for every attempt to send the same report (ACS `operation_id`), so a send
    retried after a timeout is not delivered twice."""

    def largest_attachment_bytes(self) -> int:
        """The largest attachment as sent (base64); 0 without attachments."""
        return max((base64_size_bytes(len(item.content)) for item in self.attachments), default=0)

    def size_bytes(self) -> int:
        """About what ACS counts against its 10 MB: both bodies and the attachments as
        sent (base64), plus the JSON around them."""
        attachments = sum(base64_size_bytes(len(item.content)) for item in self.attachments)
        bodies = len(self.text_body.encode("utf-8")) + len(self.html_body.encode("utf-8"))
        return bodies + attachments + len(self.subject.encode("utf-8")) + MESSAGE_OVERHEAD_BYTES


class EmailSender(Protocol):
    def send(self, message: EmailMessage) -> str:
        """Hand `message` over; return an id for it (ACS operation id, .eml path).

        Raises EmailSendError when the message was not handed over.
        """
        ...


# --- outbox -----------------------------------------------------------------------------


@dataclass
class OutboxEmailSender:
    """Writes each message as an RFC 5322 `.eml` file into `outbox_dir`."""

    outbox_dir: Path
    sender_address: str
    recipients: list[str]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def send(self, message: EmailMessage) -> str:
        mime = to_mime_message(message, self.sender_address, self.recipients, self.clock())
        try:
            self.outbox_dir.mkdir(parents=True, exist_ok=True)
            path = self.outbox_dir / self._file_name(message)
            # Write then rename: a reader of the outbox never sees half a message.
            partial_path = path.with_name(path.name + ".partial")
            partial_path.write_bytes(mime.as_bytes(policy=email.policy.SMTP))
            os.replace(partial_path, path)
        except OSError as error:
            raise EmailSendError(f"cannot write to outbox {self.outbox_dir}: {error}") from error
        log.info("wrote %s", path)
        return str(path)

    def _file_name(self, message: EmailMessage) -> str:
        stamp = self.clock().strftime("%Y%m%dT%H%M%S%fZ")
        if message.iteration_number is None:
            return f"message-{stamp}.eml"
        return f"iteration-{message.iteration_number:06d}-{stamp}.eml"


def to_mime_message(
    message: EmailMessage, sender_address: str, recipients: list[str], sent_at: datetime
) -> MimeMessage:
    """multipart/mixed: multipart/alternative (plain text, then HTML) plus attachments."""
    mime = MimeMessage(policy=email.policy.SMTP)
    mime["Subject"] = message.subject
    mime["From"] = sender_address
    mime["To"] = ", ".join(recipients)
    mime["Date"] = email.utils.format_datetime(sent_at)
    mime["Message-ID"] = email.utils.make_msgid(domain=_domain_of(sender_address))
    mime.set_content(message.text_body, subtype="plain", charset="utf-8")
    mime.add_alternative(message.html_body, subtype="html", charset="utf-8")
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        mime.add_attachment(
            attachment.content,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=attachment.file_name,
        )
        if maintype == "text":
            # Bytes go in base64 unchanged; the charset tells mail clients how to read them
            # (our text attachments are UTF-8: non-ASCII SP and file names survive).
            mime.get_payload()[-1].set_param("charset", "utf-8")
    return mime


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2] or "localhost"


# --- Azure Communication Services ---------------------------------------------------------


class AcsEmailSender:
    """Sends through `azure.communication.email.EmailClient` and waits for the outcome.

    `send` returns only once ACS reports the operation `Succeeded`; a `Failed`/`Canceled`
    status, an HTTP error, or no final status within `timeout_seconds` raise EmailSendError.
    """

    def __init__(
        self,
        client: EmailClient,
        sender_address: str,
        recipients: list[str],
        timeout_seconds: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not recipients:
            raise EmailConfigurationError("PAYOUT_EMAIL_TO names no recipient")
        self._client = client
        self._sender_address = sender_address
        self._recipients = list(recipients)
        self._timeout_seconds = timeout_seconds
        self._sleep = sleep

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        **client_options: Any,
    ) -> AcsEmailSender:
        """Connection string if set, else `ACS_ENDPOINT` with DefaultAzureCredential
        (managed identity in Azure). `client_options` go to the SDK client (e.g. a
        transport or `connection_verify` in tests)."""
        from azure.communication.email import EmailClient

        timeout_seconds = settings.email_send_timeout_seconds
        client_options.setdefault("retry_policy", capped_retry_policy())
        client_options.setdefault("connection_timeout", timeout_seconds)
        client_options.setdefault("read_timeout", timeout_seconds)
        client_options.setdefault("polling_interval", ACS_POLL_INTERVAL_SECONDS)
        if settings.acs_connection_string:
            client = EmailClient.from_connection_string(
                settings.acs_connection_string, **client_options
            )
        elif settings.acs_endpoint:
            from azure.identity import DefaultAzureCredential

            client = EmailClient(settings.acs_endpoint, DefaultAzureCredential(), **client_options)
        else:
            raise EmailConfigurationError(
                "PAYOUT_EMAIL_SENDER=acs needs ACS_CONNECTION_STRING or ACS_ENDPOINT"
            )
        return cls(
            client, settings.email_from, settings.email_recipients, timeout_seconds, sleep=sleep
        )

    def payload(self, message: EmailMessage) -> dict[str, Any]:
        """The JSON body of `POST /emails:send` (the SDK's `begin_send` message shape)."""
        return {
            "senderAddress": self._sender_address,
            "recipients": {"to": [{"address": address} for address in self._recipients]},
            "content": {
                "subject": message.subject,
                "plainText": message.text_body,
                "html": message.html_body,
            },
            "attachments": [
                {
                    "name": attachment.file_name,
                    "contentType": attachment.content_type,
                    "contentInBase64": base64.b64encode(attachment.content).decode("ascii"),
                }
                for attachment in message.attachments
            ],
        }

    def send(self, message: EmailMessage) -> str:
        from azure.core.exceptions import AzureError, HttpResponseError

        payload = self.payload(message)
        # One budget for the whole send, throttling included: the summary job holds its
        # database transaction open meanwhile.
        deadline = time.monotonic() + self._timeout_seconds
        for attempt in range(1, ACS_SEND_ATTEMPTS_MAX + 1):
            try:
                return self._send_once(
                    payload, max(1.0, deadline - time.monotonic()), message.idempotency_key
                )
            except HttpResponseError as error:
                if error.status_code != 429 or attempt == ACS_SEND_ATTEMPTS_MAX:
                    raise EmailSendError(f"ACS refused the email: {_describe(error)}") from error
                delay_seconds = _throttled_delay_seconds(error, attempt)
                if time.monotonic() + delay_seconds >= deadline:
                    raise EmailSendError(
                        f"ACS is throttling and asks to wait {delay_seconds:.0f} s, beyond the "
                        f"{self._timeout_seconds} s send timeout: {_describe(error)}"
                    ) from error
                log.warning(
                    "ACS throttled the send (attempt %d of %d); retrying in %.1f s",
                    attempt,
                    ACS_SEND_ATTEMPTS_MAX,
                    delay_seconds,
                )
                self._sleep(delay_seconds)
            except AzureError as error:
                raise EmailSendError(f"ACS could not be reached: {error}") from error
        raise AssertionError("unreachable: the loop returns or raises")

    def _send_once(
        self, payload: Mapping[str, Any], timeout_seconds: float, operation_id: str | None
    ) -> str:
        # ACS keeps the operation by this id: a second send with it is the same operation.
        poller = self._client.begin_send(payload, operation_id=operation_id)
        result = poller.result(timeout=timeout_seconds)
        if not poller.done():
            raise EmailSendError(
                f"ACS gave no final status within {self._timeout_seconds} s; it may still "
                "deliver, but the iteration stays unreported and is sent again next time"
            )
        status = (result or {}).get("status")
        operation_id = (result or {}).get("id")
        if status != "Succeeded":
            detail = (result or {}).get("error") or {}
            raise EmailSendError(
                f"ACS operation {operation_id} ended {status}: {detail.get('message', detail)}"
            )
        log.info("ACS accepted and sent the email (operation %s)", operation_id)
        return str(operation_id)


def capped_retry_policy() -> Any:
    """The SDK's retry policy, except that a Retry-After is honoured only up to
    `ACS_THROTTLED_DELAY_MAX_SECONDS`: the stock policy would sleep whatever ACS asks
    (an hour, say) while the summary job holds its transaction open."""
    from azure.core.pipeline.policies import RetryPolicy

    class CappedRetryAfterPolicy(RetryPolicy):
        def get_retry_after(self, response: Any) -> float | None:
            retry_after_seconds = super().get_retry_after(response)
            if retry_after_seconds is None:
                return None
            return min(retry_after_seconds, ACS_THROTTLED_DELAY_MAX_SECONDS)

    return CappedRetryAfterPolicy(retry_total=ACS_SDK_RETRY_TOTAL)


def _describe(error: Any) -> str:
    """Status, ACS error code and message; the poller's 'Operation failed' hides the body."""
    parts = [f"HTTP {error.status_code}" if error.status_code else "no HTTP status"]
    response = getattr(error, "response", None)
    try:
        body = response.json() if response is not None else None
    except Exception:  # a non-JSON body says nothing more than the status
        body = None
    if isinstance(body, dict):
        if body.get("status"):
            parts.append(f"status {body['status']}")
        detail = body.get("error") or {}
        if isinstance(detail, dict) and detail:
            parts.append(f"{detail.get('code', '')}: {detail.get('message', '')}".strip(": "))
    else:
        parts.append(str(error.message or error))
    return ", ".join(parts)


def _throttled_delay_seconds(error: Any, attempt: int) -> float:
    """ACS's Retry-After when it gave one, else exponential backoff; capped either way."""
    headers = getattr(getattr(error, "response", None), "headers", None) or {}
    retry_after = headers.get("Retry-After") or headers.get("retry-after")
    delay_seconds = ACS_THROTTLED_BACKOFF_SECONDS * 2 ** (attempt - 1)
    if retry_after:
        try:
            delay_seconds = float(retry_after)
        except ValueError:  # the HTTP-date form
            try:
                retry_at = email.utils.parsedate_to_datetime(retry_after)
                delay_seconds = (retry_at - datetime.now(UTC)).total_seconds()
            except (TypeError, ValueError):
                pass
    return max(0.0, min(delay_seconds, ACS_THROTTLED_DELAY_MAX_SECONDS))


# --- choosing -----------------------------------------------------------------------------


def sender_from_settings(settings: Settings) -> EmailSender:
    if settings.email_sender == "acs":
        return AcsEmailSender.from_settings(settings)
    return OutboxEmailSender(settings.outbox_dir, settings.email_from, settings.email_recipients)
