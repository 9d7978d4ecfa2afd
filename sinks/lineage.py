"""The lineage projection: agent-action events → OpenLineage run events. Pure.

No I/O and no client library: :class:`LineageProjection` maps a batch to
:class:`LineageEvent` values (the OpenLineage ``RunEvent`` shape with facet
payloads as plain mappings); :mod:`sinks.openlineage` turns them into the
client's typed events and emits them.

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
``{team_type}.{repository or project}`` as first seen on the run (``known_jobs``
carries that across batches, so all events of a run name the same job).

Dedupe keys (what the sink emits at most once): START and the terminal event are
once per run (``runId:START``, ``runId:END``); every RUNNING event is keyed by its
source ``event_id``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, SecretStr

from sinks.base import Batch, LoggedEvent

__all__ = [
    "LINEAGE_NAMESPACE",
    "DatasetRef",
    "LineageEvent",
    "LineageProjection",
    "OpenLineageSettings",
    "agent_run_id",
    "checkpoint_event",
    "clickhouse_dataset",
    "kafka_dataset",
    "lineage_digest",
    "processor_run_id",
    "processor_start",
]

LINEAGE_NAMESPACE = uuid.UUID("6f1d9c52-3b0e-5a47-9c1e-70726f6f6673")
"""Fixed UUIDv5 namespace of every run id proofstream derives (never change it:
run ids, and so replay digests, depend on it)."""

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


@dataclass(frozen=True, slots=True, order=True)
class DatasetRef:
    """An OpenLineage dataset identity (naming spec: namespace + name)."""

    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class LineageEvent:
    """One OpenLineage ``RunEvent`` before it meets the client. ``key`` is the
    dedupe key; facet payloads exclude ``_producer``/``_schemaURL``."""

    key: str
    event_type: str
    event_time: str
    run_id: str
    job_namespace: str
    job_name: str
    run_facets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    job_facets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    inputs: tuple[DatasetRef, ...] = ()
    outputs: tuple[DatasetRef, ...] = ()


class OpenLineageSettings(BaseModel):
    """Where lineage goes: ``url=None`` → file transport at
    ``<state_dir>/openlineage/events.ndjson`` (or ``file``); else HTTP to ``url``
    (``endpoint`` path, optional bearer ``api_key`` read from the secrets dir)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None
    endpoint: str = "api/v1/lineage"
    timeout_s: float = 5.0
    api_key: SecretStr | None = None
    file: Path | None = None
    processor_namespace: str = "proofstream"

    def resolve_file(self, state_dir: Path) -> Path:
        """The NDJSON file of the file transport."""
        return (self.file or Path(state_dir) / "openlineage" / "events.ndjson").resolve()


def agent_run_id(project: str, run_id: str, attempt: int) -> str:
    """The OpenLineage runId of an agent run attempt (deterministic). Pure."""
    return str(uuid.uuid5(LINEAGE_NAMESPACE, f"{project}/{run_id}/{attempt}"))


def processor_run_id(job_name: str) -> str:
    """The runId of a streaming processor job: one endless run per job. Pure."""
    return str(uuid.uuid5(LINEAGE_NAMESPACE, f"processor/{job_name}"))


def kafka_dataset(bootstrap: str, topic: str) -> DatasetRef:
    """Kafka topic per the OL naming spec: ``kafka://{host:port}`` / ``{topic}``
    (the first bootstrap server names the cluster). Pure."""
    first = bootstrap.split(",", maxsplit=1)[0].strip()
    return DatasetRef(f"kafka://{first}", topic)


def clickhouse_dataset(host: str, port: int, database: str, table: str) -> DatasetRef:
    """ClickHouse table per the OL naming spec: ``clickhouse://{host}:{port}`` /
    ``{db}.{table}``. Pure."""
    return DatasetRef(f"clickhouse://{host}:{port}", f"{database}.{table}")


def _iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC).isoformat()


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


