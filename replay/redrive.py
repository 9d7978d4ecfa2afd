"""DLQ redrive: re-feed dead letters' ORIGINAL bytes onto the events topic.

``redrive`` reads the DLQ topic by explicit assignment up to its high watermark
taken at the start, keeps the records that match the filter (projection, error
type) and were not redriven before, and produces each one to its source topic
(``dlq.source.topic``) with the original key, value and headers — minus the
``dlq.*`` headers, plus ``redrive.*`` ones naming where it came from — through an
idempotent ``acks=all`` producer. Only after Kafka acknowledged all of them are
their DLQ coordinates appended (fsync'd) to ``<state_dir>/redrives/redriven.jsonl``,
so a second redrive skips them. A crash between the two re-sends them at worst:
every sink is idempotent on ``event_id``, so that duplicates nothing downstream.

Each redrive writes a JSON evidence report ``<state_dir>/redrives/<id>.json``
(what was redriven, from where, why it had failed) and returns its sha256.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import KafkaError, Message, Producer

from processors.dlq import ALL_PROJECTIONS, parse_dead_letter_headers
from producers.settings import KafkaSettings
from replay.source import log_extents, read_kafka, replay_consumer
from schemas.errors import BrokerUnavailableError
from sinks.base import LogRecord

__all__ = ["DeadLetterView", "RedriveReport", "list_dead_letters", "redrive"]


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    """One DLQ record: where it sits, its ``dlq.*`` headers and original record."""

    record: LogRecord
    dlq: dict[str, str]

    @property
    def coordinate(self) -> str:
        pos = self.record.position
        return f"{pos.topic}:{pos.partition}:{pos.offset}"


@dataclass(frozen=True, slots=True)
class RedriveReport:
    """What one redrive did (or would do, with ``dry_run``)."""

    redrive_id: str
    matched: int
    redriven: int
    already: int
    by_error: dict[str, int] = field(default_factory=dict)
    report_path: Path | None = None
    report_sha256: str = ""


def _dead_letters(kafka: KafkaSettings) -> Iterator[DeadLetterView]:
    consumer = replay_consumer(kafka, "dlq")
    try:
        topic = kafka.topics.dlq
        extents = log_extents(consumer, topic)
        covered = {(topic, p): (e.low, e.high - 1) for p, e in extents.items() if e.high > e.low}
        for chunk in read_kafka(consumer, covered, idle_timeout_s=30):
            for record in chunk:
                yield DeadLetterView(record, dict(parse_dead_letter_headers(record.headers)))
    finally:
        consumer.close()


def list_dead_letters(kafka: KafkaSettings) -> Counter[tuple[str, str]]:
    """How many dead letters there are per ``(error, projection)``."""
    return Counter(
        (v.dlq.get("dlq.error", "?"), v.dlq.get("dlq.projection", "?"))
        for v in _dead_letters(kafka)
    )


def _done(state: Path) -> set[str]:
    if not state.exists():
        return set()
    return {
        str(orjson.loads(line)["dlq"]) for line in state.read_bytes().splitlines() if line.strip()
    }


def redrive(
    kafka: KafkaSettings,
    state_dir: Path,
    *,
    projection: str | None = None,
    error: str | None = None,
    dry_run: bool = False,
) -> RedriveReport:
    """Redrive matching dead letters once (module docstring).

    Raises :class:`BrokerUnavailableError` when Kafka does not acknowledge every
    record; nothing is then marked redriven.
    """
    folder = Path(state_dir) / "redrives"
    state = folder / "redriven.jsonl"
    done = _done(state)
    redrive_id = str(uuid.uuid4())
    matched: list[DeadLetterView] = []
    already = 0
    for view in _dead_letters(kafka):
        # a letter of every projection (the decode step's) matches any --projection
        if projection and view.dlq.get("dlq.projection") not in (projection, ALL_PROJECTIONS):
            continue
        if error and view.dlq.get("dlq.error") != error:
            continue
        if view.coordinate in done:
            already += 1
            continue
        matched.append(view)
    by_error = dict(Counter(v.dlq.get("dlq.error", "?") for v in matched))
    if dry_run or not matched:
        return RedriveReport(redrive_id, len(matched), 0, already, by_error)
    _produce(kafka, matched, redrive_id)
    folder.mkdir(parents=True, exist_ok=True)
    with open(state, "ab") as out:
        for view in matched:
            out.write(orjson.dumps({"dlq": view.coordinate, "redrive_id": redrive_id}) + b"\n")
        out.flush()
        os.fsync(out.fileno())
    report: dict[str, Any] = {
        "redrive_id": redrive_id,
        "at_us": time.time_ns() // 1000,
        "filter": {"projection": projection, "error": error},
        "count": len(matched),
        "records": [
            {
                "dlq": v.coordinate,
                "source": f"{v.dlq.get('dlq.source.topic')}:{v.dlq.get('dlq.source.partition')}"
                f":{v.dlq.get('dlq.source.offset')}",
                "error": v.dlq.get("dlq.error"),
                "reason": v.dlq.get("dlq.reason"),
                "projection": v.dlq.get("dlq.projection"),
                "value_sha256": hashlib.sha256(v.record.value or b"").hexdigest(),
            }
            for v in matched
        ],
    }
    data = orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    path = folder / f"{redrive_id}.json"
    path.write_bytes(data)
    path.chmod(0o444)
    return RedriveReport(
        redrive_id,
        len(matched),
        len(matched),
        already,
        by_error,
        path,
        hashlib.sha256(data).hexdigest(),
    )


def _produce(kafka: KafkaSettings, views: list[DeadLetterView], redrive_id: str) -> None:
    producer = Producer(
        {**kafka.client_config(), "enable.idempotence": True, "acks": "all", "linger.ms": 5}
    )
    failures: list[str] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            failures.append(str(err))

    for view in views:
        record = view.record
        source = view.dlq.get("dlq.source.topic") or kafka.topics.events
        kept: list[tuple[str, str | bytes | None]] = [
            (k, v) for k, v in record.headers if not k.startswith("dlq.")
        ]
        kept += [
            ("redrive.id", redrive_id.encode()),
            ("redrive.from", view.coordinate.encode()),
            ("redrive.error", view.dlq.get("dlq.error", "").encode()),
        ]
        producer.produce(
            source, value=record.value, key=record.key, headers=kept, on_delivery=on_delivery
        )
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining or failures:
        raise BrokerUnavailableError(
            f"redrive {redrive_id}: {remaining} unacknowledged, failures: {failures[:3]}"
        )
