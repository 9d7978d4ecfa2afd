"""The embedded backend of the identity store: an Oxigraph (RocksDB) directory, via pyoxigraph.

Writes use Oxigraph's bulk path: ``Store.bulk_load`` of N-Quads in the canonical
form of :func:`~sinks.identity.vocabulary.ntriples_line` (cheaper in Python than
building pyoxigraph terms). Up to a million quads, one call becomes one set of
sorted SST files, one per index, that RocksDB *ingests* in one step: it syncs the
files and its manifest before returning, so the quads are durable when
:meth:`OxigraphBackend.insert` returns, without a memtable flush. The
transactional path (``Store.extend``) goes through the write-ahead log, which
Oxigraph does not sync: making it durable takes ``Store.flush()``, which writes
every index's memtable to new files, and measured on the simulated workload
(checkpoints of 2000 events) extend + flush was several times slower than the
bulk path and slowed down as the store grew, while the bulk path stayed flat.

One process may open a directory read-write at a time: opening it while another
holds it raises :class:`SinkUnavailableError`. Dropping the last reference to the
pyoxigraph store releases the lock: query results are read whole, and only a
:meth:`OxigraphBackend.triples` iterator that is still being read holds it.
A pyoxigraph store may be used from any thread. A query the engine refuses raises
:class:`InvalidQueryError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from schemas.errors import InvalidQueryError, PermanentError, SinkUnavailableError
from sinks.identity.vocabulary import Lit, Term, Triple, ntriples_line

__all__ = ["OxigraphBackend"]


def term_of(node: Any) -> Term | None:
    """A pyoxigraph term as a projection term (None for an unbound variable)."""
    if node is None:
        return None
    if isinstance(node, ox.Literal):
        return Lit(node.value, node.datatype.value)
    return str(node.value)


class OxigraphBackend:
    """An open Oxigraph directory (see the module docstring). ``name`` labels errors."""

    def __init__(self, directory: Path, name: str) -> None:
        self._name = name
        directory.mkdir(parents=True, exist_ok=True)
        try:
            self._store: ox.Store | None = ox.Store(str(directory))
        except OSError as exc:
            raise SinkUnavailableError(name, f"cannot open Oxigraph at {directory}: {exc}") from exc

    def _open(self) -> ox.Store:
        if self._store is None:
            raise SinkUnavailableError(self._name, "Oxigraph store is closed", retry_after=0.0)
        return self._store

    def encode(self, triples: Iterable[Triple], graph: str) -> list[bytes]:
        """``triples`` in ``graph`` as one chunk of N-Quads (UTF-8). Raises
        :class:`PermanentError` for text that is not UTF-8 (a lone surrogate)."""
        suffix = f" <{graph}> .\n"
        # an N-Triples line ends in " ." and an N-Quads line adds the graph before it
        text = "".join([ntriples_line(t)[:-2] + suffix for t in triples])
        try:
            return [text.encode("utf-8")]
        except UnicodeEncodeError as exc:
            raise PermanentError(f"{self._name}: not RDF text: {exc}") from exc

    def insert(self, encoded: Sequence[Any]) -> None:
        """Add the N-Quads chunks :meth:`encode` made; durable when this returns."""
        data = b"".join(encoded)
        if not data:
            return
        store = self._open()
        try:
            store.bulk_load(data, ox.RdfFormat.N_QUADS)
        except SyntaxError as exc:  # the projection's IRIs are always valid: a bug
            raise PermanentError(f"{self._name}: Oxigraph refused the triples: {exc}") from exc
        except OSError as exc:
            raise SinkUnavailableError(self._name, f"writing quads failed: {exc}") from exc

    def update(self, sparql: str) -> None:
        """Run a SPARQL update in one transaction. Not synced: it is durable once RocksDB
        next flushes its memtable (the store only prunes old watermark values with it)."""
        store = self._open()
        try:
            store.update(sparql)
        except (SyntaxError, ValueError) as exc:
            raise InvalidQueryError(sparql, f"{self._name}: {exc}") from exc
        except OSError as exc:
            raise SinkUnavailableError(self._name, f"update failed: {exc}") from exc

    def select(self, sparql: str, default_graph: str | None) -> list[tuple[Term | None, ...]]:
        """Rows of a SPARQL SELECT; ``default_graph`` names the graph that patterns
        outside ``GRAPH`` match (None: Oxigraph's default graph)."""
        store = self._open()
        try:
            graph = None if default_graph is None else ox.NamedNode(default_graph)
            solutions = store.query(sparql, default_graph=graph)
            if not isinstance(solutions, ox.QuerySolutions):
                raise InvalidQueryError(sparql, f"{self._name}: not a SELECT query")
            names = [v.value for v in solutions.variables]
            return [tuple(term_of(row[n]) for n in names) for row in solutions]
        except (SyntaxError, ValueError) as exc:
            raise InvalidQueryError(sparql, f"{self._name}: {exc}") from exc
        except OSError as exc:
            raise SinkUnavailableError(self._name, f"query failed: {exc}") from exc

    def triples(self, graph: str) -> Iterator[Triple]:
        """Every triple of ``graph``."""
        quads = self._open().quads_for_pattern(None, None, None, ox.NamedNode(graph))
        for quad in quads:
            subject, obj = term_of(quad.subject), term_of(quad.object)
            # the graph has no blank nodes and no quoted triples: IRIs and literals only
            assert isinstance(subject, str) and obj is not None
            yield (subject, quad.predicate.value, obj)

    def close(self) -> None:
        """Release the directory (and its lock). Idempotent."""
        self._store = None
