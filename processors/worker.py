"""The live worker: every projection's faust App in one process, plus a small
read-only HTTP API on ``127.0.0.1`` (faust's own web server).

chDB allows one process per data directory, so while the worker runs it is the
only process that may open the embedded stores; ``proofstream query`` and
``proofstream status`` then ask it over HTTP instead of opening them:

- ``GET  /status``  → each projection's sink health, watermark and DLQ count
- ``POST /query``   → ``{"sql": "..."}``; read-only SQL only, run on the sink's
  own thread, answered as ``{"columns": [...], "rows": [[...]]}``
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import faust
import orjson
from faust.web import Request, Response, View
from mode import ServiceT

from processors.checkpoint import CheckpointResult
from schemas.errors import InvalidQueryError, ProofstreamError
from sinks.base import Sink
from sinks.query import QueryResult

__all__ = ["LiveProjection", "QueryRunner", "WorkerAPI", "jsonable", "run_worker"]


class LiveProjection(Protocol):
    """What the API needs of a running projection (``ProjectionRuntime`` on the faust
    engine, ``BatchProjection`` on the batch engine)."""

    name: str
    group_id: str
    last: CheckpointResult | None
    dead_letters: int
    executor: ThreadPoolExecutor

    def sink(self) -> Sink: ...

    async def call_sink(self, fn: Any, *args: Any) -> Any: ...


QueryRunner = Callable[[Sink, str], QueryResult]
"""Runs read-only SQL against a sink's store (``sinks.clickhouse.run_query``)."""


def jsonable(value: Any) -> Any:
    """Rows as JSON-safe values; both query paths pass through this, so they agree."""
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))


class WorkerAPI:
    """What the HTTP views answer; kept apart from faust's View classes for tests."""

    def __init__(
        self,
        runtimes: Sequence[LiveProjection],
        query_projection: str | None = None,
        query_runner: QueryRunner | None = None,
        state_dir: str = "",
    ) -> None:
        self._runtimes = {r.name: r for r in runtimes}
        self._state_dir = state_dir
        self._query_projection = query_projection
        self._query_runner = query_runner
        self._started = time.time()

    async def status(self) -> dict[str, Any]:
        projections = {}
        for name, runtime in self._runtimes.items():
            try:
                marks = await runtime.call_sink(runtime.sink().watermark)
                health = "ok"
            except ProofstreamError as exc:
                marks, health = {}, f"unavailable: {exc}"
            last = runtime.last
            projections[name] = {
                "group": runtime.group_id,
                "health": health,
                "watermark": [
                    {"topic": t, "partition": p, "offset": o} for (t, p), o in sorted(marks.items())
                ],
                "dead_letters_since_start": runtime.dead_letters,
                "last_batch": None
                if last is None
                else {"applied": last.applied, "dead": last.dead, "attempts": last.attempts},
            }
        worker = {"started_at": self._started, "state_dir": self._state_dir}
        return {"worker": worker, "projections": projections}

    async def query(self, sql: str) -> dict[str, Any]:
        if self._query_projection is None or self._query_runner is None:
            raise InvalidQueryError(sql, "this worker runs no queryable projection")
        runtime = self._runtimes[self._query_projection]
        runner = self._query_runner
        result: QueryResult = await runtime.call_sink(
            lambda: runner(runtime.sink(), sql)  # read-only is enforced by the runner
        )
        return {"columns": list(result.columns), "rows": jsonable([list(r) for r in result.rows])}


def install_api(app: faust.App, api: WorkerAPI) -> None:
    """Register the ``/status`` and ``/query`` views on the app that serves the web."""

    class StatusView(View):
        async def get(self, request: Request) -> Response:
            return self.json(await api.status())

    class QueryView(View):
        async def post(self, request: Request) -> Response:
            try:
                body = orjson.loads(await self.read_request_content(request))
                sql = str(body["sql"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                return self.json({"error": 'expected a JSON body {"sql": "..."}'}, status=400)
            try:
                return self.json(await api.query(sql))
            except InvalidQueryError as exc:
                return self.json({"error": exc.reason}, status=400)
            except ProofstreamError as exc:
                return self.json({"error": str(exc)}, status=503)

    app.page("/status")(StatusView)
    app.page("/query")(QueryView)


def run_worker(
    web_app: faust.App,
    services: Sequence[ServiceT],
    projections: Sequence[LiveProjection],
    api: WorkerAPI,
    loglevel: str,
) -> None:
    """Run ``web_app`` (which serves the API) and every other service until
    SIGTERM/SIGINT; faust then stops the projections, which finish or abandon
    (uncommitted) their current batch, and the sinks are closed."""
    install_api(web_app, api)
    worker = faust.Worker(web_app, *services, loglevel=loglevel, quiet=True)
    try:
        worker.execute_from_commandline()
    finally:
        for runtime in projections:
            # on the sink's own thread: chDB must not be touched from another one
            runtime.executor.submit(runtime.sink().close).result()
            runtime.executor.shutdown(wait=True)
