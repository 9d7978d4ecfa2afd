"""The checkpoint: how one decoded batch becomes durable in one plane.

This is the one place that orders the steps (quix-streams' ``Checkpoint.commit``).
:meth:`Checkpoint.run` reads top to bottom in step order::

    1. project   the plane's part of the batch → writes (pure)
    2. write     the writes to the store (idempotent); a store that is down is
                 retried with backoff (``retry_after`` honoured) while the
                 partition waits; offsets never move meanwhile
    3. isolate   a batch the store or the projection refuses for good is narrowed
                 down by halves: the rest is written, only the refused records
                 become dead letters
    4. dead letters of this plane → the DLQ, acknowledged by Kafka
    5. flush     the store: durable, then its watermark (``upto``)
    6. commit    ``upto + 1`` per partition to the plane's consumer group

So offsets never move past a record that is neither durable in the store nor
durable in the DLQ. The decode step's own rejects (undecodable records, seed-rule
violations) reach the DLQ before any plane gets the batch (``processors.engine``).
A stopping worker abandons a batch it cannot finish: it stays uncommitted and is
read again after restart, where the store's watermark decides what is applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential

from processors.dlq import DeadLetter, DeadLetterPublisher
from processors.telemetry import CheckpointTelemetry, record_context
from schemas.errors import RetryableError
from sinks.base import Batch, Encoded, LoggedEvent, LogPosition, LogRecord, Projection, Store
from sinks.decode import Decoded

__all__ = ["Checkpoint", "CheckpointResult", "Committer", "RetryPolicy", "select_items"]

Item = LoggedEvent | Encoded | LogRecord


class Committer(Protocol):
    """Commits a plane's progress to its consumer group: ``upto`` is the last applied
    offset per partition. Raises ``RetryableError`` when Kafka does not answer."""

    def commit(self, upto: Mapping[tuple[str, int], int]) -> None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff for a retryable store failure: exponential from ``initial_s`` up to
    ``max_s`` between attempts, never shorter than the error's ``retry_after``;
    ``give_up_after_s`` bounds one batch (``None``: hold the partition until the
    store is back or the worker stops)."""

    initial_s: float = 0.1
    max_s: float = 10.0
    give_up_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    """What one checkpoint did, for metrics, status and tests."""

    applied: int
    dead: int
    attempts: int
    upto: Mapping[tuple[str, int], int]


def _items(batch: Batch) -> Sequence[Item]:
    if batch.events:
        return batch.events
    if batch.encoded:
        return batch.encoded
    return batch.raw


