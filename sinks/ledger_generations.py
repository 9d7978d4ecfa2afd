"""Generations of the evidence plane: one Merkle ledger file per generation.

The :class:`~sinks.generations.Rebuildable` port for :class:`sinks.evidence.EvidenceSink`
(layout and swap in :mod:`sinks.directories`; ``<base>`` is the Chronicle
root, whose artifacts and signing key are shared by every generation):

- **shadow**: a :class:`LedgerShadowSink` over a :class:`~sinks.ledger.Ledger` on
  ``<root>/generations/g<N>/ledger.db``, fed by the same pure
  :class:`~sinks.evidence.EvidenceProjection` as live. A ledger is ordered
  history, and across partitions the order is the live consumer's interleaving,
  not a function of the log; so the shadow buffers its leaves and appends them at
  ``flush`` in **live's leaf order** for the events live already holds, then in
  log order. Content still comes from the log alone; only the order is live's,
  which is what lets a swap keep live's signed heads valid (below).
  The shadow signs no head at build time.
- **digest**: order-independent and **restricted to the covered positions**:
  ``ledger_entries`` keeps each leaf's log coordinate; part ``leaves`` is the
  multiset digest (:func:`~sinks.directories.multiset_part`) of
  ``entry bytes || topic/partition/offset`` of the leaves at covered positions.
  The leaf bytes are read from pymerkle's ``leaf`` table, not from the index.
  The Merkle root is *not* the replay digest: it depends on append order.
- **diff**: per ``event_id`` at covered positions: added, removed, changed.
- **swap** refuses to rewrite signed history: live's latest signed tree head must
  be a prefix of the shadow's tree (``size <= shadow size`` and the shadow's root
  at that size equal to the head's root), else :class:`ConfigError`. Then live's
  signed heads are copied into the shadow (they verify against it: same leaves
  up to their sizes), a head over the whole shadow is signed and checked
  consistent with live's latest, the watermark is recorded at the covered high
  offsets, and the pointer is switched.
- **drop** of generation 0: ``<root>/ledger.db`` and its journal files only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from schemas.errors import ConfigError, SinkUnavailableError
from sinks.base import Batch, Watermark, advance, high_offsets
from sinks.chronicle import ChronicleSettings
from sinks.directories import (
    DirectoryGenerations,
    combine_parts,
    in_range,
    keyed_diff,
    multiset_part,
)
from sinks.evidence import EvidenceProjection, EvidenceSink
from sinks.generations import Digest, LogRange, TableDiff
from sinks.ledger import Ledger, LedgerLeaf, load_public_key, load_signing_key

__all__ = ["LedgerGenerations", "LedgerShadowSink"]

_LEDGER = "ledger.db"
_NOTE = "ledger leaves at the covered positions (order-independent; not the Merkle root)"


class LedgerShadowSink:
    """A :class:`~sinks.base.Sink` building a shadow ledger (see the module docstring).

    ``write`` only projects and buffers; ``flush`` appends the buffered leaves in
    ``live_order`` (``event_id`` → live leaf index; others after, in log order) and
    keeps the watermark in memory: a shadow is rebuilt whole or thrown away.
    """

    def __init__(
        self,
        ledger: Ledger,
        name: str,
        live_order: dict[str, int],
        projection: EvidenceProjection | None = None,
    ) -> None:
        self._ledger = ledger
        self._name = name
        self._order = live_order
        self._projection = projection or EvidenceProjection()
        self._leaves: list[LedgerLeaf] = []
        self._pending: Watermark = {}
        self._flushed: Watermark = {}

    @property
    def name(self) -> str:
        return self._name

    def write(self, batch: Batch) -> None:
        if not batch:
            return
        self._leaves.extend(self._projection.project(batch))
        self._pending = advance(self._pending, high_offsets(batch))

    def flush(self) -> None:
        """Append the buffered leaves (durable on return); idempotent on ``event_id``."""
        unknown = len(self._order)

        def key(leaf: LedgerLeaf) -> tuple[int, str, int, int]:
            position = leaf.position
            assert position is not None  # the projection always sets it
            index = self._order.get(leaf.event_id, unknown)
            return (index, position.topic, position.partition, position.offset)

        self._ledger.append(sorted(self._leaves, key=key))
        self._leaves = []
        self._flushed = advance(self._flushed, self._pending)
        self._pending = {}

    def watermark(self) -> Watermark:
        return dict(self._flushed)

    def close(self) -> None:
        self._ledger.close()


def _rows(path: Path) -> Iterator[tuple[str, str, int, int, bytes]]:
    """``(event_id, topic, partition, offset, leaf entry)`` of every positioned leaf."""
    if not path.is_file():
        return
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cur = con.execute(
            "SELECT e.event_id, e.log_topic, e.log_partition, e.log_offset, l.entry"
            " FROM ledger_entries AS e JOIN leaf AS l ON l.id = e.leaf_index + 1"
            " WHERE e.log_topic IS NOT NULL"
        )
        while chunk := cur.fetchmany(4096):
            for event_id, topic, partition, offset, entry in chunk:
                yield str(event_id), str(topic), int(partition), int(offset), bytes(entry)
    except sqlite3.Error as exc:
        raise SinkUnavailableError("evidence", f"reading {path}: {exc}") from exc
    finally:
        con.close()


class LedgerGenerations(DirectoryGenerations):
    """:class:`~sinks.generations.Rebuildable` for the evidence plane (module docstring).

    ``live`` is the open live sink; ``settings`` and ``state_dir`` the ones it was
    opened with (the signing key is the live one's).
    """

    projection_version = 1
    """The evidence projection has no version number of its own yet."""

    def __init__(self, live: EvidenceSink, settings: ChronicleSettings, state_dir: Path) -> None:
        self._live = live
        self._settings = settings
        self._state_dir = Path(state_dir)
        super().__init__(settings.resolve_root(state_dir), live.name)

    def _ledger(self, number: int) -> Ledger:
        key = load_signing_key(self._settings.resolve_signing_key(self._state_dir))
        trusted = (
            load_public_key(self._settings.public_key_file)
            if self._settings.public_key_file
            else None
        )
        return Ledger(self.directory(number) / _LEDGER, key, trusted_key=trusted)

    def _open_shadow(self, number: int, directory: Path) -> LedgerShadowSink:
        """A :class:`LedgerShadowSink` on generation ``number``'s own ledger file."""
        del directory  # the ledger file is in it
        order = {event_id: i for i, event_id in enumerate(self._live_order())}
        return LedgerShadowSink(self._ledger(number), self._live.name, order)

    def _live_order(self) -> list[str]:
        con = sqlite3.connect(f"file:{self._live.ledger.path}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT event_id FROM ledger_entries ORDER BY leaf_index")
            return [str(r[0]) for r in rows]
        except sqlite3.Error as exc:
            raise SinkUnavailableError(self.projection_name, f"reading live order: {exc}") from exc
        finally:
            con.close()

    def _path(self, target: int | Literal["live"]) -> Path:
        if self._is_live(target):
            return self._live.ledger.path
        return self.directory(int(target)) / _LEDGER

    def _covered_rows(
        self, target: int | Literal["live"], covered: LogRange
    ) -> Iterator[tuple[str, str, int, int, bytes]]:
        for row in _rows(self._path(target)):
            if in_range(covered, row[1], row[2], row[3]):
                yield row

    def digest(self, target: int | Literal["live"], covered: LogRange) -> Digest:
        """Multiset digest of the leaves at ``covered`` positions (module docstring)."""
        part, count = multiset_part(
            entry + f"\0{topic}/{partition}/{offset}".encode()
            for _, topic, partition, offset, entry in self._covered_rows(target, covered)
        )
        parts = {"leaves": part}
        return Digest(combine_parts(parts), parts, {"leaves": count}, note=_NOTE)

    def diff(self, number: int, covered: LogRange) -> Sequence[TableDiff]:
        """Leaves per ``event_id`` at covered positions: only in one, or different."""

        def keyed(target: int | Literal["live"]) -> dict[str, bytes]:
            return {
                event_id: entry + f"\0{topic}/{partition}/{offset}".encode()
                for event_id, topic, partition, offset, entry in self._covered_rows(target, covered)
            }

        return [keyed_diff("leaves", keyed("live"), keyed(number))]

    def _before_swap(self, number: int) -> None:
        """Keep live's signed history valid, then sign and record (module docstring)."""
        live = self._live.ledger
        heads = live.heads()
        shadow = self._ledger(number)
        try:
            latest = heads[-1] if heads else None
            if latest is not None and (
                latest.tree_size > shadow.size() or shadow.root(latest.tree_size) != latest.root_hex
            ):
                raise ConfigError(
                    f"generation {number} does not extend live's signed tree head of size"
                    f" {latest.tree_size}: swapping it in would rewrite signed evidence history"
                )
            path = shadow.path
        finally:
            shadow.close()
        con = sqlite3.connect(path)
        try:
            with con:
                con.executemany(
                    "INSERT INTO signed_heads(tree_size, root, timestamp, key_id, signature)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [(h.tree_size, h.root_hex, h.timestamp, h.key_id, h.signature) for h in heads],
                )
        except sqlite3.Error as exc:
            raise SinkUnavailableError(self.projection_name, f"copying heads: {exc}") from exc
        finally:
            con.close()
        shadow = self._ledger(number)
        try:
            marks = {key: last for key, (_, last) in self.covered_of(number).items()}
            head = shadow.checkpoint(self.projection_name, marks)
            if latest is not None and head.tree_size > latest.tree_size:
                shadow.prove_consistency(latest, head)
        finally:
            shadow.close()

    def _remove_base(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            (self.base / f"{_LEDGER}{suffix}").unlink(missing_ok=True)
