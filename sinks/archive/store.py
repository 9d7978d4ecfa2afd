"""The archived log: the event topic copied into hash-chained Avro segments.

Rebuilds must outlive Kafka retention, so the ``archive`` projection copies every
record of the events topic, byte for byte, into Chronicle-style content-addressed
storage under ``<state_dir>/archive``::

    <root>/sha256/ab/cdef…        one sealed segment (Avro object container), 0444
    <root>/manifest.jsonl         one line per sealed segment, appended once
    <root>/pending/<topic>-<p>.avro   the open (unsealed) tail of a partition

A **segment** holds consecutive records of one partition (schema
:data:`SEGMENT_SCHEMA`: offset, timestamp, key, the original single-object value
bytes, headers). It is sealed when it reaches ``seal_records`` records,
``seal_bytes`` bytes or ``seal_age_s`` seconds (checked at ``flush``). Sealing
writes the file under the SHA-256 of its bytes, read-only, then appends its
manifest line: topic, partition, first and last offset, count, its sha256 and the
sha256 of the previous segment of the same partition (a **hash chain**). The
chain and offsets are also in the file's own Avro metadata, and the sync marker
derives from them, so sealing the same records again yields the same bytes.

Store contract: the archive reads raw records (``Input.RAW``: undecodable ones
included — the archive is the log, not a projection of what decodes); ``write``
skips every offset at or below the partition's high mark, so re-delivery is a
no-op. ``flush`` seals what is due and makes the unsealed tail durable in the
pending file (created by an atomic write, then one appended Avro block per flush,
fsynced), so everything written is durable on return; ``watermark`` is the high
mark including that tail.

Gaps: Kafka offsets of a compacted topic or one with transactions have holes
(removed keys, commit markers). Our events topic is neither compacted
(``retention.ms=-1``, ``cleanup.policy=delete``) nor transactional (idempotent
producer, no transactions), so ``verify_archive`` treats any hole as an error.
Header keys are stored as a map: a repeated header key keeps its last value.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
import orjson

from schemas.durable import atomic_write
from sinks.archive.reader import GENESIS, SEGMENT_SCHEMA, Segment, object_path, read_manifest
from sinks.base import Watermark
from sinks.store import StoreBase

__all__ = ["ArchiveStore", "ArchiveWrites", "SegmentRow"]

_PARSED = fastavro.parse_schema(SEGMENT_SCHEMA)

SegmentRow = tuple[str, int, dict[str, Any]]
"""``(topic, partition, archived record)``: one record as a segment stores it."""


@dataclass(frozen=True, slots=True)
class ArchiveWrites:
    """The records of one batch, in log order, as the archive stores them."""

    rows: tuple[SegmentRow, ...] = ()


@dataclass(slots=True)
class _Open:
    records: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0
    opened_at: float = 0.0
    written: int = 0  # records[:written] are in the pending file already; 0: rewrite it


def _read_pending(path: Path) -> list[Any]:
    """The records of a pending file up to its last whole block: a crash in the
    middle of an append leaves a torn last block, which is dropped (those records
    were never flushed, so never acknowledged)."""
    records: list[Any] = []
    with path.open("rb") as handle:
        try:
            for record in fastavro.reader(handle):
                records.append(record)
        except (EOFError, ValueError, OSError, IndexError, TypeError):
            # fastavro reports a truncated or garbled block with one of these
            pass
    return records


def _encode(records: Sequence[dict[str, Any]], metadata: Mapping[str, str], marker: bytes) -> bytes:
    buf = io.BytesIO()
    fastavro.writer(
        buf, _PARSED, records, codec="deflate", metadata=dict(metadata), sync_marker=marker
    )
    return buf.getvalue()


class ArchiveStore(StoreBase[ArchiveWrites]):
    """The archive's store (module docstring). Not thread-safe: one runtime thread
    drives it, like every store."""

    def __init__(
        self,
        root: Path,
        *,
        name: str = "archive",
        seal_records: int = 50_000,
        seal_bytes: int = 32 << 20,
        seal_age_s: float = 300.0,
    ) -> None:
        super().__init__(name)
        self._root = Path(root)
        self._seal_records = seal_records
        self._seal_bytes = seal_bytes
        self._seal_age = seal_age_s
        self._root.mkdir(parents=True, exist_ok=True)
        self._heads: dict[tuple[str, int], Segment] = {}
        for seg in read_manifest(self._root):
            self._heads[(seg.topic, seg.partition)] = seg
        self._open: dict[tuple[str, int], _Open] = {}
        self._durable: Watermark = {key: seg.last_offset for key, seg in self._heads.items()}
        for path in sorted((self._root / "pending").glob("*.avro")):
            topic, _, partition = path.stem.rpartition("-")
            records = _read_pending(path)
            key = (topic, int(partition))
            sealed = self._sealed_high(key)
            kept = [dict(r) for r in records if isinstance(r, dict) and int(r["offset"]) > sealed]
            if kept:
                # nothing counted as written: the next flush rewrites the file whole,
                # dropping a block torn by a crash in the middle of an append
                self._open[key] = _Open(
                    kept, sum(len(r["value"] or b"") for r in kept), path.stat().st_mtime
                )
                self._durable[key] = int(kept[-1]["offset"])
            else:
                path.unlink()

    @property
    def root(self) -> Path:
        return self._root

    def _sealed_high(self, key: tuple[str, int]) -> int:
        head = self._heads.get(key)
        return head.last_offset if head else -1

    def _high(self, key: tuple[str, int]) -> int:
        tail = self._open.get(key)
        if tail and tail.records:
            return int(tail.records[-1]["offset"])
        return self._sealed_high(key)

    def _apply(self, writes: ArchiveWrites) -> None:
        """Buffer the rows; offsets at or below a partition's high mark are skipped
        (idempotent)."""
        now = time.time()
        for topic, partition, row in writes.rows:
            pkey = (topic, partition)
            if int(row["offset"]) <= self._high(pkey):
                continue
            tail = self._open.get(pkey)
            if tail is None:
                tail = self._open[pkey] = _Open(opened_at=now)
            tail.records.append(row)
            tail.size += len(row["value"] or b"") + len(row["key"] or b"")

    def seal(self) -> None:
        """Flush and seal every open tail (``archive sync`` ends with this)."""
        self._check_open()
        self._flush(seal_all=True)

    def _persist(self, marks: Watermark) -> None:
        # the archive's watermark is its own data: the high mark of what it holds
        del marks
        self._flush(seal_all=False)

    def _flush(self, *, seal_all: bool) -> None:
        """Seal due segments (all of them with ``seal_all``), persist the rest."""
        now = time.time()
        for key in sorted(self._open):
            tail = self._open[key]
            if not tail.records:
                continue
            due = (
                seal_all
                or len(tail.records) >= self._seal_records
                or tail.size >= self._seal_bytes
                or now - tail.opened_at >= self._seal_age
            )
            if due:
                while tail.records:
                    cut = tail.records[: self._seal_records]
                    self._seal(key, cut)
                    del tail.records[: len(cut)]
                del self._open[key]
                (self._root / "pending" / f"{key[0]}-{key[1]}.avro").unlink(missing_ok=True)
                self._durable[key] = self._sealed_high(key)
                continue
            if tail.written < len(tail.records):
                self._write_pending(key, tail)
            self._durable[key] = max(self._durable.get(key, -1), self._high(key))

    def _write_pending(self, key: tuple[str, int], tail: _Open) -> None:
        """Make the unsealed tail durable. The first write of a tail creates the file
        atomically; later flushes append only the new records as one more Avro block
        and fsync, so a flush costs what the batch holds, not the whole tail (which
        grows up to ``seal_records``)."""
        path = self._root / "pending" / f"{key[0]}-{key[1]}.avro"
        if tail.written == 0 or not path.exists():
            marker = hashlib.sha256(f"pending:{key}".encode()).digest()[:16]
            atomic_write(path, _encode(tail.records, {}, marker))
        else:
            with path.open("a+b") as handle:
                # fastavro appends blocks to an existing container (its header's
                # schema and sync marker are reused)
                fastavro.writer(handle, _PARSED, tail.records[tail.written :], codec="deflate")
                handle.flush()
                os.fsync(handle.fileno())
        tail.written = len(tail.records)

    def _seal(self, key: tuple[str, int], records: list[dict[str, Any]]) -> Segment:
        topic, partition = key
        head = self._heads.get(key)
        prev = head.sha256 if head else GENESIS
        first, last = int(records[0]["offset"]), int(records[-1]["offset"])
        meta = {
            "proofstream.topic": topic,
            "proofstream.partition": str(partition),
            "proofstream.first_offset": str(first),
            "proofstream.last_offset": str(last),
            "proofstream.prev_sha256": prev,
        }
        marker = hashlib.sha256(f"{prev}:{topic}:{partition}:{first}".encode()).digest()[:16]
        data = _encode(records, meta, marker)
        sha = hashlib.sha256(data).hexdigest()
        path = object_path(self._root, sha)
        if not path.exists():
            atomic_write(path, data, mode=0o444)
        segment = Segment(
            topic,
            partition,
            first,
            last,
            len(records),
            sha,
            prev,
            len(data),
            time.time_ns() // 1000,
        )
        line = orjson.dumps(_asdict(segment))
        with open(self._root / "manifest.jsonl", "ab") as out:
            out.write(line + b"\n")
            out.flush()
            os.fsync(out.fileno())
        self._heads[key] = segment
        return segment

    def _load_watermark(self) -> Watermark:
        """High mark per partition of what is durable: sealed segments plus the
        persisted tail (records written but not flushed are not counted)."""
        return dict(self._durable)

    def _release(self) -> None:
        """Nothing to release; unflushed records are lost (and re-delivered)."""


def _asdict(segment: Segment) -> dict[str, Any]:
    return {name: getattr(segment, name) for name in Segment.__slots__}
