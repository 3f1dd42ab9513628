"""The senders' pure parts: the outbox .eml and the bounds on ACS throttling."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from payout_core.adapters import mail
from payout_core.adapters.mail import Attachment, EmailMessage, OutboxEmailSender

SENT_AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
MESSAGE = EmailMessage(
    subject="ShiftPay payouts — iteration 2 (2026-11-21): 1 file, 3 paid, no errors",
    text_body="plain ✓",
    html_body="<p>html ✓</p>",
    attachments=(Attachment("a.csv", "text/csv", "\ufeffSPId\r\nSP-ü\r\n".encode()),),
    iteration_number=2,
)


def test_outbox_writes_one_parseable_eml_named_after_the_iteration(tmp_path: Path):
    sender = OutboxEmailSender(
        tmp_path / "outbox", "from@x.example", ["a@x.example", "b@x.example"]
    )
    sender.clock = lambda: SENT_AT

    path = Path(sender.send(MESSAGE))

    assert path.name == "iteration-000002-20261121T120000000000Z.eml"
    assert [item.name for item in path.parent.iterdir()] == [path.name]  # no .partial left
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == MESSAGE.subject
    assert parsed["To"] == "a@x.example, b@x.example"
    assert parsed.get_content_type() == "multipart/mixed"
    assert parsed.get_body(("plain",)).get_content().strip() == "plain ✓"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>html ✓</p>"
    [attachment] = parsed.iter_attachments()
    assert attachment.get_filename() == "a.csv"
    assert attachment.get_payload(decode=True) == MESSAGE.attachments[0].content


def test_throttling_delay_follows_retry_after_and_is_capped():
    def throttled(retry_after: str | None):
        headers = {"Retry-After": retry_after} if retry_after else {}
        return SimpleNamespace(response=SimpleNamespace(headers=headers))

    assert mail._throttled_delay_seconds(throttled("7"), attempt=1) == 7.0
    assert mail._throttled_delay_seconds(throttled("3600"), attempt=1) == 60.0
    assert mail._throttled_delay_seconds(throttled(None), attempt=2) == 20.0


def test_sdk_retry_policy_caps_retry_after():
    policy = mail.capped_retry_policy()
    response = SimpleNamespace(http_response=SimpleNamespace(headers={"Retry-After": "3600"}))
    assert policy.get_retry_after(response) == mail.ACS_THROTTLED_DELAY_MAX_SECONDS
    response.http_response.headers = {"Retry-After": "2"}
    assert policy.get_retry_after(response) == 2
