"""``RdfSink``: the Semantics plane's store, rdflib over Oxigraph on disk or a SPARQL endpoint.

The Recorder half of the identity projection (the Mapper is
:class:`sinks.identity.IdentityProjection`). Two backends, one code path
through rdflib's ``Graph`` API:

- **embedded** (``RdfSettings.dsn`` unset): an Oxigraph (RocksDB) store in
  ``<state_dir>/rdf`` through oxrdflib. One process may open it read-write at a
  time; opening it while another holds it raises :class:`SinkUnavailableError`.
- **SPARQL 1.1** (``sparql+http(s)://host/update-path[?query=/query-path]``):
  rdflib's ``SPARQLUpdateStore``; writes are ``INSERT DATA { GRAPH <g> {…} }``.

Data lives in one named graph with a **fixed identifier** (``RdfSettings.graph``),
so every process sees the same graph; the watermark lives in the store too, in
the ``<graph>/watermarks`` named graph, written after the data it covers.

Guarantees: ``write`` is idempotent (RDF set semantics; a triple the store
already holds is not written again); ``flush`` makes data durable and then
records the watermark; the watermark never goes backwards. Store failures are
raised as :class:`SinkUnavailableError` (retryable), a bad DSN as
:class:`ConfigError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, SecretStr
from rdflib import Graph, Literal, URIRef
from rdflib.term import Node

from schemas.errors import ConfigError, SinkUnavailableError
from sinks.base import Batch, Watermark, advance, high_offsets
from sinks.directories import live_dir
from sinks.identity import (
    DEFAULT_BASE_IRI,
    FO,
    XSD,
    IdentityProjection,
    Lit,
    Term,
    Triple,
    canonical_digest,
)

__all__ = [
    "DEFAULT_GRAPH",
    "RdfSettings",
    "RdfSink",
    "SparqlEndpoint",
    "parse_sparql_dsn",
]

DEFAULT_GRAPH: Final = "https://fractalops.io/graph/identity"
_OFFSET = URIRef(FO + "appliedOffset")
_XSD_STRING = XSD + "string"
_KNOWN_LIMIT = 1_000_000
"""Triples remembered as already stored; past this the memory is dropped (the
store check still keeps writes idempotent, it only costs lookups again)."""


class RdfSettings(BaseModel):
    """Where the identity graph lives. ``dsn=None`` means embedded Oxigraph under the
    state dir; ``sparql+http(s)://…`` a SPARQL 1.1 Update endpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dsn: str | None = None
    base_iri: str = DEFAULT_BASE_IRI
    graph: str = DEFAULT_GRAPH
    password: SecretStr | None = None
    """Password for the endpoint's HTTP basic auth (the user is the DSN's user);
    read from the secrets directory, never put in the DSN."""


@dataclass(frozen=True, slots=True)
class SparqlEndpoint:
    """A parsed ``sparql+http(s)://`` DSN: the endpoints rdflib talks to."""

    update_url: str
    query_url: str
    user: str | None = None


def parse_sparql_dsn(dsn: str) -> SparqlEndpoint:
    """Parse ``sparql+http(s)://[user@]host[:port]/update[?query=/query]``. Pure.

    The path is the SPARQL Update endpoint; the optional ``query`` parameter is
    the query endpoint (a path on the same host or an absolute URL), else the
    same URL. A password in the DSN is refused: it belongs in the secrets dir.
    Raises :class:`ConfigError` for anything else.
    """
    parts = urlsplit(dsn)
    if parts.scheme not in ("sparql+http", "sparql+https"):
        raise ConfigError(
            f"unsupported RDF DSN scheme {parts.scheme!r}: use sparql+http:// or sparql+https://"
        )
    if not parts.hostname:
        raise ConfigError(f"SPARQL DSN has no host: {dsn!r}")
    if parts.password is not None:
        raise ConfigError("SPARQL DSN must not carry a password; put it in rdf__password")
    scheme = parts.scheme.removeprefix("sparql+")
    netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    update = urlunsplit((scheme, netloc, parts.path or "/", "", ""))
    query = update
    for pair in filter(None, parts.query.split("&")):
        key, _, value = pair.partition("=")
        if key != "query" or not value:
            raise ConfigError(f"unknown SPARQL DSN parameter {pair!r} (only query=…)")
        query = urljoin(update, value)
    return SparqlEndpoint(update, query, parts.username or None)


