"""OpenTelemetry for the processing side: one span per batch, child spans per sink
call, and the runtime's metrics. Uses the OTel *API* only; the SDK and its
exporters are configured by the composition root (``proofstream.telemetry``).

The batch span is a CONSUMER span ``process <topic>`` linked to every record's
producer span (from the ``traceparent`` header, or from the envelope's ``trace``
when a replayed or redriven record has no header). When the whole batch belongs to
one trace, the span is also parented there, so a single event can be followed
from ``emit`` to every sink under one trace id.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

__all__ = ["CheckpointTelemetry", "record_context"]

_MAX_LINKS = 128
_W3C = TraceContextTextMapPropagator()


def record_context(
    headers: Sequence[tuple[str, bytes]], envelope_trace: Mapping[str, Any] | None
) -> trace.SpanContext | None:
    """The producer's span context of one record: header first, envelope second."""
    carrier = {
        k: v.decode(errors="replace") for k, v in headers if k in ("traceparent", "tracestate")
    }
    if "traceparent" not in carrier and envelope_trace and envelope_trace.get("traceparent"):
        carrier = {"traceparent": str(envelope_trace["traceparent"])}
        if envelope_trace.get("tracestate"):
            carrier["tracestate"] = str(envelope_trace["tracestate"])
    if "traceparent" not in carrier:
        return None
    ctx = trace.get_current_span(_W3C.extract(carrier)).get_span_context()
    return ctx if ctx.is_valid else None


class CheckpointTelemetry:
    """Spans and instruments of one projection's checkpoint."""

    def __init__(
        self,
        projection: str,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._projection = projection
        provider = tracer_provider or trace.get_tracer_provider()
        # Without an SDK every span is a no-op: skip the per-record context parsing too
        self.recording = not isinstance(
            provider, trace.NoOpTracerProvider | trace.ProxyTracerProvider
        )
        self._tracer = trace.get_tracer("proofstream.processors", tracer_provider=tracer_provider)
        meter = metrics.get_meter("proofstream.processors", meter_provider=meter_provider)
        self._attrs = {"proofstream.projection": projection}
        self.batch_size = meter.create_histogram(
            "proofstream.processor.batch.size", unit="{event}", description="Records per batch."
        )
        self.sink_duration = meter.create_histogram(
            "proofstream.processor.sink.duration",
            unit="ms",
            description="Time of one sink write or flush.",
        )
        self.dead_letters = meter.create_counter(
            "proofstream.processor.dead_letters",
            unit="{record}",
            description="Records sent to the DLQ.",
        )
        self._meter = meter

    def observe_lag(self, read: Any) -> None:
        """Register ``read() -> {partition: lag}`` as the lag gauge."""

        def callback(_options: metrics.CallbackOptions) -> Iterator[metrics.Observation]:
            for partition, lag in read().items():
                yield metrics.Observation(
                    lag, {**self._attrs, "messaging.destination.partition.id": str(partition)}
                )

        self._meter.create_observable_gauge(
            "proofstream.processor.lag",
            callbacks=[callback],
            unit="{record}",
            description="Records between the last applied offset and the high watermark.",
        )

    @contextmanager
    def batch(
        self, topic: str, contexts: Sequence[trace.SpanContext | None]
    ) -> Iterator[trace.Span]:
        valid = [c for c in contexts if c is not None]
        links = [Link(c) for c in valid[:_MAX_LINKS]]
        parent: Context | None = None
        if valid and len({c.trace_id for c in valid}) == 1:
            parent = trace.set_span_in_context(trace.NonRecordingSpan(valid[0]))
        attributes: dict[str, AttributeValue] = {
            **self._attrs,
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            "messaging.batch.message_count": len(contexts),
            "messaging.consumer.group.name": self._projection,
        }
        self.batch_size.record(len(contexts), self._attrs)
        with self._tracer.start_as_current_span(
            f"process {topic}",
            context=parent,
            kind=SpanKind.CONSUMER,
            links=links,
            attributes=attributes,
        ) as span:
            yield span

    @contextmanager
    def sink_call(self, operation: str, sink: str) -> Iterator[trace.Span]:
        started = time.perf_counter()
        with self._tracer.start_as_current_span(
            f"{operation} {sink}",
            kind=SpanKind.CLIENT,
            attributes={**self._attrs, "proofstream.sink": sink},
        ) as span:
            try:
                yield span
            finally:
                self.sink_duration.record(
                    (time.perf_counter() - started) * 1000,
                    {**self._attrs, "proofstream.sink.operation": operation},
                )
