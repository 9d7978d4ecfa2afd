"""A bounded, fsync'd, append-only on-disk spool for records Kafka did not take.

Layout: ``<spool_dir>/<sequence:020d>.seg`` files, read in name order. Each file
is a sequence of frames::

    u32 body length | u32 CRC-32 of body | body
    body = u32 len + key | u32 len + value | u16 header count | (u16 len + name, u32 len + value)*

All integers are big-endian. Every append is written, flushed and ``fsync``'d
before it returns, and creating or removing a segment ``fsync``s the directory,
so a record the spool accepted survives a crash of the process or the machine.
A torn frame at the end of a segment (a crash mid-append) fails its length or
CRC check and is dropped: that append never returned, so its caller was never
told the event was spooled.

Not thread-safe on its own: the producer serialises access with its lock.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from producers.records import Header, OutgoingRecord

__all__ = ["Spool", "SpoolFullError", "SpoolSegment"]

_FRAME = struct.Struct(">II")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_SUFFIX = ".seg"


class SpoolFullError(Exception):
    """The spool would exceed its byte bound; the producer turns this into
    :class:`~schemas.errors.BrokerUnavailableError`."""


@dataclass(frozen=True, slots=True)
class SpoolSegment:
    """One segment file and the records it holds, in append order."""

    path: Path
    records: tuple[OutgoingRecord, ...]


def _header_value(headers: tuple[Header, ...], name: str) -> str:
    for key, value in headers:
        if key == name:
            return value.decode()
    return ""


def _pack(record: OutgoingRecord) -> bytes:
    parts = [_U32.pack(len(record.key)), record.key, _U32.pack(len(record.value)), record.value]
    parts.append(_U16.pack(len(record.headers)))
    for name, value in record.headers:
        raw = name.encode()
        parts += [_U16.pack(len(raw)), raw, _U32.pack(len(value)), value]
    body = b"".join(parts)
    return _FRAME.pack(len(body), zlib.crc32(body)) + body


class _Reader:
    def __init__(self, body: bytes) -> None:
        self._body = body
        self._pos = 0

    def take(self, n: int) -> bytes:
        if self._pos + n > len(self._body):
            raise ValueError("truncated spool frame")
        chunk = self._body[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def u32(self) -> int:
        return int(_U32.unpack(self.take(4))[0])

    def u16(self) -> int:
        return int(_U16.unpack(self.take(2))[0])


def _unpack(body: bytes) -> OutgoingRecord:
    reader = _Reader(body)
    key = reader.take(reader.u32())
    value = reader.take(reader.u32())
    headers: list[Header] = []
    for _ in range(reader.u16()):
        name = reader.take(reader.u16()).decode()
        headers.append((name, reader.take(reader.u32())))
    hdrs = tuple(headers)
    return OutgoingRecord(
        key=key,
        value=value,
        headers=hdrs,
        event_id=_header_value(hdrs, "event-id"),
        event_type=_header_value(hdrs, "event-type"),
    )


def _read_frames(data: bytes) -> Iterator[OutgoingRecord]:
    pos = 0
    while pos + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, pos)
        body = data[pos + _FRAME.size : pos + _FRAME.size + length]
        if len(body) != length or zlib.crc32(body) != crc:
            return  # torn tail of a crashed append: never acknowledged to its caller
        yield _unpack(body)
        pos += _FRAME.size + length


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """The on-disk spool of one producer. See the module docstring for the format.

    ``max_bytes`` bounds the total size of all segments; ``segment_bytes`` is the
    size after which appends go to a new segment (a drained segment is deleted
    whole, so smaller segments mean fewer duplicates after a partial drain).
    """

    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int) -> None:
        self._dir = directory
        self._max = max_bytes
        self._segment_bytes = segment_bytes
        self._dir.mkdir(parents=True, exist_ok=True)
        self._active: Path | None = None

    @property
    def directory(self) -> Path:
        return self._dir

    def _segments(self) -> list[Path]:
        return sorted(self._dir.glob(f"*{_SUFFIX}"))

    def size_bytes(self) -> int:
        """Total bytes on disk, torn tails included."""
        return sum(p.stat().st_size for p in self._segments())

    def is_empty(self) -> bool:
        return not self._segments()

    def append(self, records: list[OutgoingRecord]) -> None:
        """Durably append ``records`` in order; all or nothing with respect to the bound.

        Raises :class:`SpoolFullError` (nothing written) when they do not fit in
        ``max_bytes``, and ``OSError`` when the disk refuses.
        """
        frames = b"".join(_pack(r) for r in records)
        if self.size_bytes() + len(frames) > self._max:
            raise SpoolFullError(
                f"spool {self._dir} would exceed {self._max} B with {len(frames)} B more"
            )
        path = self._active
        if path is None or not path.exists() or path.stat().st_size >= self._segment_bytes:
            existing = self._segments()
            seq = int(existing[-1].stem) + 1 if existing else 1
            path = self._dir / f"{seq:020d}{_SUFFIX}"
            self._active = path
            new_file = True
        else:
            new_file = False
        with path.open("ab") as fh:
            fh.write(frames)
            fh.flush()
            os.fsync(fh.fileno())
        if new_file:
            _fsync_dir(self._dir)

    def segments(self) -> list[SpoolSegment]:
        """Every segment with its records, oldest first. Seals the active segment, so
        records appended from now on go to a new one and a drained segment is final."""
        self._active = None
        return [SpoolSegment(p, tuple(_read_frames(p.read_bytes()))) for p in self._segments()]

    def remove(self, segment: SpoolSegment) -> None:
        """Delete a segment whose every record Kafka acknowledged; durable on return."""
        segment.path.unlink(missing_ok=True)
        _fsync_dir(self._dir)
