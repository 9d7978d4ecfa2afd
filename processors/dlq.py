"""Dead letters: what they carry and how they reach ``fractalops.agent-actions.dlq.v1``.

A DLQ record keeps the original key and value bytes unchanged, the original
headers, and adds ``dlq.*`` headers that say what went wrong and where the record
came from, so ``proofstream dlq redrive`` can re-feed it after a fix. A record the
decode step rejects (undecodable, or breaking a seed rule) is no plane's to apply:
its letter names the projection ``*``; a record one plane's store refuses names
that plane.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from confluent_kafka import KafkaError, Message, Producer

from producers.settings import KafkaSettings
from schemas.errors import BrokerUnavailableError
from sinks.base import LogRecord

__all__ = [
    "ALL_PROJECTIONS",
    "DLQ_HEADERS",
    "DeadLetter",
    "DeadLetterPublisher",
    "KafkaDeadLetters",
    "dead_letter_headers",
    "parse_dead_letter_headers",
]

ALL_PROJECTIONS = "*"
"""``dlq.projection`` of a record no projection may apply (the decode step's rejects)."""

DLQ_HEADERS = (
    "dlq.error",
    "dlq.reason",
    "dlq.projection",
    "dlq.source.topic",
    "dlq.source.partition",
    "dlq.source.offset",
)

_MAX_REASON = 2048
_FLUSH_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record a projection could not apply, with the error that stopped it."""

    record: LogRecord
    projection: str
    error: str
    reason: str


class DeadLetterPublisher(Protocol):
    """Port to the DLQ topic. ``publish`` returns only after Kafka acknowledged every
    letter; it raises ``RetryableError`` when it could not."""

    def publish(self, letters: Sequence[DeadLetter]) -> None: ...


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """Original headers (minus stale ``dlq.*`` ones) plus this letter's. Pure."""
    pos = letter.record.position
    original = [(k, v) for k, v in letter.record.headers if not k.startswith("dlq.")]
    return [
        *original,
        ("dlq.error", letter.error.encode()),
        ("dlq.reason", letter.reason.encode()[:_MAX_REASON]),
        ("dlq.projection", letter.projection.encode()),
        ("dlq.source.topic", pos.topic.encode()),
        ("dlq.source.partition", str(pos.partition).encode()),
        ("dlq.source.offset", str(pos.offset).encode()),
    ]


def parse_dead_letter_headers(
    headers: Iterable[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None],
) -> Mapping[str, str]:
    """The ``dlq.*`` headers of a DLQ record as text. Pure."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {k: _text(v) for k, v in items if k in DLQ_HEADERS}


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value or ""


class KafkaDeadLetters:
    """The DLQ port on an idempotent ``acks=all`` librdkafka producer. Thread-safe:
    every plane's lane publishes through the one producer of the worker."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._topic = kafka.topics.dlq
        self._producer = Producer(
            {**kafka.client_config(), "enable.idempotence": True, "acks": "all"}
        )

    def publish(self, letters: Sequence[DeadLetter]) -> None:
        """Produce ``letters`` and wait for every acknowledgement; raises
        ``BrokerUnavailableError`` naming what was not delivered."""
        if not letters:
            return
        failures: list[str] = []

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(str(err))

        for letter in letters:
            self._producer.produce(
                self._topic,
                key=letter.record.key,
                value=letter.record.value,
                headers=list[tuple[str, str | bytes | None]](dead_letter_headers(letter)),
                on_delivery=delivered,
            )
        remaining = self._producer.flush(_FLUSH_TIMEOUT_S)
        if remaining or failures:
            raise BrokerUnavailableError(
                f"DLQ {self._topic}: {remaining} undelivered, errors {failures[:3]}"
            )

    def close(self) -> None:
        """Deliver what is queued (bounded wait). Idempotent."""
        self._producer.flush(5.0)
