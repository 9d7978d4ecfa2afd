"""Live fan-out into ClickHouse against the machine's ceiling, measured in one run.

Run (needs the broker: ``proofstream kafka up``)::

    uv run --all-extras python bench/pipeline.py [--n 200000] [--rss-n 1000000]
        [--rate 2000] [--seconds 10]

Prints, each against what it is compared with:

1. ceiling: a raw confluent-kafka consume + ``decode_record`` of the topic (events/s);
2. fan-out: the real worker (``python -m proofstream run``, facts projection) draining
   the same backlog, from its first commit to lag 0 (events/s) and the ratio (target
   >= 0.5);
   for both engines (faust per-message streams; the librdkafka batch engine);
3. emit → row visible latency at a steady ``--rate`` events/s on a one-partition
   topic (p50/p99; target p99 <= 1 s), polled through the worker's query API;
4. the worker's peak RSS (VmHWM) while draining a ``--rss-n`` backlog (target
   <= 300 MB).

The ClickHouse sink ratio against a raw ``insert_arrow`` of the same rows is
``bench/clickhouse_sink.py``. A benchmark script, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from producers.settings import KafkaSettings, TopicSettings
from proofstream.settings import Settings
from proofstream.status import collect_status
from proofstream.worker_client import WorkerClient
from proofstream.worker_process import WorkerProcess
from proofstream.workload import simulate
from schemas.codec import EventCodec
from tests.ports import free_port


def _topic(admin: AdminClient, partitions: int) -> str:
    name = f"bench-pipeline-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    return name


def _fill(kafka: KafkaSettings, topic: str, n: int, codec: EventCodec) -> None:
    """``n`` realistic events (distinct ids), produced raw with librdkafka batching."""
    templates = [codec.decode_record(codec.encode(e)) for e in simulate(runs=60, seed=1).events]
    producer = Producer({**kafka.client_config(), "linger.ms": "20", "compression.type": "zstd"})
    for i in range(n):
        record = dict(templates[i % len(templates)])
        record["event_id"] = str(uuid.UUID(int=i + 1))
        key = (record["subject"].get("run_id") or "x").encode()
        while True:
            try:
                producer.produce(topic, key=key, value=codec.encode_record(record))
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(120)


def _ceiling(kafka: KafkaSettings, topic: str, n: int, codec: EventCodec) -> float:
    consumer = Consumer(
        {**kafka.client_config(), "group.id": f"ceiling-{topic}", "enable.auto.commit": "false"}
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    seen = 0
    started = time.perf_counter()
    while seen < n:
        for message in consumer.consume(5000, 1.0):
            if message.error() is None:
                codec.decode_record(message.value() or b"")
                seen += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return seen / elapsed


def _worker_settings(
    base: Settings, topic: str, state: Path, engine: str = "batch", group: str = ""
) -> Settings:
    topics = TopicSettings(events=topic, dlq=f"{topic}.dlq", proof_gaps=f"{topic}.gaps")
    return base.model_copy(
        update={
            "state_dir": state,
            "kafka": base.kafka.model_copy(update={"topics": topics}),
            "processors": base.processors.model_copy(
                update={
                    "web_port": free_port(),
                    "projections": ("facts",),
                    "proof_closure": False,
                    "group_prefix": f"bench-{group or engine}-{topic}",
                    "engine": engine,
                }
            ),
        }
    )


def _drain(settings: Settings, n: int) -> tuple[float, int]:
    """Start a worker on a full topic; events/s from its first commit to lag 0, peak RSS."""
    worker = WorkerProcess(settings, dict(os.environ))
    worker.start()
    first: tuple[float, int] | None = None
    peak = 0
    try:
        while True:
            report = collect_status(settings, ["facts"], open_stores=False)
            lag = report["projections"]["facts"]["lag"]
            now = time.perf_counter()
            peak = max(peak, _rss_peak(worker.pid))
            if first is None and lag < n:
                first = (now, n - lag)
            if lag == 0:
                break
            time.sleep(0.2)
    finally:
        worker.stop()
    assert first is not None
    done_at = time.perf_counter()
    return (n - first[1]) / max(done_at - first[0], 1e-9), peak


def _rss_peak(pid: int | None) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _latency(settings: Settings, rate: int, seconds: float, codec: EventCodec) -> list[float]:
    """Emit at ``rate``/s on a one-partition topic; time until each row is visible."""
    worker = WorkerProcess(settings, dict(os.environ))
    worker.start()
    client = WorkerClient(settings)
    topic = settings.kafka.topics.events
    template = codec.decode_record(codec.encode(simulate(runs=1, seed=3).events[0]))
    producer = Producer({**settings.kafka.client_config(), "linger.ms": "1", "acks": "all"})
    sent_at: list[float] = []
    visible_at: list[float] = []
    total = int(rate * seconds)
    try:
        started = time.perf_counter()
        last_poll = 0.0
        while len(visible_at) < total:
            now = time.perf_counter()
            due = min(total, int((now - started) * rate))
            while len(sent_at) < due:
                record = {**template, "event_id": str(uuid.uuid4())}
                producer.produce(topic, key=b"latency", value=codec.encode_record(record))
                sent_at.append(time.perf_counter())
            producer.poll(0)
            if now - last_poll >= 0.02:
                last_poll = now
                sql = f"SELECT count() FROM proof_facts WHERE log_topic = '{topic}'"
                count = int(client.query(sql)["rows"][0][0])
                seen_at = time.perf_counter()
                while len(visible_at) < min(count, len(sent_at)):
                    visible_at.append(seen_at)
            if now - started > seconds + 60:
                break
            time.sleep(0.001)
    finally:
        worker.stop()
    return [v - s for s, v in zip(sent_at, visible_at, strict=False)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000, help="backlog for fan-out vs ceiling")
    parser.add_argument("--rss-n", type=int, default=1_000_000, help="backlog for peak RSS")
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    base = Settings()
    kafka = base.kafka
    admin = AdminClient(kafka.client_config())
    codec = EventCodec()
    with tempfile.TemporaryDirectory() as tmp:
        topic = _topic(admin, 6)
        _fill(kafka, topic, args.n, codec)
        ceiling = _ceiling(kafka, topic, args.n, codec)
        rates = {
            engine: _drain(_worker_settings(base, topic, Path(tmp) / engine, engine), args.n)[0]
            for engine in ("faust", "batch")
        }
        print(f"backlog {args.n:,} events, 6 partitions, machine load {os.getloadavg()[0]:.2f}")
        print(f"ceiling (raw consume + decode_record): {ceiling:10,.0f} events/s")
        for engine, rate in rates.items():
            print(
                f"live fan-out into ClickHouse, {engine:5s} engine: {rate:10,.0f} events/s  "
                f"ratio {rate / ceiling:.2f}  (target >= 0.5)"
            )

        latency_topic = _topic(admin, 1)
        lat = _latency(
            _worker_settings(base, latency_topic, Path(tmp) / "latency"),
            args.rate,
            args.seconds,
            codec,
        )
        lat.sort()
        p50 = statistics.median(lat)
        p99 = lat[int(len(lat) * 0.99) - 1]
        print(
            f"emit -> visible at {args.rate}/s for {args.seconds:.0f}s ({len(lat)} events): "
            f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms  (target p99 <= 1000 ms)"
        )

        rss_topic = _topic(admin, 6)
        _fill(kafka, rss_topic, args.rss_n, codec)
        _, peak = _drain(_worker_settings(base, rss_topic, Path(tmp) / "rss"), args.rss_n)
        print("latency and RSS use the batch engine (the faust engine's RSS is similar).")
        print(
            f"worker peak RSS over a {args.rss_n:,}-event backlog: {peak / 2**20:.0f} MB"
            "  (target <= 300 MB)"
        )


if __name__ == "__main__":
    main()
