"""The event producer: the one way services put agent-action events into Kafka.

Contract (DESIGN §Processing guarantees):

* **Nothing invalid is sent.** ``emit``/``emit_many`` encode every event before
  producing any; a model that does not fit its schema, or is larger than
  ``max_event_bytes`` encoded, raises :class:`InvalidEventError` naming the field
  (``events[3].<event>`` in a batch) and nothing of the batch leaves the process.
* **Nothing acknowledged is lost.** librdkafka runs with ``enable.idempotence=true``
  and ``acks=all``; ``emit`` returns a :class:`Delivery` only after the broker
  acknowledged the record (with its partition and offset). Retries inside
  librdkafka never duplicate or reorder records of one producer session.
* **Every failure is typed.** No acknowledgement within ``delivery_timeout_ms``
  (broker down, no leader) raises :class:`BrokerUnavailableError` (retryable); a
  record the broker refuses for good (too large, not authorized) raises
  :class:`DeliveryError` (permanent). librdkafka's errors are translated here.
  Refused credentials or an untrusted broker certificate raise
  :class:`~schemas.errors.AuthenticationError` at the first refusal (about a
  second), with the records purged: never a wait for the delivery timeout.
  A failed ``emit_many`` may still have delivered some of its events; sending the
  whole batch again is safe because every consumer deduplicates by ``event_id``.
* **Ordering.** The key is ``subject.run_id`` (else ``subject.project``); see
  :mod:`producers.records`.

Optional spool (``ProducerSettings.spool_dir``): events that could not be
delivered for a *retryable* reason are appended to a bounded, fsync'd on-disk
spool and ``emit`` returns ``Delivery(spooled=True)`` (no partition, no offset)
instead of raising. Trade-offs, accepted on purpose:

* a spooled event is durable **on this machine's disk only** until it is drained;
  losing the disk loses it;
* ``drain_spool()`` runs on construction, in ``flush()``, and before every emit
  while the spool is not empty; new events are spooled *behind* the spooled ones
  when the drain fails, so per-run order holds across spool and live traffic;
* a segment is deleted only after every record in it was acknowledged, so a crash
  (or a failure) in the middle of a drain re-sends some records: **duplicates are
  possible, and consumers deduplicate by** ``event_id``;
* when the spool is full (``spool_max_bytes``) ``emit`` raises
  :class:`BrokerUnavailableError` as if there were no spool.

Telemetry (OpenTelemetry API only; the application installs the SDK): one
``PRODUCER`` span ``send <topic>`` per record, following the messaging semantic
conventions, whose context goes into the ``traceparent``/``tracestate`` headers;
an event without ``trace`` gets the caller's current trace context in its
envelope, so replayed work links back to the original trace. Metrics: counters
``proofstream.producer.events.emitted`` and ``proofstream.producer.events.failed``
and the histogram ``proofstream.producer.delivery.latency`` (ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.propagate import inject
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider

from producers.connection import AuthWatch
from producers.records import OutgoingRecord, encode_event
from producers.settings import ClientConfig, KafkaSettings, ProducerSettings
from producers.spool import Spool, SpoolFullError
from schemas.codec import EventCodec
from schemas.envelope import Trace
from schemas.errors import (
    BrokerUnavailableError,
    DeliveryError,
    ProofstreamError,
)
from schemas.events import Event

__all__ = [
    "AsyncEventProducer",
    "Delivery",
    "EventProducer",
    "producer_config",
    "translate_kafka_error",
]

_log = logging.getLogger(__name__)

# librdkafka reports these when no broker took the record in time: retryable.
_UNAVAILABLE = frozenset(
    {
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._PURGE_QUEUE,
        KafkaError._PURGE_INFLIGHT,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
    }
)
_TOO_LARGE = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
    }
)
# Headroom for headers and the record batch framing above the largest event.
_FRAMING_BYTES = 64 * 1024
# Extra wait beyond delivery.timeout.ms before giving up on a delivery report.
_REPORT_GRACE_S = 10.0
_POLL_S = 0.1


def producer_config(kafka: KafkaSettings, producer: ProducerSettings) -> ClientConfig:
    """The librdkafka configuration of the event producer. Pure.

    Idempotence and ``acks=all`` are fixed: they are the never-lose contract, not
    settings. Security settings come from :meth:`KafkaSettings.client_config`.
    """
    return {
        **kafka.client_config(),
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": producer.compression,
        "linger.ms": producer.linger_ms,
        "delivery.timeout.ms": producer.delivery_timeout_ms,
        # request.timeout.ms must not outlive the delivery timeout, or a request
        # to a dead broker holds its records past the deadline the caller was promised.
        "request.timeout.ms": min(30_000, producer.delivery_timeout_ms),
        "message.max.bytes": max(1_000_000, producer.max_event_bytes + _FRAMING_BYTES),
    }


def translate_kafka_error(err: KafkaError, topic: str) -> ProofstreamError:
    """Map a librdkafka error to our tree. Pure; the caller raises it ``from`` the cause."""
    code = err.code()
    reason = f"{topic}: {err.name()}: {err.str()}"
    if code in _TOO_LARGE:
        return DeliveryError(f"record too large for the broker: {reason}")
    if err.fatal():
        return DeliveryError(f"fatal producer error: {reason}")
    if code in _UNAVAILABLE or err.retriable():
        return BrokerUnavailableError(f"not acknowledged: {reason}")
    return DeliveryError(f"refused by the broker: {reason}")


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where an event ended up: acknowledged at ``topic/partition@offset``, or
    ``spooled`` on local disk (no partition, no offset) until ``drain_spool``."""

    topic: str
    partition: int | None
    offset: int | None
    event_id: uuid.UUID
    spooled: bool = False


