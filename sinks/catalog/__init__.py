"""The catalog plane: agent-action events → DataHub entities and aspects.

One folder, three parts (the layout every plane follows):

- :mod:`sinks.catalog.projection`: the pure ``CatalogProjection`` (batch → DataHub
  aspect proposals), with its URNs (:mod:`~sinks.catalog.urns`), per-event handlers
  (:mod:`~sinks.catalog.handlers`), the aspects they state as recipes
  (:mod:`~sinks.catalog.aspects`) and the platform's own entities
  (:mod:`~sinks.catalog.platform`);
- :mod:`sinks.catalog.store`: ``DataHubStore``, DataHub Lite on disk (+ GMS), which
  builds each aspect as it writes it and writes only changed ones, one transaction per
  batch, validated (:mod:`~sinks.catalog.validation`) and converted
  (:mod:`~sinks.catalog.aspect_json`) with checks compiled once per schema;
- :mod:`sinks.catalog.generations`: shadow generations for replay, the same store
  class on another Lite file.

Importing this package is light (pydantic only): DataHub's libraries are imported
by :func:`make_plane` and by the modules above, so the producer-side install can
read :class:`DataHubSettings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sinks.catalog.settings import DataHubSettings

if TYPE_CHECKING:
    from sinks.catalog.context import Proposal
    from sinks.plane import Plane

__all__ = ["DataHubSettings", "make_plane"]


def make_plane(
    settings: DataHubSettings, state_dir: Path, topics: Sequence[str]
) -> Plane[Sequence[Proposal]]:
    """The catalog plane: its projection, how to open its live store (the Lite file of
    the live generation, seeded with the platform's entities for ``topics``, plus the
    GMS emitter when ``settings.gms_url`` is set) and its generations.

    Raises :class:`~schemas.errors.ConfigError` for a GMS URL that is not http(s).
    """
    from schemas.catalog import load_catalog
    from schemas.errors import ConfigError
    from sinks.base import Store
    from sinks.catalog.export import lite_path
    from sinks.catalog.generations import DataHubGenerations
    from sinks.catalog.projection import CatalogProjection
    from sinks.catalog.store import DataHubStore, Emitter
    from sinks.generations import Rebuildable
    from sinks.plane import Plane

    if settings.gms_url is not None and not settings.gms_url.startswith(("http://", "https://")):
        raise ConfigError(f"DataHub GMS URL must be http(s)://: {settings.gms_url!r}")
    projection = CatalogProjection(settings.env)
    topics = tuple(topics)

    def seed() -> list[Proposal]:
        return projection.platform(topics, load_catalog())

    def emitter() -> Emitter | None:
        if settings.gms_url is None:
            return None
        from datahub.emitter.rest_emitter import DatahubRestEmitter

        token = settings.token.get_secret_value() if settings.token else None
        return DatahubRestEmitter(gms_server=settings.gms_url, token=token)

    def open_store() -> DataHubStore:
        return DataHubStore.open(
            lite_path(settings, state_dir), name=projection.name, emitter=emitter(), seed=seed()
        )

    def open_shadow(path: Path, name: str) -> DataHubStore:
        return DataHubStore.open(path, name=name, seed=seed())  # never GMS

    def generations(store: Store[Sequence[Proposal]]) -> Rebuildable:
        if not isinstance(store, DataHubStore):
            raise TypeError(f"not the catalog's store: {store!r}")
        return DataHubGenerations(store, settings.lite_file_in(state_dir), open_shadow)

    return Plane(projection.name, projection, open_store, generations)
