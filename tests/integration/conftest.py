"""Fixtures of the integration tests beyond the services of tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from payout_core.flows.unit_of_work import Context
from tests.integration.sample_ledger import load_samples


@pytest.fixture
def loaded(database_url: str, context: Context, tmp_state: Path) -> str:
    """This test's database with the sample rules and leads loaded; its URL."""
    load_samples(context)
    return database_url
