"""The live worker: faust hosts the engine, the proof-closure table and a small API.

faust keeps what it is good at — the worker's lifecycle (signals, services), the
web server and the stateful proof-closure table — while the projections run in
the engine (``processors.engine``), hosted here as a service.

The API (faust's web server, aiohttp) is bound to loopback unless configured
otherwise, and then every route — faust's own pages included — needs the bearer
token; faust's debug pages (``/router``, ``/table``, ``/graph``, stats) are off:

- ``GET  /status``  → every plane's health, watermark, lag, dead letters (and those
  of the worker's peer processes, when the planes are split);
- ``POST /query``   → ``{"sql": "..."}``; bounded read-only SQL on the facts plane,
  on a connection and a thread of its own, so it never holds up ingestion;
- ``GET  /pages/…`` → read-only HTML pages, when the composition root injects a
  :data:`PageHandler` (``proofstream.pages``); behind the same bearer token.
"""

from __future__ import annotations

import asyncio
import faulthandler
import hmac
import logging
import os
import signal
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import faust
import mode
import orjson
from aiohttp import web as aiohttp_web
from faust.web import Request, Response, View
from mode import ServiceT

from processors.engine import Engine
from processors.signals import STOP_SIGNALS
from schemas.errors import InvalidQueryError, ProofstreamError, SinkUnavailableError

_log = logging.getLogger(__name__)

__all__ = [
    "EXIT_FAILED",
    "EngineService",
    "PageHandler",
    "QueryReader",
    "WorkerAPI",
    "install_api",
    "jsonable",
    "run_worker",
]

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})

PageHandler = Callable[[str, Mapping[str, str]], Awaitable[tuple[int, str, bytes]]]
"""Answers ``GET /pages/<path>?<query>``: ``(path, query) -> (status, content type,
body)``. Awaited on the event loop: it must hand blocking work to a thread."""

_PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class QueryReader(Protocol):
    """What the API needs to answer ``/query`` (``sinks.facts.query.FactsReader``)."""

    def query(self, sql: str) -> Any: ...

    def close(self) -> None: ...


def jsonable(value: Any) -> Any:
    """Values as JSON-safe data (non-string keys become strings); both query paths and
    ``/status`` pass through this, so every consumer sees the same shapes."""
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))


class EngineService(mode.Service):
    """The engine as a faust/mode service: started after faust's own services, stopped
    (bounded) before them."""

    def __init__(self, engine: Engine, stop_timeout_s: float) -> None:
        super().__init__()
        self.engine = engine
        self._stop_timeout = stop_timeout_s

    async def on_start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.engine.start)

    async def on_stop(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.engine.stop, self._stop_timeout)


