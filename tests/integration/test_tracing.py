"""One event followed from ``emit`` to every sink under one trace (SDK in-memory
exporter), through the real faust runtime and the real sinks."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from processors.engine import Engine
from producers import EventProducer
from proofstream.planes import PLANES, planes
from proofstream.settings import Settings
from schemas.codec import EventCodec
from tests import factories
from tests.conftest import TopicFactory
from tests.waiting import wait_until


def test_one_event_one_trace_through_every_sink(
    settings: Settings, new_topic: TopicFactory, tmp_path: Path
) -> None:
    kafka = new_topic.kafka(settings.kafka, partitions=1)
    topics = kafka.topics
    local = settings.model_copy(
        update={
            "state_dir": tmp_path,
            "kafka": kafka,
            "processors": settings.processors.model_copy(
                update={"group_prefix": f"trace-{topics.events}", "batch_within_s": 0.05}
            ),
        }
    )
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])

    codec = EventCodec()
    names = sorted(PLANES)
    engine = Engine(
        planes(names, local, codec),
        codec,
        kafka,
        local.processors,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    with EventProducer(
        kafka, settings.producer, tracer_provider=tracer_provider, meter_provider=meter_provider
    ) as producer:
        tracer = tracer_provider.get_tracer("test")
        with tracer.start_as_current_span("agent does something") as root:
            producer.emit(factories.run_started(run_id="traced-run"))
    trace_id = root.get_span_context().trace_id

    engine.start()
    try:
        wait_until(
            lambda: all(lane.status.batches for lane in engine.lanes), timeout=90, what="a batch"
        )
    finally:
        engine.stop()
    spans = exporter.get_finished_spans()
    by_name = {s.name: s for s in spans}
    send = by_name[f"send {topics.events}"]
    assert send.kind is SpanKind.PRODUCER and send.context.trace_id == trace_id
    process = [s for s in spans if s.name == f"process {topics.events}"]
    assert len(process) == len(names)
    for span in process:
        assert span.kind is SpanKind.CONSUMER
        assert span.context.trace_id == trace_id  # parented on the producer's context
        assert any(link.context.span_id == send.context.span_id for link in span.links)
    for name in names:
        for operation in ("write", "flush"):
            span = by_name[f"{operation} {name}"]
            assert span.context.trace_id == trace_id, f"{operation} {name}"
    metric_names = {
        m.name
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert {
        "proofstream.processor.batch.size",
        "proofstream.processor.sink.duration",
        "proofstream.producer.events.emitted",
    } <= metric_names
