"""``proofstream status``: lag, watermarks, DLQ counts and store health per plane,
and the Kafka brokers and partitions behind them (down, out of sync, under min ISR)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from processors.dlq import ALL_PROJECTIONS, parse_dead_letter_headers
from producers.settings import KafkaSettings
from proofstream.kafka_health import cluster_health
from proofstream.planes import plane
from proofstream.settings import Settings
from proofstream.worker_client import WorkerClient
from schemas.codec import EventCodec
from schemas.errors import BrokerUnavailableError, ProofstreamError

__all__ = ["collect_status"]

_DLQ_SCAN_LIMIT = 100_000


def collect_status(
    settings: Settings, names: list[str], *, open_stores: bool = True
) -> dict[str, Any]:
    """One report. A running worker is asked first (it answers in milliseconds and owns
    the stores); only when none runs are the stores opened directly (chDB and Oxigraph
    allow one process per directory). With ``open_stores=False`` stores are never
    opened. Lag is the end offset minus the plane's watermark + 1, summed over
    partitions; every key of the report is a string (it is printed as JSON)."""
    kafka = settings.kafka
    worker = WorkerClient(settings, status_timeout_s=10.0).status()
    conf = {**kafka.client_config(), "log_level": "0"}
    consumer = Consumer({**conf, "group.id": f"proofstream-status-{uuid.uuid4().hex}"})
    try:
        ends = _end_offsets(consumer, kafka.topics.events)
        dlq_total, dlq_by_projection = _dlq_counts(consumer, kafka.topics.dlq)
    finally:
        consumer.close()
    report: dict[str, Any] = {
        "topic": kafka.topics.events,
        "end_offsets": {str(p): o for p, o in ends.items()},
        "dlq_records": dlq_total,
        "worker": "running" if worker else "not running",
        "kafka": _kafka_health(kafka),
        "projections": {},
    }
    live = worker["projections"] if worker else {}
    for name in names:
        group = f"{settings.processors.group_prefix}.{name}"
        if name in live:
            health, marks = live[name]["health"], live[name]["watermark"]
        elif worker is None and open_stores:
            health, marks = _direct(settings, name)
        else:
            health, marks = ("not run by the worker" if worker else "worker busy"), []
        applied = {int(m["partition"]): int(m["offset"]) for m in marks}
        lag = sum(max(0, end - applied.get(p, -1) - 1) for p, end in ends.items())
        report["projections"][name] = {
            "group": group,
            "health": health,
            "lag": lag,
            "watermark": marks,
            "dead_letters": dlq_by_projection.get(name, 0),
        }
    report["dead_letters_all_projections"] = dlq_by_projection.get(ALL_PROJECTIONS, 0)
    return report


_LATEST, _EARLIEST = -1, -2
"""The ListOffsets "timestamps" that ask for a partition's end and start offsets."""
_TIMEOUT_S = 10.0


def _end_offsets(consumer: Consumer, topic: str) -> dict[int, int]:
    try:
        metadata = consumer.list_topics(topic, timeout=_TIMEOUT_S)
    except KafkaException as exc:
        raise BrokerUnavailableError(f"cannot read metadata of {topic}: {exc}") from exc
    partitions = metadata.topics[topic].partitions if topic in metadata.topics else {}
    return _log_offsets(consumer, topic, sorted(partitions), _LATEST)


def _log_offsets(
    consumer: Consumer, topic: str, partitions: list[int], which: int
) -> dict[int, int]:
    """Every partition's end (``_LATEST``) or start (``_EARLIEST``) offset in one
    ListOffsets round per leader, bounded by one timeout in all: asked partition by
    partition, a partition whose leader is failing over cost the whole timeout each."""
    if not partitions:
        return {}
    try:
        found = consumer.offsets_for_times(
            [TopicPartition(topic, p, which) for p in partitions], timeout=_TIMEOUT_S
        )
    except KafkaException as exc:
        raise BrokerUnavailableError(f"cannot read the offsets of {topic}: {exc}") from exc
    failed = [tp for tp in found if tp.error is not None]
    if failed:
        raise BrokerUnavailableError(f"cannot read the offsets of {topic}: {failed[0].error}")
    return {tp.partition: tp.offset for tp in found}


def _dlq_counts(consumer: Consumer, topic: str) -> tuple[int, Counter[str]]:
    """Total DLQ records, and per projection (from the ``dlq.projection`` header)."""
    ends = _end_offsets(consumer, topic)
    starts = _log_offsets(consumer, topic, sorted(ends), _EARLIEST)
    total = sum(ends[p] - starts[p] for p in ends)
    by_projection: Counter[str] = Counter()
    if total == 0 or total > _DLQ_SCAN_LIMIT:
        return total, by_projection
    consumer.assign([TopicPartition(topic, p, starts[p]) for p in ends if ends[p] > starts[p]])
    seen = 0
    while seen < total:
        # consume() waits until it has num_messages or the timeout passed: never ask
        # for more than are left, or every status pays the whole timeout
        messages = consumer.consume(min(1000, total - seen), timeout=2.0)
        if not messages:
            break
        for msg in messages:
            if msg.error() is None:
                seen += 1
                headers = parse_dead_letter_headers(msg.headers() or [])
                by_projection[headers.get("dlq.projection", "?")] += 1
    return total, by_projection


def _direct(settings: Settings, name: str) -> tuple[str, list[dict[str, Any]]]:
    try:
        store = plane(name, settings, EventCodec()).open_store()
    except ProofstreamError as exc:
        return f"unavailable: {exc}", []
    try:
        marks = store.watermark()
    finally:
        store.close()
    watermark = [{"topic": t, "partition": p, "offset": o} for (t, p), o in sorted(marks.items())]
    return "ok (worker not running)", watermark


def _kafka_health(kafka: KafkaSettings) -> dict[str, Any]:
    """Brokers down or out of sync and partitions at risk for the events and DLQ
    topics (:mod:`proofstream.kafka_health`); an ``error`` key when unreadable."""
    try:
        return cluster_health(kafka, [kafka.topics.events, kafka.topics.dlq]).as_dict()
    except BrokerUnavailableError as exc:
        return {"state": "unknown", "error": str(exc)}
