"""Rebuild a projection from the log into a shadow generation; verify; swap.

One rebuild, in order:

1. **plan**   :func:`replay.plan.plan_rebuild` fixes every partition's range
              *now*: from the log start, a time or the archive's first offset
              to ``high - 1`` (see :mod:`replay.plan`);
2. **build**  ``Rebuildable.allocate`` a generation, read the range (archive
              first, then Kafka by explicit assignment, no group, no commits),
              decode with the *same* decode step as the live engine
              (``sinks.decode``: records it rejects are counted and skipped, the
              live worker dead-lettered them), write through the *same* pure
              projection into the shadow store — decoding and projecting on this
              thread while the previous batch is written on a writer thread — and
              flush it;
3. **digest** the shadow and the live store over the same positions; a
              mismatch comes with a per-table diff;
4. **record** mark the generation built, with an OpenLineage-style run record
              (job ``proofstream.replay.<projection>``, a uuid4 runId, the offset
              range) and one OpenTelemetry span linked to a bounded sample of the
              original traces (the records' ``traceparent`` headers);
5. **swap**   (optional) ``Rebuildable.swap`` makes it live.

Everything here is driven through the :class:`~sinks.generations.Rebuildable`
port; nothing is ClickHouse-specific.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, TraceFlags

from producers.settings import KafkaSettings
from replay.plan import RebuildPlan
from replay.source import read_kafka, replay_consumer
from schemas.codec import EventCodec
from schemas.errors import ConfigError
from sinks.archive.reader import read_archive
from sinks.base import LogRecord, Projection, Store
from sinks.decode import Needs, decode
from sinks.generations import LIVE, Digest, Rebuildable, TableDiff

__all__ = [
    "Progress",
    "RebuildResult",
    "rebuild",
    "rebuild_many",
]

MAX_TRACE_LINKS = 32
"""How many original traces one rebuild span links to (a bounded sample)."""


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported after every batch: what is done, how fast, and what is left."""

    read: int
    total: int
    skipped: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        return self.read / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def lag(self) -> int:
        """Offsets of the range not read yet."""
        return max(0, self.total - self.read)

    @property
    def eta_s(self) -> float | None:
        return self.lag / self.rate if self.rate > 0 else None


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """What a rebuild did; ``equal`` is the verdict of live == fold(log)."""

    projection: str
    generation: int
    plan: RebuildPlan
    events: int
    skipped: int
    seconds: float
    digest: Digest
    live_digest: Digest | None
    diffs: Sequence[TableDiff] = field(default_factory=tuple)
    swapped: bool = False
    lineage: Mapping[str, Any] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return self.live_digest is not None and self.live_digest.value == self.digest.value


def _link(traceparent: object) -> Link | None:
    parts = str(traceparent).split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        context = SpanContext(
            trace_id=int(parts[1], 16),
            span_id=int(parts[2], 16),
            is_remote=True,
            trace_flags=TraceFlags(int(parts[3][:2], 16)),
        )
    except ValueError:
        return None
    return Link(context, {"proofstream.link": "original-event"}) if context.is_valid else None


def _trace_links(records: Sequence[LogRecord], links: list[Link]) -> None:
    """Add links to the original traces of ``records`` (from their ``traceparent``
    headers) until the bounded sample is full."""
    for record in records:
        if len(links) >= MAX_TRACE_LINKS:
            return
        for key, value in record.headers:
            if key == "traceparent" and (link := _link(value.decode(errors="replace"))):
                links.append(link)
                break


def _sources(
    plan: RebuildPlan, kafka: KafkaSettings, archive_root: Path | None, projection: str
) -> Iterator[list[LogRecord]]:
    if plan.from_archive:
        if archive_root is None:
            raise ConfigError("the plan reads the archive but no archive directory was given")
        yield from read_archive(archive_root, plan.from_archive)
    if plan.from_kafka:
        consumer = replay_consumer(kafka, projection)
        try:
            yield from read_kafka(consumer, plan.from_kafka)
        finally:
            consumer.close()


