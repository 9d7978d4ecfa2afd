"""The log's local index: one SQLite file, ``<log dir>/ledger.db``.

The tiles and checkpoints are the log; this file is what the writer needs beside
them, and what ClickHouse facts join on. It is never needed to *verify* the log.

- ``ledger_entries`` — one row per sequenced leaf: ``leaf_index`` (from 0),
  ``event_id`` (the idempotency key, unique by the ledger's hand), ``sha256``,
  ``kind``, ``proves`` and the log coordinate it was read at. Rows are committed
  *before* their tiles are written, so the table is the write-ahead log of the
  tiles: a crash between the two is finished when the ledger next opens
  (:class:`sinks.evidence.ledger.Ledger`).
- ``staged_entries`` — leaves of a shadow generation, not sequenced yet (replay
  orders them at swap time: :mod:`sinks.evidence.generations`).
- ``checkpoints`` — every checkpoint the log published: size, root (hex), the
  signed note, and when it was signed (the log's own record; the note carries no
  time).
- ``watermarks`` — per store name, written in the same transaction as the
  checkpoint record of a flush.

The file is in WAL mode (``synchronous=FULL``): a commit costs one fsync, and
readers (:class:`LedgerIndex`) never block the writer.
- ``meta`` — ``format`` (``tlog-tiles/1``) and ``origin``.

Stores created before the transparency log also hold pymerkle's ``leaf`` table
and our old ``signed_heads``; :mod:`sinks.evidence.legacy` migrates them once.
Append-only triggers guard against accidents, not attackers: the verifiers
never trust this file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.errors import ConfigError, SinkUnavailableError
from sinks.base import LogPosition, Watermark
from sinks.evidence.errors import check_digest
from sinks.evidence.projection import LedgerLeaf

__all__ = ["LEDGER_ENTRIES_DDL", "CheckpointRecord", "LedgerDb", "LedgerIndex"]

FORMAT = "tlog-tiles/1"
_COLUMNS = "event_id, sha256, kind, proves, log_topic, log_partition, log_offset"

_LEAF = (
    "sha256 TEXT NOT NULL, kind TEXT NOT NULL, proves TEXT NOT NULL,"
    " log_topic TEXT, log_partition INTEGER, log_offset INTEGER"
)
"""The columns a leaf has beside its ``event_id``, sequenced or staged (those of the
pre-tlog ``ledger_entries``, so a legacy table is used as it is).