def _to_node(term: Term) -> Node:
    if isinstance(term, Lit):
        if term.datatype == _XSD_STRING:
            return Literal(term.value)
        return Literal(term.value, datatype=URIRef(term.datatype))
    return URIRef(term)


def _from_node(node: Node) -> Term:
    if isinstance(node, Literal):
        datatype = str(node.datatype) if node.datatype is not None else _XSD_STRING
        return Lit(str(node), datatype)
    return str(node)


def _value(node: Any) -> Any:
    if node is None:
        return None
    return node.toPython() if isinstance(node, Literal) else str(node)


class RdfSink:
    """The identity plane sink (see the module docstring for the guarantees).

    Build it with :meth:`open`. The sink owns its store; ``close()`` releases it
    (and Oxigraph's directory lock).
    """

    def __init__(
        self,
        graph: Graph,
        watermarks: Graph,
        *,
        name: str = "identity",
        projection: IdentityProjection | None = None,
        embedded: Any = None,
    ) -> None:
        self._graph: Graph | None = graph
        self._watermarks = watermarks
        self._name = name
        self._projection = projection or IdentityProjection()
        self._embedded = embedded  # the pyoxigraph Store, to flush; None for SPARQL
        self._pending: Watermark = {}
        self._known: set[Triple] = set()
        self.triples_written = 0
        """Triples this sink actually added to the store (new ones only)."""

    @classmethod
    def open(
        cls,
        settings: RdfSettings,
        state_dir: Path,
        *,
        name: str = "identity",
        directory: Path | None = None,
    ) -> RdfSink:
        """Open the store ``settings`` describe: embedded under ``state_dir/rdf`` by default.

        Embedded, the live generation is opened: ``state_dir/rdf`` itself, or the one
        a replay swapped in (:func:`sinks.directories.live_dir`). ``directory``
        opens that Oxigraph directory instead (replay's shadow generations).
        """
        projection = IdentityProjection(settings.base_iri)
        data_id, marks_id = URIRef(settings.graph), URIRef(f"{settings.graph}/watermarks")
        if settings.dsn is None:
            import pyoxigraph
            from oxrdflib import OxigraphStore

            path = directory or live_dir(Path(state_dir) / "rdf")
            path.mkdir(parents=True, exist_ok=True)
            try:
                inner = pyoxigraph.Store(str(path))
            except OSError as exc:
                raise SinkUnavailableError(name, f"cannot open Oxigraph at {path}: {exc}") from exc
            store = OxigraphStore(store=inner)
            return cls(
                Graph(store=store, identifier=data_id),
                Graph(store=store, identifier=marks_id),
                name=name,
                projection=projection,
                embedded=inner,
            )
        from rdflib.plugins.stores.sparqlstore import SPARQLUpdateStore

        endpoint = parse_sparql_dsn(settings.dsn)
        auth = None
        if endpoint.user is not None:
            secret = settings.password.get_secret_value() if settings.password else ""
            auth = (endpoint.user, secret)
        remote = SPARQLUpdateStore(
            query_endpoint=endpoint.query_url,
            update_endpoint=endpoint.update_url,
            auth=auth,
            context_aware=True,
            autocommit=True,
        )
        return cls(
            Graph(store=remote, identifier=data_id),
            Graph(store=remote, identifier=marks_id),
            name=name,
            projection=projection,
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def graph(self) -> Graph:
        """The identity graph (for SPARQL queries). Raises after ``close()``."""
        if self._graph is None:
            raise SinkUnavailableError(self._name, "sink is closed", retry_after=0.0)
        return self._graph

    @property
    def projection(self) -> IdentityProjection:
        return self._projection

    def write(self, batch: Batch) -> None:
        """Add the identity triples of ``batch`` that the store does not hold yet.

        Idempotent: a triple already stored is skipped, and adding one twice is a
        no-op anyway (set semantics). Raises :class:`SinkUnavailableError` when
        the store fails; the runtime retries the same batch.
        """
        if not batch:
            return
        graph = self.graph
        new = self._projection.project_batch(batch) - self._known
        try:
            if self._embedded is not None:
                # A local lookup is far cheaper than a write that RocksDB then compacts.
                new = {t for t in new if (URIRef(t[0]), URIRef(t[1]), _to_node(t[2])) not in graph}
            if new:
                graph.addN([(URIRef(s), URIRef(p), _to_node(o), graph) for s, p, o in sorted(new)])
        except Exception as exc:  # rdflib/oxigraph/urllib raise many unrelated types
            raise SinkUnavailableError(self._name, f"writing triples failed: {exc}") from exc
        self.triples_written += len(new)
        if len(self._known) + len(new) > _KNOWN_LIMIT:
            self._known.clear()
        self._known |= new
        self._pending = advance(self._pending, high_offsets(batch))

    def flush(self) -> None:
        """Make the written triples durable, then record the watermark. Steps:

        1. flush the store (Oxigraph: RocksDB buffers to disk; SPARQL: every
           update was already acknowledged by the endpoint);
        2. merge the pending offsets into the stored watermark (never backwards)
           and write it to the watermarks graph;
        3. flush again, so the watermark is as durable as the data it covers.

        Raises :class:`SinkUnavailableError`; the pending watermark is kept.
        """
        if not self._pending:
            return
        self.graph  # noqa: B018 - raises when closed
        try:
            self._flush_store()
            merged = advance(self.watermark(), self._pending)
            for (topic, partition), offset in sorted(merged.items()):
                self._watermarks.set(
                    (
                        self._mark_iri(topic, partition),
                        _OFFSET,
                        Literal(offset, datatype=URIRef(XSD + "integer")),
                    )
                )
            self._flush_store()
        except SinkUnavailableError:
            raise
        except Exception as exc:
            raise SinkUnavailableError(self._name, f"flush failed: {exc}") from exc
        self._pending = {}

    def watermark(self) -> Watermark:
        """Last flushed offset per ``(topic, partition)``, read from the watermarks graph."""
        self.graph  # noqa: B018 - raises when closed
        prefix = self._mark_prefix()
        marks: Watermark = {}
        try:
            for subject, _, offset in self._watermarks.triples((None, _OFFSET, None)):
                text = str(subject)
                if not text.startswith(prefix):
                    continue
                topic, _, partition = text.removeprefix(prefix).rpartition("/")
                marks[(unquote(topic), int(partition))] = int(str(offset))
        except Exception as exc:
            raise SinkUnavailableError(self._name, f"watermark read failed: {exc}") from exc
        return marks

    def triples(self) -> Iterable[Triple]:
        """Every triple of the identity graph, as projection tuples."""
        for s, p, o in self.graph.triples((None, None, None)):
            yield (str(s), str(p), _from_node(o))

    def digest(self) -> str:
        """:func:`sinks.identity.canonical_digest` of the identity graph as stored."""
        return canonical_digest(self.triples())

    def query(self, sparql: str) -> list[tuple[Any, ...]]:
        """Run a SPARQL SELECT on the identity graph; rows of Python values (IRIs as str)."""
        try:
            return [tuple(_value(v) for v in row) for row in self.graph.query(sparql)]  # type: ignore[union-attr]
        except Exception as exc:
            raise SinkUnavailableError(self._name, f"query failed: {exc}") from exc

    def close(self) -> None:
        """Release the store (and Oxigraph's lock). Idempotent; does not flush."""
        graph, self._graph = self._graph, None
        if graph is None:
            return
        self._known.clear()
        if self._embedded is not None:
            self._embedded = None
            graph.close()  # oxrdflib drops its Store; the RocksDB lock goes with it
        else:
            graph.close()

    def _flush_store(self) -> None:
        if self._embedded is not None:
            self._embedded.flush()

    def _mark_prefix(self) -> str:
        return f"{self._watermarks.identifier}/{quote(self._name, safe='')}/"

    def _mark_iri(self, topic: str, partition: int) -> URIRef:
        return URIRef(f"{self._mark_prefix()}{quote(topic, safe='')}/{partition}")