def rebuild(
    target: Rebuildable,
    plan: RebuildPlan,
    *,
    kafka: KafkaSettings,
    projection: Projection[Any],
    **options: Any,
) -> RebuildResult:
    """Build a new generation of one plane: :func:`rebuild_many` for a single target."""
    return rebuild_many([(target, projection)], plan, kafka=kafka, **options)[0]


def rebuild_many(
    targets: Sequence[tuple[Rebuildable, Projection[Any]]],
    plan: RebuildPlan,
    *,
    kafka: KafkaSettings,
    codec: EventCodec | None = None,
    archive_root: Path | None = None,
    swap: bool = False,
    compare: bool = True,
    require_equal: bool = False,
    batch_events: int = 50_000,
    progress: Callable[[Progress], None] | None = None,
    sources: Iterable[list[LogRecord]] | None = None,
) -> list[RebuildResult]:
    """Build a new generation of every target from ``plan``'s range, reading and
    decoding the log once for all of them (module docstring).

    ``compare`` digests each live store over the same positions and diffs on a
    mismatch. ``swap`` swaps each generation in afterwards — unless
    ``require_equal`` is set and its digests differ. A failure marks every
    generation of this rebuild failed and re-raises. ``sources`` replaces the log
    reader (tests, benchmarks).
    """
    codec = codec or EventCodec()
    names = [t.projection_name for t, _ in targets]
    tracer = trace.get_tracer("proofstream.replay")
    run_id = str(uuid.uuid4())
    numbers = [t.allocate(p.version) for t, p in targets]
    started = time.perf_counter()
    with tracer.start_as_current_span(
        f"replay.rebuild {','.join(names)}",
        attributes={
            "proofstream.projection": ",".join(names),
            "proofstream.replay.run_id": run_id,
            "proofstream.replay.start": plan.start.value,
            "proofstream.replay.records": plan.records,
        },
    ) as span:
        try:
            stream = (
                sources
                if sources is not None
                else _sources(plan, kafka, archive_root, "+".join(names))
            )
            shadows = [
                (target.open_shadow(number), projection)
                for (target, projection), number in zip(targets, numbers, strict=True)
            ]
            events_total, skipped, links = _build(
                shadows, stream, codec, plan.records, batch_events, progress
            )
            built_s = time.perf_counter() - started
            results = [
                _finish(
                    target, number, plan, kafka, run_id, events_total, skipped, compare, built_s
                )
                for (target, _), number in zip(targets, numbers, strict=True)
            ]
        except BaseException as exc:
            for (target, _), number in zip(targets, numbers, strict=True):
                target.fail(number, f"{type(exc).__name__}: {exc}")
            raise
        for link in links:
            span.add_link(link.context, link.attributes)
        span.set_attribute("proofstream.replay.events", events_total)
        span.set_attribute("proofstream.replay.skipped", skipped)
        out = []
        for built, (target, _) in zip(results, targets, strict=True):
            if swap and (built.equal or not require_equal):
                target.swap(built.generation)
                built = dataclasses.replace(built, swapped=True)  # noqa: PLW2901
            out.append(built)
        span.set_attribute("proofstream.replay.swapped", any(r.swapped for r in out))
    return out


