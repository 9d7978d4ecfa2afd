"""One contract suite for every store (eventsourcing's shared recorder tests, in spirit).

A backend's test module subclasses :class:`StoreContract` and implements:

- ``make_projection()``: the plane's pure projection;
- ``make_store(tmp_path)``: open the store on a backend under ``tmp_path`` (the live
  store, or a generation store pointed at a shadow table/directory);
- ``stored_keys(store)``: what the store holds, read back from the store itself
  (event ids, triples, aspect keys, …);
- ``expected_keys(batch)``: what it must hold after ``batch`` was applied;

and may override ``make_event`` to feed events of the types the plane reads.

Batches are built the way the runtime builds them: real events are encoded by the
codec into log records and go through the one decode step (``sinks.decode``), so
a projection gets exactly the part of a batch it declares it reads.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.codec import EventCodec
from schemas.envelope import TeamType
from schemas.errors import SinkUnavailableError
from schemas.events import Event, RunStarted
from sinks.base import Batch, LogPosition, LogRecord, Projection, Store
from sinks.decode import Needs, decode
from tests import factories

TOPIC = "events"


@functools.cache
def test_codec() -> EventCodec:
    """One codec for the test session (it is immutable)."""
    return EventCodec()


def event_id(partition: int, offset: int) -> uuid.UUID:
    """The deterministic event id the contract gives the event at a position."""
    return uuid.UUID(int=(partition << 64) + offset + 1)


def run_started(partition: int, offset: int) -> Event:
    """A real ``run.started`` event for a position (7 runs, so identities repeat)."""
    return RunStarted(
        event_id=event_id(partition, offset),
        occurred_at=datetime(2026, 11, 1, 12, 0, offset % 60, tzinfo=UTC),
        producer=factories.producer(),
        actor=factories.agent(team=TeamType.RESEARCH),
        subject=factories.subject(run_id=f"run-{offset % 7}", project="p"),
        goal=f"goal {offset}",
    )


def records_of(events: Sequence[Event], partition: int = 0, start: int = 0) -> list[LogRecord]:
    """``events`` encoded as the producer encodes them, at consecutive offsets."""
    codec = test_codec()
    return [
        LogRecord(LogPosition(TOPIC, partition, start + i), None, codec.encode(e))
        for i, e in enumerate(events)
    ]


def batch_for(projection: Projection[Any], records: Sequence[LogRecord]) -> Batch:
    """The part of ``records`` ``projection`` reads, through the one decode step."""
    decoded = decode(test_codec(), records, Needs.of([projection]))
    assert not decoded.rejected, decoded.rejected
    return decoded.batch_for(projection)


class StoreContract:
    """Subclass and implement the hooks; every test here then runs on the backend."""

    persistent: bool = True

    def make_projection(self) -> Projection[Any]:
        raise NotImplementedError

    def make_store(self, tmp_path: Path) -> Store[Any]:
        raise NotImplementedError

    def stored_keys(self, store: Store[Any]) -> set[str]:
        raise NotImplementedError

    def expected_keys(self, batch: Batch) -> set[str]:
        """Default: one stored key per event, its event id."""
        return {e.event_id for e in batch.events} | {
            str(uuid.UUID(int=_id_of(e.position))) for e in batch.encoded
        }

    def make_event(self, partition: int, offset: int) -> Event:
        return run_started(partition, offset)

    # --- helpers ---------------------------------------------------------------------

    def batch(self, count: int, partition: int = 0, start: int = 0) -> Batch:
        events = [self.make_event(partition, o) for o in range(start, start + count)]
        return batch_for(self.projection, records_of(events, partition, start))

    def apply(self, store: Store[Any], batch: Batch) -> None:
        store.write(self.projection.project(batch), batch.upto)

    @functools.cached_property
    def projection(self) -> Projection[Any]:
        return self.make_projection()

    @pytest.fixture()
    def store(self, tmp_path: Path) -> Any:
        opened = self.make_store(tmp_path)
        yield opened
        opened.close()

    # --- the contract ----------------------------------------------------------------

    def test_is_a_store_beside_a_projection(self, store: Store[Any]) -> None:
        assert isinstance(store, Store)
        assert isinstance(self.projection, Projection)
        assert store.name

    def test_write_then_flush_stores_every_event(self, store: Store[Any]) -> None:
        batch = self.batch(25)
        self.apply(store, batch)
        store.flush()
        assert self.stored_keys(store) == self.expected_keys(batch)

    def test_write_is_idempotent(self, store: Store[Any]) -> None:
        batch = self.batch(20)
        self.apply(store, batch)
        store.flush()
        before = self.stored_keys(store)
        self.apply(store, batch)  # the same positions again, as after a crash before commit
        self.apply(store, self.batch(7, start=5))  # and an overlapping, differently cut batch
        store.flush()
        assert self.stored_keys(store) == before
        assert before == self.expected_keys(batch)

    def test_watermark_is_last_flushed_offset_per_partition(self, store: Store[Any]) -> None:
        assert store.watermark() == {}
        first, second = self.batch(10, partition=0), self.batch(4, partition=2, start=100)
        self.apply(store, first)
        self.apply(store, second)
        assert store.watermark() == {}  # nothing is recorded before a flush
        store.flush()
        assert store.watermark() == {(TOPIC, 0): 9, (TOPIC, 2): 103}

    def test_watermark_covers_records_the_plane_does_not_read(self, store: Store[Any]) -> None:
        # a batch of nothing the projection reads still moves its watermark: the
        # offsets were read, there is simply nothing to write for them
        self.apply(store, Batch(upto={(TOPIC, 1): 41}))
        store.flush()
        assert store.watermark() == {(TOPIC, 1): 41}

    def test_watermark_never_goes_backwards(self, store: Store[Any]) -> None:
        self.apply(store, self.batch(10, start=10))
        store.flush()
        self.apply(store, self.batch(5, start=0))  # a redelivered older batch
        store.flush()
        assert store.watermark() == {(TOPIC, 0): 19}

    def test_empty_batch_is_a_no_op(self, store: Store[Any]) -> None:
        self.apply(store, Batch())
        store.flush()
        assert store.watermark() == {}
        assert self.stored_keys(store) == set()

    def test_close_is_idempotent_and_final(self, tmp_path: Path) -> None:
        store = self.make_store(tmp_path)
        store.close()
        store.close()
        with pytest.raises(SinkUnavailableError):
            store.watermark()

    def test_state_survives_reopen(self, tmp_path: Path) -> None:
        if not self.persistent:
            pytest.skip("in-memory fake: nothing to reopen")
        store = self.make_store(tmp_path)
        batch = self.batch(8, partition=1)
        self.apply(store, batch)
        store.flush()
        store.close()
        reopened = self.make_store(tmp_path)
        try:
            assert reopened.watermark() == {(TOPIC, 1): 7}
            assert self.stored_keys(reopened) == self.expected_keys(batch)
        finally:
            reopened.close()


def _id_of(position: LogPosition) -> int:
    return int(event_id(position.partition, position.offset))
