"""The contract every projection and every sink shares.

A **projection** is pure: it maps a batch of decoded events, each with its log
position, to the writes of one plane (rows, triples, aspects) and does no I/O.
A **sink** is the impure half: it applies those writes to a store.

Sink contract (checked for every sink by ``tests/contract/sink_contract.py``):

- ``write(batch)`` applies the batch. It is **idempotent**: writing the same
  positions again, whole or in part, leaves the store as it was. Every write is
  keyed on ``event_id`` or on the log position.
- ``flush()`` returns only when everything written so far is durable, and then
  records the watermark of what it made durable. Offsets may be committed only
  after it returns.
- ``watermark()`` returns the last applied offset per ``(topic, partition)``, as
  recorded by the last successful ``flush()``; it never goes backwards.
- ``close()`` releases the store; it is idempotent and does not flush.

A sink that cannot reach its store raises ``SinkUnavailableError`` (retryable):
the runtime pauses, retries the same batch with backoff and never advances
offsets past it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Batch",
    "LogPosition",
    "LoggedEvent",
    "Sink",
    "Watermark",
    "advance",
    "high_offsets",
]

Watermark = dict[tuple[str, int], int]
"""Last applied offset per ``(topic, partition)``."""


@dataclass(frozen=True, slots=True, order=True)
class LogPosition:
    """Where a record sits in Kafka: the coordinate every idempotency key can use."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One decoded event and where it was read from.

    ``record`` is the event as the codec decodes it into the current reader schema
    (a plain mapping, cheaper than a model on the hot path); ``event_type`` and
    ``event_id`` are lifted out because every projection needs them.
    """

    position: LogPosition
    event_type: str
    event_id: str
    record: Mapping[str, Any] = field(compare=False)


Batch = Sequence[LoggedEvent]


def high_offsets(batch: Iterable[LoggedEvent]) -> Watermark:
    """The highest offset per partition in ``batch``. Pure."""
    marks: Watermark = {}
    for item in batch:
        key = (item.position.topic, item.position.partition)
        if item.position.offset > marks.get(key, -1):
            marks[key] = item.position.offset
    return marks


def advance(current: Watermark, new: Mapping[tuple[str, int], int]) -> Watermark:
    """Merge ``new`` into ``current`` without ever moving a partition backwards. Pure."""
    merged = dict(current)
    for key, offset in new.items():
        if offset > merged.get(key, -1):
            merged[key] = offset
    return merged


@runtime_checkable
class Sink(Protocol):
    """The port every projection store implements (see the module docstring)."""

    @property
    def name(self) -> str:
        """Stable name of the projection; also its consumer group suffix."""
        ...

    def write(self, batch: Batch) -> None: ...

    def flush(self) -> None: ...

    def watermark(self) -> Watermark: ...

    def close(self) -> None: ...
