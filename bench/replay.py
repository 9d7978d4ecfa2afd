"""Replay benchmark: a rebuild of N events vs the raw consume+decode ceiling.

    uv run --all-extras python bench/replay.py --n 1000000

Setup produces N events into a fresh topic fast: a few hundred distinct realistic
events (``proofstream.workload.simulate``) are encoded once, and each copy gets a
fresh ``event_id`` by patching its fixed-length UUID bytes in place (valid Avro:
same length), produced raw through librdkafka.

Then it measures
  (a) the ceiling: confluent-kafka ``consume`` by explicit assignment + ``decode_record``;
  (b) ``replay.rebuild`` of the same range into a ClickHouse shadow generation
      (embedded chDB in a temp dir), build time and total (with digests);
and prints events/s for both, the ratio (target >= 0.7) and the wall times.
"""

from __future__ import annotations

import sys
from pathlib import Path

# this script is named like the ``replay`` package: keep its folder off the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402
from confluent_kafka.cimpl import NewTopic  # noqa: E402

from proofstream.settings import Settings  # noqa: E402
from proofstream.workload import simulate  # noqa: E402
from replay.rebuild import plan_rebuild, rebuild  # noqa: E402
from replay.source import read_kafka, replay_consumer  # noqa: E402
from schemas.codec import EventCodec  # noqa: E402
from schemas.errors import DecodeError  # noqa: E402
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink  # noqa: E402
from sinks.clickhouse_generations import ClickHouseGenerations  # noqa: E402


def _setup(settings: Settings, n: int, partitions: int) -> str:
    topic = f"bench-replay-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(settings.kafka.client_config())
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[
        topic
    ].result(30)
    codec = EventCodec()
    base = []
    for event in simulate(runs=40).events:
        raw = codec.encode(event)
        base.append((raw, str(event.event_id).encode(), (event.subject.run_id or "x").encode()))
    producer = Producer(
        {
            **settings.kafka.client_config(),
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    started = time.perf_counter()
    for i in range(n):
        raw, old_id, key = base[i % len(base)]
        new_id = str(uuid.UUID(int=i + 1, version=4)).encode()
        while True:
            try:
                producer.produce(topic, raw.replace(old_id, new_id, 1), key)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)
    took = time.perf_counter() - started
    print(f"setup: {n:,} events into {topic} ({len(base)} distinct) in {took:.1f} s")
    return topic


def _ceiling(settings: Settings, topic: str) -> tuple[int, float]:
    kafka = settings.kafka.model_copy(
        update={"topics": settings.kafka.topics.model_copy(update={"events": topic})}
    )
    plan = plan_rebuild(kafka)
    codec = EventCodec()
    decode = codec.decode_record
    consumer = replay_consumer(kafka, "bench")
    started = time.perf_counter()
    count = 0
    try:
        for chunk in read_kafka(consumer, plan.covered):
            for record in chunk:
                with contextlib.suppress(DecodeError):
                    decode(record[4])  # type: ignore[arg-type]
                count += 1
    finally:
        consumer.close()
    return count, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--batch-events", type=int, default=50_000)
    parser.add_argument("--topic", help="reuse an existing topic instead of producing")
    args = parser.parse_args()
    settings = Settings()
    topic = args.topic or _setup(settings, args.n, args.partitions)
    kafka = settings.kafka.model_copy(
        update={"topics": settings.kafka.topics.model_copy(update={"events": topic})}
    )

    count, ceiling_s = _ceiling(settings, topic)
    ceiling = count / ceiling_s
    print(f"(a) consume+decode_record: {count:,} in {ceiling_s:.2f} s = {ceiling:,.0f} ev/s")

    with tempfile.TemporaryDirectory() as tmp:
        sink = ClickHouseSink.open(ClickHouseSettings(), Path(tmp), name="facts")
        try:
            target = ClickHouseGenerations(sink)
            started = time.perf_counter()
            result = rebuild(
                target,
                plan_rebuild(kafka),
                kafka=kafka,
                projection_version=1,
                compare=False,
                batch_events=args.batch_events,
            )
            total_s = time.perf_counter() - started
        finally:
            sink.close()
    rate = result.events / result.seconds
    print(
        f"(b) rebuild into ClickHouse shadow: {result.events:,} in {result.seconds:.2f} s"
        f" = {rate:,.0f} ev/s (with digest: {total_s:.2f} s)"
    )
    print(f"ratio rebuild/ceiling = {rate / ceiling:.2f} (target >= 0.7)")
    scaled = result.seconds * 1_000_000 / max(result.events, 1)
    print(f"rebuild wall time scaled to 1M events: {scaled:.1f} s (target <= 60 s)")
    AdminClient(settings.kafka.client_config()).delete_topics([topic]) if not args.topic else None


if __name__ == "__main__":
    main()
