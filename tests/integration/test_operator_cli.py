"""What an operator sees from `payout` (issue 26): a database that was never migrated is
named as such with the command that fixes it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from payout_core import cli
from tests.integration.sample_ledger import SAMPLES
from tests.support import postgres

pytestmark = pytest.mark.integration

RULES = str(SAMPLES / "payin_payout_rules.csv")


@pytest.fixture
def unmigrated_database(postgres_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"payout_empty_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(postgres_server_url, name)
    monkeypatch.setenv("PAYOUT_DATABASE_URL", url)
    try:
        yield url
    finally:
        postgres.drop_database(postgres_server_url, name)


@pytest.mark.parametrize(
    "command",
    [["rules", "load", RULES], ["holds", "list"], ["summary"], ["receivables"]],
    ids=" ".join,
)
def test_before_payout_db_migrate_a_command_says_the_database_is_not_migrated(
    unmigrated_database: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(command) == cli.EXIT_FAILED
    error = capsys.readouterr().err
    assert error.startswith("error: the ledger database is not migrated")
    assert error.rstrip().endswith("run `payout db migrate`")
    assert "product" not in error  # it used to blame a product's rule parameter
