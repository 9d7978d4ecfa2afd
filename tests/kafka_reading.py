"""Read back what a test wrote, by explicit assignment (no consumer group to settle)."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Message, TopicPartition

from proofstream.settings import Settings
from tests.waiting import wait_until


def consume_all(
    settings: Settings, topic: str, expected: int, timeout: float = 60
) -> list[Message]:
    """Every record of ``topic`` from the beginning, once ``expected`` have arrived.

    Fails the test after ``timeout`` seconds; any record carrying an error fails it too.
    """
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": f"it-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    got: list[Message] = []

    def more() -> bool:
        for msg in consumer.consume(num_messages=1000, timeout=0.2):
            assert msg.error() is None, msg.error()
            got.append(msg)
        return len(got) >= expected

    try:
        wait_until(more, timeout=timeout, interval=0, what=f"{expected} records from {topic}")
    finally:
        consumer.close()
    return got
