"""Wiring: which projections exist and how each one's sink is opened from Settings.

This is the only place that knows every plane; ``processors`` and ``replay`` get
sinks handed to them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType

import faust

from processors.app import ProjectionRuntime
from processors.proof_closure import ProofClosureRuntime
from processors.worker import WorkerAPI
from proofstream.settings import Settings
from schemas.codec import EventCodec
from schemas.errors import ConfigError
from sinks.base import Sink
from sinks.clickhouse import ClickHouseSink, run_query

__all__ = ["PROJECTIONS", "QUERY_PROJECTION", "build_worker", "open_sink"]


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


def build_worker(
    settings: Settings,
) -> tuple[list[ProjectionRuntime], WorkerAPI, list[faust.App]]:
    """Open every configured projection's sink and wrap it in a runtime (the first
    serves the web API), plus the stateful proof-closure app when enabled. Sinks are
    opened here, once, in the worker process."""
    codec = EventCodec()
    datadir = settings.state_dir.resolve() / "faust"
    runtimes = [
        ProjectionRuntime(
            functools.partial(open_sink, name, settings),
            codec,
            settings.kafka,
            settings.processors,
            datadir=datadir,
            web=index == 0,
        )
        for index, name in enumerate(settings.processors.projections)
    ]
    query = QUERY_PROJECTION if QUERY_PROJECTION in settings.processors.projections else None
    api = WorkerAPI(
        runtimes,
        query_projection=query,
        query_runner=lambda sink, sql: run_query(_clickhouse(sink), sql),
        state_dir=str(settings.state_dir.resolve()),
    )
    extra = []
    if settings.processors.proof_closure:
        closure = ProofClosureRuntime(codec, settings.kafka, settings.processors, datadir=datadir)
        extra.append(closure.app)
    return runtimes, api, extra


def _clickhouse(sink: Sink) -> ClickHouseSink:
    if not isinstance(sink, ClickHouseSink):
        raise ConfigError(f"projection {sink.name} is not queryable with SQL")
    return sink
