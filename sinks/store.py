"""``StoreBase``: the bookkeeping every store shares, written once.

A store subclasses it and implements four hooks; the base keeps the pending
watermark, merges it forwards only, and refuses calls after ``close`` (the
quix-streams ``BatchingSink`` idea: a subclass only writes its batch):

- ``_apply(writes)``: persist ``writes`` idempotently (called for every batch,
  with empty writes too: the base still advances the watermark);
- ``_persist(marks)``: make everything applied durable, *then* record ``marks``
  (already merged with the stored watermark, never backwards);
- ``_load_watermark()``: read the recorded watermark;
- ``_release()``: close the backend (called once).

Errors: hooks raise ``SinkUnavailableError`` for a backend that is down and
``PermanentError`` for writes it rejects (see :mod:`sinks.base`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Generic, TypeVar

from schemas.errors import SinkUnavailableError
from sinks.base import Watermark, advance

__all__ = ["StoreBase"]

W = TypeVar("W")


class StoreBase(ABC, Generic[W]):
    """Template method for :class:`~sinks.base.Store` (see the module docstring)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._pending: Watermark = {}
        self._closed = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, writes: W, upto: Mapping[tuple[str, int], int]) -> None:
        """Apply ``writes`` (idempotent) and remember ``upto`` for the next flush."""
        self._check_open()
        self._apply(writes)
        self._pending = advance(self._pending, upto)

    def flush(self) -> None:
        """Make the applied writes durable, then record the watermark. A failed flush
        keeps the pending watermark for the next attempt."""
        self._check_open()
        if not self._pending:
            return
        self._persist(advance(self._load_watermark(), self._pending))
        self._pending = {}

    def watermark(self) -> Watermark:
        """The last flushed offset per ``(topic, partition)``."""
        self._check_open()
        return self._load_watermark()

    def close(self) -> None:
        """Release the backend. Idempotent; does not flush."""
        if self._closed:
            return
        self._closed = True
        self._pending = {}
        self._release()

    def _check_open(self) -> None:
        if self._closed:
            raise SinkUnavailableError(self._name, "store is closed", retry_after=0.0)

    @abstractmethod
    def _apply(self, writes: W) -> None: ...

    @abstractmethod
    def _persist(self, marks: Watermark) -> None: ...

    @abstractmethod
    def _load_watermark(self) -> Watermark: ...

    @abstractmethod
    def _release(self) -> None: ...
