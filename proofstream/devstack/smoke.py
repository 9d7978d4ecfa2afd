"""A produce→consume round trip through the broker, used by ``proofstream demo``
until the full pipeline demo replaces it, and handy to check a cluster."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from producers.settings import KafkaSettings
from schemas.errors import BrokerUnavailableError

__all__ = ["SmokeResult", "round_trip"]


@dataclass(frozen=True)
class SmokeResult:
    topic: str
    sent: int
    received: int
    seconds: float


def round_trip(kafka: KafkaSettings, count: int = 100, timeout_s: float = 30.0) -> SmokeResult:
    """Create a throwaway topic, produce ``count`` records with ``acks=all``, read them
    back, delete the topic. Raises ``BrokerUnavailableError`` when anything times out."""
    conf = kafka.client_config()
    topic = f"proofstream.smoke.{uuid.uuid4().hex[:8]}"
    admin = AdminClient(conf)
    started = time.monotonic()
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=timeout_s)
        producer = Producer({**conf, "acks": "all", "enable.idempotence": "true"})
        for i in range(count):
            producer.produce(topic, key=b"smoke", value=str(i).encode())
        if producer.flush(timeout_s) != 0:
            raise BrokerUnavailableError(f"{topic}: not every record was acknowledged")
        consumer = Consumer(
            {**conf, "group.id": topic, "auto.offset.reset": "earliest"},
        )
        consumer.subscribe([topic])
        received = 0
        deadline = time.monotonic() + timeout_s
        try:
            while received < count and time.monotonic() < deadline:
                received += sum(1 for m in consumer.consume(500, 0.5) if m.error() is None)
        finally:
            consumer.close()
    except KafkaException as exc:
        raise BrokerUnavailableError(f"smoke round trip through {topic} failed: {exc}") from exc
    finally:
        admin.delete_topics([topic])
    return SmokeResult(topic, count, received, time.monotonic() - started)
