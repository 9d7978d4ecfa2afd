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
    from sinks.chronicle import ArtifactStore, ChronicleSettings
    from sinks.clickhouse import ClickHouseSettings, ClickHouseSink, run_query
    from sinks.evidence import EvidenceProjection, EvidenceSink
    from sinks.ledger import Ledger, LedgerIndex, SignedTreeHead
    from sinks.lineage import LineageProjection, OpenLineageSettings
    from sinks.openlineage import OpenLineageSink

__all__ = [
    "PROJECTION_VERSION",
    "ArtifactStore",
    "Batch",
    "ChronicleSettings",
    "ClickHouseSettings",
    "ClickHouseSink",
    "EvidenceProjection",
    "EvidenceSink",
    "FactsProjection",
    "Ledger",
    "LedgerIndex",
    "LineageProjection",
    "LogPosition",
    "LoggedEvent",
    "MemorySink",
    "OpenLineageSettings",
    "OpenLineageSink",
    "QueryResult",
    "SignedTreeHead",
    "Sink",
    "TableRows",
    "Watermark",
    "advance",
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


def __getattr__(name: str) -> Any:
    # clickhouse_connect and pyarrow load only when the ClickHouse names are used.
    if name in _LAZY:
        from sinks import clickhouse

        return getattr(clickhouse, name)
    if name in _LAZY_CHRONICLE:
        import importlib

        return getattr(importlib.import_module(_LAZY_CHRONICLE[name]), name)
    raise AttributeError(f"module 'sinks' has no attribute {name!r}")
