"""The shapes of what a report shows: a table, a link, or a sentence. Both renderers draw
them; every section builds them (kept apart from `tables` so that the sections and the
report model do not import each other)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """A table both renderers draw; `right_aligned` are the numeric columns."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    total: tuple[str, ...] | None
    right_aligned: frozenset[int]


@dataclass(frozen=True)
class Link:
    """A paragraph whose `url` is a link in HTML, spelled out in text."""

    text: str
    url: str


Block = str | Table | Link