@dataclass(frozen=True, slots=True)
class _Acked:
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class _Failed:
    error: ProofstreamError
    cause: KafkaError


_Outcome = _Acked | _Failed


class _Batch:
    """Delivery outcomes of records produced together, settled from callbacks
    (which run in whatever thread calls ``poll``)."""

    def __init__(self, size: int, on_complete: Callable[[], None] | None = None) -> None:
        self.outcomes: list[_Outcome | None] = [None] * size
        self._remaining = size
        self._lock = threading.Lock()
        self._on_complete = on_complete
        self.done = threading.Event()
        if size == 0:
            self._complete()

    def _complete(self) -> None:
        self.done.set()
        if self._on_complete is not None:
            self._on_complete()

    def settle(self, index: int, outcome: _Outcome) -> None:
        with self._lock:
            if self.outcomes[index] is not None:
                return
            self.outcomes[index] = outcome
            self._remaining -= 1
            last = self._remaining == 0
        if last:
            self._complete()


class _Waiter(Protocol):
    def __call__(self, batch: _Batch, timeout_s: float) -> bool: ...


class _Core:
    """What the sync and async producers share: encoding, producing, settling,
    telemetry and the spool. How to *wait* for delivery reports is the caller's."""

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: ProducerSettings,
        codec: EventCodec | None,
        *,
        topic: str | None,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
    ) -> None:
        self.kafka = kafka
        self.settings = settings
        self.topic = topic or kafka.topics.events
        self.codec = codec or EventCodec(max_event_bytes=settings.max_event_bytes)
        self.auth = AuthWatch(kafka)
        self.producer = Producer(
            {**producer_config(kafka, settings), "error_cb": self.auth.on_error}
        )
        self.spool = (
            Spool(settings.spool_dir, settings.spool_max_bytes, settings.spool_segment_bytes)
            if settings.spool_dir is not None
            else None
        )
        # Reentrant: a drain runs inside an emit that found the spool non-empty.
        self.spool_lock = threading.RLock()
        self.closed = False
        self.tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(__name__, meter_provider=meter_provider)
        self.emitted = meter.create_counter(
            "proofstream.producer.events.emitted",
            unit="{event}",
            description="Events the broker acknowledged.",
        )
        self.failed = meter.create_counter(
            "proofstream.producer.events.failed",
            unit="{event}",
            description="Events that were not acknowledged (spooled ones included).",
        )
        self.latency = meter.create_histogram(
            "proofstream.producer.delivery.latency",
            unit="ms",
            description="Time from produce to the broker's acknowledgement.",
        )

    @property
    def wait_budget_s(self) -> float:
        return self.settings.delivery_timeout_ms / 1000 + _REPORT_GRACE_S

    def purge_if_refused(self) -> None:
        """After an authentication failure, drop every queued record at once (their
        reports arrive as purged) instead of retrying until the delivery timeout."""
        if self.auth.failure is not None:
            self.producer.purge()

    def release(self) -> None:
        """Destroy the librdkafka client when nothing is pending any more, so its
        connections and reconnect attempts end with ``close()`` (after a refused
        password they would go on in the background for as long as the object lives).
        Records still pending keep the client, as before."""
        if len(self.producer) == 0:
            self.producer.close()

    def check_open(self) -> None:
        if self.closed:
            raise RuntimeError("the producer is closed")

    # -- encoding --------------------------------------------------------------

    def prepare(self, events: Sequence[Event], indexed: bool) -> list[OutgoingRecord]:
        """Encode all events or raise InvalidEventError: validation precedes any send."""
        max_bytes = self.settings.max_event_bytes
        context = _current_trace()  # one lookup per batch: the caller's context is shared
        return [
            encode_event(
                _with_trace(event, context) if isinstance(event, Event) else event,
                self.codec,
                max_bytes,
                f"events[{i}]" if indexed else "",
            )
            for i, event in enumerate(events)
        ]

    # -- producing -------------------------------------------------------------

    def send(
        self,
        records: Sequence[OutgoingRecord],
        traced: bool,
        on_complete: Callable[[], None] | None,
    ) -> _Batch:
        """Produce every record; outcomes arrive in the returned batch as reports come."""
        batch = _Batch(len(records), on_complete)
        for index, record in enumerate(records):
            span = self._start_span(record) if traced else None
            headers = list(record.headers)
            if span is not None:
                carrier: dict[str, str] = {}
                inject(carrier, context=trace.set_span_in_context(span))
                headers += [(k, v.encode()) for k, v in carrier.items()]
            callback = self._callback(batch, index, record, span, time.monotonic())
            try:
                self._produce(record, headers, callback)
            except KafkaException as exc:
                # A local refusal (size, unknown topic, fatal state): settle it like a report.
                callback(exc.args[0], None)
        return batch

    def _produce(
        self,
        record: OutgoingRecord,
        headers: list[tuple[str, bytes]],
        callback: Callable[[KafkaError | None, Message | None], None],
    ) -> None:
        while True:
            try:
                self.producer.produce(
                    self.topic,
                    value=record.value,
                    key=record.key,
                    headers=headers,  # type: ignore[arg-type]
                    on_delivery=callback,
                )
                return
            except BufferError:
                # The local queue is full: serve delivery reports to make room.
                self.producer.poll(_POLL_S)

    def _start_span(self, record: OutgoingRecord) -> Span:
        return self.tracer.start_span(
            f"send {self.topic}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": self.topic,
                "messaging.operation.type": "publish",
                "messaging.operation.name": "send",
                "messaging.message.id": record.event_id,
                "messaging.kafka.message.key": record.key.decode(errors="replace"),
                "messaging.client.id": self.kafka.client_id,
                "messaging.message.body.size": len(record.value),
                "proofstream.event.type": record.event_type,
            },
        )

    def _callback(
        self, batch: _Batch, index: int, record: OutgoingRecord, span: Span | None, started: float
    ) -> Callable[[KafkaError | None, Message | None], None]:
        topic = self.topic
        attrs = {"messaging.destination.name": topic, "proofstream.event.type": record.event_type}

        def on_delivery(err: KafkaError | None, msg: Message | None) -> None:
            elapsed_ms = (time.monotonic() - started) * 1000
            if err is None and msg is not None:
                partition, offset = msg.partition(), msg.offset()
                assert partition is not None and offset is not None  # set on acknowledged records
                self.emitted.add(1, attrs)
                self.latency.record(elapsed_ms, attrs)
                if span is not None:
                    span.set_attribute("messaging.destination.partition.id", str(partition))
                    span.set_attribute("messaging.kafka.destination.partition", partition)
                    span.set_attribute("messaging.kafka.message.offset", offset)
                    span.end()
                batch.settle(index, _Acked(partition, offset))
                return
            cause = err if err is not None else KafkaError(KafkaError._FAIL)
            error = translate_kafka_error(cause, topic)
            self.failed.add(1, {**attrs, "error.type": cause.name()})
            if span is not None:
                span.set_attribute("error.type", cause.name())
                span.set_status(Status(StatusCode.ERROR, cause.str()))
                span.end()
            batch.settle(index, _Failed(error, cause))

        return on_delivery

    # -- settling --------------------------------------------------------------

    def settle(self, records: Sequence[OutgoingRecord], batch: _Batch) -> list[Delivery]:
        """Turn a completed batch into deliveries, spooling retryable failures if a
        spool is configured, else raising the typed error of the first failure.
        An authentication failure wins: nothing is spooled that cannot be sent."""
        self.auth.raise_if_failed()
        if not batch.done.is_set():
            # No report in time at all: librdkafka may still deliver them later.
            raise BrokerUnavailableError(
                f"{self.topic}: no delivery report within {self.wait_budget_s:.0f}s"
            )
        failures = [(i, o) for i, o in enumerate(batch.outcomes) if isinstance(o, _Failed)]
        spooled: set[int] = set()
        if failures:
            permanent = [f for _, f in failures if not isinstance(f.error, BrokerUnavailableError)]
            if permanent or self.spool is None:
                first = (permanent or [f for _, f in failures])[0]
                raise type(first.error)(
                    f"{len(failures)} of {len(records)} events not acknowledged; first: "
                    f"{first.error}"
                ) from KafkaException(first.cause)
            self.spool_records([records[i] for i, _ in failures], failures[0][1])
            spooled = {i for i, _ in failures}
        deliveries = []
        for i, (record, outcome) in enumerate(zip(records, batch.outcomes, strict=True)):
            event_id = uuid.UUID(record.event_id)
            if i in spooled or outcome is None:
                deliveries.append(Delivery(self.topic, None, None, event_id, spooled=True))
            else:
                assert isinstance(outcome, _Acked)
                deliveries.append(Delivery(self.topic, outcome.partition, outcome.offset, event_id))
        return deliveries

    def spool_records(self, records: Sequence[OutgoingRecord], why: _Failed | None) -> None:
        assert self.spool is not None
        try:
            with self.spool_lock:
                self.spool.append(list(records))
        except SpoolFullError as exc:
            cause = f"; delivery failed first: {why.error}" if why is not None else ""
            raise BrokerUnavailableError(f"{exc}{cause}") from exc
        _log.warning("spooled %d events to %s", len(records), self.spool.directory)

    def spooled_deliveries(self, records: Sequence[OutgoingRecord]) -> list[Delivery]:
        self.spool_records(records, None)
        return [
            Delivery(self.topic, None, None, uuid.UUID(r.event_id), spooled=True) for r in records
        ]

    def drain(self, wait: _Waiter) -> int:
        """Re-send spooled segments in order, deleting each once all its records are
        acknowledged. Returns how many records were re-sent; raises the typed error
        of the first failure (the rest of the spool stays for the next drain)."""
        if self.spool is None:
            return 0
        sent = 0
        with self.spool_lock:
            for segment in self.spool.segments():
                if segment.records:
                    batch = self.send(segment.records, traced=False, on_complete=None)
                    wait(batch, self.wait_budget_s)
                    self.auth.raise_if_failed()
                    if not batch.done.is_set():
                        raise BrokerUnavailableError(f"{self.topic}: spool drain timed out")
                    for outcome in batch.outcomes:
                        if isinstance(outcome, _Failed):
                            raise type(outcome.error)(
                                f"spool drain stopped at {segment.path.name}: {outcome.error}"
                            ) from KafkaException(outcome.cause)
                self.spool.remove(segment)
                sent += len(segment.records)
        if sent:
            _log.info("drained %d spooled events into %s", sent, self.topic)
        return sent

    def has_spooled(self) -> bool:
        return self.spool is not None and not self.spool.is_empty()


