"""Replay: rebuild any plane from the log into a shadow generation, prove it equals
the live one, swap it in; read the archived log; redrive the DLQ.

Main flow: :func:`replay.plan.plan_rebuild` fixes the range,
:func:`replay.rebuild.rebuild` runs the plane's pure projection into its
:class:`~sinks.generations.Rebuildable`'s shadow store, digests, diffs and swaps.
"""

from replay.plan import RebuildPlan, StartFrom, plan_rebuild
from replay.rebuild import Progress, RebuildResult, rebuild
from replay.source import Extent, log_extents, read_kafka, replay_consumer
from sinks.generations import Digest, Generation, GenerationStatus, Rebuildable, TableDiff

__all__ = [
    "Digest",
    "Extent",
    "Generation",
    "GenerationStatus",
    "Progress",
    "RebuildPlan",
    "RebuildResult",
    "Rebuildable",
    "StartFrom",
    "TableDiff",
    "log_extents",
    "plan_rebuild",
    "read_kafka",
    "rebuild",
    "replay_consumer",
]