Both tables are appended to in rowid order and carry **no index on a random key**
(``event_id`` is a UUID4, ``sha256`` a digest): a B-tree of random keys dirties about
one page per insert once it outgrows the cache, so every flush would cost more as the
log grows. ``event_id`` uniqueness is kept by the ledger in memory instead
(:class:`sinks.evidence.ledger.Ledger`); the pre-tlog index on ``sha256`` is dropped
(lookups by digest scan, as the verifiers do)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_entries(
    leaf_index INTEGER PRIMARY KEY, event_id TEXT NOT NULL, {leaf}
);
DROP INDEX IF EXISTS ledger_entries_sha256;
CREATE TABLE IF NOT EXISTS staged_entries(event_id TEXT NOT NULL, {leaf});
CREATE TABLE IF NOT EXISTS checkpoints(
    tree_size     INTEGER PRIMARY KEY,
    root          TEXT NOT NULL,
    signed_at_us  INTEGER NOT NULL,
    note          BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS watermarks(
    projection    TEXT NOT NULL,
    topic         TEXT NOT NULL,
    partition     INTEGER NOT NULL,
    log_offset    INTEGER NOT NULL,
    PRIMARY KEY (projection, topic, partition)
);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints is append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints is append-only'); END;
""".replace("{leaf}", _LEAF)

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
"""Proposed ClickHouse table for :meth:`LedgerIndex.rows` (a row re-sent once a
checkpoint covers it replaces the uncovered one); join ``evidence`` facts ``USING
(event_id)``. Owned by the facts plane if adopted; not applied by this plane."""


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    """A published checkpoint as the index recorded it."""

    size: int
    root_hex: str
    signed_at_us: int
    note: bytes


def _leaf_row(leaf: LedgerLeaf) -> tuple[Any, ...]:
    pos = leaf.position
    where = (pos.topic, pos.partition, pos.offset) if pos else (None, None, None)
    return (leaf.event_id, leaf.sha256, leaf.kind, leaf.proves, *where)


def _leaf_of(row: Sequence[Any]) -> LedgerLeaf:
    event_id, sha256, kind, proves, topic, partition, offset = row
    pos = LogPosition(str(topic), int(partition), int(offset)) if topic is not None else None
    return LedgerLeaf(str(event_id), str(sha256), str(kind), str(proves), pos)


class _IndexReader:
    """The queries both connections share (the read-only one and the writer's)."""

    _con: sqlite3.Connection
    path: Path
    _name: str = "evidence"

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._con.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise SinkUnavailableError(self._name, f"{self.path}: read: {exc}") from exc

    def meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def has_table(self, table: str) -> bool:
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return bool(self.query(sql, (table,)))

    def size(self) -> int:
        """Sequenced leaves (leaf indexes are contiguous from 0; max, not count: O(log n))."""
        sql = "SELECT coalesce(max(leaf_index) + 1, 0) FROM ledger_entries"
        return int(self.query(sql)[0][0])

    def all_event_ids(self) -> Iterator[str]:
        """Every ``event_id``, sequenced or staged, streamed."""
        sql = "SELECT event_id FROM ledger_entries UNION ALL SELECT event_id FROM staged_entries"
        try:
            for (event_id,) in self._con.execute(sql):
                yield str(event_id)
        except sqlite3.Error as exc:
            raise SinkUnavailableError(self._name, f"{self.path}: read: {exc}") from exc

    def sequenced(self, start: int = 0) -> list[LedgerLeaf]:
        """Sequenced leaves from ``start``, in leaf order."""
        sql = f"SELECT {_COLUMNS} FROM ledger_entries WHERE leaf_index >= ? ORDER BY leaf_index"
        return [_leaf_of(row) for row in self.query(sql, (start,))]

    def staged(self) -> list[LedgerLeaf]:
        """Leaves staged by a shadow generation, not sequenced yet."""
        return [_leaf_of(row) for row in self.query(f"SELECT {_COLUMNS} FROM staged_entries")]

    def positioned(self) -> Iterator[tuple[int | None, LedgerLeaf]]:
        """``(leaf index, or None when staged; leaf)`` of every leaf with a log coordinate."""
        for table, index in (("ledger_entries", "leaf_index"), ("staged_entries", "NULL")):
            sql = f"SELECT {index}, {_COLUMNS} FROM {table} WHERE log_topic IS NOT NULL"
            for row in self.query(sql):
                yield (None if row[0] is None else int(row[0])), _leaf_of(row[1:])

    def event_ids(self) -> set[str]:
        """Every ``event_id``, sequenced or staged."""
        return set(self.all_event_ids())

    def order(self) -> dict[str, int]:
        """``event_id`` → leaf index of every sequenced leaf."""
        rows = self.query("SELECT leaf_index, event_id FROM ledger_entries")
        return {str(event_id): int(index) for index, event_id in rows}

    def checkpoints(self) -> list[CheckpointRecord]:
        """Every published checkpoint, oldest first."""
        sql = "SELECT tree_size, root, signed_at_us, note FROM checkpoints ORDER BY tree_size"
        return [
            CheckpointRecord(int(s), str(r), int(t), bytes(n)) for s, r, t, n in self.query(sql)
        ]

    def watermark(self, name: str) -> Watermark:
        """The recorded watermark of store ``name``."""
        sql = "SELECT topic, partition, log_offset FROM watermarks WHERE projection = ?"
        return {(str(t), int(p)): int(o) for t, p, o in self.query(sql, (name,))}

    def close(self) -> None:
        """Close the connection. Idempotent."""
        self._con.close()


class LedgerDb(_IndexReader):
    """The writer's connection to ``ledger.db`` (see the module docstring). One
    thread, one writer. SQLite failures raise :class:`SinkUnavailableError`."""

    def __init__(self, path: Path, name: str = "evidence") -> None:
        self._name = name
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(path)
            # WAL: one fsync per commit instead of the rollback journal's several;
            # FULL keeps every commit durable (offsets are committed after a flush)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=FULL")
            self._con.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise SinkUnavailableError(name, f"cannot open {path}: {exc}") from exc

    def write(self, statements: Iterable[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        """Run ``(sql, rows)`` pairs (``executemany``) in one transaction."""
        try:
            with self._con:
                for sql, rows in statements:
                    self._con.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise SinkUnavailableError(self._name, f"{self.path}: write: {exc}") from exc

    def sequence_sql(self, leaves: Sequence[LedgerLeaf], first: int) -> tuple[str, list[Any]]:
        """The insert of ``leaves`` as leaves ``first, first + 1, …``."""
        sql = f"INSERT INTO ledger_entries(leaf_index, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        return sql, [(first + i, *_leaf_row(leaf)) for i, leaf in enumerate(leaves)]

    def stage_sql(self, leaves: Sequence[LedgerLeaf]) -> tuple[str, list[Any]]:
        """The insert of ``leaves`` as staged (unsequenced) leaves."""
        sql = f"INSERT INTO staged_entries({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        return sql, [_leaf_row(leaf) for leaf in leaves]

    def checkpoint_sql(self, record: CheckpointRecord) -> tuple[str, list[Any]]:
        """The insert of a published checkpoint's record."""
        sql = "INSERT OR IGNORE INTO checkpoints VALUES (?, ?, ?, ?)"
        return sql, [(record.size, record.root_hex, record.signed_at_us, record.note)]

    def watermark_sql(
        self, name: str, marks: Mapping[tuple[str, int], int]
    ) -> tuple[str, list[Any]]:
        """The upsert of store ``name``'s watermark (never backwards)."""
        sql = (
            "INSERT INTO watermarks VALUES (?, ?, ?, ?) ON CONFLICT(projection, topic, partition)"
            " DO UPDATE SET log_offset = max(log_offset, excluded.log_offset)"
        )
        return sql, [(name, t, p, o) for (t, p), o in sorted(marks.items())]


class LedgerIndex(_IndexReader):
    """Read-only view of the index: for joins, and for replay reading live beside a
    running store (no key needed; WAL readers never block the writer). It only
    reads, but opens the file read-write: a WAL reader may need to create the
    shared-memory file."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ConfigError(f"no Chronicle ledger index at {path}")
        self.path = path
        try:
            self._con = sqlite3.connect(path)
        except sqlite3.Error as exc:
            raise SinkUnavailableError(self._name, f"cannot open {path}: {exc}") from exc

    def ledger_columns(self, sha256: str) -> tuple[int, int | None, str | None] | None:
        """``(leaf_index, tree_size, root)`` for the first leaf recording ``sha256``:
        the leaf and the **first** checkpoint that covers it (stable forever, so a
        fact row can carry it). ``tree_size``/``root`` are None until a checkpoint
        covers the leaf; None when the digest is not in the log."""
        check_digest(sha256)
        # a scan: there is no index on sha256 (see _LEAF)
        row = self.query("SELECT min(leaf_index) FROM ledger_entries WHERE sha256 = ?", (sha256,))
        if not row or row[0][0] is None:
            return None
        leaf = int(row[0][0])
        first = self.query(
            "SELECT tree_size, root FROM checkpoints WHERE tree_size > ?"
            " ORDER BY tree_size LIMIT 1",
            (leaf,),
        )
        return (leaf, int(first[0][0]), str(first[0][1])) if first else (leaf, None, None)

    def rows(self, since_leaf: int = 0) -> Iterator[dict[str, Any]]:
        """Rows of the proposed ClickHouse ``ledger_entries`` table, from leaf
        ``since_leaf``: one per evidence event with its leaf and first covering
        checkpoint (None until one covers it). Join ``evidence`` facts on ``event_id``."""
        heads = self.query("SELECT tree_size, root FROM checkpoints ORDER BY tree_size")
        cursor = self._con.execute(
            "SELECT leaf_index, event_id, sha256 FROM ledger_entries WHERE leaf_index >= ?"
            " ORDER BY leaf_index",
            (since_leaf,),
        )
        position = 0
        for leaf_index, event_id, sha256 in cursor:
            while position < len(heads) and heads[position][0] <= leaf_index:
                position += 1
            covered = position < len(heads)
            yield {
                "event_id": event_id,
                "sha256": sha256,
                "leaf_index": int(leaf_index),
                "tree_size": int(heads[position][0]) if covered else None,
                "ledger_root": str(heads[position][1]) if covered else None,
            }
