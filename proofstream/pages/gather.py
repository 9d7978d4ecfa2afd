"""Gathering a page's data: facts from ClickHouse, marks from the evidence log.

The facts come through a :class:`FactsSource` — one method, ``query(sql)``,
answering ``{"columns": [...], "rows": [[...]]}`` with JSON-safe values, the shape
of the worker's ``POST /query``:

- :class:`ReaderSource` — a :class:`~sinks.facts.query.FactsReader` opened here
  (no worker runs: chDB allows one process per data directory);
- :class:`ClientSource` — a running worker, over its API (:class:`WorkerClient`);
- inside the worker, :mod:`proofstream.pages.serve` adapts the worker's own API.

:func:`open_source` picks the first two the way ``proofstream query`` does. Every
query is bounded and read-only (:mod:`proofstream.pages.sql`). Errors are the
sources' own: ``InvalidQueryError``, ``SinkUnavailableError``; a malformed ref is a
``ConfigError`` before any query runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import orjson

from proofstream.pages import sql
from proofstream.pages.chain import build_pr_chain, evidence_refs, records
from proofstream.pages.model import Overview, PrChain, RunTimeline
from proofstream.pages.overview import build_overview, planes_of_status
from proofstream.pages.proofs import check_evidence
from proofstream.pages.timeline import build_run_timeline
from proofstream.settings import Settings
from proofstream.worker_client import WorkerClient

__all__ = [
    "ClientSource",
    "FactsSource",
    "ReaderSource",
    "gather_overview",
    "gather_pr",
    "gather_run",
    "open_source",
]


class FactsSource(Protocol):
    """Runs one read-only query and answers ``{"columns", "rows"}`` (JSON-safe)."""

    def query(self, sql: str) -> Mapping[str, Any]: ...


class ReaderSource:
    """A :class:`~sinks.facts.query.FactsReader` (or anything with its ``query``)."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    def query(self, sql: str) -> Mapping[str, Any]:
        result = self._reader.query(sql)
        rows = [list(row) for row in result.rows]
        # the worker's JSON shapes (datetimes as ISO text, map keys as strings)
        plain = orjson.loads(orjson.dumps(rows, default=str, option=orjson.OPT_NON_STR_KEYS))
        return {"columns": list(result.columns), "rows": plain}


class ClientSource:
    """A running worker's ``POST /query``."""

    def __init__(self, client: WorkerClient) -> None:
        self._client = client

    def query(self, sql: str) -> Mapping[str, Any]:
        return self._client.query(sql)


@contextmanager
def open_source(settings: Settings) -> Iterator[tuple[FactsSource, dict[str, Any] | None]]:
    """``(source, worker status or None)``: the running worker of this state directory
    when there is one, else the facts store opened here (its migrations create the
    tables of a new store) and closed on exit."""
    client = WorkerClient(settings)
    status = client.status()
    if status is not None:
        yield ClientSource(client), status
        return
    from sinks.facts.query import FactsReader
    from sinks.facts.store import ClickHouseStore

    ClickHouseStore.open(settings.clickhouse, settings.state_dir).close()
    reader = FactsReader.open(settings.clickhouse, settings.state_dir)
    try:
        yield ReaderSource(reader), None
    finally:
        reader.close()


def gather_pr(
    settings: Settings, source: FactsSource, pr_ref: str, limit: int = sql.MAX_EVENTS
) -> PrChain:
    """The proof page data of ``pr_ref``: its chain, the mark of every evidence
    artifact against the current signed checkpoint, and its gap if open."""
    rows = records(source.query(sql.pr_events_sql(pr_ref, limit)))
    gap_rows = records(source.query(sql.gap_sql(pr_ref)))
    checked = check_evidence(settings, evidence_refs(rows[:limit]))
    return build_pr_chain(
        pr_ref,
        rows,
        marks=checked.marks,
        gap=gap_rows[0] if gap_rows else None,
        checkpoint=checked.checkpoint,
        log_error=checked.log_error,
        limit=limit,
    )


def gather_run(
    settings: Settings, source: FactsSource, run_id: str, limit: int = sql.MAX_EVENTS
) -> RunTimeline:
    """The run page data of ``run_id``: its events, leases, tool calls, evidence marks."""
    rows = records(source.query(sql.run_events_sql(run_id, limit)))
    checked = check_evidence(settings, evidence_refs(rows[:limit]))
    return build_run_timeline(
        run_id,
        rows,
        marks=checked.marks,
        checkpoint=checked.checkpoint,
        log_error=checked.log_error,
        limit=limit,
    )


def gather_overview(
    source: FactsSource,
    status: Mapping[str, Any] | None,
    *,
    now_ms: int | None = None,
    status_note: str | None = None,
) -> Overview:
    """The overview page data; ``status`` is a status report (the worker's
    ``/status`` or ``collect_status``) for the lag per plane, None when unknown."""
    span = records(source.query(sql.merged_span_sql()))
    first, last = (span[0].get("first_ms"), span[0].get("last_ms")) if span else (None, None)
    bucket = sql.bucket_of(int(last) - int(first)) if first is not None and last else "hour"
    total = records(source.query(sql.unproven_count_sql()))
    return build_overview(
        now_ms=now_ms if now_ms is not None else time.time_ns() // 1_000_000,
        bucket=bucket,
        coverage=records(source.query(sql.coverage_sql(bucket))),
        unproven=records(source.query(sql.unproven_sql())),
        unproven_total=int(total[0]["n"]) if total else 0,
        tools=records(source.query(sql.tool_latency_sql())),
        recent=records(source.query(sql.recent_prs_sql())),
        planes=planes_of_status(status),
        status_note=status_note
        if status_note is not None
        else (None if status else "lag unknown: no status report"),
    )
