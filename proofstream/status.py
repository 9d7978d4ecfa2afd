"""``proofstream status``: lag, watermarks, DLQ counts and sink health per projection,
and the Kafka brokers and partitions behind them (down, out of sync, under min ISR)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from processors.dlq import parse_dead_letter_headers
from processors.offsets import committed_offsets
from producers.settings import KafkaSettings
from proofstream.kafka_health import cluster_health
from proofstream.pipeline import open_sink
from proofstream.settings import Settings
from proofstream.worker_client import WorkerClient
from schemas.errors import BrokerUnavailableError, ProofstreamError

__all__ = ["collect_status"]

_DLQ_SCAN_LIMIT = 100_000


def collect_status(
    settings: Settings, projections: list[str], *, open_stores: bool = True
) -> dict[str, Any]:
    """One report. Watermarks and health come from the running worker when there is
    one, otherwise from opening each sink directly (it is then not in use). With
    ``open_stores=False`` (a worker is known to run but is busy) stores are never
    opened: chDB and Oxigraph allow one process per directory."""
    kafka = settings.kafka
    conf = {**kafka.client_config(), "log_level": "0"}
    consumer = Consumer({**conf, "group.id": f"proofstream-status-{uuid.uuid4().hex}"})
    try:
        ends = _end_offsets(consumer, kafka.topics.events)
        dlq_total, dlq_by_projection = _dlq_counts(consumer, kafka.topics.dlq)
    finally:
        consumer.close()
    worker = WorkerClient(settings, status_timeout_s=10.0).status()
    report: dict[str, Any] = {
        "topic": kafka.topics.events,
        "end_offsets": ends,
        "dlq_records": dlq_total,
        "worker": "running" if worker else "not running",
        "kafka": _kafka_health(kafka),
        "projections": {},
    }
    for name in projections:
        group = f"{settings.processors.group_prefix}.{name}"
        lag: int | None
        offsets_error: str | None
        try:
            committed = committed_offsets(kafka, group, kafka.topics.events, list(ends))
        except BrokerUnavailableError as exc:
            # a group coordinator moving away from a failed broker: report the rest
            committed, lag, offsets_error = {}, None, str(exc)
        else:
            lag = sum(max(0, end - committed.get(p, 0)) for p, end in ends.items())
            offsets_error = None
        if worker is not None and name in worker["projections"]:
            live = worker["projections"][name]
            health, marks = live["health"], live["watermark"]
        elif open_stores:
            health, marks = _direct(settings, name)
        else:
            health, marks = "worker busy", []
        report["projections"][name] = {
            "group": group,
            "health": health,
            "lag": lag,
            "committed": committed,
            "offsets_error": offsets_error,
            "watermark": marks,
            "dead_letters": dlq_by_projection.get(name, 0),
        }
    return report


def _end_offsets(consumer: Consumer, topic: str) -> dict[int, int]:
    try:
        metadata = consumer.list_topics(topic, timeout=10)
    except KafkaException as exc:
        raise BrokerUnavailableError(f"cannot read metadata of {topic}: {exc}") from exc
    partitions = metadata.topics[topic].partitions if topic in metadata.topics else {}
    ends = {}
    for p in sorted(partitions):
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        ends[p] = high
    return ends


def _dlq_counts(consumer: Consumer, topic: str) -> tuple[int, Counter[str]]:
    """Total DLQ records, and per projection (from the ``dlq.projection`` header)."""
    ends = _end_offsets(consumer, topic)
    starts = {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[0] for p in ends
    }
    total = sum(ends[p] - starts[p] for p in ends)
    by_projection: Counter[str] = Counter()
    if total == 0 or total > _DLQ_SCAN_LIMIT:
        return total, by_projection
    consumer.assign([TopicPartition(topic, p, starts[p]) for p in ends if ends[p] > starts[p]])
    seen = 0
    while seen < total:
        messages = consumer.consume(1000, timeout=2.0)
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
        sink = open_sink(name, settings)
    except ProofstreamError as exc:
        return f"unavailable: {exc}", []
    try:
        marks = sink.watermark()
    finally:
        sink.close()
    watermark = [{"topic": t, "partition": p, "offset": o} for (t, p), o in sorted(marks.items())]
    return "ok (worker not running)", watermark


def _kafka_health(kafka: KafkaSettings) -> dict[str, Any]:
    """Brokers down or out of sync and partitions at risk for the events and DLQ
    topics (:mod:`proofstream.kafka_health`); an ``error`` key when unreadable."""
    try:
        return cluster_health(kafka, [kafka.topics.events, kafka.topics.dlq]).as_dict()
    except BrokerUnavailableError as exc:
        return {"state": "unknown", "error": str(exc)}
