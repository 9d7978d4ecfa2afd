"""The one validate-and-enqueue path that ``EventProducer`` and ``AsyncEventProducer``
share. Only how they *wait* for delivery reports is their own.

An emit runs these steps, in this order:

1. :meth:`ProducerCore.prepare` validates and encodes every event of the batch
   (:class:`~producers.serializer.EventSerializer`). The first one that cannot be
   sent raises :class:`InvalidEventError`, and nothing of the batch was produced.
2. If the spool holds events that could not be drained, the batch is spooled
   behind them (:meth:`ProducerCore.spool_instead`) so that per-run order holds;
   otherwise :meth:`ProducerCore.enqueue` starts the batch's span and produces
   every record into librdkafka, each reporting to the batch's
   :class:`~producers.delivery.PendingBatch`.
3. The flavour waits until ``batch.done`` or the wait budget
   (``delivery.timeout.ms`` plus a grace): ``EventProducer`` polls in the calling
   thread, ``AsyncEventProducer`` awaits a future its poll thread resolves.
4. :meth:`ProducerCore.settle` turns the reports into one :class:`Delivery` per
   event, in input order; it spools retryable failures when a spool is
   configured, and otherwise raises the typed error of the first failure
   (:func:`~producers.errors.translate_kafka_error`).

The spool is drained (:meth:`ProducerCore.drain`) through the same produce step,
one segment at a time, under a lock; a segment is deleted only after all its
records were acknowledged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Self, cast

from confluent_kafka import KafkaException, Producer
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from producers.config import producer_config
from producers.connection import AuthWatch
from producers.delivery import Delivery, PendingBatch
from producers.errors import translate_kafka_error
from producers.records import Header, Row
from producers.serializer import EventSerializer
from producers.settings import KafkaSettings, ProducerSettings
from producers.spool import Spool, SpoolFullError
from producers.telemetry import ProducerTelemetry
from schemas.codec import EventCodec
from schemas.envelope import Trace
from schemas.errors import BrokerUnavailableError, ProofstreamError
from schemas.events import Event

__all__ = ["POLL_S", "Prepared", "ProducerBase", "ProducerCore", "Waiter"]

_log = logging.getLogger(__name__)

POLL_S = 0.1
"""How long one ``poll`` waits for a report: the granularity of waiting loops."""
# Extra wait beyond delivery.timeout.ms before giving up on a delivery report.
_REPORT_GRACE_S = 10.0

Waiter = Callable[[PendingBatch, float], bool]
"""Waits up to the given seconds for the batch's last report; True once it came."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A validated batch: the events, their records' rows, the caller's trace context."""

    events: Sequence[Event]
    rows: list[Row]
    caller: Trace | None