class WorkerAPI:
    """What the HTTP views answer; kept apart from faust's View classes for tests."""

    def __init__(
        self,
        engine: Engine,
        *,
        open_reader: Callable[[], QueryReader] | None,
        state_dir: str,
        peers: Sequence[str] = (),
        peer_token: str | None = None,
    ) -> None:
        self._engine = engine
        self._open_reader = open_reader
        self._reader: QueryReader | None = None
        self._query_thread = ThreadPoolExecutor(1, thread_name_prefix="query")
        self._state_dir = state_dir
        self._peers = tuple(peers)
        self._peer_token = peer_token
        self._started = time.time()

    async def status(self) -> dict[str, Any]:
        lag = self._engine.lag()
        planes: dict[str, Any] = {}
        for lane in self._engine.lanes:
            s = lane.status
            last = s.last
            planes[s.name] = {
                "group": s.group,
                "health": s.health,
                "watermark": [
                    {"topic": t, "partition": p, "offset": o}
                    for (t, p), o in sorted(s.watermark.items())
                ],
                "lag": lag.get(s.name),
                "backlog_batches": lane.backlog,
                "batches": s.batches,
                "applied": s.applied,
                "dead_letters_since_start": s.dead_letters,
                "last_batch": None
                if last is None
                else {"applied": last.applied, "dead": last.dead, "attempts": last.attempts},
            }
        peers = await asyncio.gather(*(self._peer_status(url) for url in self._peers))
        for peer in peers:
            planes.update(peer.get("projections", {}) if peer else {})
        worker = {
            "started_at": self._started,
            "state_dir": self._state_dir,
            "rejected_since_start": self._engine.rejected,
            "peers": [
                {"url": url, "up": peer is not None}
                for url, peer in zip(self._peers, peers, strict=True)
            ],
        }
        report: dict[str, Any] = jsonable({"worker": worker, "projections": planes})
        return report

    async def _peer_status(self, url: str) -> dict[str, Any] | None:
        def fetch() -> dict[str, Any] | None:
            request = urllib.request.Request(f"{url}/status")  # noqa: S310 - loopback peer
            if self._peer_token:
                request.add_header("Authorization", f"Bearer {self._peer_token}")
            try:
                with urllib.request.urlopen(request, timeout=2.0) as resp:  # noqa: S310
                    body: dict[str, Any] = orjson.loads(resp.read())
                    return body
            except (OSError, ValueError):
                return None

        return await asyncio.get_running_loop().run_in_executor(None, fetch)

    async def query(self, sql: str) -> dict[str, Any]:
        if self._open_reader is None:
            raise InvalidQueryError(sql, "this worker runs no queryable plane")
        result = await asyncio.get_running_loop().run_in_executor(
            self._query_thread, self._run_query, sql
        )
        return {"columns": list(result.columns), "rows": jsonable([list(r) for r in result.rows])}

    def _run_query(self, sql: str) -> Any:
        if self._reader is None:
            assert self._open_reader is not None
            self._reader = self._open_reader()
        return self._reader.query(sql)

    def close(self) -> None:
        """Close the query connection (on its own thread) and the thread."""
        if self._reader is not None:
            self._query_thread.submit(self._reader.close).result()
        self._query_thread.shutdown(wait=True)


def install_api(
    app: faust.App, api: WorkerAPI, token: str | None, pages: PageHandler | None = None
) -> None:
    """Register ``/status``, ``/query`` and, given a handler, ``/pages`` and
    ``/pages/…`` on the app that serves the web, and guard every route with the
    bearer ``token`` when one is set."""

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
            except (SinkUnavailableError, ProofstreamError) as exc:
                return self.json({"error": str(exc)}, status=503)

    app.page("/status")(StatusView)
    app.page("/query")(QueryView)
    if pages is not None:
        handler = pages

        class PagesView(View):
            async def get(self, request: Request, path: str = "") -> Response:
                status, content_type, body = await handler(path.lstrip("/"), request.query)
                headers = {**_PAGE_HEADERS, "Content-Type": content_type}
                return self.bytes(body, status=status, headers=headers)

        app.page("/pages{path:(/.*)?}")(PagesView)
    if token:
        original = app.on_webserver_init

        def guard(web: Any) -> None:
            original(web)
            web.web_app.middlewares.append(_bearer(token))

        app.on_webserver_init = guard  # type: ignore[method-assign]


def _bearer(token: str) -> Callable[..., Awaitable[aiohttp_web.StreamResponse]]:
    expected = f"Bearer {token}".encode()

    @aiohttp_web.middleware
    async def check(
        request: aiohttp_web.Request,
        handler: Callable[[aiohttp_web.Request], Awaitable[aiohttp_web.StreamResponse]],
    ) -> aiohttp_web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return aiohttp_web.json_response({"error": "a bearer token is required"}, status=401)
        return await handler(request)

    return check


EXIT_FAILED = os.EX_SOFTWARE
"""The worker's exit code when an engine failed (a lane or the consumer thread ended
on its own): non-zero, so that its supervisor (systemd ``Restart=on-failure``,
Kubernetes, the parent of a split worker) restarts it."""

_SUPERVISE_EVERY_S = 1.0


