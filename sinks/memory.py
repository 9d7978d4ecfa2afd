"""``MemorySink``: the in-memory fake of a sink, for pure unit tests of the runtime.

It passes the same contract suite as the real sinks. It keeps every applied
event by ``event_id`` so tests can assert exact contents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.errors import SinkUnavailableError
from sinks.base import Batch, LoggedEvent, Watermark, advance, high_offsets

__all__ = ["MemorySink"]


class MemorySink:
    """Idempotent by ``event_id``; durable only in the sense of ``flush()`` having run.

    ``available`` can be switched off by a test to simulate a store outage: every
    call then raises ``SinkUnavailableError``.
    """

    def __init__(self, name: str = "memory") -> None:
        self._name = name
        self._rows: dict[str, Mapping[str, Any]] = {}
        self._pending: Watermark = {}
        self._watermark: Watermark = {}
        self.available = True
        self.writes = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def rows(self) -> Mapping[str, Mapping[str, Any]]:
        """Applied records by ``event_id`` (read-only view for assertions)."""
        return dict(self._rows)

    def write(self, batch: Batch) -> None:
        self._check()
        for item in batch:
            self._rows.setdefault(item.event_id, _stored(item))
        self._pending = advance(self._pending, high_offsets(batch))
        self.writes += 1

    def flush(self) -> None:
        self._check()
        self._watermark = advance(self._watermark, self._pending)

    def watermark(self) -> Watermark:
        return dict(self._watermark)

    def close(self) -> None:
        """Nothing to release; kept for the contract."""

    def _check(self) -> None:
        if not self.available:
            raise SinkUnavailableError(self._name, "switched off by the test", retry_after=0.01)


def _stored(item: LoggedEvent) -> Mapping[str, Any]:
    return {"event_type": item.event_type, **item.record}
