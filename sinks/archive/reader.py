"""Reading and verifying the archived log (see :mod:`sinks.archive` for the layout).

Pure readers of the files the :class:`~sinks.archive.store.ArchiveStore` writes:
the manifest, the sealed segments (re-hashed on every read) and the chain check.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import orjson

from schemas.errors import ConfigError
from sinks.base import LogPosition, LogRecord

__all__ = [
    "GENESIS",
    "SEGMENT_SCHEMA",
    "ArchiveProblem",
    "Segment",
    "archived_high",
    "object_path",
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


def object_path(root: Path, sha256: str) -> Path:
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


def _read_segment(root: Path, seg: Segment) -> tuple[dict[str, str], list[dict[str, Any]]]:
    with object_path(root, seg.sha256).open("rb") as handle:
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
        path = object_path(root, seg.sha256)
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
) -> Iterator[list[LogRecord]]:
    """Yield the archived records of ``covered`` (inclusive ranges), one chunk per segment.

    Segments are re-hashed on read; a segment that does not match its address
    raises :class:`ConfigError` (run ``proofstream archive verify``).
    """
    root = Path(root)
    for seg in read_manifest(root):
        span = covered.get((seg.topic, seg.partition))
        if span is None or seg.last_offset < span[0] or seg.first_offset > span[1]:
            continue
        data = object_path(root, seg.sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != seg.sha256:
            raise ConfigError(
                f"archive segment {seg.label} was altered; run `proofstream archive verify`"
            )
        reader = fastavro.reader(io.BytesIO(data))
        out: list[LogRecord] = []
        for r in reader:
            assert isinstance(r, dict)
            offset = int(r["offset"])
            if span[0] <= offset <= span[1]:
                out.append(
                    LogRecord(
                        LogPosition(seg.topic, seg.partition, offset),
                        r["key"],
                        r["value"],
                        tuple(r["headers"].items()),
                        int(r["timestamp"]),
                    )
                )
        if out:
            yield out
