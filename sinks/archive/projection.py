"""``ArchiveProjection``: every record off the log, as the archive stores it. Pure.

The archive is the log itself, so it reads raw records (``Input.RAW``), the ones
no other plane may apply included, and keeps key, value and headers byte for
byte. Header keys become a map: a repeated header key keeps its last value.
"""

from __future__ import annotations

from sinks.archive.store import ArchiveWrites
from sinks.base import Batch, Input

__all__ = ["ArchiveProjection"]


class ArchiveProjection:
    """Raw records → segment rows, in batch order."""

    name = "archive"
    version = 1
    reads: frozenset[str] | None = None
    input = Input.RAW

    def project(self, batch: Batch) -> ArchiveWrites:
        return ArchiveWrites(
            tuple(
                (
                    r.position.topic,
                    r.position.partition,
                    {
                        "offset": r.position.offset,
                        "timestamp": r.timestamp_ms or 0,
                        "key": r.key,
                        "value": r.value,
                        "headers": dict(r.headers),
                    },
                )
                for r in batch.raw
            )
        )
