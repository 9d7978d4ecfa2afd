"""Generations of the catalog plane: one DataHub Lite file per generation.

The :class:`~sinks.generations.Rebuildable` port for :class:`~sinks.catalog.store.DataHubStore`
(layout and swap in :mod:`sinks.directories`; ``<base>`` is the directory of the
configured Lite file, ``<state_dir>/datahub`` by default):

- **shadow**: the same :class:`~sinks.catalog.store.DataHubStore` class on
  ``<base>/generations/g<N>/lite.sqlite``, seeded with the same platform entities
  (topics, tables, projections) and named like live (the watermark it records is
  the one live reads after a swap). **GMS is never written from a shadow**: a swap
  switches the Lite store only; GMS keeps what the live worker sent it.
- **digest**: :func:`~sinks.catalog.export.aspects_digest` of every latest aspect
  (part ``aspects`` = ``<aspects>:<sha256>``), read with Lite's own
  ``get_all_entities``. Aspects carry no log positions, so the digest **cannot be
  restricted** to a log range: the live digest is comparable only when live applied
  exactly the covered positions (:func:`~sinks.digests.watermark_verdict`), else
  it comes back with ``comparable=False`` and a note.
- **diff**: per ``urn aspect``: added, removed, changed.
- **drop** of generation 0: the Lite file with its WAL and shared-memory files (and
  the watermark file older stores kept beside it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from sinks.catalog.export import aspects_digest, canonical, latest_aspects
from sinks.catalog.lite import open_lite
from sinks.catalog.store import DataHubStore
from sinks.digests import keyed_diff, whole_store_digest
from sinks.directories import DirectoryGenerations
from sinks.generations import Digest, LogRange, TableDiff

__all__ = ["DataHubGenerations"]

_NOTE = "whole catalog: aspects carry no log positions"


class DataHubGenerations(DirectoryGenerations):
    """:class:`~sinks.generations.Rebuildable` for the catalog plane (module docstring).

    ``live`` is the open live store, ``lite_file`` the configured Lite file of
    generation 0, and ``open_shadow(path, name)`` opens a store on a shadow's Lite
    file seeded like live, without GMS (:func:`sinks.catalog.make_plane` binds it).
    """

    def __init__(
        self,
        live: DataHubStore,
        lite_file: Path,
        open_shadow: Callable[[Path, str], DataHubStore],
    ) -> None:
        self._live = live
        self._file = lite_file.name
        self._open = open_shadow
        super().__init__(lite_file.parent, live.name)

    def _open_shadow(self, number: int, directory: Path) -> DataHubStore:
        return self._open(directory / self._file, self._live.name)

    def _read(self, target: int | Literal["live"]) -> list[tuple[str, str, Any]]:
        if self._is_live(target):
            return latest_aspects(self._live.lite)
        lite = open_lite(self.directory(int(target)) / self._file, read_only=True)
        try:
            return latest_aspects(lite)
        finally:
            lite.close()

    def digest(self, target: int | Literal["live"], covered: LogRange) -> Digest:
        """:func:`aspects_digest` of the whole catalog; for live, whether it is comparable
        with a rebuild of ``covered`` (module docstring)."""
        aspects = self._read(target)
        parts = {"aspects": f"{len(aspects)}:{aspects_digest(aspects)}"}
        live = (self._live.watermark(), covered) if self._is_live(target) else None
        return whole_store_digest(parts, {"aspects": len(aspects)}, _NOTE, live)

    def diff(self, number: int, covered: LogRange) -> Sequence[TableDiff]:
        """Aspects per ``urn aspectName``: only in the generation, only live, or changed."""
        del covered  # the whole catalog: see the module docstring

        def keyed(target: int | Literal["live"]) -> dict[str, bytes]:
            return {f"{urn} {name}": canonical(aspect) for urn, name, aspect in self._read(target)}

        return [keyed_diff("aspects", keyed("live"), keyed(number))]

    def _remove_base(self) -> None:
        lite = self.base / self._file
        for path in (
            lite,
            lite.with_name(lite.name + "-wal"),
            lite.with_name(lite.name + "-shm"),
            self.base / f"watermarks.{self.projection_name}.json",  # kept by older stores
        ):
            path.unlink(missing_ok=True)
