"""One contract suite for every sink (eventsourcing's shared recorder tests, in spirit).

A backend's test module subclasses :class:`SinkContract` and implements
``make_sink`` (open the sink on the store at ``tmp_path``) and ``stored_ids``
(the ``event_id``s the store holds, read back from the store itself).
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
from schemas.events import RunStarted
from sinks.base import LoggedEvent, LogPosition, Sink
from tests import factories


@functools.cache
def test_codec() -> EventCodec:
    """One codec for the test session (it is immutable)."""
    return EventCodec()


def make_batch(
    count: int, topic: str = "events", partition: int = 0, start: int = 0
) -> list[LoggedEvent]:
    """``count`` real ``run.started`` events, encoded and decoded by the codec exactly
    as the runtime does, at consecutive offsets with deterministic event ids."""
    codec = test_codec()
    batch = []
    for offset in range(start, start + count):
        event = RunStarted(
            event_id=uuid.UUID(int=(partition << 64) + offset + 1),
            occurred_at=datetime(2026, 11, 1, 12, 0, offset % 60, tzinfo=UTC),
            producer=factories.producer(),
            actor=factories.agent(team=TeamType.RESEARCH),
            subject=factories.subject(run_id=f"run-{offset % 7}", project="p"),
            goal=f"goal {offset}",
        )
        record = codec.decode_record(codec.encode(event))
        batch.append(
            LoggedEvent(
                LogPosition(topic, partition, offset), "run.started", record["event_id"], record
            )
        )
    return batch


class SinkContract:
    """Subclass and implement the two hooks; every test here then runs on the backend."""

    persistent: bool = True

    def make_sink(self, tmp_path: Path) -> Sink:
        raise NotImplementedError

    def stored_ids(self, sink: Sink) -> set[str]:
        raise NotImplementedError

    @pytest.fixture()
    def sink(self, tmp_path: Path) -> Any:
        opened = self.make_sink(tmp_path)
        yield opened
        opened.close()

    def _ids(self, batch: Sequence[LoggedEvent]) -> set[str]:
        return {item.event_id for item in batch}

    def test_is_a_sink(self, sink: Sink) -> None:
        assert isinstance(sink, Sink)
        assert sink.name

    def test_write_then_flush_stores_every_event(self, sink: Sink) -> None:
        batch = make_batch(25)
        sink.write(batch)
        sink.flush()
        assert self.stored_ids(sink) == self._ids(batch)

    def test_write_is_idempotent(self, sink: Sink) -> None:
        batch = make_batch(20)
        sink.write(batch)
        sink.flush()
        before = self.stored_ids(sink)
        sink.write(batch)  # the same positions again, as after a crash before commit
        sink.write(batch[5:12])  # and an overlapping, differently cut batch
        sink.flush()
        assert self.stored_ids(sink) == before
        assert len(before) == 20

    def test_watermark_is_last_flushed_offset_per_partition(self, sink: Sink) -> None:
        assert sink.watermark() == {}
        sink.write(make_batch(10, partition=0) + make_batch(4, partition=2, start=100))
        sink.flush()
        assert sink.watermark() == {("events", 0): 9, ("events", 2): 103}

    def test_watermark_never_goes_backwards(self, sink: Sink) -> None:
        sink.write(make_batch(10, start=10))
        sink.flush()
        sink.write(make_batch(5, start=0))  # a redelivered older batch
        sink.flush()
        assert sink.watermark() == {("events", 0): 19}

    def test_empty_batch_is_a_no_op(self, sink: Sink) -> None:
        sink.write([])
        sink.flush()
        assert sink.watermark() == {}
        assert self.stored_ids(sink) == set()

    def test_close_is_idempotent(self, tmp_path: Path) -> None:
        sink = self.make_sink(tmp_path)
        sink.close()
        sink.close()

    def test_state_survives_reopen(self, tmp_path: Path) -> None:
        if not self.persistent:
            pytest.skip("in-memory fake: nothing to reopen")
        sink = self.make_sink(tmp_path)
        batch = make_batch(8, partition=1)
        sink.write(batch)
        sink.flush()
        sink.close()
        reopened = self.make_sink(tmp_path)
        try:
            assert reopened.watermark() == {("events", 1): 7}
            assert self.stored_ids(reopened) == self._ids(batch)
        finally:
            reopened.close()
