"""Composing a worker: which planes this process runs, the engine, faust, the API
(with the proof pages, ``proofstream.pages``, when the facts plane runs here).

``proofstream run`` runs the configured planes. On a machine with two cores or
more (``processors.split = auto``) it runs them in two processes: this one hosts
the planes whose work is mostly outside Python (the facts plane's inserts run in
ClickHouse, the archive and the ledger write files) plus proof closure and the
API; a child worker (``proofstream run --planes identity,catalog``) runs the
planes whose projections are Python and would otherwise share one GIL. Each store
is still opened by exactly one process. The child serves its own API on the next
port, which this one aggregates into ``/status``; it exits when its parent does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faust
from mode import ServiceT

from processors.engine import Engine
from processors.faust_config import faust_broker_url, faust_credentials
from processors.proof_closure import NAME as PROOF_CLOSURE
from processors.proof_closure import ProofClosureRuntime, route_plane
from processors.settings import ProcessorSettings
from processors.worker import LOOPBACK, EngineService, WorkerAPI, install_api
from proofstream.planes import PLANES, QUERY_PLANE, planes
from proofstream.settings import Settings
from schemas.codec import EventCodec
from schemas.errors import ConfigError

__all__ = ["CHILD_PLANES", "Worker", "build_worker", "split_planes", "worker_planes"]

CHILD_PLANES = frozenset({"identity", "catalog"})
"""Planes a split puts in the child process: their projections are Python."""


@dataclass(frozen=True)
class Worker:
    """Everything ``proofstream run`` hands to faust's Worker."""

    web_app: faust.App
    services: list[ServiceT]
    api: WorkerAPI
    engine: Engine
    planes: tuple[str, ...]


def worker_planes(settings: Settings, requested: Sequence[str] | None) -> tuple[str, ...]:
    """The plane names a worker runs: ``requested`` (``--planes``), else the
    configured projections plus proof closure when enabled. Raises ``ConfigError``
    for an unknown name."""
    known = {*PLANES, PROOF_CLOSURE}
    names = (
        tuple(requested)
        if requested
        else (
            *settings.processors.projections,
            *((PROOF_CLOSURE,) if settings.processors.proof_closure else ()),
        )
    )
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown plane(s) {unknown}; known: {', '.join(sorted(known))}")
    return names


def split_planes(
    names: Sequence[str], settings: ProcessorSettings, cpus: int | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(this process, child process)`` for ``names``. Pure: no split when it is off,
    on one core, or when either side would be empty."""
    child = tuple(n for n in names if n in CHILD_PLANES)
    here = tuple(n for n in names if n not in CHILD_PLANES)
    if settings.split == "off" or (cpus or 1) < 2 or not child or not here:
        return tuple(names), ()
    return here, child


def check_exposure(settings: ProcessorSettings) -> str | None:
    """The API's bearer token, or None on loopback. Raises ``ConfigError`` for an API
    bound beyond loopback without a token: it would let anyone in."""
    token = settings.api_token.get_secret_value() if settings.api_token else None
    if settings.web_host not in LOOPBACK and not token:
        raise ConfigError(
            f"the worker API binds {settings.web_host}, not loopback: set a bearer token"
            " in the secrets directory (processors__api_token) or bind 127.0.0.1"
        )
    return token


def build_worker(settings: Settings, names: Sequence[str], *, peers: Sequence[str] = ()) -> Worker:
    """Open nothing yet: build the engine for ``names``, the proof-closure app when it
    is among them, and the API. Stores are opened when the engine starts."""
    codec = EventCodec()
    processors = settings.processors
    token = check_exposure(processors)
    datadir = settings.state_dir.resolve() / "faust"
    chosen = [n for n in names if n != PROOF_CLOSURE]
    engine_planes = planes(chosen, settings, codec)
    services: list[ServiceT] = []
    web_app: faust.App | None = None
    if PROOF_CLOSURE in names:
        engine_planes.append(route_plane(settings.kafka, processors))
        closure = ProofClosureRuntime(codec, settings.kafka, processors, datadir=datadir)
        web_app = closure.app
    # one worker publishes the records no plane may apply: the one with the facts
    # plane, or any when facts is not configured at all
    rejects = "facts" in chosen or "facts" not in processors.projections
    engine = Engine(engine_planes, codec, settings.kafka, processors, publish_rejects=rejects)
    services.append(EngineService(engine, processors.stop_timeout_s))
    if web_app is None:
        web_app = _bare_app(settings, datadir)
    _serve_web(web_app, processors)
    open_reader = None
    if QUERY_PLANE in chosen:
        from sinks.facts.query import FactsReader

        def open_reader() -> FactsReader:
            return FactsReader.open(settings.clickhouse, settings.state_dir)

    api = WorkerAPI(
        engine,
        open_reader=open_reader,
        state_dir=str(settings.state_dir.resolve()),
        peers=peers,
        peer_token=token,
    )
    pages = None
    if open_reader is not None:  # the pages read the facts through this API's reader
        from proofstream.pages.serve import PageServer

        pages = PageServer(settings, api.query, api.status)
    install_api(web_app, api, token, pages)
    return Worker(web_app, services, api, engine, tuple(names))


def _serve_web(app: faust.App, settings: ProcessorSettings) -> None:
    app.conf.web_enabled = True
    # both loopback addresses when the host is loopback; otherwise exactly the host
    app.conf.web_bind = "localhost" if settings.web_host in LOOPBACK else settings.web_host
    app.conf.web_host = settings.web_host
    app.conf.web_port = settings.web_port
    app.conf.web_in_thread = False
    for page in ("router", "tables", "graph", "stats", "metrics"):
        setattr(app.conf, f"web_{page}_enabled", False)


def _bare_app(settings: Settings, datadir: Path) -> faust.App:
    """A faust App with no agent, only to host the engine and the API."""
    (datadir / "worker").mkdir(parents=True, exist_ok=True)
    return faust.App(
        f"{settings.processors.group_prefix}.worker",
        broker=faust_broker_url(settings.kafka),
        broker_credentials=faust_credentials(settings.kafka),
        datadir=str(datadir / "worker"),
        autodiscover=False,
    )


def cpu_count() -> int:
    """Cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
