"""PostgreSQL connections and migrations.

A `Database` is one connection pool, opened by an entry point (a function body, a `payout`
command) from the settings it read and handed down to the flows, never kept in a module:
the deployed app opens one per process and reuses it across function invocations
(Functions keep a worker process warm, and a fresh TLS connection per file would cost
more than the work). The pool is small because Consumption scales out by instances, not
threads.

Passwordless (PAYOUT_DATABASE_AUTH=entra): Azure Database for PostgreSQL takes a Microsoft
Entra access token as the password. The pool asks the credential for one each time it
opens a connection (tokens expire after about an hour; an open connection stays valid).

Through PgBouncer in transaction mode (PAYOUT_DB_PGBOUNCER=true): consecutive transactions
of one client connection may run on different server connections, so nothing may rely on
session state. The statement timeout and time zone are then set with SET LOCAL at the
start of the one transaction a `connection()` block is, instead of as startup `options`
(which PgBouncer refuses), and psycopg's automatic prepared statements are off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
import psycopg_pool
from psycopg_pool import ConnectionPool

from payout_core.adapters import entra
from payout_core.errors import ConfigurationError, TransientError
from payout_core.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

log = logging.getLogger(__name__)
T = TypeVar("T")

def resolve_database_url(settings: Settings) -> str:
    """PAYOUT_DATABASE_URL. Required: the deployed app never falls back to a local server
    (`payout` on a developer's machine points it at the embedded one before it gets here)."""
    if settings.database_url:
        return settings.database_url
    raise ConfigurationError("PAYOUT_DATABASE_URL is not set: the ledger database has no address")


def session_settings_sql(settings: Settings) -> str:
    """The per-transaction form of the startup options, for PgBouncer."""
    timeout_ms = settings.db_statement_timeout_seconds * 1000
    return f"SET LOCAL statement_timeout = {timeout_ms}; SET LOCAL timezone = 'UTC'"


def connection_kwargs(settings: Settings) -> dict[str, object]:
    kwargs: dict[str, object] = {
        "connect_timeout": settings.db_connect_timeout_seconds,
        "application_name": "shiftpay-payout",
    }
    if settings.db_pgbouncer:
        # Server-side prepared statements live in one server session; PgBouncer in
        # transaction mode hands the next transaction to another one.
        kwargs["prepare_threshold"] = None
    else:
        # UTC so timestamps in the ledger and the email never depend on a server's locale.
        kwargs["options"] = (
            f"-c statement_timeout={settings.db_statement_timeout_seconds * 1000} -c timezone=UTC"
        )
    return kwargs


def connection_kwargs_factory(settings: Settings, credential: TokenCredential | None = None) -> Any:
    """The pool's `kwargs`: a dict, or with Entra auth a callable the pool calls for each
    new connection, so every connection gets a token that is valid now."""
    kwargs = connection_kwargs(settings)
    if settings.database_auth != "entra":
        return kwargs
    token_source = credential or entra.token_credential(settings.database_client_id)

    def kwargs_with_fresh_token() -> dict[str, object]:
        try:
            token = token_source.get_token(entra.POSTGRES_TOKEN_SCOPE).token
        except Exception as error:  # azure.identity's errors share no base worth naming
            raise TransientError(f"no Entra token for the database: {error}") from error
        return {**kwargs, "password": token}

    return kwargs_with_fresh_token


class Database:
    """The ledger's connection pool. Opening it connects nowhere yet (min_size 0): the
    first unit of work does. With Entra auth, `credential` (default: the managed identity)
    gives each new connection a token that is valid now."""

    def __init__(self, settings: Settings, *, credential: TokenCredential | None = None) -> None:
        self._per_transaction_sql = (
            session_settings_sql(settings) if settings.db_pgbouncer else None
        )
        self._schema_checked = False
        self.pool = ConnectionPool(
            resolve_database_url(settings),
            kwargs=connection_kwargs_factory(settings, credential),
            min_size=0,
            max_size=settings.db_pool_max_size,
            timeout=settings.db_connect_timeout_seconds,
            open=True,
            check=ConnectionPool.check_connection,
        )

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection. Failures of the database itself (unreachable, restarted,
        timed out, deadlocked) become TransientError: the unit of work rolled back, retry."""
        try:
            with self.pool.connection() as conn:
                if self._per_transaction_sql:
                    # Opens the block's transaction; `conn.transaction()` inside becomes a
                    # savepoint of it, and the pool commits it when the block ends.
                    conn.execute(self._per_transaction_sql)
                yield conn
        except psycopg.errors.UndefinedTable as error:
            raise ConfigurationError(
                f"the ledger database is not migrated ({error.diag.message_primary}); "
                "run `payout db migrate`"
            ) from error
        except psycopg.Error as error:
            if is_conflict(error):
                raise ConflictError(f"database conflict, rolled back: {error}") from error
            if isinstance(error, psycopg.OperationalError):
                raise TransientError(f"database unavailable: {error}") from error
            raise
        except psycopg_pool.PoolTimeout as error:
            raise TransientError(f"database unavailable: {error}") from error

    def check_schema(self) -> None:
        """Refuse a database whose schema is older than this code (the deployed entry
        points ask): code newer than its tables would fail mid-file, or worse, write what
        an older schema cannot hold. The code's version is its newest migration file, the
        database's the newest row of schema_migrations; a newer database is fine (the
        deployment migrates before it publishes). Checked once per Database; a failed
        check runs again at the next invocation, so migrating is enough to resume. A
        database that cannot be reached is not checked now: the unit of work meets the
        same outage and is handled as any outage (retried, or the poison handler's last
        resort)."""
        if self._schema_checked:
            return
        code_version = migration_scripts()[-1].name
        try:
            with self.connection() as conn:
                row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        except TransientError:
            return
        database_version = row[0] if row else None
        if database_version is None or database_version < code_version:
            raise ConfigurationError(
                f"the ledger database's schema is at {database_version or 'no migration'}, "
                f"older than this code's {code_version}: run `payout db migrate` against it "
                "(`azd deploy` does, before it publishes the code)"
            )
        self._schema_checked = True


class ConflictError(TransientError):
    """Two units of work collided (deadlock, serialisation): retrying is safe and expected."""


# A collision with a racing file or recalculation is retried here, before the host's retry.
CONFLICT_ATTEMPTS = 3


def retry_on_conflict(what: str, unit_of_work: Callable[[], T]) -> T:
    """Run one unit of work, started over (up to CONFLICT_ATTEMPTS times) when another
    collided with it; `what` names it in the log."""
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return unit_of_work()
        except ConflictError as error:
            if attempt == CONFLICT_ATTEMPTS:
                raise
            log.warning("%s: %s; starting over (attempt %d)", what, error, attempt + 1)
    raise AssertionError("unreachable: the last attempt returns or raises")


@contextmanager
def unique_or_conflict(conn: psycopg.Connection, what_collided: str) -> Iterator[None]:
    """A savepoint around a write a racing unit of work may have made first: its unique
    violation becomes a ConflictError (the retry reads the other's write as recorded)."""
    try:
        with conn.transaction():
            yield
    except psycopg.errors.UniqueViolation as error:
        raise ConflictError(
            f"{what_collided} by another file meanwhile: {error.diag.message_detail}"
        ) from error


def is_conflict(error: psycopg.Error) -> bool:
    """SQLSTATE class 40, "transaction rollback": a deadlock (40P01), a serialization
    failure (40001), … The server rolled the transaction back; running it again is the
    remedy. (psycopg's DeadlockDetected and SerializationFailure are not subclasses of its
    TransactionRollback, so the class is told by the SQLSTATE.)"""
    return (error.sqlstate or "").startswith("40")


MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


def migration_scripts() -> list[Traversable]:
    """The migrations this code ships, in the order they apply (by file name)."""
    folder = resources.files("payout_core.ledger") / "migrations"
    scripts = (script for script in folder.iterdir() if script.name.endswith(".sql"))
    return sorted(scripts, key=lambda script: script.name)


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply the migrations not yet recorded, in order, in one transaction: a failing
    script leaves none of them half-applied. An advisory lock serialises concurrent
    callers (two instances starting at once)."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('payout.migrate'))")
        conn.execute(MIGRATIONS_TABLE)
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for script in migration_scripts():
            if script.name in done:
                continue
            conn.execute(script.read_text())
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (script.name,))
            applied_now.append(script.name)
            log.info("applied migration %s", script.name)
    return applied_now
