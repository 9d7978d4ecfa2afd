"""Wiring: which projections exist and how each one's sink is opened from Settings.

This is the only place that knows every plane; ``processors`` and ``replay`` get
sinks handed to them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import faust
from mode import ServiceT

from processors.app import ProjectionRuntime, faust_broker_url, faust_credentials
from processors.batch_engine import BatchProjection
from processors.proof_closure import ProofClosureRuntime
from processors.worker import LiveProjection, WorkerAPI
from proofstream.settings import Settings
from schemas.codec import EventCodec
from schemas.errors import ConfigError
from sinks.base import Sink
from sinks.clickhouse import ClickHouseSink, run_query

__all__ = ["PROJECTIONS", "QUERY_PROJECTION", "Worker", "build_worker", "open_sink"]


def _facts(settings: Settings) -> Sink:
    return ClickHouseSink.open(settings.clickhouse, settings.state_dir, name="facts")


def _evidence(settings: Settings) -> Sink:
    from sinks.evidence import EvidenceSink

    return EvidenceSink.open(settings.chronicle, settings.state_dir, name="evidence")


def _lineage(settings: Settings) -> Sink:
    from sinks.openlineage import OpenLineageSink

    return OpenLineageSink.open(
        settings.openlineage,
        settings.state_dir,
        name="lineage",
        kafka_bootstrap=settings.kafka.bootstrap_servers,
    )


def _identity(settings: Settings) -> Sink:
    from sinks.rdf import RdfSink

    return RdfSink.open(settings.rdf, settings.state_dir, name="identity")


def _catalog(settings: Settings) -> Sink:
    from sinks.datahub import DataHubSink

    return DataHubSink.open(
        settings.datahub,
        settings.state_dir,
        name="catalog",
        topics=(settings.kafka.topics.events,),
    )


def _archive(settings: Settings) -> Sink:
    from replay.archive import ArchiveSink

    return ArchiveSink(settings.state_dir.resolve() / "archive", name="archive")


PROJECTIONS: Mapping[str, Callable[[Settings], Sink]] = MappingProxyType(
    {
        "facts": _facts,
        "archive": _archive,
        "evidence": _evidence,
        "lineage": _lineage,
        "identity": _identity,
        "catalog": _catalog,
    }
)
"""Projection name → how to open its sink. The name is also its consumer group
suffix (``proofstream.<name>``)."""

QUERY_PROJECTION = "facts"
"""The projection ``proofstream query`` talks to."""


def open_sink(name: str, settings: Settings) -> Sink:
    """Open the sink of projection ``name``. Raises ``ConfigError`` for an unknown name."""
    try:
        factory = PROJECTIONS[name]
    except KeyError:
        known = ", ".join(sorted(PROJECTIONS))
        raise ConfigError(f"unknown projection {name!r}; known: {known}") from None
    return factory(settings)


@dataclass(frozen=True)
class Worker:
    """Everything ``proofstream run`` hands to faust's Worker."""

    web_app: faust.App
    services: list[ServiceT]
    projections: list[LiveProjection]
    api: WorkerAPI


def build_worker(settings: Settings) -> Worker:
    """Open every configured projection's sink (once, in the worker process) and wrap
    it for the configured engine, plus the stateful proof-closure app when enabled.
    The app that serves the API is the first faust projection, else proof closure,
    else a bare app."""
    codec = EventCodec()
    processors = settings.processors
    datadir = settings.state_dir.resolve() / "faust"
    projections: list[LiveProjection] = []
    services: list[ServiceT] = []
    for name in processors.projections:
        opener = functools.partial(open_sink, name, settings)
        if processors.engine == "batch":
            batch = BatchProjection(opener, codec, settings.kafka, processors)
            projections.append(batch)
            services.append(batch)
        else:
            runtime = ProjectionRuntime(
                opener, codec, settings.kafka, processors, datadir=datadir, web=not services
            )
            projections.append(runtime)
            services.append(runtime.app)
    if processors.proof_closure:
        closure = ProofClosureRuntime(codec, settings.kafka, processors, datadir=datadir)
        services.append(closure.app)
    web_app = next((s for s in services if isinstance(s, faust.App)), None)
    if web_app is None:
        web_app = _bare_app(settings, datadir)
    else:
        services.remove(web_app)
    _serve_web(web_app, settings)
    query = QUERY_PROJECTION if QUERY_PROJECTION in processors.projections else None
    api = WorkerAPI(
        projections,
        query_projection=query,
        query_runner=lambda sink, sql: run_query(_clickhouse(sink), sql),
        state_dir=str(settings.state_dir.resolve()),
    )
    return Worker(web_app, services, projections, api)


def _serve_web(app: faust.App, settings: Settings) -> None:
    app.conf.web_enabled = True
    app.conf.web_host = settings.processors.web_host
    app.conf.web_port = settings.processors.web_port


def _bare_app(settings: Settings, datadir: Path) -> faust.App:
    """A faust App with no agent, only to host the worker's web API."""
    (datadir / "worker").mkdir(parents=True, exist_ok=True)
    return faust.App(
        f"{settings.processors.group_prefix}.worker",
        broker=faust_broker_url(settings.kafka),
        broker_credentials=faust_credentials(settings.kafka),
        datadir=str(datadir / "worker"),
        autodiscover=False,
    )


def _clickhouse(sink: Sink) -> ClickHouseSink:
    if not isinstance(sink, ClickHouseSink):
        raise ConfigError(f"projection {sink.name} is not queryable with SQL")
    return sink
