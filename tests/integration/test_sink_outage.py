"""A store outage holds offsets; when the store returns, the plane recovers.

Runs the real engine in-process so the test can switch the (real chDB) store off
and on; a switched-off store raises ``SinkUnavailableError`` as a ClickHouse
server that went away does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from processors.engine import Engine
from producers import EventProducer
from proofstream.settings import Settings
from proofstream.workload import simulate
from schemas.codec import EventCodec
from schemas.errors import SinkUnavailableError
from sinks.facts import make_plane
from sinks.facts.settings import ClickHouseSettings
from sinks.facts.store import ClickHouseStore
from sinks.plane import Plane
from tests.conftest import TopicFactory
from tests.waiting import wait_until


class SwitchableStore:
    """The real ClickHouse store behind a switch."""

    def __init__(self, inner: ClickHouseStore) -> None:
        self.inner = inner
        self.available = True
        self.refused = 0

    @property
    def name(self) -> str:
        return self.inner.name

    def _check(self) -> None:
        if not self.available:
            self.refused += 1
            raise SinkUnavailableError(self.name, "switched off", retry_after=0.05)

    def write(self, writes: Any, upto: Mapping[tuple[str, int], int]) -> None:
        self._check()
        self.inner.write(writes, upto)

    def flush(self) -> None:
        self._check()
        self.inner.flush()

    def watermark(self) -> dict[tuple[str, int], int]:
        return self.inner.watermark()

    def close(self) -> None:
        self.inner.close()


def test_store_down_then_back(settings: Settings, new_topic: TopicFactory, tmp_path: Path) -> None:
    kafka = new_topic.kafka(settings.kafka, partitions=2)
    topics = kafka.topics
    processors = settings.processors.model_copy(
        update={
            "group_prefix": f"outage-{topics.events}",
            "retry_max_s": 0.2,
            "batch_within_s": 0.1,
        }
    )
    codec = EventCodec()
    facts = make_plane(ClickHouseSettings(), tmp_path, codec)
    switch: list[SwitchableStore] = []

    def open_store() -> SwitchableStore:
        store = SwitchableStore(ClickHouseStore.open(ClickHouseSettings(), tmp_path))
        store.available = False
        switch.append(store)
        return store

    plane = Plane("facts", facts.projection, open_store)
    events = list(simulate(runs=6, seed=4).events)
    with EventProducer(kafka, settings.producer) as producer:
        producer.emit_many(events)
    admin = AdminClient(kafka.client_config())
    group = f"{processors.group_prefix}.facts"

    def committed() -> int:
        request = ConsumerGroupTopicPartitions(
            group, [TopicPartition(topics.events, p) for p in range(2)]
        )
        result = admin.list_consumer_group_offsets([request])[group].result(10)
        return sum(max(tp.offset, 0) for tp in result.topic_partitions)

    engine = Engine([plane], codec, kafka, processors)
    engine.start()
    try:
        wait_until(lambda: switch and switch[0].refused >= 5, timeout=60, what="retries")
        held = committed()
        store = switch[0]
        store.available = True
        wait_until(lambda: committed() == len(events), timeout=120, what="commits")
        wait_until(lambda: engine.lag() == {"facts": 0}, timeout=30, what="lag 0")
        count = store.inner.client.query("SELECT count() FROM proof_facts FINAL").result_rows
    finally:
        engine.stop()
    assert store.refused >= 5
    assert held == 0  # nothing committed while the store was down
    assert count[0][0] == len(events)
