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
    from sinks.clickhouse import ClickHouseSettings, ClickHouseSink, run_query

__all__ = [
    "PROJECTION_VERSION",
    "Batch",
    "ClickHouseSettings",
    "ClickHouseSink",
    "FactsProjection",
    "LogPosition",
    "LoggedEvent",
    "MemorySink",
    "QueryResult",
    "Sink",
    "TableRows",
    "Watermark",
    "advance",
    "check_read_only",
    "high_offsets",
    "run_query",
]

_LAZY = frozenset({"ClickHouseSettings", "ClickHouseSink", "run_query"})


def __getattr__(name: str) -> Any:
    # clickhouse_connect and pyarrow load only when the ClickHouse names are used.
    if name in _LAZY:
        from sinks import clickhouse

        return getattr(clickhouse, name)
    raise AttributeError(f"module 'sinks' has no attribute {name!r}")
