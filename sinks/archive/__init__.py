"""The archive plane: the event log copied into hash-chained Avro segments, so
rebuilds outlive Kafka retention (layout in :mod:`sinks.archive.store`).

- ``projection`` — :class:`ArchiveProjection` (raw records → segment rows, pure);
- ``store`` — :class:`ArchiveStore` (sealing, the manifest chain, the pending tail);
- ``reader`` — reading and verifying the archive (``read_archive``, ``verify_archive``).

The archive is the log, not a projection of it: replay reads it, it is not rebuilt.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sinks.archive.store import ArchiveWrites
    from sinks.plane import Plane

__all__ = ["make_plane"]


def make_plane(root: Path, *, name: str = "archive") -> Plane[ArchiveWrites]:
    """The archive plane writing under ``root`` (``<state_dir>/archive``)."""
    from sinks.archive.projection import ArchiveProjection
    from sinks.archive.store import ArchiveStore
    from sinks.plane import Plane

    return Plane(
        name=name,
        projection=ArchiveProjection(),
        open_store=lambda: ArchiveStore(root, name=name),
    )
