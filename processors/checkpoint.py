"""The checkpoint: how a batch read from Kafka becomes durable in a projection.

This is the one place that orders the steps. It knows nothing of faust; the live
worker (``processors.app``) and the tests drive it with the same code::

    0. decode      bytes → LoggedEvent; undecodable/invalid records become dead letters
    1. dead letters are produced to the DLQ and acknowledged by Kafka
    2. write       the batch to the sink (idempotent: replayed positions change nothing)
    3. flush       the sink durably; ``Sink.flush`` then records the watermark
    4. commit      the offsets of the whole batch (ack to the consumer, then commit)

Offsets therefore never move past a record that is neither durable in the sink
nor durable in the DLQ. A retryable sink failure (``SinkUnavailableError``)
repeats steps 2 and 3 with exponential backoff, holding the partition (backpressure)
until the sink recovers or the worker stops; a stopping worker leaves the batch
uncommitted, so it is read again after restart. A permanent failure of the batch
is isolated event by event, and only the events the sink rejects go to the DLQ:
one poison event never stalls its partition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from processors.telemetry import CheckpointTelemetry, record_context
from schemas.codec import EventCodec
from schemas.errors import DecodeError, RetryableError
from sinks.base import Batch, LoggedEvent, LogPosition, Sink

__all__ = [
    "CheckpointResult",
    "Checkpointer",
    "DeadLetter",
    "DeadLetterPublisher",
    "RawRecord",
    "RawSink",
    "RetryPolicy",
    "decode_batch",
]

T = TypeVar("T")
Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record as it came off the log: coordinates, original bytes and headers."""

    position: LogPosition
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record a projection could not apply, with the error that stopped it."""

    record: RawRecord
    projection: str
    error: str
    reason: str


class DeadLetterPublisher(Protocol):
    """Port to the DLQ topic. ``publish`` returns only after Kafka acknowledged every
    letter; it raises ``RetryableError`` when it could not."""

    async def publish(self, letters: Sequence[DeadLetter]) -> None: ...


@runtime_checkable
class RawSink(Protocol):
    """A sink that keeps records as they are on the log (the archive): it gets the
    raw records, undecodable ones included, instead of decoded events."""

    def write_raw(self, records: Sequence[RawRecord]) -> None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff for a retryable sink failure: exponential from ``initial_s`` up to
    ``max_s`` between attempts; ``give_up_after_s`` bounds one batch (``None``: hold
    the partition until the sink is back or the worker stops)."""

    initial_s: float = 0.1
    max_s: float = 10.0
    give_up_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    """What one checkpoint did, for metrics, status and tests."""

    applied: int
    dead: int
    attempts: int
    positions: tuple[LogPosition, ...] = field(default=())


def decode_batch(
    codec: EventCodec, projection: str, records: Sequence[RawRecord]
) -> tuple[list[LoggedEvent], list[DeadLetter]]:
    """Decode raw records into events; undecodable ones become dead letters. Pure."""
    events: list[LoggedEvent] = []
    dead: list[DeadLetter] = []
    for raw in records:
        if raw.value is None:
            dead.append(DeadLetter(raw, projection, "DecodeError", "tombstone: no value"))
            continue
        try:
            record = codec.decode_record(raw.value)
        except DecodeError as exc:
            dead.append(DeadLetter(raw, projection, type(exc).__name__, exc.reason))
            continue
        events.append(LoggedEvent(raw.position, record["event_type"], record["event_id"], record))
    return events, dead


