"""Generations of the identity plane: one Oxigraph directory per generation.

The :class:`~sinks.generations.Rebuildable` port for
:class:`sinks.identity.store.RdfStore` (embedded Oxigraph only; layout and swap in
:mod:`sinks.directories`):

- **shadow**: an :class:`~sinks.identity.store.RdfStore` opened on
  ``<state_dir>/rdf/generations/g<N>/`` — the same store class as live, fed by the
  same pure projection, with live's name, so its watermark triples are the ones
  live reads after a swap. Oxigraph locks a directory per process, not a store
  per process: live and shadow are open side by side in the rebuilding process.
  A pyoxigraph store may be used from any thread, so the shadow is the store
  itself, not confined to a thread of its own.
- **digest**: :func:`~sinks.identity.vocabulary.canonical_digest` of the whole graph (part
  ``graph`` = ``<triples>:<sha256>``). Identity triples carry no log positions
  and one triple may come from many events, so the digest **cannot be
  restricted** to a log range. The live digest is therefore comparable only when
  live applied exactly the covered positions
  (:func:`~sinks.digests.watermark_verdict`: the range starts at offset
  0 and live's watermark equals its high offsets); otherwise it is returned with
  ``comparable=False`` and a note saying why, never as a false "differ".
- **diff**: the N-Triples lines each graph has and the other has not (whole
  graphs, in memory: fine for a verify, heavy for a very large graph).
- **swap**: the ``current`` pointer (see :mod:`sinks.directories`).
- **drop** of generation 0: every entry of ``<state_dir>/rdf`` but ``generations/``.

A SPARQL endpoint (``RdfSettings.dsn``) has no directories: not supported
(:class:`ConfigError`); a rebuild there would need a named graph per generation.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from schemas.errors import ConfigError
from sinks.digests import keyed_diff, whole_store_digest
from sinks.directories import GENERATIONS_DIR, DirectoryGenerations
from sinks.generations import Digest, LogRange, TableDiff
from sinks.identity.projection import PROJECTION_VERSION
from sinks.identity.settings import RdfSettings
from sinks.identity.store import RdfStore
from sinks.identity.vocabulary import Triple, canonical_digest, ntriples_line

__all__ = ["RdfGenerations"]

_NOTE = "whole graph: identity triples carry no log positions"


class RdfGenerations(DirectoryGenerations):
    """:class:`~sinks.generations.Rebuildable` for the identity plane (module docstring).

    ``live`` is the open live store (the pointer's generation); ``settings`` and
    ``state_dir`` are the ones it was opened with. Raises :class:`ConfigError` for a
    SPARQL endpoint.
    """

    projection_version = PROJECTION_VERSION

    def __init__(self, live: RdfStore, settings: RdfSettings, state_dir: Path) -> None:
        if settings.dsn is not None:
            raise ConfigError(
                "identity generations need the embedded Oxigraph store; a SPARQL endpoint"
                " (rdf.dsn) is not rebuildable yet"
            )
        self._live = live
        self._settings = settings
        self._state_dir = Path(state_dir)
        super().__init__(self._state_dir / "rdf", live.name)

    def open_shadow(self, number: int) -> RdfStore:
        """The live store class on generation ``number``'s own Oxigraph directory.

        Not confined to a thread (:class:`~sinks.directories.ConfinedStore`): a
        pyoxigraph store may be used from any thread, unlike a SQLite connection.
        """
        return self._open_shadow(number, self._shadow_dir(number))

    def _open_shadow(self, number: int, directory: Path) -> RdfStore:
        """An :class:`RdfStore` on generation ``number``'s own Oxigraph directory."""
        del number  # the directory is the generation
        return RdfStore.open(
            self._settings, self._state_dir, name=self._live.name, directory=directory
        )

    def _triples(self, target: int | Literal["live"]) -> list[Triple]:
        if self._is_live(target):
            return list(self._live.triples())
        store = self._open_shadow(int(target), self.directory(int(target)))
        try:
            return list(store.triples())
        finally:
            store.close()

    def digest(self, target: int | Literal["live"], covered: LogRange) -> Digest:
        """The whole graph's canonical digest; for live, whether it is comparable with a
        rebuild of ``covered`` (module docstring)."""
        triples = self._triples(target)
        count = len(set(triples))
        parts = {"graph": f"{count}:{canonical_digest(triples)}"}
        live = (self._live.watermark(), covered) if self._is_live(target) else None
        return whole_store_digest(parts, {"graph": count}, _NOTE, live)

    def diff(self, number: int, covered: LogRange) -> Sequence[TableDiff]:
        """Triples only the generation has (added) and only live has (removed)."""
        del covered  # whole graphs: see the module docstring
        live = {ntriples_line(t): b"" for t in self._triples("live")}
        shadow = {ntriples_line(t): b"" for t in self._triples(number)}
        return [keyed_diff("graph", live, shadow)]

    def _remove_base(self) -> None:
        for entry in self.base.iterdir():
            if entry.name == GENERATIONS_DIR:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
