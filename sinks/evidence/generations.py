"""Generations of the evidence plane: one transparency log per generation directory.

The :class:`~sinks.generations.Rebuildable` port for :class:`EvidenceStore`
(layout, registry and pointer in :mod:`sinks.directories`; ``<base>`` is the
Chronicle root, whose artifacts and signing key every generation shares):

- **shadow**: the same :class:`EvidenceStore` on ``<root>/generations/g<N>/``,
  opened ``staged``: fed by the same pure projection as live, it keeps its
  leaves unsequenced. A log is ordered history, and across partitions the order
  is the live consumer's interleaving, not a function of the log; so the order
  is fixed only at swap time, from live's.
- **digest**: order-independent and **restricted to the covered positions**: the
  multiset digest (:func:`~sinks.digests.multiset_part`) of
  ``entry bytes || topic/partition/offset`` of the leaves read at covered
  positions; live's entry bytes are read from its published bundles, not from
  its index. The Merkle root is *not* the replay digest: it depends on order.
- **diff**: per ``event_id`` at covered positions: added, removed, changed.
- **swap** refuses to rewrite signed history. The shadow is sealed
  (:meth:`~sinks.evidence.ledger.Ledger.seal`): leaves live holds take live's
  order, the others follow in log order; every checkpoint live published must
  name a prefix of the sealed tree (else :class:`ConfigError`, nothing is
  swapped), is copied with the partial tiles it needs, and a checkpoint over the
  whole new tree is signed and checked consistent with live's latest. So a
  verifier that saw live's checkpoints sees the swapped-in log simply grow.
  The watermark is advanced to the covered high offsets, then the pointer moves.
- **drop** of generation 0 removes the log files in the root (never artifacts).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from sinks.base import Store
from sinks.digests import combine_parts, in_range, keyed_diff, multiset_part
from sinks.directories import DirectoryGenerations
from sinks.evidence.index import LedgerIndex
from sinks.evidence.ledger import CHECKPOINT, HISTORY, INDEX, Ledger, positioned_entries
from sinks.evidence.signing import LogKeys
from sinks.evidence.store import EvidenceStore
from sinks.generations import Digest, LogRange, TableDiff

__all__ = ["EvidenceGenerations"]

_NOTE = "log leaves at the covered positions (order-independent; not the Merkle root)"


class EvidenceGenerations(DirectoryGenerations):
    """:class:`~sinks.generations.Rebuildable` for the evidence plane (module docstring).

    ``live`` is the open live store; ``root`` the Chronicle root; ``keys`` the
    log's keys (the live store's).
    """

    def __init__(self, live: EvidenceStore, root: Path, keys: LogKeys) -> None:
        self._live = live
        self._keys = keys
        super().__init__(root, live.name)

    def _open_shadow(self, number: int, directory: Path) -> Store[Any]:
        """The plane's own store class on generation ``number``'s directory, staged."""
        del number
        return EvidenceStore.open(directory, self._keys, name=self._live.name, staged=True)

    def _entries(
        self, target: int | Literal["live"], covered: LogRange
    ) -> Iterator[tuple[str, bytes]]:
        """``(event_id, entry || position)`` of the leaves at covered positions, read
        without opening a writer (live may be open on another thread)."""
        directory = self._live_directory() if self._is_live(target) else self.directory(int(target))
        for leaf, entry in positioned_entries(directory):
            pos = leaf.position
            if pos is not None and in_range(covered, pos.topic, pos.partition, pos.offset):
                yield leaf.event_id, entry + f"\0{pos.topic}/{pos.partition}/{pos.offset}".encode()

    def _live_directory(self) -> Path:
        return self._live.ledger.directory

    def digest(self, target: int | Literal["live"], covered: LogRange) -> Digest:
        """Multiset digest of the leaves at ``covered`` positions (module docstring)."""
        part, count = multiset_part(item for _, item in self._entries(target, covered))
        parts = {"leaves": part}
        return Digest(combine_parts(parts), parts, {"leaves": count}, note=_NOTE)

    def diff(self, number: int, covered: LogRange) -> Sequence[TableDiff]:
        """Leaves per ``event_id`` at covered positions: only in one, or different."""
        live = dict(self._entries("live", covered))
        return [keyed_diff("leaves", live, dict(self._entries(number, covered)))]

    def _before_swap(self, number: int) -> None:
        """Seal the shadow so it extends live's published history, or refuse."""
        live = LedgerIndex(self._live_directory() / INDEX)
        try:
            order, history = live.order(), live.checkpoints()
        finally:
            live.close()
        shadow = Ledger(self.directory(number), self._keys, name=self._live.name)
        try:
            shadow.seal(order, history)
            highs = {key: last for key, (_, last) in self.covered_of(number).items()}
            shadow.stage([], highs)  # only advances the watermark: nothing is staged
        finally:
            shadow.close()

    def _remove_base(self) -> None:
        """Generation 0's log files in the root; artifacts (``sha256/``) stay."""
        for name in (CHECKPOINT, INDEX, f"{INDEX}-journal", f"{INDEX}-wal", f"{INDEX}-shm"):
            (self.base / name).unlink(missing_ok=True)
        for folder in (HISTORY, "tile"):
            shutil.rmtree(self.base / folder, ignore_errors=True)
