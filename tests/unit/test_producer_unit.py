"""Pure parts of the producer: record layout, serializer, delivery reports, batch
telemetry, config, error translation, spool."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Message
from confluent_kafka.serialization import MessageField, SerializationContext, Serializer
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr

import producers
from producers import (
    CONTENT_TYPE,
    EventProducer,
    EventSerializer,
    KafkaSettings,
    OutgoingRecord,
    ProducerSettings,
    encode_event,
    message_key,
    producer_config,
    translate_kafka_error,
)
from producers.delivery import PendingBatch
from producers.records import Row
from producers.spool import Spool, SpoolFullError
from producers.telemetry import ProducerTelemetry
from schemas.codec import EventCodec
from schemas.envelope import Actor, ActorKind, Producer, Subject, Trace
from schemas.errors import BrokerUnavailableError, DeliveryError, InvalidEventError
from schemas.events import RunStarted
from schemas.rules import MAX_EVENT_BYTES


@pytest.fixture(scope="module")
def codec() -> EventCodec:
    return EventCodec()


def started(run_id: str | None = "run-1", goal: str = "fix issue #12") -> RunStarted:
    return RunStarted(
        producer=Producer(
            service="planner", version="1.0", workload_id="spiffe://fractalops/ns/a/sa/planner"
        ),
        actor=Actor(kind=ActorKind.AGENT, id="agent-7", role="planner"),
        subject=Subject(project="fractalops", run_id=run_id),
        goal=goal,
    )


def test_key_is_run_id_else_project() -> None:
    assert message_key(started("run-9")) == b"run-9"
    assert message_key(started(None)) == b"fractalops"


def test_record_headers_describe_the_value(codec: EventCodec) -> None:
    event = started()
    record = encode_event(event, codec, 64 * 1024)
    headers = dict(record.headers)
    assert headers["event-type"] == b"run.started"
    assert headers["event-id"] == str(event.event_id).encode()
    assert headers["content-type"] == CONTENT_TYPE.encode()
    # the fingerprint header is the hex of the 8 bytes after the C3 01 marker
    assert headers["schema-fingerprint"] == record.value[2:10].hex().encode()
    assert codec.decode(record.value) == event


def test_oversized_event_is_named_with_its_batch_index(codec: EventCodec) -> None:
    with pytest.raises(InvalidEventError) as info:
        encode_event(started(goal="x" * 3000), codec, 1024, "events[2]")
    assert info.value.field == "events[2]"
    assert "1024" in info.value.reason


def test_non_event_is_rejected(codec: EventCodec) -> None:
    with pytest.raises(InvalidEventError) as info:
        encode_event({"event_type": "run.started"}, codec, 1024, "events[1]")
    assert info.value.field == "events[1]"


def test_config_fixes_the_never_lose_contract() -> None:
    kafka = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="svc",
        sasl_password=SecretStr("hunter2"),
    )
    conf = producer_config(
        kafka, ProducerSettings(compression="lz4", max_event_bytes=MAX_EVENT_BYTES)
    )
    assert conf["enable.idempotence"] is True
    assert conf["acks"] == "all"
    assert conf["compression.type"] == "lz4"
    assert int(conf["message.max.bytes"]) > MAX_EVENT_BYTES  # the event plus Kafka's framing
    assert conf["sasl.password"] == "hunter2"  # passed through to librdkafka only
    assert conf["security.protocol"] == "sasl_ssl"


def test_secrets_never_in_reprs() -> None:
    kafka = KafkaSettings(
        bootstrap_servers="127.0.0.1:1",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="svc",
        sasl_password=SecretStr("hunter2"),
    )
    assert "hunter2" not in repr(kafka)
    producer = EventProducer(kafka)
    try:
        assert "hunter2" not in repr(producer)
        assert "127.0.0.1:1" in repr(producer)
    finally:
        producer.close()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (KafkaError._MSG_TIMED_OUT, BrokerUnavailableError),
        (KafkaError._TRANSPORT, BrokerUnavailableError),
        (KafkaError._ALL_BROKERS_DOWN, BrokerUnavailableError),
        (KafkaError.MSG_SIZE_TOO_LARGE, DeliveryError),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, DeliveryError),
    ],
)
def test_kafka_errors_are_translated(code: int, expected: type[Exception]) -> None:
    assert type(translate_kafka_error(KafkaError(code), "t")) is expected


def _record(i: int) -> OutgoingRecord:
    return OutgoingRecord(
        key=f"run-{i}".encode(),
        value=bytes([i % 256]) * 100,
        headers=(("event-id", f"id-{i}".encode()), ("event-type", b"run.started")),
        event_id=f"id-{i}",
        event_type="run.started",
    )


def test_spool_round_trips_in_order_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=100_000, segment_bytes=1024)
    records = [_record(i) for i in range(30)]
    for i in range(0, 30, 3):
        spool.append(records[i : i + 3])
    segments = spool.segments()
    assert len(segments) > 1
    assert [r for s in segments for r in s.records] == records
    for segment in segments:
        spool.remove(segment)
    assert spool.is_empty()


def test_spool_drops_a_torn_tail(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=100_000, segment_bytes=1 << 20)
    spool.append([_record(1), _record(2)])
    (path,) = tmp_path.glob("*.seg")
    path.write_bytes(path.read_bytes()[:-7])  # a crash in the middle of the second append
    (segment,) = spool.segments()
    assert segment.records == (_record(1),)


def test_spool_is_bounded(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1024, segment_bytes=1 << 20)
    spool.append([_record(1)])
    with pytest.raises(SpoolFullError):
        spool.append([_record(i) for i in range(20)])
    assert [r for s in spool.segments() for r in s.records] == [_record(1)]


def test_public_api_is_pinned() -> None:
    assert sorted(producers.__all__) == [
        "AsyncEventProducer",
        "CONTENT_TYPE",
        "ClientConfig",
        "Delivery",
        "EventProducer",
        "EventSerializer",
        "KafkaSettings",
        "OutgoingRecord",
        "ProducerSettings",
        "TopicSettings",
        "check_credentials",
        "encode_event",
        "ensure_topics",
        "message_key",
        "producer_config",
        "translate_kafka_error",
    ]
    for name in producers.__all__:
        assert getattr(producers, name) is not None


def test_serializer_is_a_confluent_serializer(codec: EventCodec) -> None:
    serializer = EventSerializer(codec)
    event = started()
    assert isinstance(serializer, Serializer)  # plugs into SerializingProducer
    value = serializer(event, SerializationContext("t", MessageField.VALUE))
    assert value == codec.encode(event)
    assert serializer.record(event) == encode_event(event, codec, MAX_EVENT_BYTES)


def test_serializer_copies_the_callers_trace_only_into_events_without_one(
    codec: EventCodec,
) -> None:
    caller = Trace(traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    own = Trace(traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    bare, traced = started(), started().model_copy(update={"trace": own})
    rows = EventSerializer(codec).rows([bare, traced], trace=caller)
    assert codec.decode(rows[0][1]).trace == caller
    assert codec.decode(rows[1][1]).trace == own
    assert bare.trace is None  # the model is never changed


def test_rows_leave_the_garbage_collectors_tracking(codec: EventCodec) -> None:
    # Tens of thousands of tracked objects in flight cost a full collection.
    rows = EventSerializer(codec).rows([started(f"run-{i}") for i in range(50)])
    gc.collect()
    assert not any(gc.is_tracked(row) for row in rows)


def _batch(rows: list[Row], events: list[RunStarted]) -> tuple[PendingBatch, list[float]]:
    observed: list[float] = []
    batch = PendingBatch("t", rows, events, observe=lambda _type, s: observed.append(s))
    return batch, observed


def test_reports_find_their_record_by_value_in_any_order(codec: EventCodec) -> None:
    events = [started(f"run-{i}") for i in range(4)]
    rows = EventSerializer(codec).rows(events)
    batch, observed = _batch(rows, events)
    for offset, index in enumerate([2, 0, 3]):
        batch(None, Message(value=rows[index][1], partition=index, offset=offset, latency=0.5))
    assert not batch.done.is_set()
    batch(KafkaError(KafkaError._MSG_TIMED_OUT), Message(value=rows[1][1]))
    assert batch.done.is_set()
    assert [(d.partition, d.offset, d.event_id) if d else None for d in batch.deliveries] == [
        (0, 1, events[0].event_id),
        None,
        (2, 0, events[2].event_id),
        (3, 2, events[3].event_id),
    ]
    assert list(batch.errors) == [1]
    assert observed == [0.5, 0.5, 0.5]


def test_the_same_event_twice_gets_two_deliveries(codec: EventCodec) -> None:
    event = started()
    events = [event, started("run-2"), event, event]
    rows = EventSerializer(codec).rows(events)
    batch, _ = _batch(rows, events)
    batch.refused(2, KafkaError(KafkaError._QUEUE_FULL))
    for offset in range(3):
        index = [0, 1, 3][offset]
        batch(None, Message(value=rows[index][1], partition=0, offset=offset))
    assert batch.done.is_set()
    assert list(batch.errors) == [2]
    assert sorted(d.offset or 0 for d in batch.deliveries if d is not None) == [0, 1, 2]
    assert batch.deliveries[1] is not None and batch.deliveries[1].event_id != event.event_id


def test_one_span_per_batch_linked_to_the_events_traces(codec: EventCodec) -> None:
    exporter = InMemorySpanExporter()
    provider = SdkTracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = ProducerTelemetry("t", "svc", tracer_provider=provider)
    traces = [
        Trace(traceparent=f"00-{n:032x}-{n:016x}-01") for n in (1, 2, 2, 3)
    ]  # two distinct runs' contexts and one twice
    events = [started().model_copy(update={"trace": t}) for t in traces]
    rows = EventSerializer(codec).rows(events)
    with provider.get_tracer("test").start_as_current_span("caller") as caller:
        span, headers = telemetry.start(rows, events, telemetry.caller_trace())
    batch = PendingBatch("t", rows, events, observe=telemetry.delivered, span=span)
    for i, row in enumerate(rows):
        batch(None, Message(value=row[1], partition=0, offset=i))
    telemetry.finish(batch)

    (sent,) = [s for s in exporter.get_finished_spans() if s.name == "send t"]
    assert sent.parent is not None and sent.parent.span_id == caller.get_span_context().span_id
    assert dict(sent.attributes or {})["messaging.batch.message_count"] == 4
    assert sorted(link.context.trace_id for link in sent.links) == [1, 2, 3]
    carried = dict(headers)["traceparent"].decode()
    assert carried.split("-")[2] == f"{sent.context.span_id:016x}"  # every record carries it
