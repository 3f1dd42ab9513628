"""The deployed app refuses to run on a ledger schema older than its code (issue 27).

The versions come from the files: the code's is its newest migration, the database's the
newest row of schema_migrations; nothing here names a migration, so adding one changes
nothing in this test.
"""

from __future__ import annotations

import uuid
from contextlib import closing

import psycopg
import pytest

from payout_core.errors import ConfigurationError, TransientError
from payout_core.flows import process, triggers
from payout_core.ledger import db
from payout_core.settings import get_settings

pytestmark = pytest.mark.integration


def _newest_migration() -> str:
    return db.migration_scripts()[-1].name


def check_schema() -> None:
    """What each deployed entry point does before its work (flows/process.PROCESS)."""
    with closing(db.Database(get_settings())) as database:
        database.check_schema()


def test_a_migrated_ledger_is_accepted(database_url: str) -> None:
    assert process.PROCESS.get() is process.PROCESS.get()  # opened and checked once
    check_schema()


def test_a_ledger_one_migration_behind_is_refused_naming_both_versions(
    database_url: str,
) -> None:
    newest = _newest_migration()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = %s", (newest,))
        behind = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]

    with pytest.raises(ConfigurationError) as refused:
        check_schema()
    message = str(refused.value)
    assert f"schema is at {behind}, older than this code's {newest}" in message
    assert "payout db migrate" in message

    # The function bodies open the ledger through the same check, so a blob waits too.
    with pytest.raises(ConfigurationError, match=newest):
        triggers.run_summary_timer(past_due=False)

    # Migrating is enough: the next invocation checks again and runs (the row is what
    # `payout db migrate` records; the tables are still there).
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (newest,))
    process.PROCESS.get()


def test_a_ledger_newer_than_the_code_is_accepted(database_url: str) -> None:
    # The deployment migrates before it publishes, so old code meets a newer schema
    # for a moment; it keeps running.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version) VALUES (%s)", (_newest_migration() + "~next",)
        )
    check_schema()


def test_an_empty_database_is_refused_as_not_migrated(
    postgres_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support import postgres

    name = f"empty_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(postgres_server_url, name)
    try:
        monkeypatch.setenv("PAYOUT_DATABASE_URL", url)
        get_settings.cache_clear()
        with pytest.raises(ConfigurationError, match="not migrated"):
            check_schema()
    finally:
        postgres.drop_database(postgres_server_url, name)


def test_an_unreachable_database_is_left_to_the_unit_of_work(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens there: the check cannot run, and the outage is the work's to meet
    # (retried by the host, or the poison handler's last resort), not a configuration error.
    monkeypatch.setenv("PAYOUT_DATABASE_URL", "postgresql://payout@127.0.0.1:1/payout")
    monkeypatch.setenv("PAYOUT_DB_CONNECT_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    context = process.PROCESS.get()  # the check could not run: no ConfigurationError
    with pytest.raises(TransientError), context.reading():
        pass
    assert process.PROCESS.get() is context
