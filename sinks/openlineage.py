"""``OpenLineageSink``: the lineage plane, emitted through openlineage-python transports.

The only module that imports ``openlineage``. It turns :mod:`sinks.lineage`'s pure
:class:`~sinks.lineage.LineageEvent` values into the client's typed
``event_v2.RunEvent`` with FractalOps custom facets (attrs classes deriving
``RunFacet`` whose ``_schemaURL`` points at the JSON schemas shipped in
``sinks/openlineage_facets/``) and emits them:

- **file** transport by default, appending NDJSON to
  ``<state_dir>/openlineage/events.ndjson``;
- **http** transport (Marquez, DataHub) when ``OpenLineageSettings.url`` is set.

The transports are used directly rather than through ``OpenLineageClient``: the
client reads (and aliases) ``OPENLINEAGE_*`` environment variables and YAML
config files on construction, and the house rule is no environment reads below
``main()``. A transport is the documented plugin port (``emit`` + ``close``).

Sink contract, in steps:

1. ``write(batch)`` projects the batch, drops events whose dedupe key
   (:mod:`sinks.lineage`) was already emitted, emits the rest in order, then
   commits their keys (and each run's job) to ``state.db``. A crash between an
   emit and that commit can repeat an event once (at-least-once to the
   transport, as OpenLineage consumers expect); a re-written batch after the
   commit emits nothing.
2. ``flush()`` makes the transport durable (fsync of the NDJSON file; HTTP is
   synchronous), then emits this projection's own RUNNING checkpoint event
   (job ``proofstream.<name>``, the offset ranges made durable as the
   ``proofstream_checkpoint`` facet, Kafka topics as inputs; a START once; never
   a COMPLETE: a streaming job does not end), then commits the watermark.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attr
import orjson
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import RunFacet, job_type_job, parent_run
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import HttpConfig, HttpTransport
from openlineage.client.transport.transport import Transport

from schemas.errors import ConfigError, SinkUnavailableError
from sinks.base import Batch, Watermark, advance, high_offsets
from sinks.directories import live_dir
from sinks.lineage import (
    LineageEvent,
    LineageProjection,
    OpenLineageSettings,
    checkpoint_event,
    kafka_dataset,
    lineage_digest,
    processor_start,
)

__all__ = [
    "FACET_SCHEMA_BASE",
    "PRODUCER",
    "FractalopsAgentRunFacet",
    "FractalopsDeliveryRunFacet",
    "FractalopsProofRunFacet",
    "FractalopsSourceRunFacet",
    "FractalopsSquadRunFacet",
    "OpenLineageSettings",
    "OpenLineageSink",
    "ProofstreamCheckpointRunFacet",
    "read_events",
    "to_run_event",
]

PRODUCER = "https://github.com/fractalops/proofstream/tree/v0.1.0/sinks/openlineage.py"
"""``producer`` of every event and facet (a URI naming this code, per the spec)."""

FACET_SCHEMA_BASE = "https://fractalops.dev/proofstream/spec/facets/1-0-0/"
"""Where ``sinks/openlineage_facets/<Facet>.json`` is published (its ``$id``)."""

FACET_SCHEMA_DIR = Path(__file__).with_name("openlineage_facets")


def _url(name: str) -> str:
    return f"{FACET_SCHEMA_BASE}{name}.json#/$defs/{name}"


@attr.define
class FractalopsAgentRunFacet(RunFacet):
    """Who ran (or ended) the agent run: actor kind, id, role and team type."""

    actorKind: str  # noqa: N815 - OpenLineage field names are camelCase
    actorId: str  # noqa: N815
    role: str
    teamType: str | None = attr.field(default=None)  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return _url("FractalopsAgentRunFacet")


@attr.define
class FractalopsSquadRunFacet(RunFacet):
    """The agent squad generation and the attempt of the run."""

    generation: int
    attempt: int
    runRef: str  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return _url("FractalopsSquadRunFacet")


@attr.define
class FractalopsDeliveryRunFacet(RunFacet):
    """An issue or pull-request step of the run's delivery."""

    action: str
    refKind: str  # noqa: N815
    ref: str
    commitSha: str | None = attr.field(default=None)  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return _url("FractalopsDeliveryRunFacet")


@attr.define
class FractalopsProofRunFacet(RunFacet):
    """Evidence (Chronicle sha256 addresses) recorded or relied on by the run."""

    evidence: list[dict[str, Any]]
    proves: str | None = attr.field(default=None)
    closed: bool | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return _url("FractalopsProofRunFacet")


@attr.define
class FractalopsSourceRunFacet(RunFacet):
    """The agent-action event (id and log position) the lineage event came from."""

    eventId: str  # noqa: N815
    eventType: str  # noqa: N815
    topic: str
    partition: int
    offset: int

    @staticmethod
    def _get_schema() -> str:
        return _url("FractalopsSourceRunFacet")


@attr.define
class ProofstreamCheckpointRunFacet(RunFacet):
    """The log offset ranges a streaming projection made durable at a checkpoint."""

    offsets: list[dict[str, Any]]

    @staticmethod
    def _get_schema() -> str:
        return _url("ProofstreamCheckpointRunFacet")


