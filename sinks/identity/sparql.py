"""The scale-out backend of the identity store: any SPARQL 1.1 endpoint, through rdflib.

A DSN ``sparql+http(s)://[user@]host[:port]/update[?query=/query]`` names the
Update endpoint and, optionally, the query endpoint (:func:`parse_sparql_dsn`,
pure, importable without rdflib). Writes are ``INSERT DATA`` requests of
N-Triples (:func:`~sinks.identity.vocabulary.ntriples_line`): an update the
endpoint acknowledged is durable, which is what the store's flush needs. The
password for HTTP basic auth comes from the settings (the secrets directory),
never from the DSN, and never appears in an error.

Every failure of the endpoint (unreachable, HTTP error, unparsable answer) is a
:class:`SinkUnavailableError`: an endpoint refusing requests for good is a
configuration problem, not a reason to dead-letter events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urljoin, urlsplit, urlunsplit

from pydantic import SecretStr

from schemas.errors import ConfigError, SinkUnavailableError
from sinks.identity.vocabulary import XSD_STRING, Lit, Term, Triple, ntriples_line

__all__ = ["SparqlBackend", "SparqlEndpoint", "parse_sparql_dsn", "rdflib_term"]

_LINES_PER_REQUEST: Final = 20_000
"""N-Triples lines per ``INSERT DATA`` request: bounds a request's size."""


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


def rdflib_term(node: Any) -> Term | None:
    """An rdflib term of a SPARQL result row as a projection term (None for an unbound
    variable); both backends answer queries through rdflib."""
    from rdflib import Literal

    if node is None:
        return None
    if isinstance(node, Literal):
        datatype = str(node.datatype) if node.datatype is not None else XSD_STRING
        return Lit(str(node), datatype)
    return str(node)


class SparqlBackend:
    """A SPARQL 1.1 endpoint (see the module docstring). ``name`` labels errors."""

    def __init__(self, endpoint: SparqlEndpoint, password: SecretStr | None, name: str) -> None:
        from rdflib.plugins.stores.sparqlstore import SPARQLUpdateStore

        self._name = name
        auth = None
        if endpoint.user is not None:
            auth = (endpoint.user, password.get_secret_value() if password else "")
        self._remote: Any = SPARQLUpdateStore(
            query_endpoint=endpoint.query_url,
            update_endpoint=endpoint.update_url,
            auth=auth,
            context_aware=True,
            autocommit=True,
        )

    def _failed(self, what: str, exc: Exception) -> SinkUnavailableError:
        # the credential travels in a header only, never in a URL or a request body,
        # so the library's message cannot carry it; it is cut to keep logs short
        reason = f"{what} failed: {type(exc).__name__}: {str(exc)[:300]}"
        return SinkUnavailableError(self._name, reason)

    def encode(self, triples: Iterable[Triple], graph: str) -> list[tuple[str, str]]:
        """``triples`` as ``(graph, N-Triples line)`` pairs. Never raises."""
        return [(graph, ntriples_line(t)) for t in triples]

    def insert(self, encoded: Sequence[Any]) -> None:
        """``INSERT DATA`` the pairs :meth:`encode` made; durable once acknowledged."""
        for start in range(0, len(encoded), _LINES_PER_REQUEST):
            by_graph: dict[str, list[str]] = defaultdict(list)
            for graph, line in encoded[start : start + _LINES_PER_REQUEST]:
                by_graph[graph].append(line)
            blocks = " ".join(
                f"GRAPH <{g}> {{\n{chr(10).join(ls)}\n}}" for g, ls in by_graph.items()
            )
            self.update(f"INSERT DATA {{ {blocks} }}")

    def update(self, sparql: str) -> None:
        """Send a SPARQL update; returns once the endpoint acknowledged it."""
        try:
            self._remote.update(sparql)
        except Exception as exc:  # urllib/rdflib raise many unrelated types
            raise self._failed("update", exc) from exc

    def select(self, sparql: str, default_graph: str | None) -> list[tuple[Term | None, ...]]:
        """Rows of a SPARQL SELECT; ``default_graph`` is sent as ``default-graph-uri``
        (None: the endpoint's own dataset, every named graph reachable by ``GRAPH``)."""
        try:
            result = self._remote.query(sparql, queryGraph=default_graph)
            return [tuple(rdflib_term(v) for v in row) for row in result]
        except Exception as exc:  # urllib/rdflib raise many unrelated types
            raise self._failed("query", exc) from exc

    def triples(self, graph: str) -> Iterator[Triple]:
        """Every triple of ``graph``."""
        for s, p, o in self.select(
            f"SELECT ?s ?p ?o WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}", None
        ):
            assert isinstance(s, str) and isinstance(p, str) and o is not None
            yield (s, p, o)

    def close(self) -> None:
        """Drop the connection. Idempotent."""
        self._remote.close()
