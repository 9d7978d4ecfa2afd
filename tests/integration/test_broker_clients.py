"""The broker that `.ci/run` starts is a real Kafka: three clients talk to it."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import aiokafka
import faust
from confluent_kafka import Producer

from proofstream.settings import Settings
from tests.kafka_reading import consume_all


def test_confluent_kafka_round_trip(settings: Settings, topic: str) -> None:
    producer = Producer({**settings.kafka.client_config(), "acks": "all"})
    sent = [f"value-{i}".encode() for i in range(50)]
    for value in sent:
        producer.produce(topic, value=value, key=b"k")
    assert producer.flush(30) == 0
    got = consume_all(settings, topic, len(sent))
    assert [m.value() for m in got] == sent  # one key, one partition: same order


def test_aiokafka_round_trip(settings: Settings, topic: str) -> None:
    async def scenario() -> list[bytes]:
        producer = aiokafka.AIOKafkaProducer(
            bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            for i in range(20):
                await producer.send_and_wait(topic, f"aio-{i}".encode(), key=b"k")
        finally:
            await producer.stop()
        consumer = aiokafka.AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka.bootstrap_servers,
            group_id=f"it-{uuid.uuid4().hex}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        got: list[bytes] = []
        try:

            async def collect() -> None:
                async for msg in consumer:
                    got.append(msg.value)
                    if len(got) == 20:
                        return

            await asyncio.wait_for(collect(), timeout=30)
        finally:
            await consumer.stop()
        return got

    assert asyncio.run(scenario()) == [f"aio-{i}".encode() for i in range(20)]


def test_faust_agent_round_trip(settings: Settings, topic: str, tmp_path) -> None:
    app = faust.App(
        f"it-faust-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{settings.kafka.bootstrap_servers}",
        store="memory://",
        web_enabled=False,
        datadir=str(tmp_path),
        topic_replication_factor=1,
        topic_partitions=3,
        consumer_auto_offset_reset="earliest",
    )
    source = app.topic(topic, value_serializer="raw", key_serializer="raw")
    seen: list[bytes] = []

    @app.agent(source)
    async def collect(stream):  # type: ignore[no-untyped-def]
        async for value in stream:
            seen.append(value)

    async def scenario() -> None:
        await app.start()
        try:
            for i in range(10):
                await source.send(key=b"k", value=f"faust-{i}".encode())
            deadline = asyncio.get_running_loop().time() + 60
            while len(seen) < 10 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
        finally:
            await app.stop()

    asyncio.run(scenario())
    assert seen == [f"faust-{i}".encode() for i in range(10)]


def test_idempotent_producer_keeps_per_key_order(settings: Settings, new_topic) -> None:
    topic = new_topic(partitions=6)
    producer = Producer(
        {
            **settings.kafka.client_config(),
            "enable.idempotence": "true",
            "acks": "all",
            "linger.ms": "2",
        }
    )
    keys = [f"run-{i}" for i in range(8)]
    per_key = 250
    for n in range(per_key):
        for key in keys:
            producer.produce(topic, key=key.encode(), value=f"{key}:{n}".encode())
    assert producer.flush(30) == 0

    got = consume_all(settings, topic, per_key * len(keys))
    assert len(got) == per_key * len(keys)  # no duplicates from retries
    sequences: dict[str, list[int]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for msg in got:
        key = msg.key().decode()
        sequences[key].append(int(msg.value().decode().split(":")[1]))
        partitions[key].add(msg.partition())
    assert all(len(p) == 1 for p in partitions.values())  # a key stays on one partition
    assert len({next(iter(p)) for p in partitions.values()}) > 1  # and keys do spread out
    for key in keys:
        assert sequences[key] == list(range(per_key)), key
