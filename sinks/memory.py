"""The in-memory fakes of a plane, for pure unit tests of the runtime.

``MemoryProjection`` maps events to ``(event_id, record)`` pairs; ``MemoryStore``
keeps them by ``event_id``. The store passes the same contract suite as the real
stores (``tests/contract/store_contract.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from schemas.errors import PermanentError, SinkUnavailableError
from sinks.base import Batch, Input, Watermark
from sinks.store import StoreBase

__all__ = ["MemoryProjection", "MemoryStore", "MemoryWrites"]

MemoryWrites = Sequence[tuple[str, Mapping[str, Any]]]
"""``(event_id, stored record)`` per event, in batch order."""


class MemoryProjection:
    """Pure: every decoded event of the types it reads becomes one stored record.

    ``poison`` names event ids whose projection raises (a projection bug), for
    tests of the runtime's isolation.
    """

    version = 1
    input = Input.EVENTS

    def __init__(
        self,
        name: str = "memory",
        reads: frozenset[str] | None = None,
        poison: frozenset[str] = frozenset(),
    ) -> None:
        self._name = name
        self._reads = reads
        self._poison = poison

    @property
    def name(self) -> str:
        return self._name

    @property
    def reads(self) -> frozenset[str] | None:
        return self._reads

    def project(self, batch: Batch) -> MemoryWrites:
        out = []
        for item in batch.events:
            if item.event_id in self._poison:
                raise ValueError(f"cannot project {item.event_id}")
            out.append((item.event_id, {"event_type": item.event_type, **item.record}))
        return out


class MemoryStore(StoreBase[MemoryWrites]):
    """Idempotent by ``event_id``; durable only in the sense of ``flush()`` having run.

    ``available`` can be switched off by a test to simulate an outage (every call
    raises ``SinkUnavailableError``); ``rejects`` names event ids the store refuses
    for good (``PermanentError``).
    """

    def __init__(self, name: str = "memory") -> None:
        super().__init__(name)
        self._rows: dict[str, Mapping[str, Any]] = {}
        self._watermark: Watermark = {}
        self.available = True
        self.rejects: frozenset[str] = frozenset()
        self.writes = 0

    @property
    def rows(self) -> Mapping[str, Mapping[str, Any]]:
        """Applied records by ``event_id`` (a copy, for assertions)."""
        return dict(self._rows)

    def _apply(self, writes: MemoryWrites) -> None:
        self._check()
        refused = [event_id for event_id, _ in writes if event_id in self.rejects]
        if refused:
            raise PermanentError(f"{self.name}: refused {refused[:3]}")
        for event_id, record in writes:
            self._rows.setdefault(event_id, record)
        self.writes += 1

    def _persist(self, marks: Watermark) -> None:
        self._check()
        self._watermark = marks

    def _load_watermark(self) -> Watermark:
        self._check()
        return dict(self._watermark)

    def _release(self) -> None:
        """Nothing to release; kept for the contract."""

    def _check(self) -> None:
        if not self.available:
            raise SinkUnavailableError(self.name, "switched off by the test", retry_after=0.01)
