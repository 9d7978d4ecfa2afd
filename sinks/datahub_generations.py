"""Generations of the catalog plane: one DataHub Lite file per generation.

The :class:`~sinks.generations.Rebuildable` port for :class:`sinks.datahub.DataHubSink`
(layout and swap in :mod:`sinks.directories`; ``<base>`` is the directory of
the configured Lite file, ``<state_dir>/datahub`` by default):

- **shadow**: a :class:`~sinks.datahub.DataHubSink` opened with
  :meth:`~sinks.datahub.DataHubSink.open` on ``<base>/generations/g<N>/lite.sqlite``
  — the same sink, the same pure :class:`~sinks.catalog.CatalogProjection` and the
  same platform entities (topics, tables, dataJobs) as live, with live's name (its
  watermark file is the one live reads after a swap). **GMS is never written from
  a shadow**: the shadow's settings drop ``gms_url``; a swap switches the Lite
  store only, GMS keeps what the live worker sent it.
- **digest**: :func:`~sinks.catalog.aspects_digest` of every aspect (part
  ``aspects`` = ``<aspects>:<sha256>``). Aspects are whole-aspect upserts with no
  log positions, so the digest **cannot be restricted** to a log range; the live
  digest is comparable only when live applied exactly the covered positions
  (:func:`~sinks.directories.watermark_verdict`), else it comes back with
  ``comparable=False`` and a note.
- **diff**: per ``(urn, aspect)``: added, removed, changed.
- **drop** of generation 0: the Lite file (with its WAL and shared-memory files)
  and the watermark file in ``<base>``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from datahub.lite.lite_local import DataHubLiteLocal

from sinks.catalog import aspects_digest
from sinks.datahub import DataHubSettings, DataHubSink, open_lite
from sinks.directories import (
    DirectoryGenerations,
    combine_parts,
    keyed_diff,
    watermark_verdict,
)
from sinks.generations import Digest, LogRange, TableDiff

__all__ = ["DataHubGenerations"]

_NOTE = "whole catalog: aspects carry no log positions"


def _aspects(lite: DataHubLiteLocal[Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (str(m.entityUrn), str(m.aspectName), dict(m.aspect.to_obj()))
        for m in lite.get_all_aspects()
        if m.aspect is not None
    ]


class DataHubGenerations(DirectoryGenerations):
    """:class:`~sinks.generations.Rebuildable` for the catalog plane (module docstring).

    ``live`` is the open live sink; ``settings``, ``state_dir`` and ``topics`` are the
    ones it was opened with (the shadow seeds the same platform entities).
    """

    projection_version = 1
    """The catalog projection has no version number of its own yet."""

    def __init__(
        self,
        live: DataHubSink,
        settings: DataHubSettings,
        state_dir: Path,
        topics: Sequence[str],
    ) -> None:
        configured = settings.lite_file or Path(state_dir) / "datahub" / "lite.sqlite"
        self._live = live
        self._settings = settings
        self._state_dir = Path(state_dir)
        self._topics = tuple(topics)
        self._file = configured.name
        super().__init__(configured.parent, live.name)

    def _open_shadow(self, number: int, directory: Path) -> DataHubSink:
        """A :class:`DataHubSink` on generation ``number``'s own Lite file, without GMS."""
        shadow = self._settings.model_copy(
            update={"gms_url": None, "token": None, "lite_file": directory / self._file}
        )
        return DataHubSink.open(shadow, self._state_dir, name=self._live.name, topics=self._topics)

    def _read(self, target: int | Literal["live"]) -> list[tuple[str, str, dict[str, Any]]]:
        if self._is_live(target):
            return _aspects(self._live.lite)
        lite = open_lite(self.directory(int(target)) / self._file, read_only=True)
        try:
            return _aspects(lite)
        finally:
            lite.close()

    def digest(self, target: int | Literal["live"], covered: LogRange) -> Digest:
        """:func:`aspects_digest` of the whole catalog; for live, whether it is comparable
        with a rebuild of ``covered`` (module docstring)."""
        aspects = self._read(target)
        parts = {"aspects": f"{len(aspects)}:{aspects_digest(aspects)}"}
        rows = {"aspects": len(aspects)}
        combined = combine_parts(parts)
        if self._is_live(target):
            why = watermark_verdict(self._live.watermark(), covered)
            if why is not None:
                return Digest(
                    f"not-comparable:{combined}",
                    parts,
                    rows,
                    note=f"{_NOTE}; live is not comparable with this rebuild: {why}",
                    comparable=False,
                )
        return Digest(combined, parts, rows, note=_NOTE)

    def diff(self, number: int, covered: LogRange) -> Sequence[TableDiff]:
        """Aspects per ``urn aspectName``: only in the generation, only live, or changed."""
        del covered  # the whole catalog: see the module docstring

        def keyed(target: int | Literal["live"]) -> dict[str, bytes]:
            return {
                f"{urn} {name}": json.dumps(aspect, sort_keys=True).encode()
                for urn, name, aspect in self._read(target)
            }

        return [keyed_diff("aspects", keyed("live"), keyed(number))]

    def _remove_base(self) -> None:
        lite = self.base / self._file
        for path in (
            lite,
            lite.with_name(lite.name + "-wal"),
            lite.with_name(lite.name + "-shm"),
            self.base / f"watermarks.{self.projection_name}.json",
        ):
            path.unlink(missing_ok=True)
