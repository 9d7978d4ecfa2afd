"""Sinks: the planes, each a pure projection beside the store it writes to.

The core contract is here (``sinks.base``: records, batches, the ``Projection``
and ``Store`` protocols; ``sinks.decode``: the one decode step; ``sinks.plane``:
the ``Plane`` value the registry lists). Each plane is a folder of its own
(``sinks.facts``, ``sinks.identity``, ``sinks.catalog``, ``sinks.evidence``,
``sinks.lineage``, ``sinks.archive``) holding its projection, its store and its
generations; import them explicitly, so a process loads only the client
libraries of the planes it runs.
"""

from __future__ import annotations

from sinks.base import (
    Batch,
    Encoded,
    Input,
    LoggedEvent,
    LogPosition,
    LogRecord,
    Projection,
    Store,
    Watermark,
    advance,
    high_offsets,
)
from sinks.decode import Decoded, Needs, Rejection, decode
from sinks.memory import MemoryProjection, MemoryStore
from sinks.plane import Plane
from sinks.store import StoreBase

__all__ = [
    "Batch",
    "Decoded",
    "Encoded",
    "Input",
    "LogPosition",
    "LogRecord",
    "LoggedEvent",
    "MemoryProjection",
    "MemoryStore",
    "Needs",
    "Plane",
    "Projection",
    "Rejection",
    "Store",
    "StoreBase",
    "Watermark",
    "advance",
    "decode",
    "high_offsets",
]
