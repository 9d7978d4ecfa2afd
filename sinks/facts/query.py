"""``FactsReader``: bounded, read-only analyst queries on a connection of their own.

An analyst query never runs on the store's connection or thread, so a slow one
cannot hold up ingestion: the reader opens its own client (chDB allows several
clients on one data directory inside the process that owns it; a server gets its
own HTTP session), and every query runs with

- ``readonly=1`` after :func:`~sinks.facts.sql_guard.check_read_only` accepted it;
- ``max_execution_time`` (``timeout_overflow_mode=throw``), ``max_result_rows`` and
  ``max_result_bytes`` (``result_overflow_mode=throw``) and ``max_memory_usage``
  from :class:`~sinks.facts.settings.ClickHouseSettings`;
- at most ``query_max_threads`` threads (one by default: the other cores stay with
  ingestion) and a lower priority than inserts (``priority``), so it gives way.

A query that breaks a limit fails with :class:`InvalidQueryError` naming the
limit; an unreachable store raises ``SinkUnavailableError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from schemas.errors import InvalidQueryError, SinkUnavailableError
from sinks.facts.settings import ClickHouseSettings
from sinks.facts.sql_guard import QueryResult, check_read_only
from sinks.facts.store import connect, is_unavailable

__all__ = ["FactsReader", "limits"]

_LIMIT_CODES = {
    159: "time limit",  # TIMEOUT_EXCEEDED
    396: "result size limit",  # TOO_MANY_ROWS_OR_BYTES
    241: "memory limit",  # MEMORY_LIMIT_EXCEEDED
    158: "row limit",  # TOO_MANY_ROWS
}


def limits(settings: ClickHouseSettings) -> dict[str, Any]:
    """The ClickHouse settings every analyst query runs with. Pure."""
    return {
        "readonly": 1,
        "max_execution_time": settings.query_timeout_s,
        "timeout_overflow_mode": "throw",
        "max_result_rows": settings.query_max_rows,
        "max_result_bytes": settings.query_max_rows * 4096,
        "result_overflow_mode": "throw",
        "max_memory_usage": settings.query_max_memory_bytes,
        "max_threads": settings.query_max_threads,
        "priority": 10,
    }


class FactsReader:
    """Runs analyst queries (module docstring). Open it in the process that owns the
    store (or anywhere, for a server); not shared across threads."""

    def __init__(self, client: Client, settings: ClickHouseSettings) -> None:
        self._client: Client | None = client
        self._limits = limits(settings)

    @classmethod
    def open(cls, settings: ClickHouseSettings, state_dir: Path) -> FactsReader:
        return cls(connect(settings, state_dir, name="facts-query"), settings)

    def query(self, sql: str) -> QueryResult:
        """Run one read-only query. Raises ``InvalidQueryError`` for a refused or
        failing query (the reason names a broken limit) and ``SinkUnavailableError``."""
        if self._client is None:
            raise SinkUnavailableError("facts-query", "reader is closed", retry_after=0.0)
        text = check_read_only(sql)
        try:
            result = self._client.query(text, settings=self._limits)
        except ClickHouseError as exc:
            code = getattr(exc, "code", None)
            reason = _LIMIT_CODES.get(code) if isinstance(code, int) else None
            message = str(exc)
            for number, name in _LIMIT_CODES.items():
                if f"Code: {number}." in message:
                    reason = name
            # a broken limit is this query's doing, though an insert would retry the code
            if reason is None and is_unavailable(exc):
                raise SinkUnavailableError("facts-query", message) from exc
            raise InvalidQueryError(
                sql, f"query stopped by the {reason}: {message}" if reason else message
            ) from exc
        return QueryResult(tuple(result.column_names), [tuple(row) for row in result.result_rows])

    def close(self) -> None:
        """Release the connection. Idempotent."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
