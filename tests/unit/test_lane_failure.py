"""A lane that fails halts the engine instead of stalling every plane; a stop ends it.

On the in-memory plane (``sinks.memory``, which passes the store contract suite); the
failure is a store whose flush raises an error no retry can mend.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

import pytest

from processors.lane import Lane
from processors.settings import ProcessorSettings
from sinks.memory import MemoryProjection, MemoryStore, MemoryWrites
from sinks.plane import Plane
from tests.unit.test_checkpoint import MemoryCommitter, MemoryDeadLetters, decoded_of, encoded
from tests.waiting import wait_until

SETTINGS = ProcessorSettings(lane_queue=1, retry_initial_s=0.01, retry_max_s=0.05)


class FlushFails(MemoryStore):
    """Writes, then refuses every flush with an error that is not retryable."""

    def flush(self) -> None:
        raise RuntimeError("the disk says no")


class HeldWrites(MemoryStore):
    """Every write waits until ``release`` is set (a slow store)."""

    def __init__(self) -> None:
        super().__init__("held")
        self.release = threading.Event()
        self.writing = threading.Event()

    def write(self, writes: MemoryWrites, upto: Mapping[tuple[str, int], int]) -> None:
        self.writing.set()
        self.release.wait(30)
        super().write(writes, upto)


def started(store: MemoryStore, halt: threading.Event, batch: int) -> tuple[Lane, MemoryCommitter]:
    """A started lane over ``store``, given one batch of ``batch`` events; and its commits."""
    commits = MemoryCommitter()
    plane = Plane("memory", MemoryProjection(), lambda: store)
    lane = Lane(plane, MemoryDeadLetters(), lambda group: commits, SETTINGS, halt)
    lane.start()
    assert lane.submit(decoded_of(encoded(batch)))
    return lane, commits


@pytest.fixture
def halt() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # no lane thread outlives its test


def test_a_failed_lane_says_why_halts_the_engine_and_commits_nothing(
    halt: threading.Event,
) -> None:
    store = FlushFails("memory")
    lane, commits = started(store, halt, 3)
    wait_until(lambda: lane.failure, timeout=10, what="the lane's failure")
    lane.join(10)
    assert lane.failure == "RuntimeError: the disk says no"
    assert lane.status.health == "failed: the disk says no"
    assert halt.is_set()  # the consumer and the other lanes stop after their batch
    assert commits.commits == []  # offsets never moved past the undurable batch
    assert store.closed
    assert not lane.submit(decoded_of(encoded(1)))  # the consumer is not held back


def test_an_orderly_stop_is_not_a_failure(halt: threading.Event) -> None:
    store = MemoryStore("memory")
    lane, commits = started(store, halt, 2)
    wait_until(lambda: commits.commits, timeout=10, what="the first commit")
    halt.set()
    lane.request_stop()
    lane.join(10)
    assert lane.failure is None
    assert commits.commits == [{("events", 0): 1}]
    assert store.closed


def test_a_stop_asked_while_the_queue_is_full_still_ends_the_thread(
    halt: threading.Event,
) -> None:
    store = HeldWrites()
    lane, commits = started(store, halt, 2)  # taken, held in the store's write
    assert store.writing.wait(10)
    assert lane.submit(decoded_of(encoded(2), start=2))  # fills the queue (lane_queue=1)
    halt.set()
    lane.request_stop()  # the queue is full: no _STOP gets in
    store.release.set()
    lane.join(10)
    # the batch in hand finished; the queued one is left for after the restart
    assert store.closed
    assert lane.failure is None
    assert commits.commits == [{("events", 0): 1}]
