"""Sinks: the pure projections and the stores they write to (see ``sinks.base``).

``sinks.clickhouse`` (the facts plane) needs the ``pipeline`` extra; it is
imported lazily here so the base contract stays importable without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sinks.base import Batch, LoggedEvent, LogPosition, Sink, Watermark, advance, high_offsets
from sinks.facts import PROJECTION_VERSION, FactsProjection, TableRows
from sinks.memory import MemorySink
from sinks.query import QueryResult, check_read_only

if TYPE_CHECKING:
    from sinks.catalog import CatalogProjection, aspects_digest
    from sinks.chronicle import ArtifactStore, ChronicleSettings
    from sinks.clickhouse import ClickHouseSettings, ClickHouseSink, run_query
    from sinks.datahub import DataHubSettings, DataHubSink
    from sinks.evidence import EvidenceProjection, EvidenceSink
    from sinks.identity import IdentityProjection, canonical_digest
    from sinks.ledger import Ledger, LedgerIndex, SignedTreeHead
    from sinks.lineage import LineageProjection, OpenLineageSettings
    from sinks.openlineage import OpenLineageSink
    from sinks.rdf import RdfSettings, RdfSink

__all__ = [
    "PROJECTION_VERSION",
    "ArtifactStore",
    "Batch",
    "CatalogProjection",
    "ChronicleSettings",
    "ClickHouseSettings",
    "ClickHouseSink",
    "DataHubSettings",
    "DataHubSink",
    "EvidenceProjection",
    "EvidenceSink",
    "FactsProjection",
    "IdentityProjection",
    "Ledger",
    "LedgerIndex",
    "LineageProjection",
    "LogPosition",
    "LoggedEvent",
    "MemorySink",
    "OpenLineageSettings",
    "OpenLineageSink",
    "QueryResult",
    "RdfSettings",
    "RdfSink",
    "SignedTreeHead",
    "Sink",
    "TableRows",
    "Watermark",
    "advance",
    "aspects_digest",
    "canonical_digest",
    "check_read_only",
    "high_offsets",
    "run_query",
]

_LAZY = frozenset({"ClickHouseSettings", "ClickHouseSink", "run_query"})


# Chronicle and lineage names by module: pymerkle, cryptography and openlineage
# load only when one of these names is used.
_LAZY_CHRONICLE = {
    "ArtifactStore": "sinks.chronicle",
    "ChronicleSettings": "sinks.chronicle",
    "EvidenceProjection": "sinks.evidence",
    "EvidenceSink": "sinks.evidence",
    "Ledger": "sinks.ledger",
    "LedgerIndex": "sinks.ledger",
    "SignedTreeHead": "sinks.ledger",
    "LineageProjection": "sinks.lineage",
    "OpenLineageSettings": "sinks.lineage",
    "OpenLineageSink": "sinks.openlineage",
}


# Semantics and catalog names: rdflib/oxrdflib and acryl-datahub load only when used.
_LAZY_PLANES = {
    "CatalogProjection": "sinks.catalog",
    "aspects_digest": "sinks.catalog",
    "DataHubSettings": "sinks.datahub",
    "DataHubSink": "sinks.datahub",
    "IdentityProjection": "sinks.identity",
    "canonical_digest": "sinks.identity",
    "RdfSettings": "sinks.rdf",
    "RdfSink": "sinks.rdf",
}


def __getattr__(name: str) -> Any:
    # clickhouse_connect and pyarrow load only when the ClickHouse names are used.
    if name in _LAZY:
        from sinks import clickhouse

        return getattr(clickhouse, name)
    if name in _LAZY_CHRONICLE:
        import importlib

        return getattr(importlib.import_module(_LAZY_CHRONICLE[name]), name)
    if name in _LAZY_PLANES:
        import importlib

        return getattr(importlib.import_module(_LAZY_PLANES[name]), name)
    raise AttributeError(f"module 'sinks' has no attribute {name!r}")