def _current_trace() -> Trace | None:
    """The caller's W3C trace context, or None outside any span."""
    carrier: dict[str, str] = {}
    inject(carrier)
    traceparent = carrier.get("traceparent")
    if not traceparent:
        return None
    return Trace(traceparent=traceparent, tracestate=carrier.get("tracestate", ""))


def _with_trace(event: Event, context: Trace | None) -> Event:
    """The event with ``context`` in its envelope, unless it already carries one."""
    if event.trace is not None or context is None:
        return event
    return event.model_copy(update={"trace": context})


def _poll_wait(core: _Core) -> _Waiter:
    def wait(batch: _Batch, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not batch.done.is_set() and time.monotonic() < deadline:
            core.producer.poll(_POLL_S)
            core.purge_if_refused()
        return batch.done.is_set()

    return wait


def _event_wait(batch: _Batch, timeout_s: float) -> bool:
    return batch.done.wait(timeout_s)


class EventProducer:
    """Synchronous producer of agent-action events; see the module docstring for
    the contract. Not a singleton: build one per process from settings, share it
    between threads, ``close()`` it (or use ``with``) on shutdown.

    Delivery reports are served by the calling thread while it waits, so no
    background thread exists. The constructor drains a non-empty spool; if the
    broker is still unreachable the spool stays and is drained later.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        producer: ProducerSettings | None = None,
        codec: EventCodec | None = None,
        *,
        topic: str | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._core = _Core(
            kafka,
            producer or ProducerSettings(),
            codec,
            topic=topic,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )
        self._wait = _poll_wait(self._core)
        if self._core.has_spooled():
            try:
                self._core.drain(self._wait)
            except BrokerUnavailableError as exc:
                _log.warning("spool not drained yet: %s", exc)

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Self:
        """Build from any object with ``.kafka`` and ``.producer`` (the app's Settings)."""
        return cls(settings.kafka, settings.producer, **kwargs)

    @property
    def topic(self) -> str:
        return self._core.topic

    def __repr__(self) -> str:
        # Only non-secret coordinates: never the librdkafka config (it holds passwords).
        kafka = self._core.kafka
        return (
            f"{type(self).__name__}(bootstrap={kafka.bootstrap_servers!r}, "
            f"topic={self.topic!r}, security={kafka.security_protocol})"
        )

    def emit(self, event: Event) -> Delivery:
        """Validate, encode and send one event; return once the broker acknowledged it
        (or it was spooled). Raises InvalidEventError (nothing sent),
        BrokerUnavailableError (retryable) or DeliveryError (permanent)."""
        return self._emit(self._core.prepare([event], indexed=False))[0]

    def emit_many(self, events: Iterable[Event]) -> list[Delivery]:
        """Send a batch: validate and encode *all* events first (InvalidEventError names
        ``events[i].field``, nothing sent), produce them all, then wait for every
        acknowledgement. Deliveries come back in input order. Errors as :meth:`emit`."""
        return self._emit(self._core.prepare(list(events), indexed=True))

    def _emit(self, records: list[OutgoingRecord]) -> list[Delivery]:
        core = self._core
        core.check_open()
        if core.has_spooled():
            try:
                core.drain(self._wait)
            except BrokerUnavailableError:
                # Still down: queue behind the spooled events to keep per-run order.
                return core.spooled_deliveries(records)
        batch = core.send(records, traced=True, on_complete=None)
        self._wait(batch, core.wait_budget_s)
        return core.settle(records, batch)

    def drain_spool(self) -> int:
        """Re-send spooled events in order; return how many. Idempotent (an empty spool
        is a no-op). Raises BrokerUnavailableError while the broker is unreachable."""
        return self._core.drain(self._wait)

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every produced record was reported, then drain the spool.
        Raises BrokerUnavailableError if records are still pending at the timeout."""
        timeout = self._core.wait_budget_s if timeout_s is None else timeout_s
        remaining = self._core.producer.flush(timeout)
        if remaining:
            raise BrokerUnavailableError(f"{remaining} records still pending after {timeout}s")
        self.drain_spool()

    def close(self) -> None:
        """Flush, then refuse further emits and release the client when nothing is
        pending. Idempotent; raises what ``flush`` raises (the producer is closed anyway)."""
        if self._core.closed:
            return
        try:
            self.flush()
        finally:
            self._core.closed = True
            self._core.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncEventProducer:
    """asyncio producer with the same contract as :class:`EventProducer`.

    A daemon thread serves librdkafka's delivery reports (``poll``) and resolves
    each batch's future on the event loop with ``call_soon_threadsafe``, so
    ``await emit(...)`` never blocks the loop while waiting for the broker. Spool
    I/O (fsync) runs in a worker thread. Use ``async with`` (which also drains a
    non-empty spool) or call ``await close()``.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        producer: ProducerSettings | None = None,
        codec: EventCodec | None = None,
        *,
        topic: str | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._core = _Core(
            kafka,
            producer or ProducerSettings(),
            codec,
            topic=topic,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )
        self._stop = threading.Event()
        self._poller = threading.Thread(
            target=self._poll_loop, name="proofstream-producer-poll", daemon=True
        )
        self._poller.start()

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Self:
        """Build from any object with ``.kafka`` and ``.producer`` (the app's Settings)."""
        return cls(settings.kafka, settings.producer, **kwargs)

    @property
    def topic(self) -> str:
        return self._core.topic

    def __repr__(self) -> str:
        kafka = self._core.kafka
        return (
            f"{type(self).__name__}(bootstrap={kafka.bootstrap_servers!r}, "
            f"topic={self.topic!r}, security={kafka.security_protocol})"
        )

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._core.producer.poll(_POLL_S)
            self._core.purge_if_refused()

    async def emit(self, event: Event) -> Delivery:
        """Async :meth:`EventProducer.emit`: resolves once the broker acknowledged."""
        return (await self._emit(self._core.prepare([event], indexed=False)))[0]

    async def emit_many(self, events: Iterable[Event]) -> list[Delivery]:
        """Async :meth:`EventProducer.emit_many`: all validated first, then all sent."""
        return await self._emit(self._core.prepare(list(events), indexed=True))

    async def _emit(self, records: list[OutgoingRecord]) -> list[Delivery]:
        core = self._core
        core.check_open()
        if core.has_spooled():
            try:
                await self.drain_spool()
            except BrokerUnavailableError:
                return await asyncio.to_thread(core.spooled_deliveries, records)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def resolve() -> None:
            if not done.done():
                done.set_result(None)

        def on_complete() -> None:  # runs in the poll thread
            loop.call_soon_threadsafe(resolve)

        batch = core.send(records, traced=True, on_complete=on_complete)
        # On timeout settle() raises BrokerUnavailableError for the incomplete batch.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done, core.wait_budget_s)
        if core.spool is not None:
            return await asyncio.to_thread(core.settle, records, batch)
        return core.settle(records, batch)

    async def drain_spool(self) -> int:
        """Async :meth:`EventProducer.drain_spool` (runs in a worker thread)."""
        return await asyncio.to_thread(self._core.drain, _event_wait)

    async def flush(self, timeout_s: float | None = None) -> None:
        """Async :meth:`EventProducer.flush`."""
        timeout = self._core.wait_budget_s if timeout_s is None else timeout_s
        remaining = await asyncio.to_thread(self._core.producer.flush, timeout)
        if remaining:
            raise BrokerUnavailableError(f"{remaining} records still pending after {timeout}s")
        await self.drain_spool()

    async def close(self) -> None:
        """Flush, then stop the poll thread. Idempotent; raises what ``flush`` raises."""
        if self._core.closed:
            return
        try:
            await self.flush()
        finally:
            self._core.closed = True
            self._stop.set()
            await asyncio.to_thread(self._poller.join)
            self._core.release()

    async def __aenter__(self) -> Self:
        if self._core.has_spooled():
            try:
                await self.drain_spool()
            except BrokerUnavailableError as exc:
                _log.warning("spool not drained yet: %s", exc)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
