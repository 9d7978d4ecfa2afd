"""Data written before a broker restart is still there after it (real log segments)."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from proofstream.devstack.kafka import KafkaLauncher
from proofstream.settings import Settings
from tests.kafka_reading import consume_all


def test_data_survives_broker_restart(settings: Settings, topic: str) -> None:
    launcher = KafkaLauncher(settings.broker, settings.state_dir)
    if not launcher.status().running:
        pytest.fail(
            "this test restarts the broker, so it needs the one `proofstream kafka up` "
            f"started for state dir {settings.state_dir}",
            pytrace=False,
        )
    producer = Producer({**settings.kafka.client_config(), "acks": "all"})
    before = [f"before-{i}".encode() for i in range(100)]
    for value in before:
        producer.produce(topic, key=b"run-1", value=value)
    assert producer.flush(30) == 0

    assert launcher.down()
    assert not launcher.status().running
    _, started = launcher.up()
    assert started

    producer.produce(topic, key=b"run-1", value=b"after")
    assert producer.flush(60) == 0
    got = [m.value() for m in consume_all(settings, topic, len(before) + 1, timeout=60)]
    assert got == [*before, b"after"]
