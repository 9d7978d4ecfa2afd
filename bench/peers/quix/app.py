"""Peer benchmark: a Quix Streams app doing the facts plane's job, written the Quix way.

Reads the agent-action events topic (Avro single-object encoding: ``C3 01``, the
8-byte little-endian CRC-64-AVRO fingerprint of the writer schema, the Avro body),
decodes each value with Quix's ``AvroDeserializer`` (one per writer schema, picked
by the fingerprint in the header), flattens the envelope into a ``proof_facts``-like
row in the ``StreamingDataFrame`` and sinks the rows into embedded chDB through
clickhouse-connect with a ``BatchingSink`` (one ``client.insert`` per topic
partition per checkpoint).

Standalone: this is its own uv project (quixstreams pins an older confluent-kafka
than proofstream) and imports nothing from proofstream; the schemas come from the
``.avsc`` files under ``--schemas`` (``schemas/avro`` of the repo).

Run (see ``bench/peers/README.md``)::

    uv run --project bench/peers/quix python bench/peers/quix/app.py \\
        --bootstrap 127.0.0.1:9092 --topic T --events N --state DIR --schemas schemas/avro

Prints one JSON line on stdout when it has processed ``--events`` records (0: the
topic's end offsets when it starts)::

    {"events": N, "seconds": ..., "events_per_s": ..., ...}

``seconds`` runs from just before ``app.run()`` (so it includes joining the group)
until ``app.run()`` has returned, i.e. after its final checkpoint (sink flush, then
the synchronous offset commit) of the last record. ``steady_events_per_s`` is the
same work measured from the first record deserialized instead.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import clickhouse_connect
import orjson
from confluent_kafka import Consumer, TopicPartition
from fastavro.schema import fingerprint, to_parsing_canonical_form
from quixstreams import Application
from quixstreams.models import Deserializer, SerializationContext
from quixstreams.models.serializers.avro import AvroDeserializer
from quixstreams.models.serializers.exceptions import SerializationError
from quixstreams.sinks import BatchingSink, SinkBatch

MAGIC = b"\xc3\x01"
HEADER = len(MAGIC) + 8

ENVELOPE = frozenset(
    {
        "event_id",
        "event_type",
        "occurred_at",
        "producer",
        "actor",
        "subject",
        "causation_id",
        "correlation_id",
        "trace",
        "attributes",
    }
)
"""Fields of every event that become columns; the rest is the ``payload`` JSON."""

TABLE = "facts"
COLUMNS = (
    "event_id", "event_type", "occurred_at", "producer_service", "producer_version",
    "workload_id", "actor_kind", "actor_id", "actor_role", "team_type", "project",
    "repository", "run_id", "attempt", "generation", "causation_id", "correlation_id",
    "trace_id", "attributes", "payload", "ingest_version",
    "log_topic", "log_partition", "log_offset",
)  # fmt: skip
"""The row: what proofstream's ``proof_facts`` holds (the flattened envelope, the
payload as JSON, the record's log coordinates)."""

DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE}
(
    event_id         String,
    event_type       LowCardinality(String),
    occurred_at      DateTime64(6, 'UTC'),
    producer_service LowCardinality(String),
    producer_version LowCardinality(String),
    workload_id      LowCardinality(String),
    actor_kind       LowCardinality(String),
    actor_id         String,
    actor_role       LowCardinality(String),
    team_type        LowCardinality(Nullable(String)),
    project          LowCardinality(String),
    repository       LowCardinality(Nullable(String)),
    run_id           Nullable(String),
    attempt          UInt32,
    generation       UInt64,
    causation_id     Nullable(String),
    correlation_id   Nullable(String),
    trace_id         Nullable(String),
    attributes       Map(String, String),
    payload          String CODEC(ZSTD(3)),
    ingest_version   UInt32,
    log_topic        LowCardinality(String),
    log_partition    UInt32,
    log_offset       UInt64
)
ENGINE = ReplacingMergeTree(ingest_version)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (event_type, event_id)
SETTINGS non_replicated_deduplication_window = 1000
"""


def load_schemas(root: Path) -> dict[bytes, tuple[dict[str, Any], dict[str, Any]]]:
    """Fingerprint → (writer schema, reader schema) from ``root/v<N>/*.avsc``.

    The reader schema of an event type is its newest version (the highest ``v<N>``
    that has it), so an older writer resolves into the current shape.
    """
    writers: list[tuple[int, dict[str, Any]]] = []
    for directory in root.iterdir():
        if directory.is_dir() and directory.name[:1] == "v" and directory.name[1:].isdigit():
            version = int(directory.name[1:])
            for path in sorted(directory.glob("*.avsc")):
                writers.append((version, json.loads(path.read_text(encoding="utf-8"))))
    if not writers:
        raise SystemExit(f"no schemas under {root}/v<N>/*.avsc")
    newest: dict[str, tuple[int, dict[str, Any]]] = {}
    for version, schema in writers:
        name = schema["name"]
        if name not in newest or newest[name][0] < version:
            newest[name] = (version, schema)
    by_fingerprint = {}
    for _, schema in writers:
        # CRC-64-AVRO of the Parsing Canonical Form; fastavro writes the 64-bit value
        # as its little-endian bytes in hex, which is the order on the wire.
        key = bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
        by_fingerprint[key] = (schema, newest[schema["name"]][1])
    return by_fingerprint


class SingleObjectAvroDeserializer(Deserializer):
    """Avro single-object encoding: the header names the writer schema by its
    fingerprint; Quix's ``AvroDeserializer`` for that schema decodes the body."""

    def __init__(self, schemas: dict[bytes, tuple[dict[str, Any], dict[str, Any]]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # quixstreams: untyped
        self._by_fingerprint = {
            key: AvroDeserializer(schema=writer, reader_schema=None if reader is writer else reader)
            for key, (writer, reader) in schemas.items()
        }

    def __call__(self, value: bytes, ctx: SerializationContext) -> Any:
        if value[:2] != MAGIC or len(value) < HEADER:
            raise SerializationError("not an Avro single-object encoded record")
        deserializer = self._by_fingerprint.get(value[2:HEADER])
        if deserializer is None:
            raise SerializationError(f"unknown writer schema {value[2:HEADER].hex()}")
        return deserializer(value[HEADER:], ctx)


def _trace_id(trace: dict[str, Any] | None) -> str | None:
    parts = ((trace or {}).get("traceparent") or "").split("-")
    return parts[1] if len(parts) >= 4 and len(parts[1]) == 32 else None


def to_row(event: dict[str, Any]) -> tuple[Any, ...]:
    """The decoded event as the row's values up to ``ingest_version`` (the sink adds
    the log coordinates, which it has per batch item)."""
    producer, actor, subject = event["producer"], event["actor"], event["subject"]
    payload = {k: v for k, v in event.items() if k not in ENVELOPE}
    return (
        str(event["event_id"]),  # logicalType uuid: a uuid.UUID
        event["event_type"],
        event["occurred_at"],  # timestamp-micros: an aware datetime
        producer["service"],
        producer["version"],
        producer["workload_id"],
        actor["kind"],
        actor["id"],
        actor["role"],
        actor["team_type"],
        subject["project"],
        subject["repository"],
        subject["run_id"],
        subject["attempt"],
        subject["generation"],
        event["causation_id"],
        event["correlation_id"],
        _trace_id(event["trace"]),
        event["attributes"],
        orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode(),
        1,
    )


class ChDBFactsSink(BatchingSink):
    """Rows into a ``ReplacingMergeTree`` in embedded chDB; one insert per batch
    (a topic partition's records since the last checkpoint)."""

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self._dsn = dsn
        self._client: Any = None
        self.last_write_at = 0.0
        self.rows_written = 0

    def setup(self) -> None:
        self._client = clickhouse_connect.get_client(dsn=self._dsn)
        self._client.command(DDL)

    def write(self, batch: SinkBatch) -> None:
        topic, partition = batch.topic, batch.partition
        rows = [(*item.value, topic, partition, item.offset) for item in batch]
        self._client.insert(TABLE, rows, column_names=COLUMNS)
        self.rows_written += len(rows)
        self.last_write_at = time.perf_counter()

    def count(self) -> tuple[int, int]:
        """Rows and distinct event ids, deduplicated (``FINAL``)."""
        rows, ids = self._client.query(
            f"SELECT count(), uniqExact(event_id) FROM {TABLE} FINAL"
        ).result_rows[0]
        return int(rows), int(ids)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def end_offsets(bootstrap: str, topic: str) -> int:
    """Records in ``topic`` now (sum of high minus low watermarks)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "peer-quix-watermarks"})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None:
            raise SystemExit(f"topic {topic}: {metadata.error}")
        total = 0
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
            total += high - low
        return total
    finally:
        consumer.close()


def _cpu_seconds() -> float:
    """User + system CPU time of this process so far, all its threads (librdkafka's,
    chDB's) included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run_queue_wait() -> float | None:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux
    ``schedstat``): how much the machine's other load held the app back."""
    try:
        return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--events", type=int, default=0, help="0: the topic's end offsets")
    parser.add_argument("--state", type=Path, required=True, help="directory for chDB + Quix")
    parser.add_argument("--schemas", type=Path, required=True, help="the repo's schemas/avro")
    parser.add_argument(
        "--group", default="", help="consumer group (default: a new peer-quix-<topic>-<random>)"
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=60.0,
        help="give up after this many seconds without a record (the topic has fewer events)",
    )
    parser.add_argument("--loglevel", default="WARNING")
    args = parser.parse_args()

    events = args.events or end_offsets(args.bootstrap, args.topic)
    state = args.state.resolve()
    state.mkdir(parents=True, exist_ok=True)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group or f"peer-quix-{args.topic}-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        state_dir=state / "quix",
        loglevel=args.loglevel,
    )
    topic = app.topic(
        args.topic, value_deserializer=SingleObjectAvroDeserializer(load_schemas(args.schemas))
    )
    sink = ChDBFactsSink(f"chdb://{state / 'clickhouse'}")

    first_at: list[float] = []  # wall clock and CPU time at the first record

    def row(event: dict[str, Any]) -> tuple[Any, ...]:
        if not first_at:
            first_at.extend((time.perf_counter(), _cpu_seconds()))
        return to_row(event)

    sdf = app.dataframe(topic)
    sdf = sdf.apply(row)
    sdf.sink(sink)

    cpu_before, wait_before = _cpu_seconds(), _run_queue_wait()
    started = time.perf_counter()
    app.run(count=events, timeout=args.idle_timeout, collect=False)
    done = time.perf_counter()
    cpu, wait_after = _cpu_seconds() - cpu_before, _run_queue_wait()
    waited = None if wait_before is None or wait_after is None else wait_after - wait_before

    rows, distinct = sink.count()
    sink.close()
    complete = sink.rows_written >= events and distinct >= events
    seconds = done - started
    first = (first_at[0] if first_at else started) - started
    steady_cpu = cpu_before + cpu - (first_at[1] if first_at else cpu_before)
    print(
        json.dumps(
            {
                "events": events,
                "seconds": round(seconds, 3),
                "events_per_s": round(events / seconds, 1),
                "first_record_after_s": round(first, 3),
                "steady_events_per_s": round(events / (seconds - first), 1),
                "last_write_after_s": round(sink.last_write_at - started, 3),
                "cpu_seconds": round(cpu, 3),
                "events_per_cpu_s": round(events / cpu, 1),
                "steady_events_per_cpu_s": round(events / steady_cpu, 1),
                "main_thread_run_queue_wait_s": None if waited is None else round(waited, 3),
                "rows_written": sink.rows_written,
                "rows_final": rows,
                "distinct_event_ids": distinct,
                "complete": complete,
                "loadavg": [round(x, 2) for x in os.getloadavg()],
            }
        ),
        flush=True,
    )
    if not complete:
        print(
            f"incomplete: {sink.rows_written} rows written, {distinct} distinct event ids"
            f" in {TABLE} for {events} events",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
