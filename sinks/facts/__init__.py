"""The facts plane: ClickHouse proof facts, decoded and projected by ClickHouse itself.

- ``projection`` — :class:`FactsProjection`: a batch's still-encoded records →
  Avro blocks (pure; no event is decoded in Python);
- ``views`` / ``avro_types`` — the SQL half of the projection: landing tables and
  materialized views generated from the Avro schemas;
- ``store`` — :class:`ClickHouseStore` on chDB or a ClickHouse server;
- ``generations`` — shadow tables, digests and ``EXCHANGE TABLES`` for replay;
- ``query`` — bounded, read-only analyst queries on their own connection.

Importing this package loads pydantic only; :func:`make_plane` loads the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sinks.facts.settings import ClickHouseSettings

if TYPE_CHECKING:
    from schemas.codec import EventCodec
    from sinks.facts.projection import FactsWrites
    from sinks.plane import Plane

__all__ = ["ClickHouseSettings", "make_plane"]


def make_plane(
    settings: ClickHouseSettings, state_dir: Path, codec: EventCodec, *, name: str = "facts"
) -> Plane[FactsWrites]:
    """The facts plane bound to ``settings``: its projection, how to open its live
    store, and its generations (shadow tables in the same database)."""
    from sinks.facts.generations import ClickHouseGenerations
    from sinks.facts.projection import FactsProjection
    from sinks.facts.store import ClickHouseStore
    from sinks.plane import Plane

    projection = FactsProjection(codec)

    def generations(store: object) -> ClickHouseGenerations:
        if not isinstance(store, ClickHouseStore):
            raise TypeError("the facts plane's generations need its own store")
        return ClickHouseGenerations(store, codec.catalog, projection.version)

    return Plane(
        name=name,
        projection=projection,
        open_store=lambda: ClickHouseStore.open(settings, state_dir, name=name),
        # shadow tables and EXCHANGE on a cluster are not built yet: rebuild into a
        # new database there (the README says what was and was not run)
        generations=None if settings.cluster else generations,
    )
