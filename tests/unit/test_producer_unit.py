"""Pure parts of the producer: record layout, config, error translation, spool."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import KafkaError
from pydantic import SecretStr

from producers import (
    CONTENT_TYPE,
    EventProducer,
    KafkaSettings,
    OutgoingRecord,
    ProducerSettings,
    encode_event,
    message_key,
    producer_config,
    translate_kafka_error,
)
from producers.spool import Spool, SpoolFullError
from schemas.codec import EventCodec
from schemas.envelope import Actor, ActorKind, Producer, Subject
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
