"""The producer's telemetry, in one object: its tracer, its instruments, and the
trace context it hands to records. OpenTelemetry API only: the application
installs the SDK (or not; then every call below is the API's no-op).

Per batch (one ``emit`` or ``emit_many`` call), following the messaging semantic
conventions for batch publishing:

* one ``PRODUCER`` span ``send <topic>``, child of the caller's current context.
  Its context is injected once into ``traceparent``/``tracestate`` headers that
  every record of the batch carries, so consumers continue the producer's trace.
  When an SDK records it, the span links to the distinct trace contexts the
  events carry in their envelopes (at most :data:`MAX_LINKS`, the SDK's default
  limit), and a single-event batch also gets the message attributes (id, key,
  size, then partition and offset); a larger one ``messaging.batch.message_count``.
  Without an SDK no span exists: the headers carry the caller's context, if any.
* the envelope copy: :meth:`ProducerTelemetry.caller_trace` is the caller's
  context, which the serializer writes into events that carry none, so replayed
  work links back to the original trace.
* metrics: ``proofstream.producer.events.emitted`` and ``…events.failed`` are
  added once per event type when the batch settles; the histogram
  ``proofstream.producer.delivery.latency`` (ms) gets every acknowledged record's
  produce-to-acknowledgement time as librdkafka measured it.

A re-sent spool segment gets metrics, no span: its events were traced when
first emitted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING

from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.propagate import inject
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

from producers.records import Header, Row
from schemas.envelope import Trace
from schemas.events import Event

if TYPE_CHECKING:
    from producers.delivery import PendingBatch

__all__ = ["MAX_LINKS", "ProducerTelemetry"]

MAX_LINKS = 128
"""Links per batch span to the envelope trace contexts of its events."""

_W3C = TraceContextTextMapPropagator()


class ProducerTelemetry:
    """Tracer and instruments of one producer, for one topic. Thread-safe: it keeps
    only the instruments and a cache of per-event-type attributes (pure values)."""

    def __init__(
        self,
        topic: str,
        client_id: str,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._topic = topic
        self._span_name = f"send {topic}"
        self._span_attributes: dict[str, str] = {
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.operation.type": "publish",
            "messaging.operation.name": "send",
            "messaging.client.id": client_id,
        }
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(__name__, meter_provider=meter_provider)
        self._emitted = meter.create_counter(
            "proofstream.producer.events.emitted",
            unit="{event}",
            description="Events the broker acknowledged.",
        )
        self._failed = meter.create_counter(
            "proofstream.producer.events.failed",
            unit="{event}",
            description="Events that were not acknowledged (spooled ones included).",
        )
        self._latency = meter.create_histogram(
            "proofstream.producer.delivery.latency",
            unit="ms",
            description="Time from produce to the broker's acknowledgement.",
        )
        self._by_type: dict[str, Attributes] = {}

    def caller_trace(self) -> Trace | None:
        """The caller's W3C trace context, or None outside any span."""
        carrier: dict[str, str] = {}
        inject(carrier)
        traceparent = carrier.get("traceparent")
        if not traceparent:
            return None
        return Trace(traceparent=traceparent, tracestate=carrier.get("tracestate", ""))

    def start(
        self, rows: Sequence[Row], events: Sequence[Event], caller: Trace | None
    ) -> tuple[Span, list[Header]]:
        """Start the batch span (``caller`` is :meth:`caller_trace`, its parent);
        return it with the trace headers every record of the batch carries."""
        attributes: dict[str, str | int] = dict(self._span_attributes)
        if len(rows) == 1:
            ((key, value, event_id, event_type, _),) = rows
            attributes["messaging.message.id"] = event_id
            attributes["messaging.kafka.message.key"] = key.decode(errors="replace")
            attributes["messaging.message.body.size"] = len(value)
            attributes["proofstream.event.type"] = event_type
        else:
            attributes["messaging.batch.message_count"] = len(rows)
        span = self._tracer.start_span(
            self._span_name, kind=SpanKind.PRODUCER, attributes=attributes
        )
        carrier: dict[str, str] = {}
        inject(carrier, context=trace.set_span_in_context(span))
        if span.is_recording():
            _link_envelope_traces(span, events, caller)
        return span, [(name, value.encode()) for name, value in carrier.items()]

    def delivered(self, event_type: str, seconds: float) -> None:
        """One record acknowledged ``seconds`` after it was produced."""
        attributes = self._by_type.get(event_type) or self._attributes(event_type)
        self._latency.record(seconds * 1000, attributes)

    def finish(self, batch: PendingBatch, failure: str | None = None) -> None:
        """Count the batch's outcomes and end its span (if any). ``failure`` says why
        the batch as a whole failed when no record's report does (a timeout)."""
        rows, errors, deliveries = batch.rows, batch.errors, batch.deliveries
        if errors or not batch.done.is_set():
            acked = Counter(
                row[3] for row, d in zip(rows, deliveries, strict=True) if d is not None
            )
        else:
            acked = Counter(map(itemgetter(3), rows))
        for event_type, count in acked.items():
            self._emitted.add(count, self._attributes(event_type))
        failed = Counter((rows[i][3], err.name()) for i, err in errors.items())
        for (event_type, error_type), count in failed.items():
            self._failed.add(
                count, {**(self._attributes(event_type) or {}), "error.type": error_type}
            )
        span = batch.span
        if span is None:
            return
        if len(rows) == 1 and deliveries[0] is not None:
            partition, offset = deliveries[0].partition, deliveries[0].offset
            if partition is not None and offset is not None:
                span.set_attribute("messaging.destination.partition.id", str(partition))
                span.set_attribute("messaging.kafka.destination.partition", partition)
                span.set_attribute("messaging.kafka.message.offset", offset)
        if errors:
            first = errors[min(errors)]
            span.set_attribute("error.type", first.name())
            span.set_status(
                Status(
                    StatusCode.ERROR,
                    f"{len(errors)} of {len(rows)} not acknowledged; first: {first.str()}",
                )
            )
        elif failure is not None:
            span.set_attribute("error.type", "timeout")
            span.set_status(Status(StatusCode.ERROR, failure))
        span.end()

    def _attributes(self, event_type: str) -> Attributes:
        attributes = self._by_type.get(event_type)
        if attributes is None:
            attributes = self._by_type.setdefault(
                event_type,
                {"messaging.destination.name": self._topic, "proofstream.event.type": event_type},
            )
        return attributes


def _link_envelope_traces(span: Span, events: Sequence[Event], parent: Trace | None) -> None:
    """Link ``span`` to the distinct trace contexts in the events' envelopes, but
    its ``parent``'s, at most :data:`MAX_LINKS`."""
    own = parent.traceparent if parent is not None else None
    seen: dict[str, Trace] = {}
    for event in events:
        envelope = event.trace
        if envelope is not None and envelope.traceparent != own:
            seen.setdefault(envelope.traceparent, envelope)
            if len(seen) >= MAX_LINKS:
                break
    for envelope in seen.values():
        context = _W3C.extract(
            {"traceparent": envelope.traceparent, "tracestate": envelope.tracestate}
        )
        linked = trace.get_current_span(context).get_span_context()
        if linked.is_valid:
            span.add_link(linked)
