"""The evidence projection: ``evidence.recorded`` events → leaves of the transparency log.

Pure (no I/O, no state): a batch in, one :class:`LedgerLeaf` per evidence event
out, in batch order. The store appends them (:mod:`sinks.evidence.store`).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from sinks.base import Batch, Input, LogPosition
from sinks.evidence.errors import LedgerIntegrityError

__all__ = ["EVIDENCE_EVENT", "EvidenceProjection", "EvidenceWrites", "LedgerLeaf"]

EVIDENCE_EVENT = "evidence.recorded"
_ENTRY_VERSION = 1


@dataclass(frozen=True, slots=True)
class LedgerLeaf:
    """What one ``evidence.recorded`` event appends: its identity, the artifact's
    digest, what it proves, and where the event was read (kept in the index, not
    in the leaf: the log commits to the evidence, not to Kafka offsets)."""

    event_id: str
    sha256: str
    kind: str
    proves: str
    position: LogPosition | None = None

    @property
    def entry(self) -> bytes:
        """The leaf's bytes in the log: canonical JSON (sorted keys, no spaces) of
        ``{"event_id", "kind", "proves", "sha256", "v": 1}``. Unchanged since the
        first ledger, so migrated stores keep their roots. Pure."""
        return orjson.dumps(
            {
                "event_id": self.event_id,
                "kind": self.kind,
                "proves": self.proves,
                "sha256": self.sha256,
                "v": _ENTRY_VERSION,
            },
            option=orjson.OPT_SORT_KEYS,
        )

    @classmethod
    def from_entry(cls, entry: bytes) -> LedgerLeaf:
        """Parse leaf bytes back; :class:`LedgerIntegrityError` unless canonical."""
        try:
            data = orjson.loads(entry)
            leaf = cls(
                event_id=str(data["event_id"]),
                sha256=str(data["sha256"]),
                kind=str(data["kind"]),
                proves=str(data["proves"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise LedgerIntegrityError(f"MALFORMED LEAF: not a ledger entry: {exc}") from exc
        if leaf.entry != entry:
            raise LedgerIntegrityError("MALFORMED LEAF: the entry is not in canonical form")
        return leaf


EvidenceWrites = list[LedgerLeaf]
"""The evidence plane's writes: leaves in batch order."""


class EvidenceProjection:
    """Pure: the ledger leaves of a batch (name ``evidence``; reads
    ``evidence.recorded`` only, decoded)."""

    name = "evidence"
    version = 1
    reads = frozenset({EVIDENCE_EVENT})
    input = Input.EVENTS

    def project(self, batch: Batch) -> EvidenceWrites:
        """One :class:`LedgerLeaf` per ``evidence.recorded`` event of ``batch``."""
        return [
            LedgerLeaf(
                event_id=str(item.event_id),
                sha256=str(item.record["sha256"]),
                kind=str(item.record["kind"]),
                proves=str(item.record["proves"]),
                position=item.position,
            )
            for item in batch.events
            if item.event_type == EVIDENCE_EVENT
        ]