class ProducerCore:
    """The librdkafka producer, the serializer, the telemetry and the spool of one
    event producer, and the steps every emit runs (see the module docstring)."""

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
        self.serializer = EventSerializer(
            codec or EventCodec(max_event_bytes=settings.max_event_bytes),
            max_event_bytes=settings.max_event_bytes,
        )
        self.telemetry = ProducerTelemetry(
            self.topic, kafka.client_id, tracer_provider, meter_provider
        )
        # refused credentials or an untrusted certificate end every wait at once
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

    @property
    def wait_budget_s(self) -> float:
        """How long to wait for a batch's reports: the delivery timeout plus a grace."""
        return self.settings.delivery_timeout_ms / 1000 + _REPORT_GRACE_S

    def check_open(self) -> None:
        if self.closed:
            raise RuntimeError("the producer is closed")

    def poll(self, timeout_s: float) -> None:
        """Serve delivery reports for up to ``timeout_s``: every waiting loop calls this.
        After an authentication failure every queued record is purged at once (their
        reports arrive as purged) instead of retrying until the delivery timeout."""
        self.producer.poll(timeout_s)
        if self.auth.failure is not None:
            self.producer.purge()

    def release(self) -> None:
        """Destroy the librdkafka client when nothing is pending any more, so its
        connections and reconnect attempts end with ``close()`` (after a refused
        password they would go on in the background for as long as the object lives).
        Records still pending keep the client."""
        if len(self.producer) == 0:
            self.producer.close()

    # -- 1. validate ------------------------------------------------------------

    def prepare(self, events: Sequence[Event], indexed: bool) -> Prepared:
        """Encode every event or raise :class:`InvalidEventError` (``events[i]…`` when
        ``indexed``); raises ``RuntimeError`` once the producer is closed."""
        self.check_open()
        caller = self.telemetry.caller_trace()  # one lookup per batch, shared by its events
        rows = self.serializer.rows(events, trace=caller, indexed=indexed)
        return Prepared(events, rows, caller)

    # -- 2. enqueue -------------------------------------------------------------

    def enqueue(
        self, prepared: Prepared, on_complete: Callable[[], object] | None = None
    ) -> PendingBatch:
        """Produce every record of the batch; its reports settle the returned batch
        (``on_complete`` runs in the reporting thread after the last one)."""
        span, trace_headers = self.telemetry.start(prepared.rows, prepared.events, prepared.caller)
        batch = PendingBatch(
            self.topic,
            prepared.rows,
            prepared.events,
            observe=self.telemetry.delivered,
            span=span,
            on_complete=on_complete,
        )
        self._produce(batch, trace_headers)
        return batch

    def _produce(self, batch: PendingBatch, trace_headers: list[Header]) -> None:
        produce, topic, headers_of = self.producer.produce, self.topic, self.serializer.headers
        for index, row in enumerate(batch.rows):
            headers = headers_of(row)
            headers += trace_headers
            while True:
                try:
                    produce(topic, row[1], row[0], on_delivery=batch, headers=headers)  # type: ignore[arg-type]
                    break
                except BufferError:
                    # The local queue is full: serve delivery reports to make room.
                    self.poll(POLL_S)
                except KafkaException as exc:
                    # A local refusal (size, unknown topic, fatal state): settled like a report.
                    batch.refused(index, exc.args[0])
                    break

    # -- 4. settle --------------------------------------------------------------

    def settle(self, batch: PendingBatch) -> list[Delivery]:
        """One delivery per event, in input order, once every record was reported.

        Raises :class:`BrokerUnavailableError` when reports are missing after the
        wait (librdkafka may still deliver those records later), and the typed
        error of the first failure unless every failure is retryable and the
        spool took the failed records (their deliveries say ``spooled``).
        """
        self.auth.raise_if_failed()  # nothing is spooled that could never be sent
        if not batch.done.is_set():
            why = f"{self.topic}: no delivery report within {self.wait_budget_s:.0f}s"
            self.telemetry.finish(batch, failure=why)
            raise BrokerUnavailableError(why)
        self.telemetry.finish(batch)
        assert batch.events is not None  # batches of events; spool segments settle in drain()
        deliveries = batch.deliveries
        if batch.errors:
            for index in self._spool_failures(batch):
                event_id = batch.events[index].event_id
                deliveries[index] = Delivery(self.topic, None, None, event_id, spooled=True)
        return cast(list[Delivery], deliveries)  # every index is set once done, and no error left

    def _spool_failures(self, batch: PendingBatch) -> list[int]:
        """Spool the failed records if all failures are retryable and there is a
        spool, returning their indexes; else raise the first failure's typed error."""
        failures = sorted(batch.errors.items())
        errors = [(translate_kafka_error(cause, self.topic), cause) for _, cause in failures]
        permanent = [e for e in errors if not isinstance(e[0], BrokerUnavailableError)]
        if permanent or self.spool is None:
            error, cause = (permanent or errors)[0]
            raise type(error)(
                f"{len(failures)} of {len(batch.rows)} events not acknowledged; first: {error}"
            ) from KafkaException(cause)
        self.spool_records([batch.rows[i] for i, _ in failures], errors[0][0])
        return [i for i, _ in failures]

    # -- the spool --------------------------------------------------------------

    def has_spooled(self) -> bool:
        return self.spool is not None and not self.spool.is_empty()

    def spool_records(self, rows: Sequence[Row], why: ProofstreamError | None) -> None:
        """Append to the spool, durably; :class:`BrokerUnavailableError` when full."""
        assert self.spool is not None
        try:
            with self.spool_lock:
                self.spool.append([self.serializer.outgoing(row) for row in rows])
        except SpoolFullError as exc:
            cause = f"; delivery failed first: {why}" if why is not None else ""
            raise BrokerUnavailableError(f"{exc}{cause}") from exc
        _log.warning("spooled %d events to %s", len(rows), self.spool.directory)

    def spool_instead(self, prepared: Prepared) -> list[Delivery]:
        """Step 2 while the broker is still down: spool the batch behind the spooled
        events (per-run order) and return its ``spooled`` deliveries."""
        self.spool_records(prepared.rows, None)
        return [
            Delivery(self.topic, None, None, event.event_id, spooled=True)
            for event in prepared.events
        ]

    def drain(self, wait: Waiter) -> int:
        """Re-send spooled segments in order, deleting each once all its records are
        acknowledged. Returns how many records were re-sent; raises the typed error
        of the first failure (the rest of the spool stays for the next drain)."""
        if self.spool is None:
            return 0
        sent = 0
        with self.spool_lock:
            for segment in self.spool.segments():
                if segment.records:
                    rows = [record.row() for record in segment.records]
                    batch = PendingBatch(self.topic, rows, None, observe=self.telemetry.delivered)
                    self._produce(batch, [])
                    wait(batch, self.wait_budget_s)
                    self.auth.raise_if_failed()
                    if not batch.done.is_set():
                        self.telemetry.finish(batch, failure="spool drain timed out")
                        raise BrokerUnavailableError(f"{self.topic}: spool drain timed out")
                    self.telemetry.finish(batch)
                    if batch.errors:
                        cause = batch.errors[min(batch.errors)]
                        error = translate_kafka_error(cause, self.topic)
                        raise type(error)(
                            f"spool drain stopped at {segment.path.name}: {error}"
                        ) from KafkaException(cause)
                self.spool.remove(segment)
                sent += len(segment.records)
        if sent:
            _log.info("drained %d spooled events into %s", sent, self.topic)
        return sent

    def flush(self, timeout_s: float | None) -> None:
        """Wait until librdkafka reported every produced record (reports are served
        here); raises :class:`BrokerUnavailableError` if some are still pending."""
        timeout = self.wait_budget_s if timeout_s is None else timeout_s
        remaining = self.producer.flush(timeout)
        if remaining:
            raise BrokerUnavailableError(f"{remaining} records still pending after {timeout}s")


class ProducerBase:
    """What both producer flavours are built from: settings in, one core inside.
    Not a singleton: build one per process, share it, close it on shutdown."""

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
        self._core = ProducerCore(
            kafka,
            producer or ProducerSettings(),
            codec,
            topic=topic,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )
        self._open()

    def _open(self) -> None:
        """Called once the core exists: what the flavour does on construction."""

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Self:
        """Build from any object with ``.kafka`` and ``.producer`` (the app's Settings)."""
        return cls(settings.kafka, settings.producer, **kwargs)

    @property
    def topic(self) -> str:
        """The topic every event goes to."""
        return self._core.topic

    def __repr__(self) -> str:
        # Only non-secret coordinates: never the librdkafka config (it holds passwords).
        kafka = self._core.kafka
        return (
            f"{type(self).__name__}(bootstrap={kafka.bootstrap_servers!r}, "
            f"topic={self.topic!r}, security={kafka.security_protocol})"
        )
