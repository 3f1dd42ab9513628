"""Passwordless and pooled connections on the real (embedded) PostgreSQL.

- Entra: Azure Database for PostgreSQL takes a Microsoft Entra access token as the
  password. Here a real TokenCredential hands out known tokens, and the role's password
  is set to them, with password authentication required for that role (pg_hba), so a
  connection works only with the token the credential gave for it.
- PgBouncer mode: no startup options, no prepared statements, and the statement timeout
  and time zone still hold inside every unit of work (SET LOCAL).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from azure.core.credentials import AccessToken
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from payout_core.adapters import entra
from payout_core.errors import TransientError
from payout_core.flows.unit_of_work import Context
from payout_core.ledger import db
from payout_core.settings import get_settings

pytestmark = pytest.mark.integration


class KnownTokenCredential:
    """An azure.core.credentials.TokenCredential that hands out the tokens it was given."""

    def __init__(self, *tokens: str) -> None:
        self._tokens = list(tokens)
        self.scopes_asked: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: object) -> AccessToken:
        self.scopes_asked.append(scopes)
        token = self._tokens.pop(0) if len(self._tokens) > 1 else self._tokens[0]
        return AccessToken(token, int(time.time()) + 3600)


@pytest.fixture
def entra_role(database_url: str) -> Iterator[str]:
    """A login role that must give a password (scram), like an Entra user; yields its name."""
    role = f"entra_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(role)))
        admin.execute(
            sql.SQL("GRANT ALL ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(role))
        )
        hba_file = Path(admin.execute("SHOW hba_file").fetchone()[0])
        original = hba_file.read_text()
        # First match wins: this role, and only it, must authenticate with a password.
        hba_file.write_text(
            f"local all {role} scram-sha-256\nhost all {role} all scram-sha-256\n" + original
        )
        admin.execute("SELECT pg_reload_conf()")
    try:
        yield role
    finally:
        hba_file.write_text(original)
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_reload_conf()")


def set_password(database_url: str, role: str, password: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
        )


def as_role(database_url: str, role: str) -> str:
    params = conninfo_to_dict(database_url)
    params.pop("password", None)
    return make_conninfo(**{**params, "user": role})


def test_entra_token_is_the_password_and_each_new_connection_gets_a_fresh_one(
    database_url: str, entra_role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYOUT_DATABASE_URL", as_role(database_url, entra_role))
    monkeypatch.setenv("PAYOUT_DATABASE_AUTH", "entra")
    get_settings.cache_clear()
    credential = KnownTokenCredential("token-one", "token-two")
    set_password(database_url, entra_role, "token-one")

    with closing(db.Database(get_settings(), credential=credential)) as database:
        with database.connection() as conn:
            assert conn.execute("SELECT current_user").fetchone() == (entra_role,)
            assert conn.execute("SELECT count(*) FROM leads").fetchone() == (0,)
        assert credential.scopes_asked == [(entra.POSTGRES_TOKEN_SCOPE,)]

        # The token rotates; an open connection stays valid, a new one needs the new token.
        set_password(database_url, entra_role, "token-two")
        database.pool.check()  # the pool drops nothing healthy...
        with database.connection() as first, database.connection() as second:  # ...new one
            assert second.execute("SELECT current_user").fetchone() == (entra_role,)
            assert first.execute("SELECT 1").fetchone() == (1,)
    assert len(credential.scopes_asked) == 2


def test_a_wrong_token_is_a_transient_failure_not_a_crash(
    database_url: str, entra_role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYOUT_DATABASE_URL", as_role(database_url, entra_role))
    monkeypatch.setenv("PAYOUT_DATABASE_AUTH", "entra")
    monkeypatch.setenv("PAYOUT_DB_CONNECT_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    set_password(database_url, entra_role, "the-real-token")

    credential = KnownTokenCredential("an-expired-token")
    with (
        closing(db.Database(get_settings(), credential=credential)) as database,
        pytest.raises(TransientError, match="database unavailable"),
        database.connection(),
    ):
        pass


def test_pgbouncer_mode_sets_session_settings_per_unit_of_work(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYOUT_DB_PGBOUNCER", "true")
    monkeypatch.setenv("PAYOUT_DB_STATEMENT_TIMEOUT_SECONDS", "7")
    get_settings.cache_clear()
    settings = get_settings()
    kwargs = db.connection_kwargs(settings)
    assert "options" not in kwargs  # PgBouncer refuses startup options
    assert kwargs["prepare_threshold"] is None
    context = Context.open(settings)

    with psycopg.connect(database_url, autocommit=True) as other_session:
        other_session.execute(
            sql.SQL("ALTER DATABASE {} SET timezone = 'Asia/Kolkata'").format(
                sql.Identifier(conninfo_to_dict(database_url)["dbname"])
            )
        )
    for _ in range(2):  # a second unit of work on a reused connection gets them again
        with context.reading() as conn:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("7s",)
            assert conn.execute("SHOW timezone").fetchone() == ("UTC",)
            assert conn.prepare_threshold is None
            with conn.transaction():  # the app's own transactions nest inside
                conn.execute("SELECT count(*) FROM leads")
        # Nothing stays set on the session for whoever gets it next (as through PgBouncer).
        with context.database.pool.connection() as raw:
            assert raw.execute("SHOW statement_timeout").fetchone() == ("0",)
            assert raw.execute("SHOW timezone").fetchone() == ("Asia/Kolkata",)
    context.close()


def test_direct_mode_keeps_startup_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYOUT_DB_STATEMENT_TIMEOUT_SECONDS", "7")
    get_settings.cache_clear()
    kwargs = db.connection_kwargs(get_settings())
    assert kwargs["options"] == "-c statement_timeout=7000 -c timezone=UTC"
    assert "prepare_threshold" not in kwargs