def _finish(  # noqa: PLR0917 - private, called once per target
    target: Rebuildable,
    number: int,
    plan: RebuildPlan,
    kafka: KafkaSettings,
    run_id: str,
    events: int,
    skipped: int,
    compare: bool,
    built_s: float,
) -> RebuildResult:
    """Digest, compare, diff and record one built generation (steps 3 and 4)."""
    name = target.projection_name
    digest = target.digest(number, plan.covered)
    live = target.digest(LIVE, plan.covered) if compare else None
    diffs: Sequence[TableDiff] = ()
    # a diff of a live store that covers other positions is noise (and reads both
    # stores whole again: minutes for a catalog of a million events)
    if live is not None and live.comparable and live.value != digest.value:
        diffs = target.diff(number, plan.covered)
    lineage = _lineage(
        projection=name,
        number=number,
        run_id=run_id,
        plan=plan,
        kafka=kafka,
        events=events,
        skipped=skipped,
    )
    target.finish(number, plan.covered, digest, lineage)
    return RebuildResult(
        name, number, plan, events, skipped, built_s, digest, live, diffs, False, lineage
    )


def _build(  # noqa: PLR0917 - private, called once
    shadows: Sequence[tuple[Store[Any], Projection[Any]]],
    stream: Iterable[list[LogRecord]],
    codec: EventCodec,
    total: int,
    batch_events: int,
    progress: Callable[[Progress], None] | None,
) -> tuple[int, int, list[Link]]:
    """Decode once and project on this thread while the previous batch is written on
    each shadow's writer thread; flush them all at the end. Returns (records applied,
    records skipped, trace links)."""
    started = time.perf_counter()
    needs = Needs.of([projection for _, projection in shadows])
    read = skipped = written = 0
    links: list[Link] = []
    pending: list[LogRecord] = []
    writers = [
        ThreadPoolExecutor(1, thread_name_prefix=f"replay-{shadow.name}") for shadow, _ in shadows
    ]
    inflight: list[Future[None] | None] = [None] * len(shadows)

    def write(records: list[LogRecord]) -> None:
        nonlocal written, skipped
        decoded = decode(codec, records, needs)
        written += len(decoded.records) - len(decoded.rejected)
        skipped += len(decoded.rejected)
        for i, (shadow, projection) in enumerate(shadows):
            batch = decoded.batch_for(projection)
            writes = projection.project(batch)
            previous = inflight[i]
            if previous is not None:
                previous.result()  # at most one batch in flight per shadow: bounded memory
            inflight[i] = writers[i].submit(shadow.write, writes, batch.upto)

    try:
        for chunk in stream:
            read += len(chunk)
            pending.extend(chunk)
            _trace_links(chunk, links)
            if len(pending) >= batch_events:
                write(pending)
                pending = []
            if progress is not None:
                progress(Progress(read, total, skipped, time.perf_counter() - started))
        if pending:
            write(pending)
        for i, (shadow, _) in enumerate(shadows):
            previous = inflight[i]
            if previous is not None:
                previous.result()
            writers[i].submit(shadow.flush).result()
    finally:
        for writer in writers:
            writer.shutdown(wait=True)
        for shadow, _ in shadows:
            shadow.close()
    return written, skipped, links


def _lineage(
    *,
    projection: str,
    number: int,
    run_id: str,
    plan: RebuildPlan,
    kafka: KafkaSettings,
    events: int,
    skipped: int,
) -> dict[str, Any]:
    """The OpenLineage-style COMPLETE run event of one rebuild. Pure."""
    ranges = [
        {"partition": p, "first": first, "last": last}
        for (_, p), (first, last) in sorted(plan.covered.items())
    ]
    return {
        "eventType": "COMPLETE",
        "eventTime": datetime.now(UTC).isoformat(),
        "producer": "https://github.com/fractalops/proofstream/replay",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {
            "runId": run_id,
            "facets": {
                "proofstream_replay": {
                    "generation": number,
                    "start": plan.start.value,
                    "events": events,
                    "skipped": skipped,
                    "offsetRange": ranges,
                }
            },
        },
        "job": {"namespace": "proofstream", "name": f"proofstream.replay.{projection}"},
        "inputs": [
            {"namespace": f"kafka://{kafka.bootstrap_servers.split(',')[0]}", "name": plan.topic}
        ],
        "outputs": [{"namespace": "proofstream", "name": f"{projection}.g{number}"}],
    }
