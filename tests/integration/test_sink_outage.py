"""A sink outage holds offsets; when the sink returns, the projection recovers.

Runs the real faust runtime in-process so the test can switch the (real chDB)
sink off and on; a switched-off sink raises ``SinkUnavailableError`` as a
ClickHouse server that went away does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from processors.app import ProjectionRuntime
from producers import EventProducer
from producers.settings import KafkaSettings, TopicSettings
from proofstream.settings import Settings
from proofstream.workload import simulate
from schemas.codec import EventCodec
from schemas.errors import SinkUnavailableError
from sinks.base import Batch
from sinks.clickhouse import ClickHouseSink, run_query
from tests.conftest import TopicFactory


class SwitchableSink:
    """The real ClickHouse sink behind a switch."""

    def __init__(self, inner: ClickHouseSink) -> None:
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

    def write(self, batch: Batch) -> None:
        self._check()
        self.inner.write(batch)

    def flush(self) -> None:
        self._check()
        self.inner.flush()

    def watermark(self) -> dict[tuple[str, int], int]:
        return self.inner.watermark()

    def close(self) -> None:
        self.inner.close()


def test_sink_down_then_back(settings: Settings, new_topic: TopicFactory, tmp_path: Path) -> None:
    topics = TopicSettings(
        events=new_topic(partitions=2), dlq=new_topic(1), proof_gaps=new_topic(1)
    )
    kafka = KafkaSettings(bootstrap_servers=settings.kafka.bootstrap_servers, topics=topics)
    processors = settings.processors.model_copy(
        update={
            "group_prefix": f"outage-{topics.events}",
            "retry_max_s": 0.2,
            "batch_within_s": 0.1,
        }
    )
    sink = SwitchableSink(
        ClickHouseSink(f"chdb://{tmp_path / 'ch'}", name="facts", database="proofstream")
    )
    sink.available = False
    runtime = ProjectionRuntime(
        lambda: sink, EventCodec(), kafka, processors, datadir=tmp_path / "faust", web=False
    )
    events = list(simulate(runs=6, seed=4).events)
    with EventProducer(kafka, settings.producer) as producer:
        producer.emit_many(events)
    admin = AdminClient(kafka.client_config())
    group = runtime.group_id

    def committed() -> int:
        request = ConsumerGroupTopicPartitions(
            group, [TopicPartition(topics.events, p) for p in range(2)]
        )
        result = admin.list_consumer_group_offsets([request])[group].result(10)
        return sum(max(tp.offset, 0) for tp in result.topic_partitions)

    async def scenario() -> tuple[int, int, int]:
        await runtime.app.start()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while sink.refused < 5 and loop.time() < deadline:  # retried while down
                await asyncio.sleep(0.05)
            held = committed()
            sink.available = True
            while committed() < len(events) and loop.time() < deadline + 60:
                await asyncio.sleep(0.1)
            return held, committed(), sink.refused
        finally:
            await runtime.app.stop()

    held, after, refused = asyncio.run(scenario())
    assert refused >= 5
    assert held == 0  # nothing committed while the sink was down
    assert after == len(events)
    result = run_query(sink.inner, "SELECT count() FROM proof_facts FINAL")
    assert result.rows[0][0] == len(events)
    runtime.executor.submit(sink.close).result()
