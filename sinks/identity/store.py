"""``RdfStore``: the identity plane's store, on embedded Oxigraph or a SPARQL 1.1 endpoint.

The Recorder half of the plane (the Mapper is
:class:`sinks.identity.projection.IdentityProjection`). It only persists triples
and its watermark, through a backend that knows one kind of store:

- **embedded** (``RdfSettings.dsn`` unset): an Oxigraph directory,
  ``<state_dir>/rdf`` or the generation a replay swapped in
  (:func:`sinks.directories.live_dir`); :mod:`sinks.identity.oxigraph`;
- **SPARQL 1.1** (``sparql+http(s)://…``): :mod:`sinks.identity.sparql`.

Data lives in one named graph with a fixed identifier (``RdfSettings.graph``),
so every process sees the same graph; the watermark lives in the same store, in
``<graph>/watermarks``: per ``(topic, partition)`` the subject
``<graph>/watermarks/<store name>/<topic>/<partition>`` with ``fo:appliedOffset``
values, of which the **highest** is the watermark.

What a checkpoint costs is what is new. ``write`` keeps only the triples this
store has not written recently (a bounded memory of recent writes; Oxigraph's and
SPARQL's set semantics make a triple written twice harmless, so forgetting costs
a rewrite, never a wrong graph) and encodes them for the backend, which gets them
with the next ``flush`` (or ahead of it, past ``_BUFFERED`` triples: memory stays
bounded when a replay flushes once at the end). ``flush`` writes them *and* the
watermark in one durable backend write, so the watermark is never durable before
the data it covers: one fsynced journal block on Oxigraph (:mod:`sinks.identity.oxigraph`),
``INSERT DATA`` requests with the watermark in the last on an endpoint. The
watermark is therefore added, not replaced (a replacement needs a delete, which
an N-Quads journal cannot hold); older values are pruned every ``_PRUNE_EVERY``
flushes, and a lost prune leaves only lower values behind. Every non-empty write
comes with the offsets it covers (``Batch.upto``), so the flush that records them
writes it.

Guarantees (the :class:`~sinks.base.Store` contract): ``write`` is idempotent;
``flush`` returns when the data and then the watermark are durable; the watermark
never goes backwards. Failures are :class:`SinkUnavailableError` (retryable); a
triple the backend cannot represent is a :class:`PermanentError` raised by
``write``; a query the store refuses an :class:`InvalidQueryError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Set
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import quote, unquote

from schemas.errors import ConfigError
from sinks.base import Watermark
from sinks.directories import live_dir
from sinks.identity.projection import IdentityWrites
from sinks.identity.settings import DEFAULT_GRAPH, RdfSettings
from sinks.identity.vocabulary import (
    FO,
    XSD_INTEGER,
    Lit,
    Term,
    Triple,
    canonical_digest,
    ntriples_line,
)
from sinks.store import StoreBase

__all__ = ["RdfBackend", "RdfStore"]

_OFFSET: Final = FO + "appliedOffset"
_MEMORY: Final = 20_000
"""Triples per generation of the recent-writes memory (two generations are kept).
On the simulated workload 5k already writes the minimum (every distinct triple
once): what recurs across checkpoints is few (projects, agents, roles, squads,
tools, and the runs still going on)."""
_BUFFERED: Final = 50_000
"""New triples ``write`` keeps for the next flush; past this it writes them ahead."""
_PRUNE_EVERY: Final = 1024
"""Flushes between two prunes of old watermark values. Rare on purpose: on Oxigraph
a delete lands in RocksDB's memtable, which the next bulk load must flush first."""


class RdfBackend(Protocol):
    """What :class:`RdfStore` needs of a store (Oxigraph or a SPARQL endpoint).

    Every method raises ``SinkUnavailableError`` when the store fails."""

    def encode(self, triples: Iterable[Triple], graph: str) -> list[Any]:
        """Triples in ``graph`` in the backend's own form (``PermanentError`` if it
        cannot represent one)."""
        ...

    def insert(self, encoded: Sequence[Any]) -> None:
        """Add encoded triples, in order; durable when this returns."""
        ...

    def update(self, sparql: str) -> None: ...

    def select(self, sparql: str, default_graph: str | None) -> list[tuple[Term | None, ...]]: ...

    def triples(self, graph: str) -> Iterator[Triple]: ...

    def close(self) -> None: ...


