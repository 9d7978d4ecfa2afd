"""What a dead letter looks like on ``fractalops.agent-actions.dlq.v1``.

The DLQ record keeps the original key and value bytes unchanged, the original
headers, and adds ``dlq.*`` headers that say what went wrong and where the record
came from, so ``proofstream dlq redrive`` can re-feed it after a fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from processors.checkpoint import DeadLetter

__all__ = ["DLQ_HEADERS", "dead_letter_headers", "parse_dead_letter_headers"]

DLQ_HEADERS = (
    "dlq.error",
    "dlq.reason",
    "dlq.projection",
    "dlq.source.topic",
    "dlq.source.partition",
    "dlq.source.offset",
)

_MAX_REASON = 2048


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
