"""EventProducer against the real broker: ordering, idempotence, tracing, rejection,
and the serializer in confluent-kafka's own SerializingProducer."""

from __future__ import annotations

import asyncio
import collections
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, SerializingProducer, TopicPartition
from confluent_kafka.serialization import StringSerializer
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from producers import (
    AsyncEventProducer,
    EventProducer,
    EventSerializer,
    ProducerSettings,
    encode_event,
)
from producers.spool import Spool
from proofstream.settings import Settings
from schemas.codec import EventCodec
from schemas.envelope import Actor, ActorKind, Producer, Subject, Trace
from schemas.errors import DeliveryError, InvalidEventError
from schemas.events import RunStarted
from tests.kafka_reading import consume_all

TopicMaker = Callable[..., str]


def started(run_id: str = "run-1", goal: str = "fix issue #12", **extra: object) -> RunStarted:
    return RunStarted(
        producer=Producer(
            service="planner", version="1.0", workload_id="spiffe://fractalops/ns/a/sa/planner"
        ),
        actor=Actor(kind=ActorKind.AGENT, id="agent-7", role="planner"),
        subject=Subject(project="fractalops", run_id=run_id),
        goal=goal,
        **extra,  # type: ignore[arg-type]
    )


def record_count(settings: Settings, topic: str) -> int:
    consumer = Consumer({**settings.kafka.client_config(), "group.id": "count"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(
            high - low
            for low, high in (
                consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                for p in partitions
            )
        )
    finally:
        consumer.close()


def event_id_of(msg: Message) -> str:
    return dict(msg.headers() or [])["event-id"].decode()


def test_each_run_stays_ordered_on_one_partition(settings: Settings, new_topic: TopicMaker) -> None:
    topic = new_topic(partitions=6)
    runs = [f"run-{i}" for i in range(40)]
    events = [started(run, goal=f"step {n}") for n in range(15) for run in runs]  # interleaved
    with EventProducer(settings.kafka, settings.producer, topic=topic) as producer:
        deliveries = []
        for start in range(0, len(events), 100):
            deliveries += producer.emit_many(events[start : start + 100])
    assert [d.event_id for d in deliveries] == [e.event_id for e in events]
    assert all(d.offset is not None and not d.spooled for d in deliveries)

    messages = consume_all(settings, topic, len(events))
    by_run: dict[bytes, list[Message]] = collections.defaultdict(list)
    for msg in sorted(messages, key=lambda m: (m.partition(), m.offset())):
        by_run[msg.key()].append(msg)
    assert len({m.partition() for m in messages}) > 1  # the runs really spread out
    for run in runs:
        got = by_run[run.encode()]
        assert len({m.partition() for m in got}) == 1
        expected = [str(e.event_id) for e in events if e.subject.run_id == run]
        assert [event_id_of(m) for m in got] == expected


def test_no_duplicates_with_idempotent_retries(settings: Settings, topic: str) -> None:
    events = [started(f"run-{i % 7}") for i in range(3000)]
    tuning = settings.producer.model_copy(update={"linger_ms": 0})
    with EventProducer(settings.kafka, tuning, topic=topic) as producer:
        deliveries = producer.emit_many(events)
    assert len(deliveries) == len(events)
    messages = consume_all(settings, topic, len(events))
    assert record_count(settings, topic) == len(events)
    assert len({event_id_of(m) for m in messages}) == len(events)


def test_trace_context_travels_in_headers_and_envelope(settings: Settings, topic: str) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    codec = EventCodec()
    producer = EventProducer(
        settings.kafka,
        settings.producer,
        codec,
        topic=topic,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    with producer, tracer_provider.get_tracer("test").start_as_current_span("plan") as parent:
        delivery = producer.emit(started())
    trace_id = parent.get_span_context().trace_id

    (msg,) = consume_all(settings, topic, 1)
    headers = {k: v.decode() for k, v in msg.headers() or []}
    remote = trace.get_current_span(extract(headers)).get_span_context()
    assert remote.trace_id == trace_id
    event = codec.decode(msg.value())
    assert event.trace is not None
    assert event.trace.traceparent.split("-")[1] == f"{trace_id:032x}"

    (span,) = [s for s in exporter.get_finished_spans() if s.name == f"send {topic}"]
    assert span.kind is SpanKind.PRODUCER
    assert span.context.trace_id == trace_id
    assert remote.span_id == span.context.span_id  # consumers link to the producer span
    attrs = dict(span.attributes or {})
    assert attrs["messaging.system"] == "kafka"
    assert attrs["messaging.destination.name"] == topic
    assert attrs["messaging.operation.type"] == "publish"
    assert attrs["messaging.kafka.message.key"] == "run-1"
    assert attrs["messaging.kafka.message.offset"] == delivery.offset
    assert attrs["messaging.destination.partition.id"] == str(delivery.partition)

    data = reader.get_metrics_data()
    assert data is not None
    points = {
        metric.name: metric.data.data_points
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    assert sum(p.value for p in points["proofstream.producer.events.emitted"]) == 1  # type: ignore[union-attr]
    assert sum(p.count for p in points["proofstream.producer.delivery.latency"]) == 1  # type: ignore[union-attr]


def test_bad_events_are_rejected_before_anything_is_sent(settings: Settings, topic: str) -> None:
    tuning = settings.producer.model_copy(update={"max_event_bytes": 1024})
    with EventProducer(settings.kafka, tuning, topic=topic) as producer:
        with pytest.raises(InvalidEventError) as info:
            producer.emit_many([started(), started(), started(goal="x" * 3000), started()])
        assert info.value.field == "events[2]"
        with pytest.raises(InvalidEventError) as info:
            producer.emit_many([started(), {"event_type": "run.started"}])  # type: ignore[list-item]
        assert info.value.field == "events[1]"
        with pytest.raises(InvalidEventError) as info:
            producer.emit(started(goal="y" * 3000))
        assert info.value.field == "<event>"
    with pytest.raises(InvalidEventError) as info:
        started(run_id="")  # the model names the field at construction
    assert info.value.field == "subject.run_id"
    assert record_count(settings, topic) == 0


def test_record_refused_by_the_broker_is_a_delivery_error(
    settings: Settings, new_topic: TopicMaker
) -> None:
    topic = new_topic(partitions=1, **{"max.message.bytes": "2048"})
    big = {f"k{i}": uuid.uuid4().hex * 8 for i in range(20)}  # ~5 KiB, incompressible enough
    tuning = settings.producer.model_copy(update={"compression": "none"})
    with EventProducer(settings.kafka, tuning, topic=topic) as producer:
        with pytest.raises(DeliveryError):
            producer.emit(started(attributes=big))
        assert producer.emit(started()).offset == 0  # the producer is still usable


def test_async_producer_emits_and_batches(settings: Settings, topic: str) -> None:
    async def run() -> list[int | None]:
        async with AsyncEventProducer(settings.kafka, settings.producer, topic=topic) as producer:
            first = await producer.emit(started())
            rest = await producer.emit_many([started(f"run-{i}") for i in range(200)])
            both = await asyncio.gather(producer.emit(started()), producer.emit(started()))
        return [d.offset for d in [first, *rest, *both]]

    offsets = asyncio.run(run())
    assert None not in offsets
    assert len(consume_all(settings, topic, 203)) == 203


def test_spool_is_drained_on_construction(settings: Settings, topic: str, tmp_path: Path) -> None:
    codec = EventCodec()
    events = [started(f"run-{i}") for i in range(25)]
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20, segment_bytes=2048)
    spool.append([encode_event(e, codec, 64 * 1024) for e in events])
    tuning = ProducerSettings(spool_dir=tmp_path / "spool")
    with EventProducer(settings.kafka, tuning, codec, topic=topic):
        assert spool.is_empty()
    got = consume_all(settings, topic, len(events))
    assert sorted(event_id_of(m) for m in got) == sorted(str(e.event_id) for e in events)


def test_a_batch_is_one_span_linked_to_its_events_traces(settings: Settings, topic: str) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    runs = [Trace(traceparent=f"00-{n:032x}-{n:016x}-01") for n in (7, 8, 9)]
    events = [started(f"run-{n % 3}", trace=runs[n % 3]) for n in range(30)]
    with EventProducer(
        settings.kafka,
        settings.producer,
        topic=topic,
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[reader]),
    ) as producer:
        deliveries = producer.emit_many(events)

    (span,) = [s for s in exporter.get_finished_spans() if s.name == f"send {topic}"]
    assert dict(span.attributes or {})["messaging.batch.message_count"] == 30
    assert sorted(link.context.trace_id for link in span.links) == [7, 8, 9]
    messages = consume_all(settings, topic, len(events))
    codec = EventCodec()
    for msg in messages:
        raw = dict(msg.headers() or [])
        headers = {k: v.decode() for k, v in raw.items() if isinstance(v, bytes)}
        carried = trace.get_current_span(extract(headers)).get_span_context()
        assert (carried.trace_id, carried.span_id) == (span.context.trace_id, span.context.span_id)
    decoded = {codec.decode(m.value() or b"").trace for m in messages}
    assert decoded == set(runs)  # the envelopes keep their own run's trace
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        metric.name: metric.data.data_points
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    emitted = points["proofstream.producer.events.emitted"]
    latency = points["proofstream.producer.delivery.latency"]
    assert sum(p.value for p in emitted if isinstance(p, NumberDataPoint)) == 30
    assert sum(p.count for p in latency if isinstance(p, HistogramDataPoint)) == 30
    assert all(d.offset is not None for d in deliveries)


def test_the_same_event_twice_in_a_batch_is_sent_twice(settings: Settings, topic: str) -> None:
    once, other = started(), started("run-2")
    with EventProducer(settings.kafka, settings.producer, topic=topic) as producer:
        deliveries = producer.emit_many([once, other, once])
    assert [d.event_id for d in deliveries] == [once.event_id, other.event_id, once.event_id]
    assert deliveries[0].offset != deliveries[2].offset  # two records, each acknowledged
    got = consume_all(settings, topic, 3)
    assert sorted(event_id_of(m) for m in got) == sorted(
        str(e.event_id) for e in (once, other, once)
    )


def test_the_serializer_plugs_into_confluents_serializing_producer(
    settings: Settings, topic: str
) -> None:
    codec = EventCodec()
    producer = SerializingProducer(
        {
            **settings.kafka.client_config(),
            "key.serializer": StringSerializer(),
            "value.serializer": EventSerializer(codec),
        }
    )
    event = started()
    producer.produce(topic, key="run-1", value=event)
    assert producer.flush(30) == 0
    (msg,) = consume_all(settings, topic, 1)
    assert codec.decode(msg.value() or b"") == event
