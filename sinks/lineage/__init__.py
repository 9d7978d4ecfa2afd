"""The lineage plane: agent runs as portable OpenLineage run/job/dataset events.

One folder (issue #10)::

    settings.py      OpenLineageSettings (pydantic only: imported by proofstream.settings)
    naming.py        run ids (UUIDv5) and dataset names (OL naming spec)        pure
    events.py        LineageEvent, LineageWrites, checkpoint events, the digest  pure
    projection.py    LineageProjection: a batch → LineageWrites                  pure
    facets.py        the custom facet classes on openlineage-python + RunEvents
    transports.py    the client's file (staged) and HTTP transports, the events file
    store.py         OpenLineageStore: emits, dedupes, keeps run → job and the watermark
    generations.py   LineageGenerations: shadow directories, digest, diff, swap
    openlineage_facets/*.json   the custom facets' JSON schemas (package data)

Importing this package is light: openlineage-python is imported only when a
store is opened (:func:`make_plane`'s ``open_store``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sinks.lineage.settings import OpenLineageSettings

if TYPE_CHECKING:
    from sinks.base import Store
    from sinks.generations import Rebuildable
    from sinks.lineage.events import LineageWrites
    from sinks.plane import Plane

__all__ = ["OpenLineageSettings", "make_plane"]


def make_plane(
    settings: OpenLineageSettings, state_dir: Path, kafka_bootstrap: str
) -> Plane[LineageWrites]:
    """The lineage plane: its pure projection, its live store, its generations.

    ``open_store`` opens :class:`~sinks.lineage.store.OpenLineageStore` on the
    live generation (``<state_dir>/openlineage``, or the one a replay swapped in)
    with the transport ``settings`` choose; ``kafka_bootstrap`` names the input
    topics of its checkpoint events. Only the file transport can be rebuilt: with
    an HTTP ``url`` the plane has no ``generations``.
    """
    from sinks.lineage.projection import LineageProjection
    from sinks.plane import Plane

    def open_store() -> Store[LineageWrites]:
        from sinks.lineage.store import OpenLineageStore

        return OpenLineageStore.open(settings, state_dir, kafka_bootstrap=kafka_bootstrap)

    def generations(store: Store[Any]) -> Rebuildable:
        from sinks.lineage.generations import LineageGenerations
        from sinks.lineage.store import OpenLineageStore

        if not isinstance(store, OpenLineageStore):
            raise TypeError(f"lineage generations need the live OpenLineageStore, got {store!r}")
        return LineageGenerations(store, settings, state_dir, kafka_bootstrap=kafka_bootstrap)

    return Plane(
        name="lineage",
        projection=LineageProjection(),
        open_store=open_store,
        generations=None if settings.url else generations,
    )
