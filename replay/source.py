"""Reading a fixed range of the event log from Kafka, without a consumer group.

A rebuild must read *exactly* a range fixed at its start, so it never joins a
group and never commits: partitions are assigned explicitly at their first
offset (``Consumer.assign``) and a partition is done once its last offset was
read. High watermarks are taken once, at the start (``get_watermark_offsets``);
records produced later belong to the live worker.

Records come out in chunks of :class:`~sinks.base.LogRecord`, the one record type
live processing and replay share.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from producers.settings import KafkaSettings
from schemas.errors import BrokerUnavailableError, ConfigError
from sinks.base import LogPosition, LogRecord
from sinks.generations import LogRange

__all__ = [
    "Extent",
    "log_extents",
    "offsets_at",
    "read_kafka",
    "replay_consumer",
]

_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Extent:
    """What a partition holds right now: ``low`` is the log start offset, ``high``
    the next offset to be written (so the last record is ``high - 1``)."""

    low: int
    high: int


def replay_consumer(kafka: KafkaSettings, purpose: str, *, fetch_bytes: int = 64 << 20) -> Consumer:
    """A consumer for explicit assignment: never subscribes, never commits.

    ``group.id`` is only set because librdkafka requires one; with ``assign`` and
    auto-commit off the group coordinator is never contacted for membership.
    """
    config: dict[str, str | int | float | bool] = {
        **kafka.client_config(),
        "group.id": f"proofstream.replay.{purpose}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "error",
        "enable.partition.eof": False,
        "fetch.max.bytes": fetch_bytes,
        "max.partition.fetch.bytes": max(1 << 20, fetch_bytes // 4),
        "queued.max.messages.kbytes": 256 * 1024,
        "fetch.wait.max.ms": 50,
    }
    return Consumer(config)


def log_extents(consumer: Consumer, topic: str) -> dict[int, Extent]:
    """Log start and high watermark of every partition of ``topic``, read now.

    Raises :class:`ConfigError` for a missing topic and
    :class:`BrokerUnavailableError` when the broker does not answer.
    """
    try:
        metadata = consumer.list_topics(topic, timeout=_TIMEOUT_S)
        info = metadata.topics.get(topic)
        if info is None or info.error is not None or not info.partitions:
            raise ConfigError(f"topic {topic!r} does not exist")
        extents = {}
        for partition in sorted(info.partitions):
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=_TIMEOUT_S, cached=False
            )
            extents[partition] = Extent(int(low), int(high))
    except KafkaException as exc:
        raise BrokerUnavailableError(f"cannot read the extents of {topic}: {exc}") from exc
    return extents


def offsets_at(
    consumer: Consumer, topic: str, partitions: list[int], time_ms: int
) -> dict[int, int]:
    """The first offset per partition whose timestamp is ≥ ``time_ms``
    (``offsets_for_times``); ``-1`` when a partition has no such record."""
    try:
        found = consumer.offsets_for_times(
            [TopicPartition(topic, p, time_ms) for p in partitions], timeout=_TIMEOUT_S
        )
    except KafkaException as exc:
        raise BrokerUnavailableError(f"offsets_for_times on {topic}: {exc}") from exc
    return {tp.partition: int(tp.offset) for tp in found}


def read_kafka(
    consumer: Consumer, covered: LogRange, *, chunk: int = 5000, idle_timeout_s: float = 60.0
) -> Iterator[list[LogRecord]]:
    """Yield every record of ``covered`` (inclusive ranges) in chunks, then stop.

    Order holds within a partition; partitions interleave. Records past a
    partition's last offset (produced after the range was fixed) are dropped.
    Raises :class:`BrokerUnavailableError` when nothing arrives for
    ``idle_timeout_s`` while records are still missing (e.g. the log start moved
    past the range: the records are gone from Kafka).
    """
    todo = {key: span for key, span in covered.items() if span[0] <= span[1]}
    if not todo:
        return
    consumer.assign([TopicPartition(t, p, first) for (t, p), (first, _) in sorted(todo.items())])
    last: Mapping[tuple[str, int], int] = {key: span[1] for key, span in todo.items()}
    pending = set(todo)
    # consume() returns when it has num_messages or its timeout passed: asking for no
    # more than are left keeps the end of a range from costing a whole timeout
    left = sum(b - a + 1 for a, b in todo.values())
    idle = 0.0
    try:
        while pending:
            messages = consumer.consume(num_messages=max(1, min(chunk, left)), timeout=1.0)
            if messages:
                idle = 0.0
                out = _convert(messages, last, pending)
                left -= len(out)
                if out:
                    yield out
                continue
            _drop_finished(consumer, last, pending)
            idle += 1.0
            if pending and idle >= idle_timeout_s:
                raise BrokerUnavailableError(
                    f"no records for {idle_timeout_s:.0f}s while reading {sorted(pending)}"
                )
    finally:
        consumer.unassign()


def _headers(msg: Message) -> tuple[tuple[str, bytes], ...]:
    raw = msg.headers() or []
    items = raw.items() if isinstance(raw, dict) else raw
    return tuple((str(k), v if isinstance(v, bytes) else str(v or "").encode()) for k, v in items)


def _convert(
    messages: list[Message], last: Mapping[tuple[str, int], int], pending: set[tuple[str, int]]
) -> list[LogRecord]:
    out: list[LogRecord] = []
    for msg in messages:
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                continue
            raise BrokerUnavailableError(f"reading the log: {err}")
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        if topic is None or partition is None or offset is None:
            continue
        key = (topic, partition)
        end = last.get(key, -1)
        if offset > end:
            continue  # produced after the range was fixed: the live worker's business
        out.append(
            LogRecord(
                LogPosition(topic, partition, offset),
                msg.key(),
                msg.value(),
                _headers(msg),
                msg.timestamp()[1],
            )
        )
        if offset == end:
            pending.discard(key)
    return out


def _drop_finished(
    consumer: Consumer, last: Mapping[tuple[str, int], int], pending: set[tuple[str, int]]
) -> None:
    # the last offset may be a control record that is never delivered
    for tp in consumer.position([TopicPartition(t, p) for t, p in sorted(pending)]):
        if tp.offset > last[(tp.topic, tp.partition)]:
            pending.discard((tp.topic, tp.partition))