class Checkpoint:
    """Runs the numbered checkpoint for one plane (module docstring). Not thread-safe:
    one lane thread calls it, the thread that opened ``store``."""

    def __init__(
        self,
        projection: Projection[Any],
        store: Store[Any],
        dlq: DeadLetterPublisher,
        committer: Committer,
        *,
        retry: RetryPolicy | None = None,
        stopping: Callable[[], bool] = lambda: False,
        telemetry: CheckpointTelemetry | None = None,
    ) -> None:
        self._projection = projection
        self._store = store
        self._dlq = dlq
        self._committer = committer
        self._retry = retry or RetryPolicy()
        self._stopping = stopping
        self._telemetry = telemetry or CheckpointTelemetry(projection.name)

    @property
    def name(self) -> str:
        return self._projection.name

    def run(self, decoded: Decoded) -> CheckpointResult:
        """Apply this plane's part of ``decoded`` and commit (module docstring).

        Raises ``RetryableError`` when the store, the DLQ or Kafka stays unavailable
        until the worker stops or the policy gives up; nothing is committed then.
        """
        batch = decoded.batch_for(self._projection)
        items = _items(batch)
        with self._span(decoded, batch):
            attempts = 0
            dead: list[DeadLetter] = []
            try:
                # 1. project, 2. write — retried while the store is down
                attempts = self._write(batch)
            except RetryableError:
                raise
            except Exception as exc:  # refused for good, or a projection bug
                # 3. isolate: only the refused records become dead letters
                dead = self._isolate(list(items), _originals(decoded), exc) if items else []
                self._write(Batch(upto=batch.upto))  # the watermark still covers them
            # 4. this plane's dead letters, durable before the commit
            if dead:
                self._retrying(self._dlq.publish, dead)
                self._telemetry.dead_letters.add(len(dead), {"proofstream.projection": self.name})
            # 5. flush: durable, then the watermark
            with self._telemetry.sink_call("flush", self._store.name):
                self._retrying(self._store.flush)
            # 6. commit the offsets of the whole batch
            self._retrying(self._committer.commit, batch.upto)
        return CheckpointResult(len(items) - len(dead), len(dead), attempts, batch.upto)

    def _write(self, batch: Batch) -> int:
        """Steps 1 and 2 with backoff; returns the number of attempts."""
        attempts = 0

        def once() -> None:
            nonlocal attempts
            attempts += 1
            writes = self._projection.project(batch)
            with self._telemetry.sink_call("write", self._store.name):
                self._store.write(writes, batch.upto)

        self._retrying(once)
        return attempts

    def _isolate(
        self, items: list[Item], originals: Mapping[LogPosition, LogRecord], error: Exception
    ) -> list[DeadLetter]:
        """``items`` were refused together with ``error``: write them in halves until
        every refused record stands alone (about log2 of the batch in extra writes per
        bad record); the rest is applied."""
        if len(items) == 1:
            record = originals[items[0].position]
            return [DeadLetter(record, self.name, type(error).__name__, str(error))]
        middle = len(items) // 2
        dead: list[DeadLetter] = []
        for half in (items[:middle], items[middle:]):
            try:
                self._write(select_items(half))
            except RetryableError:
                raise
            except Exception as exc:  # never let one record crash or stall the partition
                dead += self._isolate(half, originals, exc)
        return dead

    def _retrying(self, fn: Callable[..., Any], *args: Any) -> Any:
        policy = self._retry
        for attempt in Retrying(
            retry=retry_if_exception_type(RetryableError),
            wait=_wait(policy),
            stop=self._stop(policy),
            reraise=True,
        ):
            with attempt:
                return fn(*args)
        return None  # pragma: no cover - Retrying either returns or raises

    def _stop(self, policy: RetryPolicy) -> Callable[[RetryCallState], bool]:
        def stop(state: RetryCallState) -> bool:
            if self._stopping():
                return True
            limit = policy.give_up_after_s
            return limit is not None and (state.seconds_since_start or 0.0) >= limit

        return stop

    def _span(self, decoded: Decoded, batch: Batch) -> Any:
        """The batch's span, linked to each record's producer context (header first,
        then a decoded envelope); parsing is skipped when nothing records spans."""
        if not self._telemetry.recording:
            return self._telemetry.batch(_topic(decoded), [None] * len(decoded.records))
        envelopes = {e.position: e.record.get("trace") for e in batch.events}
        contexts = [record_context(r.headers, envelopes.get(r.position)) for r in decoded.records]
        return self._telemetry.batch(_topic(decoded), contexts)


def select_items(items: Sequence[Item]) -> Batch:
    """A batch of ``items`` of one kind (events, encoded or raw records). Pure."""
    if not items:
        return Batch()
    first = items[0]
    if isinstance(first, LoggedEvent):
        return Batch(events=[i for i in items if isinstance(i, LoggedEvent)])
    if isinstance(first, Encoded):
        return Batch(encoded=[i for i in items if isinstance(i, Encoded)])
    return Batch(raw=[i for i in items if isinstance(i, LogRecord)])


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    backoff = wait_exponential(multiplier=policy.initial_s, max=policy.max_s)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        return max(backoff(state), float(getattr(error, "retry_after", 0.0) or 0.0))

    return wait


def _originals(decoded: Decoded) -> Mapping[LogPosition, LogRecord]:
    return {r.position: r for r in decoded.records}


def _topic(decoded: Decoded) -> str:
    return decoded.records[0].position.topic if decoded.records else ""
