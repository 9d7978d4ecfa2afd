"""The embedded backend of the identity store: an Oxigraph (RocksDB) directory, via pyoxigraph.

A checkpoint is made durable by appending its quads, as N-Quads in the canonical
form of :func:`~sinks.identity.vocabulary.ntriples_line`, to a journal in the
same directory (:class:`~sinks.identity.journal.Journal`, ``journal.nq``) and
fsyncing it. The journal is loaded into Oxigraph in one bulk ingestion
(``Store.bulk_load``) once it holds ``_APPLY_BYTES``, before anything reads or
updates the store, when the store closes, and when it opens (a crash left it
unapplied); then it is emptied. Loading twice is harmless: set semantics.

Why not write each checkpoint into Oxigraph directly: durability there takes
either a bulk ingestion per checkpoint (one set of small files per index, which
RocksDB's compaction then merges into everything stored so far, since the keys
are hashes: the cost per checkpoint grows with the store) or a transaction plus
``Store.flush()`` (Oxigraph does not sync its write-ahead log; the flush writes
every index's memtable to new files: the same growth, and slower). The journal
makes a checkpoint an fsynced append, and gives RocksDB one large ingestion per
``_APPLY_BYTES`` instead of one per checkpoint, so compaction runs a dozen times
less often (checkpoints of 2000 simulated events); it still grows with the store,
as each load is merged into everything stored. A load takes a few hundred
milliseconds of the checkpoint that triggers it.

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
from typing import Any, Final

import pyoxigraph as ox

from schemas.errors import InvalidQueryError, PermanentError, SinkUnavailableError
from sinks.identity.journal import Journal
from sinks.identity.sparql import rdflib_term
from sinks.identity.vocabulary import Lit, Term, Triple, ntriples_line

__all__ = ["JOURNAL", "OxigraphBackend"]

JOURNAL: Final = "journal.nq"
"""The journal's file name in the Oxigraph directory."""
_APPLY_BYTES: Final = 8 << 20
"""Journal size that triggers a bulk load into Oxigraph (about 25k simulated events)."""


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
        try:
            self._journal = Journal(directory / JOURNAL)
        except OSError as exc:
            self._store = None
            raise SinkUnavailableError(name, f"cannot open the journal: {exc}") from exc
        try:
            self._apply()  # what a previous process journaled and did not load
        except (SinkUnavailableError, PermanentError) as exc:
            self._journal.close()
            self._store = None
            raise SinkUnavailableError(name, f"cannot load the journal: {exc}") from exc

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
        """Journal the N-Quads chunks :meth:`encode` made, as one block; durable when
        this returns. Loads the journal into Oxigraph when it is big enough."""
        data = b"".join(encoded)
        if not data:
            return
        self._open()
        try:
            self._journal.append(data)
        except OSError as exc:
            raise SinkUnavailableError(self._name, f"journal write failed: {exc}") from exc
        if self._journal.size >= _APPLY_BYTES:
            self._apply()

    def _apply(self) -> None:
        """Load the journal's complete blocks into Oxigraph in one bulk ingestion, then
        empty it. An ingestion syncs its files before it returns."""
        if not self._journal.size:
            return
        store = self._open()
        try:
            store.bulk_load(self._journal.read(), ox.RdfFormat.N_QUADS)
            self._journal.clear()
        except SyntaxError as exc:  # the projection's IRIs are always valid: a bug
            raise PermanentError(f"{self._name}: Oxigraph refused the journal: {exc}") from exc
        except OSError as exc:
            raise SinkUnavailableError(self._name, f"loading the journal failed: {exc}") from exc

    def update(self, sparql: str) -> None:
        """Run a SPARQL update in one transaction, after the journal is loaded. Not
        synced: it is durable once RocksDB next flushes its memtable (the store only
        prunes old watermark values with it)."""
        self._apply()
        store = self._open()
        try:
            store.update(sparql)
        except (SyntaxError, ValueError) as exc:
            raise InvalidQueryError(sparql, f"{self._name}: {exc}") from exc
        except OSError as exc:
            raise SinkUnavailableError(self._name, f"update failed: {exc}") from exc

    def select(self, sparql: str, default_graph: str | None) -> list[tuple[Term | None, ...]]:
        """Rows of a SPARQL SELECT, through rdflib's ``Graph`` over oxrdflib's
        ``OxigraphStore`` on this very store (the standard RDF API; Oxigraph evaluates
        the query); ``default_graph`` names the graph patterns outside ``GRAPH`` match.
        Loads the journal first."""
        from oxrdflib import OxigraphStore
        from rdflib import Graph, URIRef
        from rdflib.query import ResultException

        self._apply()
        store = self._open()
        identifier = URIRef(default_graph) if default_graph is not None else None
        graph = Graph(store=OxigraphStore(store=store), identifier=identifier)
        try:
            result = graph.query(sparql)
            if result.type != "SELECT":
                raise InvalidQueryError(sparql, f"{self._name}: not a SELECT query")
            return [tuple(rdflib_term(value) for value in row) for row in result]  # type: ignore[union-attr]
        except (SyntaxError, ValueError, ResultException) as exc:
            raise InvalidQueryError(sparql, f"{self._name}: {exc}") from exc
        except OSError as exc:
            raise SinkUnavailableError(self._name, f"query failed: {exc}") from exc
        finally:
            # the rdflib graph holds the store: drop it, or the directory's lock
            # outlives close()
            graph.store.close()
            del graph

    def triples(self, graph: str) -> Iterator[Triple]:
        """Every triple of ``graph`` (the journal is loaded first)."""
        self._apply()
        quads = self._open().quads_for_pattern(None, None, None, ox.NamedNode(graph))
        for quad in quads:
            subject, obj = term_of(quad.subject), term_of(quad.object)
            # the graph has no blank nodes and no quoted triples: IRIs and literals only
            assert isinstance(subject, str) and obj is not None
            yield (subject, quad.predicate.value, obj)

    def close(self) -> None:
        """Load the journal, so the directory alone holds the graph for any reader, and
        release the directory (and its lock). Idempotent; a failed load leaves the
        journal to the next open."""
        if self._store is None:
            return
        try:
            self._apply()
        except (SinkUnavailableError, PermanentError):
            pass  # durable in the journal: the next open loads it
        finally:
            self._journal.close()
            self._store = None