class _Worker(faust.Worker):
    """faust's worker that stops when an engine failed, with a deadline on its stop.

    - **Engine failure**: a task looks at the engines every second; once one failed,
      the worker stops as on SIGTERM, and exits with :data:`EXIT_FAILED`.
    - **Deadline**: a client library's close can block for as long as its brokers
      stay away (librdkafka's consumer close is a known case). Nothing is lost by not
      waiting: offsets are committed only after a durable write, so whatever was in
      flight is read again after a restart. So once the stop began, a daemon timer
      ends the process after ``deadline_s`` if the orderly stop has not: it logs
      every thread's stack (where the stop hung) and exits with code 0, as an
      orderly stop that abandoned a stuck thread does (:data:`EXIT_FAILED` after an
      engine failure).
    """

    def __init__(
        self, *services: Any, engines: Sequence[Engine], deadline_s: float, **options: Any
    ) -> None:
        super().__init__(*services, **options)
        self._engines = tuple(engines)
        self._deadline_s = deadline_s
        self._watchdog: threading.Timer | None = None
        self._arming = threading.Lock()
        self.failure: str | None = None

    def listen_for_signals(self) -> None:
        """Take SIGTERM/SIGINT on a thread of its own when they are blocked
        (:func:`take_stop_signals`): it arms the deadline at once, whatever the main
        thread is doing, then hands the stop to the event loop. Without the block,
        faust's own handlers take them, as before."""
        if not signal.pthread_sigmask(signal.SIG_BLOCK, []) >= STOP_SIGNALS:
            return
        threading.Thread(target=self._take_signals, name="stop-signals", daemon=True).start()

    def _take_signals(self) -> None:
        while True:
            signum = signal.sigwait(STOP_SIGNALS)
            self._arm()
            stop = self._on_sigint if signum == signal.SIGINT else self._on_sigterm
            try:
                self.loop.call_soon_threadsafe(stop)
            except RuntimeError:  # the loop is closed: the process is ending anyway
                return

    def _on_sigterm(self) -> None:
        self._arm()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._arm()
        super()._on_sigint()

    @mode.Service.task
    async def _supervise(self) -> None:
        while not self.should_stop and not self._check_engines():
            await self.sleep(_SUPERVISE_EVERY_S)

    def _check_engines(self) -> bool:
        """True once an engine failed; the stop then begins as on SIGTERM (once)."""
        if self.failure is not None:
            return True
        failed = [e.failure for e in self._engines if e.failure is not None]
        if not failed:
            return False
        self.failure = "; ".join(failed)
        _log.error("engine failed, stopping the worker for a restart: %s", self.failure)
        self._on_sigterm()
        return True

    def _arm(self) -> None:
        with self._arming:  # the signal thread and the event loop may both arm
            if self._watchdog is None:
                code = 0 if self.failure is None else EXIT_FAILED
                self._watchdog = threading.Timer(
                    self._deadline_s, _give_up, (self._deadline_s, code)
                )
                self._watchdog.daemon = True
                self._watchdog.start()


_STDERR_FD = 2
"""The process's standard error. Not ``sys.stderr``: mode's worker replaces it with a
logger proxy whose ``fileno()`` raises, and the deadline died on that, leaving the
process running."""


def _give_up(deadline_s: float, code: int) -> None:
    # straight to the file descriptor, like faulthandler: a logging lock held by the
    # stuck thread must not hold the exit too
    line = f"the stop did not finish within {deadline_s:.0f} s; exiting, stacks follow\n"
    os.write(_STDERR_FD, line.encode())
    faulthandler.dump_traceback(file=_STDERR_FD, all_threads=True)
    os._exit(code)


def run_worker(
    web_app: faust.App,
    services: Sequence[ServiceT],
    api: WorkerAPI,
    loglevel: str,
    stop_timeout_s: float,
) -> None:
    """Run ``web_app`` and the services until SIGTERM/SIGINT, or until an engine among
    ``services`` failed; the engine then stops its lanes (each finishes or abandons
    its batch, uncommitted) and closes the stores, within ``stop_timeout_s``; the
    child process and faust's own services get as long again and 15 s more, then the
    process ends anyway (:class:`_Worker`). Exits 0 after a signal, and
    :data:`EXIT_FAILED` after an engine failure."""
    worker = _Worker(
        web_app,
        *services,
        engines=[s.engine for s in services if isinstance(s, EngineService)],
        loglevel=loglevel,
        quiet=True,
        deadline_s=2 * stop_timeout_s + 15.0,
    )
    # faust's terminal spinner turns every log record into escape codes on stdout
    # (a log file, under a supervisor) and costs CPU on the event loop
    worker.spinner = None
    worker.listen_for_signals()
    try:
        worker.execute_from_commandline()
    except SystemExit as exit_:
        if worker.failure is not None and not exit_.code:
            raise SystemExit(EXIT_FAILED) from None
        raise
    finally:
        api.close()
