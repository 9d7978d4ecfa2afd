"""The one projection engine: one consumer, one decode per batch, one lane per plane.

::

    Kafka ──consume (batch bounded in records and bytes)──► decode once (sinks.decode)
                │                                             │ rejects ──► DLQ (acked)
                │                                             ▼
                │                 ┌──── lane "facts"    (thread, queue) ── Checkpoint
                └── assign ───────┼──── lane "identity" (thread, queue) ── Checkpoint
                                  └──── …

- **One consumer** per worker process reads every partition of the events topic by
  explicit assignment (the planes of one store live in one process, so there is
  nothing to balance) and hands each batch, decoded once for all planes, to every
  lane. A plane decodes only the event types it reads (``Needs``).
- **One lane per plane** (``processors.lane``): a thread that opens the plane's
  store, runs the numbered checkpoint (``processors.checkpoint``) for each batch and
  closes the store. A bounded queue between consumer and lanes keeps memory flat: a
  slow plane holds the consumer back instead of piling batches up.
- **Positions**: the store's watermark is the truth (eventsourcing's tracking
  record). A lane resumes after it and skips what it already holds; its consumer
  group ``<prefix>.<plane>`` mirrors the progress for Kafka's own tools
  (``kafka-consumer-groups``) and for ``proofstream status``.
- **Failure**: a lane that ends on its own, or the consumer thread failing, halts
  the engine and sets :attr:`Engine.failure`; the host stops the worker with a
  non-zero exit (``processors.worker``) rather than run on with a plane that applies
  nothing: a restart resumes every plane after its store's watermark.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition
from opentelemetry import metrics, trace

from processors.dlq import ALL_PROJECTIONS, DeadLetter, DeadLetterPublisher, KafkaDeadLetters
from processors.lane import POLL_S, Lane
from processors.offsets import KafkaCommitter
from processors.settings import ProcessorSettings
from processors.telemetry import CheckpointTelemetry
from producers.settings import KafkaSettings
from schemas.codec import EventCodec
from schemas.errors import BrokerUnavailableError, RetryableError
from sinks.base import LogPosition, LogRecord
from sinks.decode import Decoded, Needs, decode
from sinks.plane import Plane

__all__ = ["Engine"]

log = logging.getLogger(__name__)

_METADATA_EVERY_S = 30.0


class Engine:
    """The worker's engine for ``planes`` (module docstring). ``start`` and ``stop``
    are called once each, from the host's thread."""

    def __init__(
        self,
        planes: Sequence[Plane[Any]],
        codec: EventCodec,
        kafka: KafkaSettings,
        settings: ProcessorSettings,
        *,
        dlq: DeadLetterPublisher | None = None,
        publish_rejects: bool = True,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._codec = codec
        self._kafka = kafka
        self._settings = settings
        self._topic = kafka.topics.events
        self._halt = threading.Event()
        self._dlq = dlq or KafkaDeadLetters(kafka)
        self.lanes = [
            Lane(
                p,
                self._dlq,
                lambda group: KafkaCommitter(kafka, group),
                settings,
                self._halt,
                CheckpointTelemetry(p.name, tracer_provider, meter_provider),
            )
            for p in planes
        ]
        self._needs = Needs.of([p.projection for p in planes])
        # the decode step's rejects are no plane's: when the planes are split over
        # workers, one of them publishes them (the others read the same log)
        self._publish_rejects = publish_rejects
        self._consumer: Consumer | None = None
        self._thread: threading.Thread | None = None
        self._assigned: set[int] = set()
        self._highs: dict[int, int] = {}
        self.rejected = 0
        self.batches = 0
        self._consumer_failure: str | None = None

    @property
    def stopping(self) -> bool:
        return self._halt.is_set()

    @property
    def failure(self) -> str | None:
        """Why the engine halted on its own (a lane or the consumer thread ended
        before it was asked to stop), or None. Read from any thread."""
        if self._consumer_failure is not None:
            return self._consumer_failure
        failed = [f"lane {lane.plane.name}: {lane.failure}" for lane in self.lanes if lane.failure]
        return "; ".join(failed) or None

    def start(self) -> None:
        """Open every store (each on its lane's thread), then start consuming from the
        earliest position any plane still needs."""
        for lane in self.lanes:
            lane.start()
        self._consumer = Consumer(_consumer_config(self._kafka, self._settings))
        self._assign(initial=True)
        self._thread = threading.Thread(target=self._consume, name="engine-consume", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop consuming, let every lane finish or abandon its batch, close the
        stores. Bounded by ``timeout_s`` in all, whatever the broker's state: every
        thread is asked at once, then each is waited for until one deadline."""
        self._halt.set()
        deadline = time.monotonic() + timeout_s
        for lane in self.lanes:
            lane.request_stop()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        for lane in self.lanes:
            lane.join(deadline - time.monotonic())

    def lag(self) -> dict[str, int]:
        """Records between each plane's watermark and the high watermark, from the
        high watermarks the consumer thread last saw (no broker round trip, no call
        into the consumer from another thread); empty while they are not known."""
        highs = dict(self._highs)
        if not self._assigned or set(highs) != self._assigned:
            return {}  # not fetched from every partition yet: unknown, not zero
        return {
            lane.plane.name: sum(
                max(0, high - lane.status.watermark.get((self._topic, p), -1) - 1)
                for p, high in highs.items()
            )
            for lane in self.lanes
        }

    def _note_highs(self, consumer: Consumer) -> None:
        for partition in self._assigned:
            try:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(self._topic, partition), cached=True
                )
            except KafkaException:
                continue
            if high >= 0:
                self._highs[partition] = high

    # --- the consumer thread ---------------------------------------------------------

    def _assign(self, *, initial: bool = False) -> None:
        assert self._consumer is not None
        try:
            metadata = self._consumer.list_topics(self._topic, timeout=10)
        except KafkaException as exc:
            if initial:
                raise BrokerUnavailableError(
                    f"cannot read the metadata of {self._topic}: {exc}"
                ) from exc
            return
        info = metadata.topics.get(self._topic)
        if info is None or info.error is not None:
            if initial:
                raise BrokerUnavailableError(
                    f"topic {self._topic} is not available: {info and info.error}"
                )
            return
        new = sorted(set(info.partitions) - self._assigned)
        if not new:
            return
        starts = [TopicPartition(self._topic, p, self._start_of(p)) for p in new]
        self._consumer.incremental_assign(starts)
        self._assigned.update(new)
        log.info("consuming %s from %s", self._topic, {tp.partition: tp.offset for tp in starts})

    def _start_of(self, partition: int) -> int:
        """The earliest offset any lane still needs on ``partition``."""
        key = (self._topic, partition)
        needed = [lane.starts.get(key, 0) for lane in self.lanes]
        first = min(needed) if needed else 0
        return OFFSET_BEGINNING if first <= 0 else first

    def _consume(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        checked = time.monotonic()
        try:
            while not self._halt.is_set():
                records = self._poll(consumer)
                self._note_highs(consumer)
                if time.monotonic() - checked > _METADATA_EVERY_S:
                    self._assign()  # partitions added to the topic since
                    checked = time.monotonic()
                if not records:
                    continue
                decoded = decode(self._codec, records, self._needs)
                if decoded.rejected and self._publish_rejects and not self._publish(decoded):
                    return  # halting before the DLQ took them: nothing is committed
                self.batches += 1
                self.rejected += len(decoded.rejected)
                for lane in self.lanes:
                    if not lane.submit(decoded):
                        return
        except Exception as exc:  # the consumer thread must not die silently
            log.exception("engine: consumer thread failed")
            self._consumer_failure = f"consumer: {type(exc).__name__}: {exc}"
            self._halt.set()
        finally:
            consumer.close()

    def _poll(self, consumer: Consumer) -> list[LogRecord]:
        """Up to ``batch_max`` records / ``batch_max_bytes`` bytes, waiting at most
        ``batch_within_s`` for the first ones."""
        settings = self._settings
        records: list[LogRecord] = []
        size = 0
        deadline = time.monotonic() + settings.batch_within_s
        while len(records) < settings.batch_max and size < settings.batch_max_bytes:
            timeout = deadline - time.monotonic()
            if timeout <= 0 or self._halt.is_set():
                break
            messages = consumer.consume(settings.batch_max - len(records), min(timeout, POLL_S))
            for message in messages:
                if message.error() is not None:
                    log.warning("engine: consume error %s", message.error())
                    continue
                record = _record(message)
                records.append(record)
                size += len(record.value or b"")
            if records and not messages:
                break
        return records

    def _publish(self, decoded: Decoded) -> bool:
        """The decode step's rejects → DLQ (no plane may apply them), retried until
        Kafka acknowledges them or the worker stops."""
        letters = [
            DeadLetter(r.record, ALL_PROJECTIONS, r.error, r.reason) for r in decoded.rejected
        ]
        delay = self._settings.retry_initial_s
        while not self._halt.is_set():
            try:
                self._dlq.publish(letters)
                return True
            except RetryableError as exc:
                log.warning("engine: DLQ unavailable, retrying: %s", exc)
                self._halt.wait(delay)
                delay = min(delay * 2, self._settings.retry_max_s)
        return False


def _consumer_config(kafka: KafkaSettings, settings: ProcessorSettings) -> dict[str, Any]:
    return {
        **kafka.client_config(),
        # required by librdkafka; with explicit assignment the group is never joined
        "group.id": f"{settings.group_prefix}.engine",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "fetch.max.bytes": settings.batch_max_bytes,
        "max.partition.fetch.bytes": max(1 << 20, settings.batch_max_bytes // 4),
        "queued.max.messages.kbytes": max(1024, settings.batch_max_bytes * 2 // 1024),
        "fetch.wait.max.ms": 50,
        "log_level": 3,
    }


def _headers(message: Message) -> tuple[tuple[str, bytes], ...]:
    raw: Any = message.headers() or []
    items = raw.items() if isinstance(raw, dict) else raw
    return tuple((str(k), v if isinstance(v, bytes) else str(v or "").encode()) for k, v in items)


def _record(message: Message) -> LogRecord:
    timestamp_type, timestamp = message.timestamp()
    return LogRecord(
        LogPosition(message.topic() or "", message.partition() or 0, message.offset() or 0),
        message.key(),
        message.value(),
        _headers(message),
        timestamp if timestamp_type else None,
    )
