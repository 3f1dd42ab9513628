"""The worker thread that prepares batches while the file's connection writes: every item
arrives in order, a worker failure reaches the consumer, and a consumer that stops early
releases what the worker holds (its generator is closed, so its connection goes back)."""

from __future__ import annotations

import threading

import pytest

from payout_core.flows.mis_processing import _read_ahead


def test_items_arrive_in_order_from_another_thread():
    producer_threads = set()

    def produce():
        for number in range(50):
            producer_threads.add(threading.current_thread().name)
            yield number

    with _read_ahead(produce()) as items:
        assert list(items) == list(range(50))
    assert producer_threads == {"payout-read-ahead"}


def test_a_failure_while_preparing_reaches_the_consumer():
    def produce():
        yield 1
        raise ConnectionError("lookup connection lost")

    with (
        pytest.raises(ConnectionError, match="lookup connection lost"),
        _read_ahead(produce()) as items,
    ):
        list(items)


def test_a_consumer_that_stops_early_closes_the_producer():
    released = threading.Event()

    def produce():
        try:
            yield from range(1_000)
        finally:
            released.set()  # where the producer's connection goes back to the pool

    producer = produce()  # still referenced here: only an explicit close releases it
    with pytest.raises(RuntimeError, match="write failed"), _read_ahead(producer) as items:
        for number in items:
            if number == 3:
                raise RuntimeError("write failed")
    assert released.is_set()
