"""Replay: rebuild any projection from the log into a shadow generation, prove it
equals the live one, swap it in; archive the log; redrive the DLQ.

Main flow: :func:`replay.rebuild.plan_rebuild` fixes the range,
:func:`replay.rebuild.rebuild` runs the pure projection into a
:class:`~sinks.generations.Rebuildable`'s shadow, digests, diffs and swaps.
"""

from replay.archive import ArchiveProblem, ArchiveSink, Segment, read_archive, verify_archive
from replay.rebuild import Progress, RebuildPlan, RebuildResult, StartFrom, plan_rebuild, rebuild
from replay.source import Extent, log_extents, read_kafka, replay_consumer
from sinks.generations import Digest, Generation, GenerationStatus, Rebuildable, TableDiff

__all__ = [
    "ArchiveProblem",
    "ArchiveSink",
    "Digest",
    "Extent",
    "Generation",
    "GenerationStatus",
    "Progress",
    "RebuildPlan",
    "RebuildResult",
    "Rebuildable",
    "Segment",
    "StartFrom",
    "TableDiff",
    "log_extents",
    "plan_rebuild",
    "read_archive",
    "read_kafka",
    "rebuild",
    "replay_consumer",
    "verify_archive",
]
