"""The values the lineage plane passes around, and its replay digest. Pure.

:class:`LineageEvent` is one OpenLineage ``RunEvent`` before it meets the client
(facet payloads as plain mappings, without ``_producer``/``_schemaURL``);
:class:`LineageWrites` is what the projection hands the store for one batch.
The plane's own streaming run (:func:`processor_start`, :func:`checkpoint_event`)
is built by the store at flush, from the offsets it made durable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from sinks.lineage.naming import DatasetRef, processor_run_id

__all__ = [
    "LineageEvent",
    "LineageWrites",
    "checkpoint_event",
    "iso_time",
    "lineage_digest",
    "processor_start",
]

_STREAMING_JOB = {
    "jobType": {
        "processingType": "STREAMING",
        "integration": "PROOFSTREAM",
        "jobType": "PROJECTION",
    }
}


@dataclass(frozen=True, slots=True)
class LineageEvent:
    """One OpenLineage ``RunEvent`` before it meets the client.

    ``key`` is the dedupe key: the store emits each key at most once.
    ``job_namespace``/``job_name`` is the job *this* event names; for an agent run
    the store replaces it by the job the run's first event named (kept in its
    state across batches), so every event of a run names one job. A
    ``parent_run_id`` becomes the ``parent`` facet: that run, and this run's job.
    """

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
    parent_run_id: str | None = None


@dataclass(frozen=True, slots=True)
class LineageWrites:
    """The lineage of one batch: ``events`` in log order, and ``first``, the lowest
    offset per partition among the events the projection read (where the plane's
    checkpoint range starts on a partition it has no watermark for yet)."""

    events: Sequence[LineageEvent] = ()
    first: Mapping[tuple[str, int], int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.events)


def iso_time(micros: int) -> str:
    """ISO-8601 UTC time of an epoch-microseconds timestamp. Pure."""
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC).isoformat()


def checkpoint_event(
    job_namespace: str,
    job_name: str,
    ranges: Mapping[tuple[str, int], tuple[int, int]],
    *,
    inputs: Sequence[DatasetRef],
    event_time_us: int,
    outputs: Sequence[DatasetRef] = (),
) -> LineageEvent:
    """The RUNNING event a streaming projection emits when it checkpoints. Pure.

    ``ranges`` is the offset range (first, last) made durable per partition; it
    is the ``proofstream_checkpoint`` facet and part of the dedupe key, so the
    same checkpoint is emitted once. Streaming jobs never COMPLETE.
    """
    spans = [
        {"topic": t, "partition": p, "fromOffset": lo, "toOffset": hi}
        for (t, p), (lo, hi) in sorted(ranges.items())
    ]
    signature = ",".join(f"{t}:{p}:{lo}-{hi}" for (t, p), (lo, hi) in sorted(ranges.items()))
    return _streaming(
        "RUNNING",
        f"RUNNING:{signature}",
        job_namespace,
        job_name,
        event_time_us,
        run_facets={"proofstream_checkpoint": {"offsets": spans}},
        inputs=inputs,
        outputs=outputs,
    )


def processor_start(
    job_namespace: str, job_name: str, inputs: Sequence[DatasetRef], event_time_us: int
) -> LineageEvent:
    """The START of a streaming projection's endless run (emitted once). Pure."""
    return _streaming("START", "START", job_namespace, job_name, event_time_us, inputs=inputs)


def _streaming(
    event_type: str,
    key: str,
    job_namespace: str,
    job_name: str,
    event_time_us: int,
    *,
    run_facets: Mapping[str, Mapping[str, Any]] | None = None,
    inputs: Sequence[DatasetRef] = (),
    outputs: Sequence[DatasetRef] = (),
) -> LineageEvent:
    # one endless run per streaming job: its id derives from the job name alone
    run_id = processor_run_id(job_name)
    return LineageEvent(
        key=f"{run_id}:{key}",
        event_type=event_type,
        event_time=iso_time(event_time_us),
        run_id=run_id,
        job_namespace=job_namespace,
        job_name=job_name,
        run_facets=run_facets or {},
        job_facets=_STREAMING_JOB,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
    )


def lineage_digest(events: Iterable[Mapping[str, Any]], *, exclude_namespace: str | None) -> str:
    """Order-independent digest of emitted OpenLineage events (JSON dicts), for
    replay: SHA-256 over the sorted canonical JSON of each event minus
    ``eventTime``. Events of ``exclude_namespace`` (the projections' own
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