def _dataset_of(name: str, project: str) -> DatasetRef:
    # A URI-shaped ref already names its namespace (kafka://, clickhouse://, s3://...).
    parts = urlsplit(name)
    if parts.scheme and parts.netloc:
        return DatasetRef(f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/") or name)
    return DatasetRef(f"fractalops://{project}", name)


class LineageProjection:
    """Pure: agent-run lineage events of a batch (see the module docstring)."""

    def project(
        self, batch: Batch, known_jobs: MutableMapping[str, tuple[str, str]] | None = None
    ) -> list[LineageEvent]:
        """The lineage events of ``batch`` in batch order.

        ``known_jobs`` (runId → (namespace, name)) is read and extended in place,
        so later events of a run name the job its first event named; pass the
        sink's persisted map. Pure apart from that explicit map.
        """
        jobs: MutableMapping[str, tuple[str, str]] = {} if known_jobs is None else known_jobs
        out: list[LineageEvent] = []
        for item in batch:
            event = self._one(item, jobs)
            if event is not None:
                out.append(event)
        return out

    def _one(
        self, item: LoggedEvent, jobs: MutableMapping[str, tuple[str, str]]
    ) -> LineageEvent | None:
        record = item.record
        subject = record["subject"]
        if subject.get("run_id") is None:
            return None
        kind = item.event_type
        project = str(subject["project"])
        run_id = agent_run_id(project, str(subject["run_id"]), int(subject.get("attempt") or 1))
        actor = record["actor"]
        if run_id not in jobs:
            team = actor.get("team_type") or "run"
            jobs[run_id] = (
                f"fractalops://{project}",
                f"{team}.{subject.get('repository') or project}",
            )
        namespace, job = jobs[run_id]
        facets: dict[str, Mapping[str, Any]] = {"fractalops_source": _source(item)}
        inputs: tuple[DatasetRef, ...] = ()
        outputs: tuple[DatasetRef, ...] = ()
        if kind in ("run.started", "run.finished"):
            facets["fractalops_agent"] = _agent(actor)
            facets["fractalops_squad"] = {
                "generation": int(subject.get("generation") or 0),
                "attempt": int(subject.get("attempt") or 1),
                "runRef": str(subject["run_id"]),
            }
            if kind == "run.started":
                event_type, key = "START", f"{run_id}:START"
                parent = record.get("parent_run_id")
                if parent:
                    facets["parent"] = {
                        "run": {"runId": agent_run_id(project, str(parent), 1)},
                        "job": {"namespace": namespace, "name": job},
                    }
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
            event_time=_iso(int(record["occurred_at"])),
            run_id=run_id,
            job_namespace=namespace,
            job_name=job,
            run_facets=facets,
            inputs=inputs,
            outputs=outputs,
        )


def _payload(
    kind: str, record: Mapping[str, Any], project: str
) -> tuple[dict[str, Mapping[str, Any]], tuple[DatasetRef, ...], tuple[DatasetRef, ...]] | None:
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
        sorted({_dataset_of(str(ref["name"]), project) for ref in refs if ref["kind"] == "dataset"})
    )


def checkpoint_event(
    job_namespace: str,
    job_name: str,
    ranges: Mapping[tuple[str, int], tuple[int, int]],
    *,
    inputs: Sequence[DatasetRef],
    event_time_us: int,
    outputs: Sequence[DatasetRef] = (),
) -> LineageEvent:
    """The RUNNING event a streaming processor emits when it checkpoints. Pure.

    ``ranges`` is the offset range (first, last) made durable per partition; it
    is the ``proofstream_checkpoint`` facet and part of the dedupe key, so the
    same checkpoint is emitted once. Streaming jobs never COMPLETE.
    """
    run_id = processor_run_id(job_name)
    spans = [
        {"topic": t, "partition": p, "fromOffset": lo, "toOffset": hi}
        for (t, p), (lo, hi) in sorted(ranges.items())
    ]
    signature = ",".join(f"{t}:{p}:{lo}-{hi}" for (t, p), (lo, hi) in sorted(ranges.items()))
    return LineageEvent(
        key=f"{run_id}:RUNNING:{signature}",
        event_type="RUNNING",
        event_time=_iso(event_time_us),
        run_id=run_id,
        job_namespace=job_namespace,
        job_name=job_name,
        run_facets={"proofstream_checkpoint": {"offsets": spans}},
        job_facets={
            "jobType": {
                "processingType": "STREAMING",
                "integration": "PROOFSTREAM",
                "jobType": "PROJECTION",
            }
        },
        inputs=tuple(inputs),
        outputs=tuple(outputs),
    )


def processor_start(
    job_namespace: str, job_name: str, inputs: Sequence[DatasetRef], event_time_us: int
) -> LineageEvent:
    """The START of a streaming processor's endless run (emitted once). Pure."""
    run_id = processor_run_id(job_name)
    return LineageEvent(
        key=f"{run_id}:START",
        event_type="START",
        event_time=_iso(event_time_us),
        run_id=run_id,
        job_namespace=job_namespace,
        job_name=job_name,
        job_facets={
            "jobType": {
                "processingType": "STREAMING",
                "integration": "PROOFSTREAM",
                "jobType": "PROJECTION",
            }
        },
        inputs=tuple(inputs),
    )


def lineage_digest(events: Iterable[Mapping[str, Any]], *, exclude_namespace: str | None) -> str:
    """Order-independent digest of emitted OpenLineage events (JSON dicts), for
    replay: SHA-256 over the sorted canonical JSON of each event minus
    ``eventTime``. Events of ``exclude_namespace`` (the processors' own
    checkpoint runs, which depend on batch boundaries) are left out. Pure."""
    lines = sorted(
        orjson.dumps(
            {k: v for k, v in event.items() if k != "eventTime"}, option=orjson.OPT_SORT_KEYS
        )
        for event in events
        if event.get("job", {}).get("namespace") != exclude_namespace
    )
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line)
        digest.update(b"\n")
    return digest.hexdigest()
