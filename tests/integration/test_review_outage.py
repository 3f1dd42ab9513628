"""The review page while the ledger database does not answer (issue 26: an outage is one
line in the log, not a traceback): a 503 with a sentence, nothing about the server."""

from __future__ import annotations

import logging

import pytest

from payout_core.flows.process import PROCESS
from payout_core.settings import get_settings
from tests.integration.test_review_page import SECRET, get, identity

pytestmark = pytest.mark.integration


def test_a_database_that_does_not_answer_is_a_503_and_one_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PAYOUT_REVIEW_SECRET", SECRET)
    monkeypatch.setenv("PAYOUT_DATABASE_URL", "postgresql://payout@127.0.0.1:1/payout")
    monkeypatch.setenv("PAYOUT_DB_CONNECT_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    PROCESS.close()  # the app's context opens again from these settings
    caplog.set_level(logging.INFO, logger="payout_core.review")

    try:
        response = get(identity("bob"))
    finally:
        PROCESS.close()

    assert response.status_code == 503
    page = response.get_body().decode()
    assert "Try again" in page and "127.0.0.1" not in page
    [record] = [r for r in caplog.records if r.name.startswith("payout_core.review")]
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "database unavailable" in record.getMessage()
