"""Resume a projection where its sink's data ends, not merely where its group says.

The consumer group's committed offsets live in Kafka; the projection's watermark
lives in the store, written after the data (eventsourcing's tracking record). They
disagree when a store is wiped or restored while the group survives, or a fresh
state directory meets an old group. Before the worker joins the group, the group is
moved so that it resumes at ``watermark + 1``:

- group ahead of the store (it would skip events the store never got): rewind;
- no committed offset but a watermark: start after the watermark;
- group behind the store: leave it (re-applying is idempotent).

Caveat: records that were dead-lettered at the very end of a partition are not in
the watermark (the sink never saw them), so a rewind re-sends them to the DLQ;
``dlq redrive`` de-duplicates by source coordinates.
"""

from __future__ import annotations

import logging

from confluent_kafka import Consumer, KafkaException, TopicPartition
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from producers.settings import ClientConfig, KafkaSettings
from schemas.errors import BrokerUnavailableError
from sinks.base import Watermark

__all__ = ["align_group_offsets", "committed_offsets", "resume_offsets"]

log = logging.getLogger(__name__)


def resume_offsets(
    partitions: list[int], committed: dict[int, int], watermark: dict[int, int]
) -> dict[int, int]:
    """The partitions whose committed offset must move, and where to. Pure.

    ``committed`` has no entry for a partition the group never committed;
    ``watermark`` maps a partition to its last applied offset."""
    moves = {}
    for partition in partitions:
        target = watermark.get(partition, -1) + 1
        current = committed.get(partition)
        if (current is None and target > 0) or (current is not None and current > target):
            moves[partition] = target
    return moves


def committed_offsets(
    kafka: KafkaSettings, group: str, topic: str, partitions: list[int]
) -> dict[int, int]:
    """``group``'s committed offsets on ``topic`` (partitions it never committed are
    absent). Uses a consumer that never joins the group, not the AdminClient's group
    API, which crashed librdkafka on a freshly started broker here."""
    if not partitions:
        return {}
    consumer = Consumer(_group_conf(kafka, group))
    wanted = [TopicPartition(topic, p) for p in partitions]
    try:
        # a broker that just started answers NOT_COORDINATOR while it creates
        # __consumer_offsets: retry that for a while, like librdkafka does for its own
        for attempt in Retrying(
            retry=retry_if_exception_type(KafkaException),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            stop=stop_after_delay(60),
            reraise=True,
        ):
            with attempt:
                found = consumer.committed(wanted, timeout=15)
    except KafkaException as exc:
        raise BrokerUnavailableError(f"cannot read offsets of group {group}: {exc}") from exc
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in found if tp.offset >= 0}


def align_group_offsets(
    kafka: KafkaSettings, group: str, topic: str, watermark: Watermark
) -> dict[int, int]:
    """Move ``group``'s committed offsets on ``topic`` to resume after ``watermark``.

    Call before the group's consumers start. Returns the moves made. When the group
    has active members (another worker runs), the commit is refused, nothing is
    moved and a warning is logged: that worker's commits are the truth then.
    """
    consumer = Consumer(_group_conf(kafka, group))
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=10)
        except KafkaException as exc:
            raise BrokerUnavailableError(f"cannot read metadata of {topic}: {exc}") from exc
        if topic not in metadata.topics or metadata.topics[topic].error is not None:
            return {}
        partitions = sorted(metadata.topics[topic].partitions)
        committed = committed_offsets(kafka, group, topic, partitions)
        marks = {p: o for (t, p), o in watermark.items() if t == topic}
        moves = resume_offsets(partitions, committed, marks)
        if not moves:
            return {}
        try:
            consumer.commit(
                offsets=[TopicPartition(topic, p, o) for p, o in sorted(moves.items())],
                asynchronous=False,
            )
        except KafkaException as exc:
            log.warning("group %s not aligned with its store (%s): %s", group, moves, exc)
            return {}
    finally:
        consumer.close()
    log.info("group %s aligned with its store: %s", group, moves)
    return moves


def _group_conf(kafka: KafkaSettings, group: str) -> ClientConfig:
    return {
        **kafka.client_config(),
        "group.id": group,
        "enable.auto.commit": False,
        "log_level": 0,
    }