class Checkpointer:
    """Runs the numbered checkpoint for one projection.

    Sink calls are blocking (chDB, rdflib, SQLite); they run on ``executor``, one
    thread per sink, so the event loop keeps heartbeating and serving queries and
    the sink is never used from two threads at once.
    """

    def __init__(
        self,
        sink: Sink,
        codec: EventCodec,
        dlq: DeadLetterPublisher,
        executor: ThreadPoolExecutor,
        *,
        retry: RetryPolicy | None = None,
        stopping: Callable[[], bool] = lambda: False,
        telemetry: CheckpointTelemetry | None = None,
    ) -> None:
        self._sink = sink
        self._codec = codec
        self._dlq = dlq
        self._executor = executor
        self._retry = retry or RetryPolicy()
        self._stopping = stopping
        self._telemetry = telemetry or CheckpointTelemetry(sink.name)

    @property
    def sink(self) -> Sink:
        return self._sink

    async def run(
        self, records: Sequence[RawRecord], commit: Callable[[], Awaitable[None]]
    ) -> CheckpointResult:
        """Apply ``records`` and then call ``commit``; see the module docstring.

        Raises ``RetryableError`` when the sink stays unavailable until the worker
        stops or the policy gives up; ``commit`` is then not called.
        """
        if isinstance(self._sink, RawSink):
            return await self._run_raw(self._sink, records, commit)
        # 0. decode
        events, dead = decode_batch(self._codec, self._sink.name, records)
        attempts = 0
        rejected: list[DeadLetter] = []
        with self._batch_span(records, {e.position: e.record for e in events}):
            if events:
                originals = {r.position: r for r in records}
                attempts, rejected = await self._apply(events, originals)
                dead.extend(rejected)
            # 1. dead letters: durable in the DLQ before their offsets can be committed
            if dead:
                await self._dlq.publish(dead)
                self._telemetry.dead_letters.add(
                    len(dead), {"proofstream.projection": self._sink.name}
                )
            # 4. commit offsets (2 and 3 happened in _apply)
            await commit()
        return CheckpointResult(
            applied=len(events) - len(rejected),
            dead=len(dead),
            attempts=attempts,
            positions=tuple(r.position for r in records),
        )

    def _batch_span(
        self, records: Sequence[RawRecord], decoded: Mapping[LogPosition, Mapping[str, Any]]
    ) -> AbstractContextManager[object]:
        """The batch's span, linked to each record's producer context (header first,
        then the decoded envelope); parsing is skipped when nothing records spans."""
        contexts = (
            [record_context(r.headers, decoded.get(r.position, {}).get("trace")) for r in records]
            if self._telemetry.recording
            else [None] * len(records)
        )
        return self._telemetry.batch(records[0].position.topic if records else "", contexts)

    async def _run_raw(
        self, sink: RawSink, records: Sequence[RawRecord], commit: Callable[[], Awaitable[None]]
    ) -> CheckpointResult:
        """The same steps for a raw sink: nothing to decode, nothing dead."""
        attempts = 0
        with self._batch_span(records, {}):
            async for attempt in self._retrying():
                with attempt:
                    attempts += 1
                    # 2. write the raw records, 3. flush (the sink records its watermark)
                    with self._telemetry.sink_call("write", self._sink.name):
                        await self._call(sink.write_raw, records)
                    with self._telemetry.sink_call("flush", self._sink.name):
                        await self._call(self._sink.flush)
            # 4. commit offsets
            await commit()
        positions = tuple(r.position for r in records)
        return CheckpointResult(len(records), 0, attempts, positions)

    async def _apply(
        self, events: Batch, originals: dict[LogPosition, RawRecord]
    ) -> tuple[int, list[DeadLetter]]:
        """Steps 2 and 3 with backoff; returns attempts and events the sink rejected."""
        attempts = 0
        try:
            async for attempt in self._retrying():
                with attempt:
                    attempts += 1
                    await self._write_and_flush(events)
        except RetryableError:
            raise
        except Exception:  # permanent, or a projection bug: find the culprit events
            return attempts, await self._isolate(events, originals)
        return attempts, []

    async def _write_and_flush(self, events: Batch) -> None:
        # 2. write the batch to the sink
        with self._telemetry.sink_call("write", self._sink.name):
            await self._call(self._sink.write, events)
        # 3. flush it durably; the sink records the watermark after the data is durable
        with self._telemetry.sink_call("flush", self._sink.name):
            await self._call(self._sink.flush)

    async def _isolate(
        self, events: Batch, originals: dict[LogPosition, RawRecord]
    ) -> list[DeadLetter]:
        """Write event by event so that only the events the sink rejects are dead; the
        DLQ gets their original bytes and headers."""
        rejected: list[DeadLetter] = []
        for event in events:
            try:
                async for attempt in self._retrying():
                    with attempt:
                        await self._write_and_flush([event])
            except RetryableError:
                raise
            except Exception as exc:  # never let one event crash or stall the partition
                raw = originals[event.position]
                rejected.append(DeadLetter(raw, self._sink.name, type(exc).__name__, str(exc)))
        return rejected

    def _retrying(self) -> AsyncRetrying:
        policy = self._retry
        stop = stop_after_delay(policy.give_up_after_s) if policy.give_up_after_s else None

        def should_stop(state: object) -> bool:
            return self._stopping() or (stop is not None and stop(state))  # type: ignore[arg-type]

        return AsyncRetrying(
            retry=retry_if_exception_type(RetryableError),
            wait=wait_exponential(multiplier=policy.initial_s, max=policy.max_s),
            stop=should_stop,
            reraise=True,
        )

    async def _call(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
