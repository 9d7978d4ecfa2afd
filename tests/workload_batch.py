"""The simulated workload (``proofstream.workload.simulate``) as a logged batch,
encoded and decoded by the codec exactly as the runtime does."""

from __future__ import annotations

import functools

from proofstream.workload import Workload, simulate
from schemas.codec import EventCodec
from schemas.events import Event
from sinks.base import LoggedEvent, LogPosition


@functools.cache
def _codec() -> EventCodec:
    return EventCodec()


def logged(events: tuple[Event, ...] | list[Event], topic: str = "events") -> list[LoggedEvent]:
    """``events`` at consecutive offsets of partition 0."""
    codec = _codec()
    out = []
    for offset, event in enumerate(events):
        record = codec.decode_record(codec.encode(event))
        out.append(
            LoggedEvent(LogPosition(topic, 0, offset), event.event_type, record["event_id"], record)
        )
    return out


@functools.cache
def workload(runs: int = 12) -> Workload:
    return simulate(runs=runs)


def workload_batch(runs: int = 12) -> list[LoggedEvent]:
    return logged(workload(runs).events)
