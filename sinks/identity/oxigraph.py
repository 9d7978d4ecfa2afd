"""The embedded backend of the identity store: an Oxigraph (RocksDB) directory, through pyoxigraph.

Writes use Oxigraph's bulk path (``Store.bulk_extend``): the quads of one
checkpoint become sorted SST files that RocksDB *ingests*. Ingestion syncs the
files and the manifest before it returns, so the quads are durable when
:meth:`OxigraphBackend.insert` returns, with no memtable flush. A transaction
(``Store.extend``) would go to the write-ahead log, which Oxigraph does not sync:
making it durable takes ``Store.flush()``, which writes every column family's
memtable to new files on every checkpoint; measured on the simulated workload
that is several times slower, and slower as the store grows. Bulk writes are not
atomic, which the plane does not need: they are idempotent and the watermark is
written after the data it covers.

One process may open a directory read-write at a time: opening it while another
holds it raises :class:`SinkUnavailableError`. Dropping the last reference to the
pyoxigraph store releases the lock: query results are read whole, and only a
:meth:`OxigraphBackend.triples` iterator that is still being read holds it.
A query the engine refuses raises :class:`InvalidQueryError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from schemas.errors import InvalidQueryError, PermanentError, SinkUnavailableError
from sinks.identity.vocabulary import XSD_STRING, Lit, Term, Triple

__all__ = ["OxigraphBackend"]

_NODE_CACHE = 50_000
"""IRIs kept as parsed pyoxigraph nodes (vocabulary terms and recent subjects);
past this the cache starts over. A node costs an IRI parse to build."""


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
        self._nodes: dict[str, ox.NamedNode] = {}

    def _open(self) -> ox.Store:
        if self._store is None:
            raise SinkUnavailableError(self._name, "Oxigraph store is closed", retry_after=0.0)
        return self._store

    def _node(self, iri: str) -> ox.NamedNode:
        node = self._nodes.get(iri)
        if node is None:
            if len(self._nodes) >= _NODE_CACHE:
                self._nodes.clear()
            node = self._nodes[iri] = ox.NamedNode(iri)
        return node

    def encode(self, triples: Iterable[Triple], graph: str) -> list[ox.Quad]:
        """``triples`` as quads in ``graph``. Raises :class:`PermanentError` for a term
        Oxigraph refuses (the projection's IRIs are always valid: a bug)."""
        node = self._node
        g = node(graph)
        quads = []
        try:
            for s, p, o in triples:
                if isinstance(o, Lit):
                    obj: ox.NamedNode | ox.Literal = (
                        ox.Literal(o.value)
                        if o.datatype == XSD_STRING
                        else ox.Literal(o.value, datatype=node(o.datatype))
                    )
                else:
                    obj = node(o)
                quads.append(ox.Quad(node(s), node(p), obj, g))
        except ValueError as exc:
            raise PermanentError(f"{self._name}: not an RDF term: {exc}") from exc
        return quads

    def insert(self, encoded: Sequence[Any]) -> None:
        """Add the quads :meth:`encode` made; durable when this returns."""
        if not encoded:
            return
        try:
            self._open().bulk_extend(encoded)
        except OSError as exc:
            raise SinkUnavailableError(self._name, f"writing quads failed: {exc}") from exc

    def update(self, sparql: str) -> None:
        """Run a SPARQL update (one transaction; durable with the next write)."""
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
            graph = None if default_graph is None else self._node(default_graph)
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
        quads = self._open().quads_for_pattern(None, None, None, self._node(graph))
        for quad in quads:
            subject, obj = term_of(quad.subject), term_of(quad.object)
            # the graph has no blank nodes and no quoted triples: IRIs and literals only
            assert isinstance(subject, str) and obj is not None
            yield (subject, quad.predicate.value, obj)

    def close(self) -> None:
        """Release the directory (and its lock). Idempotent."""
        self._store = None
        self._nodes.clear()
