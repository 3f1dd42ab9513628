"""Test doubles for `payout_core.adapters.mail.EmailSender`.

Kept in tests/, not in payout_core: production code never needs a sender that remembers
or fails on purpose, and a fake living next to the tests cannot be picked by a setting.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from payout_core.adapters.mail import EmailMessage, EmailSendError


@dataclass
class RecordingEmailSender:
    """Remembers every message; thread-safe so concurrent summary runs can share it.

    `send_delay_seconds` holds the send open, widening the window in which a second
    reporter could slip in if the locking were wrong.
    """

    send_delay_seconds: float = 0.0
    messages: list[EmailMessage] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> str:
        if self.send_delay_seconds:
            time.sleep(self.send_delay_seconds)
        with self._lock:
            self.messages.append(message)
            return f"recorded-{len(self.messages)}"


@dataclass
class FailingEmailSender:
    """Refuses every message, like ACS rejecting the send."""

    attempts: int = 0

    def send(self, message: EmailMessage) -> str:
        self.attempts += 1
        raise EmailSendError(f"refused (test): {message.subject}")
