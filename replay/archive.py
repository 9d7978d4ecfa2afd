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

Sink contract: ``write_raw(records)`` (the runtime hands the archive raw records,
undecodable ones included: the archive is the log, not a projection of what
decodes) skips every offset at or below the partition's high mark, so re-delivery
is a no-op. ``flush`` seals what is due and writes the unsealed tail to the
pending file (tmp + fsync + rename), so everything written is durable on return;
``watermark`` is the high mark including that tail.

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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
import orjson

from processors.checkpoint import RawRecord
from replay.source import SourceRecord
from schemas.errors import ConfigError
from sinks.base import Batch, Watermark

__all__ = [
    "SEGMENT_SCHEMA",
    "ArchiveProblem",
    "ArchiveSink",
    "Segment",
    "archived_high",
    "read_archive",
    "read_manifest",
    "verify_archive",
]

SEGMENT_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "ArchivedRecord",
    "namespace": "fractalops.archive",
    "fields": [
        {"name": "offset", "type": "long"},
        {"name": "timestamp", "type": "long"},
        {"name": "key", "type": ["null", "bytes"], "default": None},
        {"name": "value", "type": ["null", "bytes"], "default": None},
        {"name": "headers", "type": {"type": "map", "values": "bytes"}},
    ],
}
_PARSED = fastavro.parse_schema(SEGMENT_SCHEMA)
GENESIS = "0" * 64
"""``prev_sha256`` of the first segment of a partition."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One manifest line: a sealed segment of one partition."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    count: int
    sha256: str
    prev_sha256: str
    size: int
    sealed_at_us: int

    @property
    def label(self) -> str:
        span = f"{self.first_offset}-{self.last_offset}"
        return f"{self.topic}/{self.partition}@{span} ({self.sha256[:12]})"


@dataclass(frozen=True, slots=True)
class ArchiveProblem:
    """Why ``verify_archive`` rejects a segment."""

    segment: str
    problem: str


def _object_path(root: Path, sha256: str) -> Path:
    return root / "sha256" / sha256[:2] / sha256[2:]


def read_manifest(root: Path) -> list[Segment]:
    """Every sealed segment, in manifest (= sealing) order. Missing manifest: none."""
    path = Path(root) / "manifest.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().splitlines():
        if line.strip():
            out.append(Segment(**orjson.loads(line)))
    return out


def archived_high(root: Path, topic: str) -> dict[int, int]:
    """Last sealed offset per partition of ``topic``."""
    marks: dict[int, int] = {}
    for seg in read_manifest(root):
        if seg.topic == topic:
            marks[seg.partition] = max(marks.get(seg.partition, -1), seg.last_offset)
    return marks


@dataclass(slots=True)
class _Open:
    records: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0
    opened_at: float = 0.0
    dirty: bool = False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _encode(records: Sequence[dict[str, Any]], metadata: Mapping[str, str], marker: bytes) -> bytes:
    buf = io.BytesIO()
    fastavro.writer(
        buf, _PARSED, records, codec="deflate", metadata=dict(metadata), sync_marker=marker
    )
    return buf.getvalue()


class ArchiveSink:
    """The ``archive`` projection (module docstring). Not thread-safe: one runtime
    thread drives it, like every sink."""

    def __init__(
        self,
        root: Path,
        *,
        name: str = "archive",
        seal_records: int = 50_000,
        seal_bytes: int = 32 << 20,
        seal_age_s: float = 300.0,
    ) -> None:
        self._root = Path(root)
        self._name = name
        self._seal_records = seal_records
        self._seal_bytes = seal_bytes
        self._seal_age = seal_age_s
        self._root.mkdir(parents=True, exist_ok=True)
        self._heads: dict[tuple[str, int], Segment] = {}
        for seg in read_manifest(self._root):
            self._heads[(seg.topic, seg.partition)] = seg
        self._open: dict[tuple[str, int], _Open] = {}
        for path in sorted((self._root / "pending").glob("*.avro")):
            topic, _, partition = path.stem.rpartition("-")
            with path.open("rb") as handle:
                records = list(fastavro.reader(handle))
            key = (topic, int(partition))
            sealed = self._sealed_high(key)
            kept = [dict(r) for r in records if isinstance(r, dict) and int(r["offset"]) > sealed]
            if kept:
                self._open[key] = _Open(
                    kept, sum(len(r["value"] or b"") for r in kept), path.stat().st_mtime
                )
            else:
                path.unlink()

    @property
    def name(self) -> str:
        return self._name

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

    def write(self, batch: Batch) -> None:
        """Refused: the archive keeps original bytes, so it needs raw records."""
        raise ConfigError("the archive sink takes raw records: call write_raw()")

    def write_raw(self, records: Sequence[RawRecord]) -> None:
        """Buffer ``records``; offsets at or below the high mark are skipped (idempotent)."""
        self.append(
            [
                (
                    r.position.topic,
                    r.position.partition,
                    r.position.offset,
                    r.key,
                    r.value,
                    r.headers,
                    r.timestamp_ms or 0,
                )
                for r in records
            ]
        )

    def append(self, records: Sequence[SourceRecord]) -> None:
        """``write_raw`` for source tuples (the ``archive sync`` path)."""
        now = time.time()
        for topic, partition, offset, key, value, headers, ts in records:
            pkey = (topic, partition)
            if offset <= self._high(pkey):
                continue
            tail = self._open.get(pkey)
            if tail is None:
                tail = self._open[pkey] = _Open(opened_at=now)
            tail.records.append(
                {
                    "offset": offset,
                    "timestamp": ts,
                    "key": key,
                    "value": value,
                    "headers": dict(headers),
                }
            )
            tail.size += len(value or b"") + len(key or b"")
            tail.dirty = True

    def flush(self, *, seal_all: bool = False) -> None:
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
            elif tail.dirty:
                marker = hashlib.sha256(f"pending:{key}".encode()).digest()[:16]
                _atomic_write(
                    self._root / "pending" / f"{key[0]}-{key[1]}.avro",
                    _encode(tail.records, {}, marker),
                )
                tail.dirty = False

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
        path = _object_path(self._root, sha)
        if not path.exists():
            _atomic_write(path, data, mode=0o444)
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

    def watermark(self) -> Watermark:
        """High mark per partition: sealed segments plus the persisted tail."""
        keys = set(self._heads) | set(self._open)
        return {key: self._high(key) for key in keys if self._high(key) >= 0}

    def close(self) -> None:
        """Nothing to release; unflushed records are lost (and re-delivered)."""


def _asdict(segment: Segment) -> dict[str, Any]:
    return {name: getattr(segment, name) for name in Segment.__slots__}


def _read_segment(root: Path, seg: Segment) -> tuple[dict[str, str], list[dict[str, Any]]]:
    with _object_path(root, seg.sha256).open("rb") as handle:
        reader = fastavro.reader(handle)
        meta = {
            k: v.decode() if isinstance(v, bytes) else str(v) for k, v in reader.metadata.items()
        }
        return meta, [dict(r) for r in reader if isinstance(r, dict)]


def verify_archive(root: Path) -> list[ArchiveProblem]:
    """Check every segment: its bytes hash to its address, the chain links to the
    previous segment of its partition, its metadata matches the manifest, and
    offsets run without gaps inside and between segments. Empty list: intact."""
    root = Path(root)
    problems: list[ArchiveProblem] = []
    heads: dict[tuple[str, int], Segment] = {}
    for seg in read_manifest(root):
        key = (seg.topic, seg.partition)
        prev = heads.get(key)
        label = seg.label
        path = _object_path(root, seg.sha256)
        if not path.exists():
            problems.append(ArchiveProblem(label, "segment file is missing"))
            heads[key] = seg
            continue
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != seg.sha256:
            problems.append(ArchiveProblem(label, f"content hash is {actual}: segment was altered"))
        expected_prev = prev.sha256 if prev else GENESIS
        if seg.prev_sha256 != expected_prev:
            problems.append(ArchiveProblem(label, "hash chain broken: prev_sha256 does not match"))
        if prev is not None and seg.first_offset != prev.last_offset + 1:
            problems.append(
                ArchiveProblem(
                    label,
                    f"gap: previous segment ended at {prev.last_offset},"
                    f" this one starts at {seg.first_offset}",
                )
            )
        try:
            meta, records = _read_segment(root, seg)
        except Exception as exc:  # fastavro raises many types for corrupt files
            problems.append(ArchiveProblem(label, f"unreadable segment: {exc!r}"))
            heads[key] = seg
            continue
        if meta.get("proofstream.prev_sha256") != seg.prev_sha256:
            problems.append(
                ArchiveProblem(label, "file metadata disagrees with the manifest chain")
            )
        offsets = [int(r["offset"]) for r in records]
        if offsets != list(range(seg.first_offset, seg.last_offset + 1)):
            problems.append(ArchiveProblem(label, "offsets inside the segment are not contiguous"))
        heads[key] = seg
    return problems


def read_archive(
    root: Path, covered: Mapping[tuple[str, int], tuple[int, int]]
) -> Iterator[list[SourceRecord]]:
    """Yield the archived records of ``covered`` (inclusive ranges), one chunk per segment.

    Segments are re-hashed on read; a segment that does not match its address
    raises :class:`ConfigError` (run ``proofstream archive verify``).
    """
    root = Path(root)
    for seg in read_manifest(root):
        span = covered.get((seg.topic, seg.partition))
        if span is None or seg.last_offset < span[0] or seg.first_offset > span[1]:
            continue
        data = _object_path(root, seg.sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != seg.sha256:
            raise ConfigError(
                f"archive segment {seg.label} was altered; run `proofstream archive verify`"
            )
        reader = fastavro.reader(io.BytesIO(data))
        out: list[SourceRecord] = []
        for r in reader:
            assert isinstance(r, dict)
            offset = int(r["offset"])
            if span[0] <= offset <= span[1]:
                out.append(
                    (
                        seg.topic,
                        seg.partition,
                        offset,
                        r["key"],
                        r["value"],
                        tuple(r["headers"].items()),
                        int(r["timestamp"]),
                    )
                )
        if out:
            yield out
