"""FractalOps custom facets on openlineage-python, and the client's typed events.

The facets are attrs classes deriving the client's ``RunFacet``; their
``_schemaURL`` points at the JSON schemas shipped beside this module in
``openlineage_facets/`` (package data, published at :data:`FACET_SCHEMA_BASE`).
:class:`RunEvents` turns the projection's pure
:class:`~sinks.lineage.events.LineageEvent` values into the client's
``event_v2.RunEvent``, which the client's transports serialize.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import RunFacet, job_type_job, parent_run

from sinks.lineage.events import LineageEvent

__all__ = [
    "FACET_SCHEMA_BASE",
    "FACET_SCHEMA_DIR",
    "PRODUCER",
    "RUN_FACETS",
    "FractalopsAgentRunFacet",
    "FractalopsDeliveryRunFacet",
    "FractalopsProofRunFacet",
    "FractalopsSourceRunFacet",
    "FractalopsSquadRunFacet",
    "ProofstreamCheckpointRunFacet",
    "RunEvents",
]

# The producer URI is part of every emitted event and so of every replay digest:
# it still names the module's first home, and must not follow the code around.
PRODUCER: Final = "https://github.com/fractalops/proofstream/tree/v0.1.0/sinks/openlineage.py"
"""``producer`` of every event and facet (a URI naming this code, per the spec)."""

FACET_SCHEMA_BASE: Final = "https://fractalops.dev/proofstream/spec/facets/1-0-0/"
"""Where ``openlineage_facets/<Facet>.json`` is published (its ``$id``)."""

FACET_SCHEMA_DIR: Final = Path(__file__).with_name("openlineage_facets")
"""The shipped JSON schema of every custom facet (package data)."""


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


RUN_FACETS: Mapping[str, type[RunFacet]] = {
    "fractalops_agent": FractalopsAgentRunFacet,
    "fractalops_squad": FractalopsSquadRunFacet,
    "fractalops_delivery": FractalopsDeliveryRunFacet,
    "fractalops_proof": FractalopsProofRunFacet,
    "fractalops_source": FractalopsSourceRunFacet,
    "proofstream_checkpoint": ProofstreamCheckpointRunFacet,
}
"""Our custom run facets by their key in ``run.facets``."""
_SHARED: Final = frozenset({"fractalops_agent", "fractalops_squad"})
"""Facets that repeat across a run's events (same actor, same squad): built once."""
_CACHE_LIMIT: Final = 4096


class RunEvents:
    """Builds the client's ``RunEvent`` for a :class:`LineageEvent`. Not thread-safe.

    The client's classes validate every field on construction (URI checks on each
    facet's ``_producer``/``_schemaURL``, an ISO parse of ``eventTime``), so the
    facets a run repeats on every event (agent, squad) and the ``Job`` values are
    built once per distinct value and shared: the client never mutates them. The
    caches are bounded (cleared when full), so memory stays flat on any log.
    """

    def __init__(self) -> None:
        self._facets: dict[tuple[str, tuple[Any, ...]], RunFacet] = {}
        self._jobs: dict[tuple[str, str], Job] = {}

    def __call__(self, event: LineageEvent, job_namespace: str, job_name: str) -> RunEvent:
        """The typed event for ``event``, naming job ``job_namespace``/``job_name``."""
        facets = {name: self._facet(name, p) for name, p in event.run_facets.items()}
        if event.parent_run_id is not None:
            facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=event.parent_run_id),
                job=parent_run.Job(namespace=job_namespace, name=job_name),
                producer=PRODUCER,
            )
        if event.job_facets:
            job = self._streaming_job(job_namespace, job_name, event.job_facets)
        else:
            job = self._job(job_namespace, job_name)
        return RunEvent(
            eventType=RunState(event.event_type),
            eventTime=event.event_time,
            run=Run(runId=event.run_id, facets=facets),
            job=job,
            inputs=[InputDataset(namespace=d.namespace, name=d.name) for d in event.inputs],
            outputs=[OutputDataset(namespace=d.namespace, name=d.name) for d in event.outputs],
            producer=PRODUCER,
        )

    def _facet(self, name: str, payload: Mapping[str, Any]) -> RunFacet:
        if name not in _SHARED:
            return RUN_FACETS[name](**payload, producer=PRODUCER)
        key = (name, tuple(payload.values()))
        facet = self._facets.get(key)
        if facet is None:
            if len(self._facets) >= _CACHE_LIMIT:
                self._facets.clear()
            facet = self._facets[key] = RUN_FACETS[name](**payload, producer=PRODUCER)
        return facet

    def _job(self, namespace: str, name: str) -> Job:
        job = self._jobs.get((namespace, name))
        if job is None:
            if len(self._jobs) >= _CACHE_LIMIT:
                self._jobs.clear()
            job = self._jobs[(namespace, name)] = Job(namespace=namespace, name=name)
        return job

    @staticmethod
    def _streaming_job(namespace: str, name: str, facets: Mapping[str, Mapping[str, Any]]) -> Job:
        return Job(
            namespace=namespace,
            name=name,
            facets={
                "jobType": job_type_job.JobTypeJobFacet(**facets["jobType"], producer=PRODUCER)
            },
        )
