"""Benchmark: EventProducer.emit_many beside confluent-kafka's SerializingProducer.

    uv run --all-extras python bench/producer.py [--events 50000] [--repeat 5]
        [--rate 2000] [--seconds 10]

Issue #11 item 6: a service emitting through ``EventProducer`` must not pay more
than a plain confluent-kafka ``SerializingProducer`` with its ``AvroSerializer``
on the same events. Three ways to put the same realistic workload
(``proofstream.workload.simulate``: every event type, a trace per run) on the
same broker, each on a fresh 6-partition topic, all with the same librdkafka
configuration (:func:`producers.producer_config`: ``acks=all``, idempotence,
zstd, ``linger.ms``):

``raw``
    a plain ``confluent_kafka.Producer`` producing the already-encoded records
    (our value, key and headers; encoding not timed): the ceiling.
``confluent``
    ``SerializingProducer`` with a ``StringSerializer`` key (the run id, else the
    project, as ours) and a value serializer that dispatches each event to the
    ``AvroSerializer`` of its type (one per released schema, in-process
    ``mock://`` registry, schemas registered before the timing); ``to_dict`` is
    :func:`schemas.records.to_record`, the fastest model-to-dict there is. One
    delivery callback for all records, then ``flush()``: what a service would
    write.
``ours``
    ``EventProducer.emit_many(events)``: validate and encode every event, produce,
    wait for every acknowledgement, return a ``Delivery`` per event.

Each variant starts from a connected client (metadata fetched, producer id
assigned, schemas registered or writers compiled) and stops when the last
acknowledgement arrived (ours: when ``emit_many`` returned its deliveries). The passes rotate the
order of the variants; the figures are medians over ``--repeat`` passes, with
wall-clock rates and process CPU time per event (the librdkafka threads included)
beside them: this 2-core machine is shared, so the load average is printed, and
the per-pass ratios show the spread.

Then the paced ack latency: ``AsyncEventProducer.emit`` at a steady ``--rate``
for ``--seconds``; p50/p99 from emit to acknowledgement.

A script, not a test: it prints figures and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import KafkaError, Message, Producer, SerializingProducer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import (
    MessageField,
    SerializationContext,
    StringSerializer,
)

from producers import (
    AsyncEventProducer,
    EventProducer,
    OutgoingRecord,
    encode_event,
    producer_config,
)
from proofstream.settings import Settings
from proofstream.workload import simulate
from schemas.codec import EventCodec
from schemas.events import Event
from schemas.records import to_record

PARTITIONS = 6


def workload(count: int) -> list[Event]:
    """Exactly ``count`` events of the realistic workload (whole runs, then cut)."""
    runs = count // 16 + 10  # a run is ~17 events
    events = list(simulate(runs=runs).events)
    while len(events) < count:
        runs *= 2
        events = list(simulate(runs=runs).events)
    return events[:count]


def fresh_topic(admin: AdminClient, label: str) -> str:
    name = f"bench-{label}-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(name, PARTITIONS, 1)])[name].result(timeout=30)
    return name


@dataclass(frozen=True)
class Pass:
    """One timed run of one variant."""

    events: int
    wall_s: float
    cpu_s: float
    full_gcs: int

    @property
    def rate(self) -> float:
        return self.events / self.wall_s

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.events * 1e6


class Timer:
    """Wall and process CPU time of a block, and the full garbage collections in it
    (a full collection walks every object of the process: the 50k events included)."""

    def __enter__(self) -> Timer:
        self.full_gcs = 0
        gc.callbacks.append(self._count)
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        gc.callbacks.remove(self._count)

    def _count(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            self.full_gcs += 1

    def result(self, events: int) -> Pass:
        return Pass(events, self.wall, self.cpu, self.full_gcs)


class Acks:
    """One delivery callback for every record: counts acknowledgements, keeps errors."""

    def __init__(self) -> None:
        self.acked = 0
        self.errors: list[KafkaError] = []

    def __call__(self, err: KafkaError | None, _msg: Message | None) -> None:
        if err is None:
            self.acked += 1
        else:
            self.errors.append(err)

    def check(self, expected: int) -> None:
        assert not self.errors and self.acked == expected, (self.acked, self.errors[:3])


def connect(producer: Producer | SerializingProducer, topic: str, key: Any, value: Any) -> None:
    """Metadata and a producer id before the timing: one record, acknowledged."""
    producer.list_topics(topic, timeout=10)
    acks = Acks()
    producer.produce(topic, key=key, value=value, on_delivery=acks)
    producer.flush(30)
    acks.check(1)


def raw(settings: Settings, topic: str, records: list[OutgoingRecord]) -> Pass:
    producer = Producer(producer_config(settings.kafka, settings.producer))
    connect(producer, topic, records[0].key, records[0].value)
    acks = Acks()
    produce, poll = producer.produce, producer.poll
    with Timer() as t:
        for r in records:
            while True:
                try:
                    produce(topic, r.value, r.key, headers=list(r.headers), on_delivery=acks)
                    break
                except BufferError:
                    poll(0.05)
        producer.flush(120)
    acks.check(len(records))
    return t.result(len(records))


def confluent_serializer(codec: EventCodec) -> Callable[[Event, SerializationContext], bytes]:
    """The value serializer a confluent-kafka user would write for many event types:
    one ``AvroSerializer`` per schema, chosen by the event's type. Registers every
    schema in the mock registry (outside the timing)."""
    # new_client picks the in-process mock for a mock:// URL.
    registry = SchemaRegistryClient.new_client({"url": f"mock://bench-{uuid.uuid4().hex[:8]}"})

    def to_dict(event: Event, _ctx: SerializationContext) -> dict[str, Any]:
        return to_record(event)

    by_type = {
        et: AvroSerializer(
            registry,
            Schema(json.dumps(codec.catalog.current(et).schema, default=dict), "AVRO"),
            to_dict=to_dict,
        )
        for et in codec.catalog.event_types
    }

    def serialize(event: Event, ctx: SerializationContext) -> bytes:
        value: bytes = by_type[event.event_type](event, ctx)
        return value

    return serialize


def confluent(
    settings: Settings,
    topic: str,
    events: list[Event],
    serialize: Callable[[Event, SerializationContext], bytes],
) -> Pass:
    producer = SerializingProducer(
        {
            **producer_config(settings.kafka, settings.producer),
            "key.serializer": StringSerializer(),
            "value.serializer": serialize,
        }
    )
    connect(producer, topic, "warm-up", events[0])
    acks = Acks()
    produce, poll = producer.produce, producer.poll
    with Timer() as t:
        for e in events:
            subject = e.subject
            key = subject.run_id if subject.run_id is not None else subject.project
            while True:
                try:
                    produce(topic, key=key, value=e, on_delivery=acks)
                    break
                except BufferError:
                    poll(0.05)
        producer.flush(120)
    acks.check(len(events))
    return t.result(len(events))


def ours(settings: Settings, topic: str, events: list[Event]) -> Pass:
    with EventProducer(settings.kafka, settings.producer, topic=topic) as producer:
        # Metadata, a producer id and each type's writer before the timing, as the
        # confluent variant registers its schemas first.
        producer.emit_many({e.event_type: e for e in events}.values())
        with Timer() as t:
            deliveries = producer.emit_many(events)
    assert len(deliveries) == len(events) and not any(d.spooled for d in deliveries)
    return t.result(len(events))


async def paced_latency(settings: Settings, topic: str, rate: int, seconds: float) -> list[float]:
    events = workload(int(rate * seconds))
    latencies: list[float] = []

    async def one(producer: AsyncEventProducer, event: Event) -> None:
        t0 = time.monotonic()
        await producer.emit(event)
        latencies.append((time.monotonic() - t0) * 1000)

    async with AsyncEventProducer(settings.kafka, settings.producer, topic=topic) as producer:
        await producer.emit(events[0])
        tasks = []
        start = time.monotonic()
        for i, event in enumerate(events):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(producer, event)))
        await asyncio.gather(*tasks)
        achieved = len(events) / (time.monotonic() - start)
    print(f"  paced at {rate}/s target, achieved {achieved:,.0f}/s over {len(events)} events")
    return latencies


def _described(name: str, one: Pass) -> str:
    gcs = f" ({one.full_gcs} full GC)" if one.full_gcs else ""
    return f"{name} {one.rate:,.0f}/s{gcs}"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min, {os.cpu_count()} CPUs)"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5, help="passes of every variant")
    parser.add_argument("--rate", type=int, default=2000, help="paced latency: events/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="paced latency: duration")
    args = parser.parse_args()
    settings = Settings()
    admin = AdminClient(settings.kafka.client_config())
    p = settings.producer
    print(
        f"broker {settings.kafka.bootstrap_servers}, {PARTITIONS} partitions, "
        f"compression={p.compression} linger.ms={p.linger_ms} acks=all idempotence=true"
    )
    events = workload(args.events)
    codec = EventCodec(max_event_bytes=p.max_event_bytes)
    records = [encode_event(e, codec, p.max_event_bytes) for e in events]
    size = sum(len(r.value) for r in records) / len(records)
    print(
        f"workload: {len(events):,} events of {len({e.event_type for e in events})} types, "
        f"{size:.0f} B per value on average"
    )
    serialize = confluent_serializer(codec)
    for event in {e.event_type: e for e in events}.values():  # register every schema
        serialize(event, SerializationContext("warm-up", MessageField.VALUE))

    variants: dict[str, Callable[[str], Pass]] = {
        "raw": lambda topic: raw(settings, topic, records),
        "confluent": lambda topic: confluent(settings, topic, events, serialize),
        "ours": lambda topic: ours(settings, topic, events),
    }
    names = list(variants)
    passes: dict[str, list[Pass]] = {name: [] for name in names}
    topics = [fresh_topic(admin, "latency")]
    print(f"load average before: {_load()}")
    try:
        for n in range(args.repeat):
            order = names[n % len(names) :] + names[: n % len(names)]
            for name in order:
                topics.append(fresh_topic(admin, name))
                passes[name].append(variants[name](topics[-1]))
            print(
                f"  pass {n + 1}: "
                + ", ".join(_described(name, passes[name][-1]) for name in names)
            )
        print(f"load average after:  {_load()}")
        print(
            f"medians of {args.repeat} passes (events/s wall; process CPU us/event, "
            "librdkafka threads included; full GCs in all passes):"
        )
        median = {name: statistics.median(x.rate for x in passes[name]) for name in names}
        for name in names:
            cpu = statistics.median(x.cpu_us for x in passes[name])
            gcs = sum(x.full_gcs for x in passes[name])
            print(
                f"  {name:<10} {median[name]:>10,.0f}/s   {cpu:6.1f} us CPU/event   {gcs} full GCs"
            )
        for other in ("confluent", "raw"):
            per_pass = [o.rate / x.rate for o, x in zip(passes["ours"], passes[other], strict=True)]
            print(
                f"ratio ours / {other:<9} {median['ours'] / median[other]:.2f} of medians; "
                f"per pass {', '.join(f'{r:.2f}' for r in per_pass)} "
                f"(median {statistics.median(per_pass):.2f})"
            )
        lat = asyncio.run(paced_latency(settings, topics[0], args.rate, args.seconds))
        q = statistics.quantiles(lat, n=100)
        print(f"ack latency at {args.rate}/s: p50 {q[49]:.1f} ms, p99 {q[98]:.1f} ms")
        print(f"load average at the end: {_load()}")
    finally:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result(timeout=30)


if __name__ == "__main__":
    main()
