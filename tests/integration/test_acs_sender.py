"""The ACS sender through the real azure-communication-email SDK, against a local server
that speaks the ACS Email REST API (send -> 202 + Operation-Location -> status poll)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from payout_core import report
from payout_core.adapters.mail import (
    AcsEmailSender,
    EmailConfigurationError,
    EmailMessage,
    EmailSendError,
    sender_from_settings,
)
from payout_core.flows import iteration
from payout_core.report import ErrorRecord, MisRunAccounting, SummaryLine
from payout_core.settings import Settings
from tests.fakes.acs_email_server import FakeAcsEmailServer

pytestmark = pytest.mark.integration

PROCESSED_AT = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
SENDER_ADDRESS = "DoNotReply@payouts.shiftpay.example"
RECIPIENTS = "finance@shiftpay.example, ops@shiftpay.example"


@pytest.fixture
def acs_server() -> Iterator[FakeAcsEmailServer]:
    with FakeAcsEmailServer().running() as server:
        yield server


def acs_settings(server: FakeAcsEmailServer, connection_string: str | None = None) -> Settings:
    return Settings(
        PAYOUT_EMAIL_SENDER="acs",
        ACS_CONNECTION_STRING=connection_string or server.connection_string,
        PAYOUT_EMAIL_FROM=SENDER_ADDRESS,
        PAYOUT_EMAIL_TO=RECIPIENTS,
        PAYOUT_EMAIL_SEND_TIMEOUT_SECONDS=120,
    )


def acs_sender(
    server: FakeAcsEmailServer, delays: list[float] | None = None, **settings_overrides: str
) -> AcsEmailSender:
    return AcsEmailSender.from_settings(
        acs_settings(server, **settings_overrides),
        # Record our own backoff instead of waiting it out.
        sleep=delays.append if delays is not None else time.sleep,
        # The SDK always speaks HTTPS to a connection string's endpoint; trust the fake's
        # self-signed certificate the supported way, through the transport option.
        connection_verify=str(server.ca_certificate_path),
    )


def iteration_email() -> EmailMessage:
    success_row = (
        PROCESSED_AT, "Bank_A", "Medium_A", "Savings Account", "=HYPERLINK(\"x\")", "AT-00001",
        "Success", "Account Opened", date(2023, 10, 2), date(2026, 11, 21),
        Decimal("1500.00"), Decimal("1000.00"), Decimal("1000.00"), Decimal("500.00"),
        Decimal("2500.00"), Decimal("1500.00"),
    )  # fmt: skip
    built = report.build_report(
        iteration_number=3,
        report_date=date(2026, 11, 21),
        runs=(MisRunAccounting(1, "bank_a.csv", PROCESSED_AT, 2, {"paid": 1, "invalid": 1}),),
        errors=(ErrorRecord(1, PROCESSED_AT, "<b>bad</b>.csv", "not CSV"),),
        summary_lines=(
            SummaryLine(
                date(2026, 11, 21),
                "Bank_A",
                "Medium_A",
                "Savings Account",
                1,
                1,
                Decimal("2500.00"),
                Decimal("1500.00"),
            ),
        ),
        summary_total=SummaryLine(
            None, None, None, None, 1, 1, Decimal("2500.00"), Decimal("1500.00")
        ),
        success_rows=[success_row],
        attachments_max_bytes=100_000,
    )
    return iteration.iteration_email(
        built, idempotency_key=iteration.iteration_idempotency_key("2026-11-01T00:00:00+00:00", 3)
    )


def send_posts(server: FakeAcsEmailServer) -> list[int]:
    return [request.status for request in server.requests if request.method == "POST"]


def test_the_sdk_sends_the_report_with_every_field(acs_server: FakeAcsEmailServer):
    message = iteration_email()

    message_id = acs_sender(acs_server).send(message)

    assert [message_id] == acs_server.operation_ids
    [payload] = acs_server.sent_payloads
    assert payload["senderAddress"] == SENDER_ADDRESS
    assert payload["recipients"]["to"] == [
        {"address": "finance@shiftpay.example"},
        {"address": "ops@shiftpay.example"},
    ]
    assert payload["content"] == {
        "subject": "ShiftPay payouts — iteration 3 (2026-11-21): 1 file, 1 lead paid, 1 error",
        "plainText": message.text_body,
        "html": message.html_body,
    }
    assert "&lt;b&gt;bad&lt;/b&gt;.csv" in payload["content"]["html"]
    attachments = {item["name"]: item for item in payload["attachments"]}
    assert set(attachments) == {"payout_calculations_iteration_3.csv", "error_logs_iteration_3.csv"}
    for attachment in message.attachments:
        sent = attachments[attachment.file_name]
        assert sent["contentType"] == "text/csv"
        assert base64.b64decode(sent["contentInBase64"]) == attachment.content
    success_csv = base64.b64decode(
        attachments["payout_calculations_iteration_3.csv"]["contentInBase64"]
    )
    assert b"'=HYPERLINK" in success_csv
    # Sent, then polled at the Operation-Location until Succeeded; every request signed.
    methods = [(request.method, request.status) for request in acs_server.requests]
    assert methods == [("POST", 202), ("GET", 200)]
    assert acs_server.requests[0].path.startswith("/emails:send?api-version=")
    assert acs_server.requests[1].path.startswith(f"/emails/operations/{message_id}?")


def test_a_retried_send_of_the_same_iteration_is_one_email(acs_server: FakeAcsEmailServer):
    """The send timed out on our side but ACS took it: the retry (same iteration, same
    operation id) must not deliver a second email."""
    message = iteration_email()
    sender = acs_sender(acs_server)

    first_id = sender.send(message)
    second_id = sender.send(message)

    assert first_id == second_id == message.idempotency_key
    assert len(acs_server.sent_payloads) == 1
    assert acs_server.repeated_operation_ids == [message.idempotency_key]
    # A different iteration is a different operation.
    other = iteration.iteration_idempotency_key("2026-11-01T00:00:00+00:00", 4)
    assert other != message.idempotency_key


def test_throttled_with_retry_after_is_retried_by_the_sdk(acs_server: FakeAcsEmailServer):
    acs_server.throttle_next_sends = 1
    acs_server.throttle_retry_after_seconds = 1
    delays: list[float] = []

    message_id = acs_sender(acs_server, delays).send(iteration_email())

    assert send_posts(acs_server) == [429, 202]
    assert acs_server.operation_ids == [message_id]
    assert len(acs_server.sent_payloads) == 1
    assert delays == []  # the SDK's retry policy honoured Retry-After; ours was not needed


def test_throttled_without_retry_after_is_retried_by_us(acs_server: FakeAcsEmailServer):
    # The SDK does not retry a POST on a bare 429; our bounded retry does, with backoff.
    acs_server.throttle_next_sends = 2
    acs_server.throttle_retry_after_seconds = None
    delays: list[float] = []

    message_id = acs_sender(acs_server, delays).send(iteration_email())

    assert send_posts(acs_server) == [429, 429, 202]
    assert acs_server.operation_ids == [message_id]
    assert delays == [10.0, 20.0]


def test_throttled_beyond_the_bound_raises(acs_server: FakeAcsEmailServer):
    acs_server.throttle_next_sends = 100
    acs_server.throttle_retry_after_seconds = None
    delays: list[float] = []

    with pytest.raises(EmailSendError, match="HTTP 429"):
        acs_sender(acs_server, delays).send(iteration_email())

    assert send_posts(acs_server) == [429, 429, 429]
    assert acs_server.sent_payloads == []


def test_a_failed_operation_raises_a_clear_error(acs_server: FakeAcsEmailServer):
    acs_server.fail_operations = True

    with pytest.raises(EmailSendError) as raised:
        acs_sender(acs_server).send(iteration_email())

    assert "status Failed" in str(raised.value)
    assert "RecipientRejected" in str(raised.value)


def test_a_wrong_access_key_is_refused(acs_server: FakeAcsEmailServer):
    wrong_key = base64.b64encode(b"not the key").decode()
    connection_string = f"endpoint={acs_server.endpoint}/;accesskey={wrong_key}"

    with pytest.raises(EmailSendError, match="HTTP 401"):
        acs_sender(acs_server, connection_string=connection_string).send(iteration_email())

    assert acs_server.sent_payloads == []


def test_acs_without_connection_string_or_endpoint_is_a_configuration_error():
    settings = Settings(PAYOUT_EMAIL_SENDER="acs", ACS_CONNECTION_STRING=None, ACS_ENDPOINT=None)
    with pytest.raises(EmailConfigurationError):
        sender_from_settings(settings)


def test_sender_is_chosen_by_setting(acs_server: FakeAcsEmailServer):
    assert isinstance(sender_from_settings(acs_settings(acs_server)), AcsEmailSender)
