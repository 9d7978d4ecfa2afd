"""The contract every plane shares: log records, batches, projections and stores.

A plane is a **projection** beside a **store** (eventsourcing's Mapper beside its
Recorder)::

    Batch ──Projection.project()──► writes ──Store.write(writes, upto)──► store
             pure: no I/O, no state          impure: persists, idempotent

- :class:`LogRecord` is a record as it came off the log (live or replay); the
  one decode step (:mod:`sinks.decode`) turns records into a :class:`Batch`.
- A projection declares what it reads (:attr:`Projection.reads`, the event types;
  :attr:`Projection.input`, decoded events, still-encoded records, or every raw
  record). The runtime decodes only what some projection needs, once per batch,
  and hands each projection only its part. A projection that runs inside its
  store (the facts plane: ClickHouse decodes Avro blocks and projects in SQL)
  takes ``Input.ENCODED`` and returns the blocks as its writes: no special case.
- A store only persists writes and reports its watermark.

Store contract (checked for every store by ``tests/contract/store_contract.py``):

- ``write(writes, upto)`` applies ``writes``. It is **idempotent**: applying the
  writes of the same log positions again, whole or in part, leaves the store as
  it was; every write is keyed on ``event_id`` or the log position. ``upto`` is
  the highest offset per partition the writes cover (records the projection does
  not read included): the store remembers it for the next ``flush``.
- ``flush()`` returns only when everything written so far is durable, and then
  records the watermark. Offsets may be committed only after it returns.
- ``watermark()`` returns the last flushed offset per ``(topic, partition)``; it
  never goes backwards.
- ``close()`` releases the store; it is idempotent and does not flush.

A store that cannot reach its backend raises ``SinkUnavailableError``
(retryable, with ``retry_after``): the runtime retries the same batch and never
commits past it. A store that rejects writes raises ``PermanentError``: the
runtime narrows the batch down to the rejected events and dead-letters them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = [
    "Batch",
    "Encoded",
    "Headers",
    "Input",
    "LogPosition",
    "LogRecord",
    "LoggedEvent",
    "Projection",
    "Store",
    "Watermark",
    "advance",
    "high_offsets",
]

Watermark = dict[tuple[str, int], int]
"""Last applied offset per ``(topic, partition)``."""

Headers = tuple[tuple[str, bytes], ...]
"""Record headers as Kafka keeps them: ordered, keys may repeat."""


@dataclass(frozen=True, slots=True, order=True)
class LogPosition:
    """Where a record sits in Kafka: the coordinate every idempotency key can use."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class LogRecord:
    """A record as it came off the log (live consumer, replay reader or archive):
    its coordinates, original key, value and headers, and the broker timestamp."""

    position: LogPosition
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int | None = None


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


@dataclass(frozen=True, slots=True)
class Encoded:
    """A valid record whose single-object header was read but whose body was not
    decoded: the writer schema's ``fingerprint``, its ``event_type`` and the Avro
    ``body`` after the 10-byte header. What a projection that decodes in its
    store (``Input.ENCODED``) gets."""

    position: LogPosition
    event_type: str
    fingerprint: bytes
    body: bytes


class Input(StrEnum):
    """What a projection reads of a batch."""

    EVENTS = "events"
    """Decoded events of the types it reads (``Batch.events``)."""
    ENCODED = "encoded"
    """Valid records of the types it reads, still Avro-encoded (``Batch.encoded``)."""
    RAW = "raw"
    """Every record as read, undecodable ones included (``Batch.raw``): the archive."""


@dataclass(frozen=True, slots=True)
class Batch:
    """What a projection gets for one checkpoint, in log order per partition.

    Only the part its ``input`` names is filled; events and encoded records are
    already filtered to the types it reads. ``upto`` is the highest offset per
    partition the batch covers, whatever the projection reads: the watermark the
    store records once the batch is flushed.
    """

    upto: Mapping[tuple[str, int], int] = field(default_factory=dict)
    events: Sequence[LoggedEvent] = ()
    encoded: Sequence[Encoded] = ()
    raw: Sequence[LogRecord] = ()

    def __len__(self) -> int:
        return len(self.events) + len(self.encoded) + len(self.raw)

    @property
    def positions(self) -> list[LogPosition]:
        """The positions of whatever the batch holds, in batch order."""
        if self.events:
            return [e.position for e in self.events]
        if self.encoded:
            return [e.position for e in self.encoded]
        return [r.position for r in self.raw]


W = TypeVar("W")
W_co = TypeVar("W_co", covariant=True)
W_contra = TypeVar("W_contra", contravariant=True)


@runtime_checkable
class Projection(Protocol[W_co]):
    """The pure half of a plane: a batch in, the plane's writes out.

    ``project`` does no I/O, keeps no state between calls and never mutates its
    argument: the same batch always yields the same writes, which is what makes
    replay and the stores' idempotence sound. Raising from ``project`` is a
    projection bug for the events of that batch: the runtime narrows the batch
    down and dead-letters the events it fails on.
    """

    @property
    def name(self) -> str:
        """The plane's name: its consumer group suffix and its name in the registry."""
        ...

    @property
    def version(self) -> int:
        """Bumped when the mapping changes; recorded with every rebuilt generation."""
        ...

    @property
    def reads(self) -> frozenset[str] | None:
        """The event types the projection reads; ``None`` means every type."""
        ...

    @property
    def input(self) -> Input:
        """Which part of a batch the projection reads."""
        ...

    def project(self, batch: Batch) -> W_co: ...


@runtime_checkable
class Store(Protocol[W_contra]):
    """The impure half of a plane: persists writes (see the module docstring)."""

    @property
    def name(self) -> str: ...

    def write(self, writes: W_contra, upto: Mapping[tuple[str, int], int]) -> None: ...

    def flush(self) -> None: ...

    def watermark(self) -> Watermark: ...

    def close(self) -> None: ...


def high_offsets(positions: Iterable[LogPosition]) -> Watermark:
    """The highest offset per partition among ``positions``. Pure."""
    marks: Watermark = {}
    for pos in positions:
        key = (pos.topic, pos.partition)
        if pos.offset > marks.get(key, -1):
            marks[key] = pos.offset
    return marks


def advance(
    current: Mapping[tuple[str, int], int], new: Mapping[tuple[str, int], int]
) -> Watermark:
    """Merge ``new`` into ``current`` without ever moving a partition backwards. Pure."""
    merged = dict(current)
    for key, offset in new.items():
        if offset > merged.get(key, -1):
            merged[key] = offset
    return merged
