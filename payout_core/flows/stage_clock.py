"""Seconds per stage of one file, logged with its result (where the time goes), each
stage also a span of the file's trace."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from payout_core.adapters import telemetry

T = TypeVar("T")


class StageClock:
    """Seconds spent per stage of one file, logged with the result: where the time goes."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            with telemetry.stage(name):
                yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def next(self, name: str, items: Iterator[T]) -> T | None:
        """The next of `items` (None when there is none), its time counted as `name`."""
        with self.stage(name):
            return next(items, None)

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.2f}s" for name, seconds in self.seconds.items())
