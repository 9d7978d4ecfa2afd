"""The identity plane (Semantics / RDF): who and what the events are about, as a graph.

- :mod:`~sinks.identity.vocabulary`: terms, the IRIs of natural keys, the
  canonical N-Triples form and digest (pure, no RDF library);
- :mod:`~sinks.identity.projection`: ``IdentityProjection``, events → triples (pure),
  with :mod:`~sinks.identity.identities` (each identity described once per call)
  and :mod:`~sinks.identity.handlers` (what each event type adds);
- :mod:`~sinks.identity.store`: ``RdfStore``, which persists new triples and its
  watermark on embedded Oxigraph (:mod:`~sinks.identity.oxigraph`, durable through
  :mod:`~sinks.identity.journal`) or a SPARQL 1.1 endpoint
  (:mod:`~sinks.identity.sparql`);
- :mod:`~sinks.identity.generations`: ``RdfGenerations``, replay's shadow
  generations as Oxigraph directories;
- :mod:`~sinks.identity.settings`: ``RdfSettings`` (pydantic only).

The plane holds identity, ontology and lineage meaning only, never bulk telemetry
(no durations, no counters). Importing this package loads no RDF library:
:func:`make_plane` imports the store when it is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sinks.identity.settings import DEFAULT_GRAPH, RdfSettings

if TYPE_CHECKING:
    from sinks.identity.projection import IdentityWrites
    from sinks.plane import Plane

__all__ = ["DEFAULT_GRAPH", "RdfSettings", "make_plane"]


def make_plane(settings: RdfSettings, state_dir: Path) -> Plane[IdentityWrites]:
    """The identity plane: its pure projection, how to open its live store (the
    generation the ``current`` pointer names under ``state_dir/rdf``, or the SPARQL
    endpoint of ``settings.dsn``) and its generations. Only the embedded Oxigraph
    store can be rebuilt: with a ``dsn`` the plane has no ``generations``."""
    from sinks.base import Store
    from sinks.generations import Rebuildable
    from sinks.identity.generations import RdfGenerations
    from sinks.identity.projection import IdentityProjection
    from sinks.identity.store import RdfStore
    from sinks.plane import Plane

    def open_store() -> Store[IdentityWrites]:
        return RdfStore.open(settings, state_dir)

    def generations(live: Store[IdentityWrites]) -> Rebuildable:
        if not isinstance(live, RdfStore):
            raise TypeError(f"the identity plane's live store is an RdfStore, not {live!r}")
        return RdfGenerations(live, settings, state_dir)

    return Plane(
        name="identity",
        projection=IdentityProjection(settings.base_iri),
        open_store=open_store,
        generations=None if settings.dsn else generations,
    )
