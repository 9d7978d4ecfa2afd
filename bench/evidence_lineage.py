"""Throughput of the lineage (OpenLineage file) sink.

Run: ``uv run --all-extras python bench/evidence_lineage.py [RUNS] [BATCH]``.
Encodes a simulated workload through the codec once, then times ``write`` +
``flush`` per batch on a fresh state dir. Prints events/s. (The evidence plane's
sub-benchmark is ``bench/evidence.py``.)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from proofstream.workload import simulate
from schemas.codec import EventCodec
from sinks.base import LoggedEvent, LogPosition, Sink
from sinks.lineage import OpenLineageSettings
from sinks.openlineage import OpenLineageSink


def logged(runs: int) -> list[LoggedEvent]:
    codec = EventCodec()
    out = []
    for offset, event in enumerate(simulate(runs=runs).events):
        record = codec.decode_record(codec.encode(event))
        out.append(
            LoggedEvent(
                LogPosition("bench", offset % 3, offset),
                event.event_type,
                record["event_id"],
                record,
            )
        )
    return out


def evidence_only(count: int) -> list[LoggedEvent]:
    """``count`` evidence.recorded events with distinct ids and digests."""
    import hashlib
    import uuid

    from schemas.envelope import Actor, ActorKind, Producer, Subject
    from schemas.events import EvidenceRecorded

    codec = EventCodec()
    producer = Producer(service="tester", version="1", workload_id="spiffe://f/ns/a/sa/tester")
    actor = Actor(kind=ActorKind.AGENT, id="agent-tester", role="tester")
    out = []
    for n in range(count):
        event = EvidenceRecorded(
            event_id=uuid.UUID(int=n + 1),
            producer=producer,
            actor=actor,
            subject=Subject(project="p", run_id=f"run-{n // 10}"),
            sha256=hashlib.sha256(str(n).encode()).hexdigest(),
            media_type="application/json",
            size_bytes=n,
            kind="test_report",
            proves=f"o/r#{n}",
        )
        record = codec.decode_record(codec.encode(event))
        out.append(
            LoggedEvent(LogPosition("bench", 0, n), event.event_type, record["event_id"], record)
        )
    return out


def timed(sink: Sink, batch: list[LoggedEvent], size: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(batch), size):
        sink.write(batch[start : start + size])
        sink.flush()
    elapsed = time.perf_counter() - started
    sink.close()
    return elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    batch = logged(runs)
    evidence = sum(1 for item in batch if item.event_type == "evidence.recorded")
    print(f"{len(batch)} events ({evidence} evidence.recorded), batches of {size}")
    with tempfile.TemporaryDirectory() as tmp:
        ol = OpenLineageSink.open(OpenLineageSettings(), Path(tmp) / "l")
        t = timed(ol, batch, size)
        lines = sum(1 for _ in (Path(tmp) / "l" / "openlineage" / "events.ndjson").open())
        print(f"lineage:  {len(batch) / t:,.0f} events/s ({lines} OL events written), {t:.2f}s")
        only = evidence_only(len(batch))
        ol = OpenLineageSink.open(OpenLineageSettings(), Path(tmp) / "l2")
        t = timed(ol, only, size)
        print(f"lineage, evidence-only load: {len(only) / t:,.0f} events/s (1 OL event each)")


if __name__ == "__main__":
    main()
