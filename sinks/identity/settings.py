"""``RdfSettings``: where the identity graph lives (pydantic only: the settings root
imports it without the RDF libraries)."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from sinks.identity.vocabulary import DEFAULT_BASE_IRI

__all__ = ["DEFAULT_GRAPH", "RdfSettings"]

DEFAULT_GRAPH: Final = "https://fractalops.io/graph/identity"


class RdfSettings(BaseModel):
    """Where the identity graph lives. ``dsn=None`` means embedded Oxigraph under the
    state dir (``<state_dir>/rdf``); ``sparql+http(s)://…`` a SPARQL 1.1 Update
    endpoint (see :func:`sinks.identity.sparql.parse_sparql_dsn`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dsn: str | None = Field(
        default=None,
        description="Unset: embedded Oxigraph under the state dir; "
        "`sparql+http(s)://[user@]host[:port]/update[?query=/query]`: a SPARQL 1.1 endpoint. "
        "Must not carry a password.",
    )
    base_iri: str = Field(
        default=DEFAULT_BASE_IRI,
        description="http(s) IRI ending in '/' under which natural keys become IRIs.",
    )
    graph: str = Field(
        default=DEFAULT_GRAPH,
        description="The named graph of the identity triples; watermarks live in "
        "`<graph>/watermarks`.",
    )
    password: SecretStr | None = Field(
        default=None,
        description="Password for the endpoint's HTTP basic auth (the user is the DSN's "
        "user), never put in the DSN; read from the file `rdf__password` in the secrets "
        "directory.",
    )
