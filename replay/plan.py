"""Fix the range of a rebuild: every partition's extent, taken once, *now*.

``plan_rebuild`` is step 1 of a rebuild (:mod:`replay.rebuild` runs the others):
it takes every partition's extent (``get_watermark_offsets``). The range ends at
``high - 1``; it starts at the log start, at the first offset at or after a time
(``offsets_for_times``), or at the archive's first offset, with Kafka reading the
tail after the last sealed segment. The resulting :class:`RebuildPlan` is a
frozen value: records produced after it was taken belong to the live worker.

A plan never leaves a hole: when the archive and Kafka together miss offsets
(deleted from Kafka, never archived), planning fails with :class:`ConfigError`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from producers.settings import KafkaSettings
from replay.source import log_extents, offsets_at, replay_consumer
from schemas.errors import ConfigError
from sinks.archive.reader import read_manifest
from sinks.generations import LogRange

__all__ = ["RebuildPlan", "StartFrom", "plan_rebuild"]


class StartFrom(StrEnum):
    """Where a rebuild starts reading."""

    BEGINNING = "beginning"
    TIME = "time"
    ARCHIVE = "archive"


@dataclass(frozen=True, slots=True)
class RebuildPlan:
    """The fixed range of one rebuild: ``covered`` = ``from_archive`` + ``from_kafka``."""

    topic: str
    start: StartFrom
    covered: LogRange
    from_archive: LogRange
    from_kafka: LogRange
    taken_at_us: int

    @property
    def records(self) -> int:
        """How many offsets the range spans (an upper bound on the records)."""
        return sum(last - first + 1 for first, last in self.covered.values())


def plan_rebuild(
    kafka: KafkaSettings,
    start: StartFrom = StartFrom.BEGINNING,
    *,
    topic: str | None = None,
    from_time_ms: int | None = None,
    archive_root: Path | None = None,
) -> RebuildPlan:
    """Fix the range of a rebuild now (see the module docstring).

    Raises :class:`ConfigError` when the archive and Kafka together leave a hole
    (records deleted from Kafka that were never archived).
    """
    topic = topic or kafka.topics.events
    consumer = replay_consumer(kafka, "plan")
    try:
        extents = log_extents(consumer, topic)
        starts = {p: e.low for p, e in extents.items()}
        if start is StartFrom.TIME:
            if from_time_ms is None:
                raise ConfigError("--from-time needs a time")
            found = offsets_at(consumer, topic, sorted(extents), from_time_ms)
            starts = {p: (o if o >= 0 else extents[p].high) for p, o in found.items()}
    finally:
        consumer.close()
    from_archive: dict[tuple[str, int], tuple[int, int]] = {}
    from_kafka: dict[tuple[str, int], tuple[int, int]] = {}
    covered: dict[tuple[str, int], tuple[int, int]] = {}
    archived: dict[int, tuple[int, int]] = {}
    if start is StartFrom.ARCHIVE:
        if archive_root is None:
            raise ConfigError("--from-archive needs the archive directory")
        archived = _archived_spans(archive_root, topic)
    for partition, extent in sorted(extents.items()):
        key = (topic, partition)
        last = extent.high - 1
        begin = starts[partition]
        if partition in archived:
            a_first, a_last = archived[partition][0], min(archived[partition][1], last)
            from_archive[key] = (a_first, a_last)
            begin = a_first
            tail = a_last + 1
            if tail <= last:
                if tail < extent.low:
                    raise ConfigError(
                        f"{topic}/{partition}: offsets {tail}..{extent.low - 1} are neither"
                        " archived nor in Kafka any more"
                    )
                from_kafka[key] = (tail, last)
        elif begin <= last:
            from_kafka[key] = (begin, last)
        if begin <= last:
            covered[key] = (begin, last)
    return RebuildPlan(topic, start, covered, from_archive, from_kafka, time.time_ns() // 1000)


def _archived_spans(root: Path, topic: str) -> dict[int, tuple[int, int]]:
    """First and last sealed offset per partition of ``topic`` in the archive."""
    spans: dict[int, tuple[int, int]] = {}
    for seg in read_manifest(root):
        if seg.topic == topic:
            first = spans.get(seg.partition, (seg.first_offset, 0))[0]
            spans[seg.partition] = (first, seg.last_offset)
    return spans
