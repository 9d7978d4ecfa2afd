"""A plane's consumer group: the mirror of its progress that Kafka's tools read.

The store's watermark is the truth of what a plane applied (eventsourcing's
tracking record); the engine resumes after it. Each plane also commits its
progress to its own consumer group ``<prefix>.<plane>`` after every checkpoint,
so ``kafka-consumer-groups --describe`` and ``proofstream status`` show its lag
with Kafka's own bookkeeping. The commits go through a consumer that never joins
the group (explicit offsets, no membership), which a group with no active
members accepts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from producers.settings import ClientConfig, KafkaSettings
from schemas.errors import BrokerUnavailableError

__all__ = ["KafkaCommitter", "committed_offsets"]

log = logging.getLogger(__name__)


def _group_conf(kafka: KafkaSettings, group: str) -> ClientConfig:
    return {
        **kafka.client_config(),
        "group.id": group,
        "enable.auto.commit": False,
        "log_level": 0,
    }


class KafkaCommitter:
    """Commits ``upto + 1`` per partition to ``group`` (see the module docstring).

    A commit Kafka cannot take now raises ``BrokerUnavailableError`` (the
    checkpoint retries it); one it refuses for good (the group has live members of
    another worker) is logged and skipped: the store's watermark stays the truth.
    """

    def __init__(self, kafka: KafkaSettings, group: str) -> None:
        self.group = group
        self._consumer = Consumer(_group_conf(kafka, group))

    def commit(self, upto: Mapping[tuple[str, int], int]) -> None:
        if not upto:
            return
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in sorted(upto.items())]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and not error.retriable():
                log.warning(
                    "group %s refused the commit (kept the store's watermark): %s", self.group, exc
                )
                return
            raise BrokerUnavailableError(f"commit to {self.group}: {exc}") from exc

    def close(self) -> None:
        self._consumer.close()


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
