"""The pages as the worker serves them: ``GET /pages/…`` on its API, read-only.

``proofstream.pipeline.build_worker`` injects a :class:`PageServer` into the
worker's API (``processors.worker.install_api``'s ``pages`` hook), so the pages
sit behind the same loopback binding and bearer token as ``/status`` and
``/query``. Routes (:func:`route`)::

    /pages/                         the overview
    /pages/pr/<owner>/<name>/<n>    the proof page of pull request owner/name#n
    /pages/run/<run id>             the page of a run (the id percent-encoded)
    /pages/assets/<name>            echarts.min.js, pages.js, pages.css, licences

The facts come from the worker's own query path (its bounded, read-only reader on
its query thread) and the lag from its own ``/status`` data; the evidence marks
from the log's files. The work runs on the server's threads, never on the event
loop. Answers: 200, 400 (a malformed ref), 404 (no such route or asset), 503 (the
facts cannot be read now).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from proofstream.pages.assets import SERVED, asset
from proofstream.pages.gather import gather_overview, gather_pr, gather_run
from proofstream.pages.overview_page import render_overview
from proofstream.pages.pr_page import render_pr
from proofstream.pages.render import AssetMode, Links, render_message
from proofstream.pages.run_page import render_run
from proofstream.settings import Settings
from schemas.errors import ConfigError, InvalidQueryError, ProofstreamError

__all__ = [
    "PREFIX",
    "PageServer",
    "Route",
    "pages_url",
    "pr_path",
    "route",
    "run_path",
    "served_links",
]

PREFIX = "/pages/"
HTML = "text/html; charset=utf-8"
_PR = re.compile(r"pr/([\w.-]+)/([\w.-]+)/([0-9]+)")


@dataclass(frozen=True, slots=True)
class Route:
    """What a path asks for: ``kind`` is overview, pr, run, asset or missing."""

    kind: str
    arg: str = ""


def route(path: str) -> Route:
    """The route of ``path`` (the part after ``/pages/``, percent-decoded). Pure."""
    path = path.strip("/")
    if path == "":
        return Route("overview")
    if match := _PR.fullmatch(path):
        owner, name, number = match.groups()
        return Route("pr", f"{owner}/{name}#{number}")
    if path.startswith("run/") and len(path) > 4:
        return Route("run", path[4:])
    if path.startswith("assets/") and path[7:] in SERVED:
        return Route("asset", path[7:])
    return Route("missing", path)


def pr_path(pr_ref: str) -> str:
    """``/pages/pr/owner/name/n`` for ``owner/name#n``. Pure."""
    repo, _, number = pr_ref.rpartition("#")
    return (
        PREFIX
        + "pr/"
        + "/".join(quote(part, safe="") for part in repo.split("/"))
        + ("/" + quote(number, safe=""))
    )


def run_path(run_id: str) -> str:
    """``/pages/run/<run id, percent-encoded>``. Pure."""
    return PREFIX + "run/" + quote(run_id, safe="")


def served_links() -> Links:
    """The links of served pages: every PR and run is a page of its own."""
    return Links(pr=pr_path, run=run_path, overview=PREFIX, assets=PREFIX + "assets/")


def pages_url(settings: Settings) -> str:
    """Where the overview is served when the worker runs (loopback when bound to all)."""
    p = settings.processors
    host = "127.0.0.1" if p.web_host in ("0.0.0.0", "::") else p.web_host  # noqa: S104
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{p.web_port}{PREFIX}"


class _LoopSource:
    """The worker's async query path, called from a page thread."""

    def __init__(
        self,
        query: Callable[[str], Coroutine[Any, Any, Mapping[str, Any]]],
        loop: asyncio.AbstractEventLoop,
        timeout_s: float,
    ) -> None:
        self._query = query
        self._loop = loop
        self._timeout = timeout_s

    def query(self, sql: str) -> Mapping[str, Any]:
        future: Future[Mapping[str, Any]]
        future = asyncio.run_coroutine_threadsafe(self._query(sql), self._loop)
        return future.result(self._timeout)


class PageServer:
    """The worker's page handler (``processors.worker.PageHandler``): ``query`` is
    the worker's ``WorkerAPI.query`` and ``status`` its ``WorkerAPI.status``."""

    def __init__(
        self,
        settings: Settings,
        query: Callable[[str], Coroutine[Any, Any, Mapping[str, Any]]],
        status: Callable[[], Awaitable[Mapping[str, Any]]],
        *,
        threads: int = 2,
    ) -> None:
        self._settings = settings
        self._query = query
        self._status = status
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="pages")
        self._links = served_links()
        self._timeout = settings.clickhouse.query_timeout_s + 10.0

    async def __call__(self, path: str, query: Mapping[str, str]) -> tuple[int, str, bytes]:
        """Answer ``GET /pages/<path>``; never raises for a request it cannot serve."""
        target = route(path)
        if target.kind == "asset":
            served = asset(target.arg)
            return 200, served.content_type, served.text.encode()
        if target.kind == "missing":
            return self._message(404, "Not found", "No page here.")
        loop = asyncio.get_running_loop()
        status = None
        if target.kind == "overview":
            status = dict(await self._status())
        source = _LoopSource(self._query, loop, self._timeout)
        try:
            page = await loop.run_in_executor(self._pool, self._page, target, source, status)
        except ConfigError as exc:
            return self._message(400, "Bad request", str(exc))
        except (InvalidQueryError, ProofstreamError, TimeoutError) as exc:
            return self._message(503, "Unavailable", f"the facts cannot be read now: {exc}")
        return 200, HTML, page.encode()

    def _page(self, target: Route, source: _LoopSource, status: dict[str, Any] | None) -> str:
        settings, links = self._settings, self._links
        if target.kind == "pr":
            chain = gather_pr(settings, source, target.arg)
            return render_pr(chain, links, AssetMode.LINKED)
        if target.kind == "run":
            timeline = gather_run(settings, source, target.arg)
            return render_run(timeline, links, AssetMode.LINKED)
        return render_overview(gather_overview(source, status), links, AssetMode.LINKED)

    def _message(self, status: int, title: str, message: str) -> tuple[int, str, bytes]:
        page = render_message(title, message, self._links, AssetMode.LINKED)
        return status, HTML, page.encode()

    def close(self) -> None:
        """Stop the page threads (waits for pages being made)."""
        self._pool.shutdown(wait=True)
