"""The deployed app's one context per worker process (flows/unit_of_work.Context): what
its entry points (flows/triggers.py, review/handler.py) open from the settings they read,
and hand down to the flows."""

from __future__ import annotations

import threading

from payout_core.flows.unit_of_work import Context
from payout_core.settings import get_settings


class ProcessContext:
    """The deployed app's context, one per worker process: opened by the first function
    invocation from the settings it reads, kept for the next ones (Functions keep a
    worker warm; a new pool per file would cost more than the work), its schema checked
    against the code at each invocation until it passes. `close()` forgets it (tests, and
    `payout host` when it stops)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._context: Context | None = None

    def get(self) -> Context:
        with self._lock:
            if self._context is None:
                self._context = Context.open(get_settings())
            context = self._context
        context.database.check_schema()
        return context

    def close(self) -> None:
        with self._lock:
            if self._context is not None:
                self._context.close()
            self._context = None


# The one context of the deployed entry points: these function bodies and the review page.
PROCESS = ProcessContext()
