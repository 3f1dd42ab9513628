"""What an entry point hands a flow, and the unit of work each flow's transaction is.

An entry point (a function body, a `payout` command, the review page) reads the settings
once and opens the ledger's Database from them: that pair is a `Context`. A flow never
reads a setting or opens a pool itself; it asks its context for a `UnitOfWork`, one
transaction on one pooled connection, which commits only when the flow says `commit()`
and rolls back otherwise: an exception, or a flow that returns without committing,
leaves nothing behind (tests/integration/test_unit_of_work.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from types import TracebackType

import psycopg

from payout_core.ledger.db import Database
from payout_core.settings import Settings


class UnitOfWork(AbstractContextManager["UnitOfWork"]):
    """One transaction on one connection: `with context.unit_of_work() as uow: ...;
    uow.commit()`. `uow.conn` is the connection, `uow.settings` the entry point's."""

    def __init__(self, context: Context) -> None:
        self.settings = context.settings
        self._database = context.database
        self._committed = False
        self._blocks = ExitStack()

    def __enter__(self) -> UnitOfWork:
        with ExitStack() as opening:
            self.conn: psycopg.Connection = opening.enter_context(self._database.connection())
            opening.enter_context(self.conn.transaction())
            self._blocks = opening.pop_all()
        return self

    def commit(self) -> None:
        """Keep what this unit of work wrote, when its block ends without an error."""
        self._committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        if exc is None and not self._committed:
            # A transaction block that ends in psycopg.Rollback is rolled back, quietly.
            return self._blocks.__exit__(psycopg.Rollback, psycopg.Rollback(), None)
        return self._blocks.__exit__(exc_type, exc, traceback)


@dataclass(frozen=True)
class Context:
    """The settings an entry point read, and the ledger's Database opened from them."""

    settings: Settings
    database: Database

    @classmethod
    def open(cls, settings: Settings) -> Context:
        return cls(settings, Database(settings))

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self)

    @contextmanager
    def reading(self) -> Iterator[psycopg.Connection]:
        """A connection for reads that need no transaction of their own (reports, a
        lookup in its own short transaction)."""
        with self.database.connection() as conn:
            yield conn

    def close(self) -> None:
        self.database.close()