class _Recent:
    """The triples written recently, in two generations: a triple seen again moves
    to the young one, and the old one is dropped when the young one is full, so the
    identities that recur (projects, agents, roles, squads, tools) stay remembered
    and memory stays bounded."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._young: set[Triple] = set()
        self._old: set[Triple] = set()

    def unseen(self, triples: IdentityWrites) -> IdentityWrites:
        new = triples - self._young
        if new and self._old:
            new -= self._old
        return new

    def remember(self, triples: Set[Triple]) -> None:
        self._young |= triples
        if len(self._young) > self._limit:
            self._old, self._young = self._young, set()

    def clear(self) -> None:
        self._young, self._old = set(), set()


class RdfStore(StoreBase[IdentityWrites]):
    """The identity plane's store (see the module docstring). Build it with :meth:`open`;
    it owns its backend, and ``close()`` releases it (and Oxigraph's directory lock)."""

    def __init__(
        self, backend: RdfBackend, *, graph: str = DEFAULT_GRAPH, name: str = "identity"
    ) -> None:
        super().__init__(name)
        self._backend = backend
        self._graph = graph
        self._marks_graph = f"{graph}/watermarks"
        self._mark_prefix = f"{self._marks_graph}/{quote(name, safe='')}/"
        self._recent = _Recent(_MEMORY)
        self._seen: set[Triple] = set()
        self._new: set[Triple] = set()
        self._encoded: list[Any] = []
        self._flushes = 0
        self._watermark: Watermark | None = None
        self.triples_written = 0
        """Triples this store wrote to the backend (new ones only)."""

    @classmethod
    def open(
        cls,
        settings: RdfSettings,
        state_dir: Path,
        *,
        name: str = "identity",
        directory: Path | None = None,
    ) -> RdfStore:
        """Open the store ``settings`` describe: embedded, the live generation under
        ``state_dir/rdf`` unless ``directory`` names another Oxigraph directory
        (replay's shadow generations); else the SPARQL endpoint of ``settings.dsn``."""
        if settings.dsn is None:
            from sinks.identity.oxigraph import OxigraphBackend

            path = directory or live_dir(Path(state_dir) / "rdf")
            return cls(OxigraphBackend(path, name), graph=settings.graph, name=name)
        if directory is not None:
            raise ConfigError("a SPARQL endpoint has no directories to open")
        from sinks.identity.sparql import SparqlBackend, parse_sparql_dsn

        backend = SparqlBackend(parse_sparql_dsn(settings.dsn), settings.password, name)
        return cls(backend, graph=settings.graph, name=name)

    @property
    def graph(self) -> str:
        """The IRI of the named graph holding the identity triples."""
        return self._graph

    # --- the StoreBase hooks ---------------------------------------------------------------

    def _apply(self, writes: IdentityWrites) -> None:
        if not writes:
            return
        new = self._recent.unseen(writes)
        new -= self._new
        if new:
            # encoded now, so a triple the backend refuses fails this write, not a flush
            self._encoded.extend(self._backend.encode(new, self._graph))
            self._new |= new
        self._seen |= writes
        if len(self._new) >= _BUFFERED:
            # many writes between flushes (a replay flushes once, at the end): the
            # data goes ahead, the watermark still waits for the flush
            self._written(self._encoded)

    def _persist(self, marks: Watermark) -> None:
        watermark = self._backend.encode(self._mark_triples(marks), self._marks_graph)
        self._written(self._encoded + watermark)  # the watermark last
        self._watermark = dict(marks)
        self._flushes += 1
        if self._flushes % _PRUNE_EVERY == 0:
            self._prune()

    def _written(self, encoded: list[Any]) -> None:
        """Insert ``encoded`` (the buffered triples, perhaps a watermark after them);
        once the backend took them, they count as written and the buffer is empty."""
        self._backend.insert(encoded)
        self.triples_written += len(self._new)
        self._recent.remember(self._seen)
        self._seen, self._new, self._encoded = set(), set(), []

    def _load_watermark(self) -> Watermark:
        # read once, then kept: this store is the graph's only writer (Oxigraph's
        # directory lock; one worker per endpoint), so nothing else moves it
        if self._watermark is None:
            self._watermark = {key: max(offsets) for key, offsets in self._marks().items()}
        return dict(self._watermark)

    def _release(self) -> None:
        self._seen, self._new, self._encoded = set(), set(), []
        self._recent.clear()
        self._backend.close()

    # --- the watermark ---------------------------------------------------------------------

    def _mark_iri(self, topic: str, partition: int) -> str:
        return f"{self._mark_prefix}{quote(topic, safe='')}/{partition}"

    def _mark_triple(self, topic: str, partition: int, offset: int) -> Triple:
        return (self._mark_iri(topic, partition), _OFFSET, Lit(str(offset), XSD_INTEGER))

    def _mark_triples(self, marks: Watermark) -> list[Triple]:
        return [self._mark_triple(t, p, offset) for (t, p), offset in sorted(marks.items())]

    def _marks(self) -> dict[tuple[str, int], list[int]]:
        rows = self._backend.select(
            f"SELECT ?m ?o WHERE {{ GRAPH <{self._marks_graph}> {{ ?m <{_OFFSET}> ?o }} }}", None
        )
        marks: dict[tuple[str, int], list[int]] = {}
        for subject, offset in rows:
            if not isinstance(subject, str) or not subject.startswith(self._mark_prefix):
                continue  # another store's marks in a shared graph
            assert isinstance(offset, Lit)
            topic, _, partition = subject.removeprefix(self._mark_prefix).rpartition("/")
            marks.setdefault((unquote(topic), int(partition)), []).append(int(offset.value))
        return marks

    def _prune(self) -> None:
        """Delete every watermark value below the highest of its partition."""
        stale = [
            ntriples_line(self._mark_triple(topic, partition, offset))
            for (topic, partition), offsets in self._marks().items()
            for offset in offsets
            if offset < max(offsets)
        ]
        if stale:
            lines = "\n".join(stale)
            self._backend.update(f"DELETE DATA {{ GRAPH <{self._marks_graph}> {{\n{lines}\n}} }}")

    # --- reading ---------------------------------------------------------------------------

    def triples(self) -> Iterator[Triple]:
        """Every triple of the identity graph, as projection tuples."""
        self._check_open()
        return self._backend.triples(self._graph)

    def digest(self) -> str:
        """:func:`~sinks.identity.vocabulary.canonical_digest` of the graph as stored."""
        return canonical_digest(self.triples())

    def query(self, sparql: str) -> list[tuple[Any, ...]]:
        """Run a SPARQL SELECT with the identity graph as the default graph; rows of
        Python values (IRIs and strings as ``str``, ``xsd:integer`` as ``int``)."""
        self._check_open()
        return [tuple(map(_python, row)) for row in self._backend.select(sparql, self._graph)]


def _python(term: Term | None) -> Any:
    if isinstance(term, Lit):
        return int(term.value) if term.datatype == XSD_INTEGER else term.value
    return term