_RUN_FACETS: Mapping[str, type[RunFacet]] = {
    "fractalops_agent": FractalopsAgentRunFacet,
    "fractalops_squad": FractalopsSquadRunFacet,
    "fractalops_delivery": FractalopsDeliveryRunFacet,
    "fractalops_proof": FractalopsProofRunFacet,
    "fractalops_source": FractalopsSourceRunFacet,
    "proofstream_checkpoint": ProofstreamCheckpointRunFacet,
}


def _run_facet(name: str, payload: Mapping[str, Any]) -> RunFacet:
    if name == "parent":
        return parent_run.ParentRunFacet(
            run=parent_run.Run(runId=payload["run"]["runId"]),
            job=parent_run.Job(namespace=payload["job"]["namespace"], name=payload["job"]["name"]),
            producer=PRODUCER,
        )
    return _RUN_FACETS[name](**payload, producer=PRODUCER)


def to_run_event(event: LineageEvent) -> RunEvent:
    """The client's typed ``RunEvent`` for ``event``. Pure (no emit)."""
    job_facets: dict[str, Any] = {}
    if "jobType" in event.job_facets:
        job_facets["jobType"] = job_type_job.JobTypeJobFacet(
            **event.job_facets["jobType"], producer=PRODUCER
        )
    return RunEvent(
        eventType=RunState(event.event_type),
        eventTime=event.event_time,
        run=Run(
            runId=event.run_id,
            facets={name: _run_facet(name, p) for name, p in event.run_facets.items()},
        ),
        job=Job(namespace=event.job_namespace, name=event.job_name, facets=job_facets),
        inputs=[InputDataset(namespace=d.namespace, name=d.name) for d in event.inputs],
        outputs=[OutputDataset(namespace=d.namespace, name=d.name) for d in event.outputs],
        producer=PRODUCER,
    )


