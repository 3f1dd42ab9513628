"""Database plumbing for the fixtures: per-test databases cloned from a migrated template."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

if TYPE_CHECKING:
    from payout_core.flows.unit_of_work import Context


def with_database(server_url: str, database: str) -> str:
    """The same server, user and options as `server_url`, but another database."""
    if "://" not in server_url:  # key=value conninfo
        return make_conninfo(server_url, dbname=database)
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def admin_connection(server_url: str) -> psycopg.Connection:
    """Autocommit, because CREATE/DROP DATABASE cannot run inside a transaction."""
    return psycopg.connect(server_url, autocommit=True)


def create_database(server_url: str, database: str, template: str | None = None) -> str:
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
    if template is not None:
        statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
    with admin_connection(server_url) as conn:
        conn.execute(statement)
    return with_database(server_url, database)


def drop_database(server_url: str, database: str) -> None:
    # FORCE: a connection the code under test forgot to close must not fail the teardown.
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
    with admin_connection(server_url) as conn:
        conn.execute(statement)


def tune_for_tests(server_url: str) -> None:
    """Durability is worthless for a throw-away test server and costs an fsync per commit."""
    with admin_connection(server_url) as conn:
        for setting, value in (
            ("fsync", "off"),
            ("synchronous_commit", "off"),
            ("full_page_writes", "off"),
        ):
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(
                    sql.Identifier(setting), sql.Literal(value)
                )
            )
        conn.execute("SELECT pg_reload_conf()")


def this_tests_database() -> psycopg.Connection:
    """A connection of the test's own to the database the `database_url` fixture made (the
    test reading or arranging rows, not the code under test)."""
    import os

    return psycopg.connect(os.environ["PAYOUT_DATABASE_URL"])


def with_settings_read_again(context: Context) -> Context:
    """`context` with the settings read again (the test changed the environment), on the
    same database: what an entry point would hand the flows now."""
    from payout_core.settings import get_settings

    get_settings.cache_clear()
    return dataclasses.replace(context, settings=get_settings())
