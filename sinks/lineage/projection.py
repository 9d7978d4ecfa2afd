"""The lineage projection: agent-action events → OpenLineage run events. Pure.

No I/O, no state between calls, no client library: :class:`LineageProjection`
maps a batch to :class:`~sinks.lineage.events.LineageWrites`;
:mod:`sinks.lineage.store` turns them into the client's typed events and emits
them.

Mapping (DESIGN: OpenLineage where its model fits, FractalOps metadata as custom
facets, never a parallel event shape):

=====================  ==========  =================================================
event                  OL type     facets / datasets
=====================  ==========  =================================================
run.started            START       fractalops_agent, fractalops_squad, parent (if any)
run.finished           COMPLETE    success; FAIL for failure/error/timeout, ABORT for
                                   cancelled; fractalops_agent, fractalops_squad
evidence.recorded      RUNNING     fractalops_proof (the artifact's sha256, kind, proves)
proof.closed           RUNNING     fractalops_proof (every sha256 relied on)
issue.opened, pr.*     RUNNING     fractalops_delivery (issue/PR ref, action, commit)
lineage.declared       RUNNING     inputs / outputs datasets (refs of kind dataset)
=====================  ==========  =================================================

Every event also carries ``fractalops_source`` (the log event id and position).
Events without ``subject.run_id`` describe no run and are skipped.

Identity: ``runId = UUIDv5(LINEAGE_NAMESPACE, f"{project}/{run_id}/{attempt}")``,
so a replay emits the same ids. Job: namespace ``fractalops://{project}``, name
``{team_type}.{repository or project}`` of the event; the store keeps the job of
a run's first event and names it on all the run's events (that state lives in the
store, across batches, not here).

Dedupe keys (what the store emits at most once): START and the terminal event are
once per run (``runId:START``, ``runId:END``); every RUNNING event is keyed by its
source ``event_id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sinks.base import Batch, Input, LoggedEvent
from sinks.lineage.events import LineageEvent, LineageWrites, iso_time
from sinks.lineage.naming import DatasetRef, agent_run_id, dataset_of

__all__ = ["READS", "LineageProjection"]

_TERMINAL = {
    "success": "COMPLETE",
    "failure": "FAIL",
    "error": "FAIL",
    "timeout": "FAIL",
    "cancelled": "ABORT",
}
_DELIVERY = {
    "issue.opened": ("issue_ref", "opened"),
    "pr.opened": ("pr_ref", "opened"),
    "pr.reviewed": ("pr_ref", "reviewed"),
    "pr.merged": ("pr_ref", "merged"),
}
READS = frozenset(
    {"run.started", "run.finished", "evidence.recorded", "proof.closed", "lineage.declared"}
    | _DELIVERY.keys()
)
"""The event types the projection maps (and so the only ones decoded for it)."""

_Payload = tuple[dict[str, Mapping[str, Any]], tuple[DatasetRef, ...], tuple[DatasetRef, ...]]


class LineageProjection:
    """Pure: the agent-run lineage events of a batch (see the module docstring)."""

    name = "lineage"
    version = 1
    reads: frozenset[str] | None = READS
    input = Input.EVENTS

    def project(self, batch: Batch) -> LineageWrites:
        """The lineage events of ``batch`` in batch order, and the lowest offset per
        partition among the events read. Never mutates ``batch``."""
        out: list[LineageEvent] = []
        first: dict[tuple[str, int], int] = {}
        run_ids: dict[tuple[str, str, int], str] = {}  # uuid5 once per run of the batch
        for item in batch.events:
            pos = item.position
            key = (pos.topic, pos.partition)
            if pos.offset < first.get(key, pos.offset + 1):
                first[key] = pos.offset
            event = _one(item, run_ids)
            if event is not None:
                out.append(event)
        return LineageWrites(tuple(out), first)


def _one(item: LoggedEvent, run_ids: dict[tuple[str, str, int], str]) -> LineageEvent | None:
    record = item.record
    subject = record["subject"]
    if subject.get("run_id") is None:
        return None
    kind = item.event_type
    project = str(subject["project"])
    ident = (project, str(subject["run_id"]), int(subject.get("attempt") or 1))
    run_id = run_ids.get(ident)
    if run_id is None:
        run_id = run_ids[ident] = agent_run_id(*ident)
    actor = record["actor"]
    namespace = f"fractalops://{project}"
    job = f"{actor.get('team_type') or 'run'}.{subject.get('repository') or project}"
    facets: dict[str, Mapping[str, Any]] = {"fractalops_source": _source(item)}
    inputs: tuple[DatasetRef, ...] = ()
    outputs: tuple[DatasetRef, ...] = ()
    parent: str | None = None
    if kind in ("run.started", "run.finished"):
        facets["fractalops_agent"] = _agent(actor)
        facets["fractalops_squad"] = {
            "generation": int(subject.get("generation") or 0),
            "attempt": int(subject.get("attempt") or 1),
            "runRef": str(subject["run_id"]),
        }
        if kind == "run.started":
            event_type, key = "START", f"{run_id}:START"
            if record.get("parent_run_id"):
                parent = agent_run_id(project, str(record["parent_run_id"]), 1)
        else:
            event_type = _TERMINAL.get(str(record["outcome"]), "FAIL")
            key = f"{run_id}:END"
    else:
        payload = _payload(kind, record, project)
        if payload is None:
            return None
        extra, inputs, outputs = payload
        facets.update(extra)
        event_type, key = "RUNNING", f"{run_id}:{item.event_id}"
    return LineageEvent(
        key=key,
        event_type=event_type,
        event_time=iso_time(int(record["occurred_at"])),
        run_id=run_id,
        job_namespace=namespace,
        job_name=job,
        run_facets=facets,
        inputs=inputs,
        outputs=outputs,
        parent_run_id=parent,
    )


def _source(item: LoggedEvent) -> dict[str, Any]:
    pos = item.position
    return {
        "eventId": str(item.event_id),
        "eventType": item.event_type,
        "topic": pos.topic,
        "partition": pos.partition,
        "offset": pos.offset,
    }


def _agent(actor: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "actorKind": str(actor["kind"]),
        "actorId": str(actor["id"]),
        "role": str(actor["role"]),
        "teamType": None if actor.get("team_type") is None else str(actor["team_type"]),
    }


def _payload(kind: str, record: Mapping[str, Any], project: str) -> _Payload | None:
    """Facets and datasets of a RUNNING event, or None for a type that is not lineage."""
    if kind == "evidence.recorded":
        evidence = {
            "sha256": str(record["sha256"]),
            "kind": str(record["kind"]),
            "mediaType": str(record["media_type"]),
            "proves": str(record["proves"]),
        }
        return {"fractalops_proof": {"evidence": [evidence]}}, (), ()
    if kind == "proof.closed":
        proof = {
            "proves": str(record["proves"]),
            "closed": True,
            "evidence": [{"sha256": str(s)} for s in record["evidence"]],
        }
        return {"fractalops_proof": proof}, (), ()
    if kind in _DELIVERY:
        ref_field, action = _DELIVERY[kind]
        delivery: dict[str, Any] = {
            "action": action,
            "refKind": "issue" if ref_field == "issue_ref" else "pull_request",
            "ref": str(record[ref_field]),
        }
        for sha_field in ("head_sha", "merge_sha", "commit_sha"):
            if record.get(sha_field):
                delivery["commitSha"] = str(record[sha_field])
        return {"fractalops_delivery": delivery}, (), ()
    if kind == "lineage.declared":
        inputs = _datasets(record.get("inputs") or (), project)
        outputs = _datasets(record.get("outputs") or (), project)
        return {}, inputs, outputs
    return None


def _datasets(refs: Iterable[Mapping[str, Any]], project: str) -> tuple[DatasetRef, ...]:
    return tuple(
        sorted({dataset_of(str(ref["name"]), project) for ref in refs if ref["kind"] == "dataset"})
    )