_STATE = """
CREATE TABLE IF NOT EXISTS emitted(key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS runs(
    run_id TEXT PRIMARY KEY, namespace TEXT NOT NULL, name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS watermarks(
    topic TEXT NOT NULL, partition INTEGER NOT NULL, log_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""
_IN_CHUNK = 500


class OpenLineageSink:
    """The lineage sink (see the module docstring for the contract).

    ``transport`` is any openlineage-python transport; ``events_file`` is the
    file it appends to, when it is the file transport (fsynced on flush).
    ``state_dir`` holds ``state.db`` (dedupe keys, run → job, watermark).
    """

    def __init__(
        self,
        transport: Transport,
        state_dir: Path,
        *,
        name: str = "lineage",
        events_file: Path | None = None,
        kafka_bootstrap: str = "127.0.0.1:9092",
        processor_namespace: str = "proofstream",
        clock: Callable[[], int] | None = None,
    ) -> None:
        self._transport: Transport | None = transport
        self._name = name
        self._events_file = events_file
        self._bootstrap = kafka_bootstrap
        self._namespace = processor_namespace
        self._clock = clock or (lambda: time.time_ns() // 1000)
        self._projection = LineageProjection()
        self._pending: Watermark = {}
        self._low: Watermark = {}
        state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._con: sqlite3.Connection | None = sqlite3.connect(state_dir / "state.db")
            self._con.executescript(_STATE)
        except sqlite3.Error as exc:
            raise SinkUnavailableError(name, f"cannot open lineage state: {exc}") from exc
        self._jobs: dict[str, tuple[str, str]] = {
            run: (ns, job) for run, ns, job in self._db.execute("SELECT * FROM runs")
        }

    @classmethod
    def open(
        cls,
        settings: OpenLineageSettings,
        state_dir: Path,
        *,
        name: str = "lineage",
        kafka_bootstrap: str = "127.0.0.1:9092",
        clock: Callable[[], int] | None = None,
    ) -> OpenLineageSink:
        """Open the sink on the transport ``settings`` choose (file by default).

        ``state.db`` (and, for the file transport, the events file) are the live
        generation's: ``<state_dir>/openlineage`` and the configured file, or,
        once a replay swapped a generation in, ``state.db`` and ``events.ndjson``
        in that generation's directory (:func:`sinks.directories.live_dir`).
        """
        base = Path(state_dir).resolve() / "openlineage"
        home = live_dir(base)
        events_file: Path | None = None
        transport: Transport
        if settings.url:
            if not settings.url.startswith(("http://", "https://")):
                raise ConfigError(f"OpenLineage url must be http(s): {settings.url!r}")
            from openlineage.client.transport.http import ApiKeyTokenProvider, TokenProvider

            auth = (
                ApiKeyTokenProvider({"apiKey": settings.api_key.get_secret_value()})
                if settings.api_key
                else TokenProvider({})
            )
            transport = HttpTransport(
                HttpConfig(
                    url=settings.url,
                    endpoint=settings.endpoint,
                    timeout=settings.timeout_s,
                    auth=auth,
                )
            )
        else:
            events_file = (
                settings.resolve_file(state_dir) if home == base else home / "events.ndjson"
            )
            events_file.parent.mkdir(parents=True, exist_ok=True)
            transport = FileTransport(FileConfig(log_file_path=str(events_file), append=True))
        return cls(
            transport,
            home,
            name=name,
            events_file=events_file,
            kafka_bootstrap=kafka_bootstrap,
            processor_namespace=settings.processor_namespace,
            clock=clock,
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def events_file(self) -> Path | None:
        """The NDJSON file of the file transport (None for HTTP)."""
        return self._events_file

    @property
    def _db(self) -> sqlite3.Connection:
        if self._con is None:
            raise SinkUnavailableError(self._name, "sink is closed", retry_after=0.0)
        return self._con

    def write(self, batch: Batch) -> None:
        """Emit the lineage events of ``batch`` not emitted before (step 1 above).

        Raises :class:`SinkUnavailableError` when the transport or the state
        store fails; the runtime retries the batch and already-committed keys
        are not emitted again.
        """
        if not batch:
            return
        jobs = dict(self._jobs)
        events = self._projection.project(batch, jobs)
        fresh = self._fresh(events)
        for event in fresh:
            self._emit(event)
        new_jobs = [(run, *jobs[run]) for run in jobs.keys() - self._jobs.keys()]
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR IGNORE INTO emitted VALUES (?)", [(e.key,) for e in fresh]
                )
                self._db.executemany("INSERT OR IGNORE INTO runs VALUES (?, ?, ?)", new_jobs)
        except sqlite3.Error as exc:
            raise SinkUnavailableError(self._name, f"lineage state commit failed: {exc}") from exc
        self._jobs = jobs
        self._pending = advance(self._pending, high_offsets(batch))
        for item in batch:
            key = (item.position.topic, item.position.partition)
            if item.position.offset < self._low.get(key, item.position.offset + 1):
                self._low[key] = item.position.offset

    def _fresh(self, events: Sequence[LineageEvent]) -> list[LineageEvent]:
        keys = sorted({e.key for e in events})
        seen: set[str] = set()
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key FROM emitted WHERE key IN ({marks})", chunk)
            seen.update(row[0] for row in rows)
        fresh = []
        for event in events:
            if event.key not in seen:
                seen.add(event.key)
                fresh.append(event)
        return fresh

    def _emit(self, event: LineageEvent) -> None:
        transport = self._transport
        if transport is None:
            raise SinkUnavailableError(self._name, "sink is closed", retry_after=0.0)
        try:
            transport.emit(to_run_event(event))
        except Exception as exc:  # any transport failure: retry the batch later
            raise SinkUnavailableError(self._name, f"OpenLineage emit failed: {exc}") from exc

    def flush(self) -> None:
        """Make emitted events durable, emit the checkpoint, record the watermark."""
        if not self._pending:
            return
        self._sync_file()
        job = f"proofstream.{self._name}"
        topics = sorted({topic for topic, _ in self._pending})
        inputs = [kafka_dataset(self._bootstrap, topic) for topic in topics]
        now = self._clock()
        ranges = {key: (self._low.get(key, high), high) for key, high in self._pending.items()}
        own = [
            processor_start(self._namespace, job, inputs, now),
            checkpoint_event(self._namespace, job, ranges, inputs=inputs, event_time_us=now),
        ]
        fresh = self._fresh(own)
        for event in fresh:
            self._emit(event)
        self._sync_file()
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR IGNORE INTO emitted VALUES (?)", [(e.key,) for e in fresh]
                )
                self._db.executemany(
                    "INSERT INTO watermarks VALUES (?, ?, ?) ON CONFLICT(topic, partition)"
                    " DO UPDATE SET log_offset = max(log_offset, excluded.log_offset)",
                    [(t, p, o) for (t, p), o in sorted(self._pending.items())],
                )
        except sqlite3.Error as exc:
            raise SinkUnavailableError(self._name, f"lineage watermark failed: {exc}") from exc
        self._pending = {}
        self._low = {}

    def _sync_file(self) -> None:
        if self._events_file is None or not self._events_file.exists():
            return
        fd = os.open(self._events_file, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def watermark(self) -> Watermark:
        """Last flushed offset per ``(topic, partition)``, from ``state.db``."""
        rows = self._db.execute("SELECT topic, partition, log_offset FROM watermarks")
        return {(str(t), int(p)): int(o) for t, p, o in rows}

    def digest(self) -> str:
        """Replay digest of the agent-run lineage emitted to the file transport
        (the processor's own checkpoint runs are excluded). File transport only."""
        if self._events_file is None:
            raise ConfigError("the lineage digest reads the file transport's events")
        return lineage_digest(read_events(self._events_file), exclude_namespace=self._namespace)

    def close(self) -> None:
        """Close the transport and the state store. Idempotent; does not flush."""
        transport, self._transport = self._transport, None
        con, self._con = self._con, None
        if transport is not None:
            transport.close(timeout=5.0)
        if con is not None:
            con.close()


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Every event in an NDJSON file written by the file transport, in order."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                yield orjson.loads(line)
