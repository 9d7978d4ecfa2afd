"""The evidence projection: ``evidence.recorded`` events → leaves of the Chronicle ledger.

:class:`EvidenceProjection` is pure (a batch → :class:`~sinks.ledger.LedgerLeaf`
list, no I/O). :class:`EvidenceSink` (``name="evidence"``) applies it to the
Merkle ledger (:mod:`sinks.ledger`):

1. ``write(batch)`` appends one leaf per ``evidence.recorded`` event not yet in
   the ledger (idempotent on ``event_id``); index rows and leaves commit in one
   SQLite transaction, so the write is durable when it returns. Other event
   types are not evidence and are skipped (their offsets still count).
2. ``flush()`` signs a new tree head when the tree grew and records the
   watermark, both in one SQLite transaction, after the leaves they cover.

How a ClickHouse ``evidence`` fact joins its proof: the fact and the ledger
share ``event_id``. :meth:`sinks.ledger.LedgerIndex.rows` yields one
``ledger_entries`` row per evidence event — ``(event_id, sha256, leaf_index,
tree_size, ledger_root)`` where ``tree_size``/``ledger_root`` are those of the
first signed head covering the leaf (they never change) — and
:data:`LEDGER_ENTRIES_DDL` is the ClickHouse table they are meant for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sinks.base import Batch, Watermark, advance, high_offsets
from sinks.chronicle import ChronicleSettings
from sinks.ledger import Ledger, LedgerLeaf

__all__ = ["EVIDENCE_EVENT", "LEDGER_ENTRIES_DDL", "EvidenceProjection", "EvidenceSink"]

EVIDENCE_EVENT = "evidence.recorded"

LEDGER_ENTRIES_DDL = """
CREATE TABLE IF NOT EXISTS ledger_entries
(
    event_id    UUID,
    sha256      FixedString(64),
    leaf_index  UInt64,
    tree_size   Nullable(UInt64),
    ledger_root Nullable(FixedString(64)),
    version     UInt8 MATERIALIZED if(tree_size IS NULL, 0, 1)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY event_id"""
"""Proposed ClickHouse table for ``LedgerIndex.rows()`` (a row re-sent once its
head is signed replaces the unsigned one); join ``evidence`` facts ``USING
(event_id)``. Owned by the facts plane if adopted; not applied by this module."""


class EvidenceProjection:
    """Pure: the ledger leaves of a batch, in log order of the batch."""

    def project(self, batch: Batch) -> list[LedgerLeaf]:
        """One :class:`LedgerLeaf` per ``evidence.recorded`` event of ``batch``."""
        return [
            LedgerLeaf(
                event_id=str(item.event_id),
                sha256=str(item.record["sha256"]),
                kind=str(item.record["kind"]),
                proves=str(item.record["proves"]),
                position=item.position,
            )
            for item in batch
            if item.event_type == EVIDENCE_EVENT
        ]


class EvidenceSink:
    """The Chronicle evidence sink (see the module docstring for the contract)."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        name: str = "evidence",
        projection: EvidenceProjection | None = None,
    ) -> None:
        self._ledger: Ledger | None = ledger
        self._name = name
        self._projection = projection or EvidenceProjection()
        self._pending: Watermark = {}

    @classmethod
    def open(
        cls,
        settings: ChronicleSettings,
        state_dir: Path,
        *,
        name: str = "evidence",
        clock: Callable[[], int] | None = None,
    ) -> EvidenceSink:
        """Open the ledger under ``settings`` (generating the signing key on first use)."""
        return cls(Ledger.open(settings, state_dir, clock=clock), name=name)

    @property
    def name(self) -> str:
        return self._name

    @property
    def ledger(self) -> Ledger:
        """The open ledger. Raises :class:`SinkUnavailableError` after ``close()``."""
        if self._ledger is None:
            from schemas.errors import SinkUnavailableError

            raise SinkUnavailableError(self._name, "sink is closed", retry_after=0.0)
        return self._ledger

    def write(self, batch: Batch) -> None:
        """Append the batch's evidence to the ledger. Idempotent; durable on return.

        Raises :class:`SinkUnavailableError` when SQLite fails (retry the batch).
        """
        if not batch:
            return
        self.ledger.append(self._projection.project(batch))
        self._pending = advance(self._pending, high_offsets(batch))

    def flush(self) -> None:
        """Sign a head over everything appended and record the watermark, atomically.

        Raises :class:`SinkUnavailableError`; the pending watermark is kept.
        """
        if not self._pending:
            return
        self.ledger.checkpoint(self._name, self._pending)
        self._pending = {}

    def watermark(self) -> Watermark:
        """Last flushed offset per ``(topic, partition)``, read from the ledger file."""
        return self.ledger.watermark(self._name)

    def close(self) -> None:
        """Close the ledger. Idempotent; does not flush."""
        ledger, self._ledger = self._ledger, None
        if ledger is not None:
            ledger.close()
