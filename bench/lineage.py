"""Sub-benchmark of the lineage plane: its projection + ``OpenLineageStore`` (file transport).

A sub-benchmark: it times one plane's projection and store on their own, not the
job as a user runs it (``bench/pipeline.py`` measures the worker with every plane).
Issue #11 asks the whole worker for >= 25k events/s with every plane, so this
plane should do >= ~40k log events/s, and as fast with 100k events stored as with
10k (within 20%).

Run: ``uv run --all-extras python bench/lineage.py [--stored 10000 100000]
[--window 10000] [--batch 2000] [--repeat 3]``.

The realistic workload (``proofstream.workload.simulate``) is encoded by the codec
into ``LogRecord`` values on three partitions (key = run id, as the producer
keys them) and decoded batch by batch with ``sinks.decode.decode`` for the
projection's ``reads`` (the decode step is shared by every plane; its rate is
printed beside, not counted). A fresh store is then fed batch after batch
(``project`` → ``write`` → ``flush``, as the runtime checkpoints); the rate is
measured over ``--window`` log events starting when ``--stored`` log events are
already applied. Prints medians over ``--repeat`` runs and the load average.

The ceiling, measured in the same run on the same window: openlineage-python
alone building its typed ``RunEvent`` for each lineage event (its attrs classes
validate every field) and serializing it with its ``Serde.to_json``, which its
file and HTTP transports call per event. The plane cannot beat it while it emits
through the client.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proofstream.workload import simulate
from schemas.codec import EventCodec
from sinks.base import Batch, LogPosition, LogRecord
from sinks.decode import Needs, decode
from sinks.lineage.facets import RunEvents
from sinks.lineage.projection import LineageProjection
from sinks.lineage.settings import OpenLineageSettings
from sinks.lineage.store import OpenLineageStore

TOPIC = "fractalops.agent-actions.v1"
PARTITIONS = 3


def records(count: int) -> list[LogRecord]:
    """At least ``count`` workload events as log records, keyed by run id."""
    runs = count // 16 + 10  # a run is ~17 events
    codec = EventCodec()
    offsets = [0] * PARTITIONS
    out = []
    for event in simulate(runs=runs).events:
        key = (event.subject.run_id or event.subject.project).encode()
        partition = zlib.crc32(key) % PARTITIONS
        out.append(
            LogRecord(LogPosition(TOPIC, partition, offsets[partition]), key, codec.encode(event))
        )
        offsets[partition] += 1
    return out


def batches(recs: list[LogRecord], size: int) -> tuple[list[Batch], float]:
    """The projection's part of each batch, and the decode rate (records/s)."""
    codec = EventCodec()
    projection = LineageProjection()
    needs = Needs.of([projection])
    out = []
    started = time.perf_counter()
    for start in range(0, len(recs), size):
        decoded = decode(codec, recs[start : start + size], needs)
        out.append(decoded.batch_for(projection))
    return out, len(recs) / (time.perf_counter() - started)


def one_run(
    parts: list[Batch], size: int, marks: list[int], window: int
) -> dict[int, dict[str, float]]:
    """Feed a fresh store; per mark, seconds spent per phase over the window."""
    projection = LineageProjection()
    with tempfile.TemporaryDirectory() as tmp:
        store = OpenLineageStore.open(OpenLineageSettings(), Path(tmp))
        found: dict[int, dict[str, float]] = {m: defaultdict(float) for m in marks}
        applied = 0
        try:
            for batch in parts:
                c0, t0 = time.process_time(), time.perf_counter()
                writes = projection.project(batch)
                t1 = time.perf_counter()
                store.write(writes, batch.upto)
                t2 = time.perf_counter()
                store.flush()
                t3, c3 = time.perf_counter(), time.process_time()
                for mark in marks:
                    if mark <= applied < mark + window:
                        phases = found[mark]
                        phases["project"] += t1 - t0
                        phases["write"] += t2 - t1
                        phases["flush"] += t3 - t2
                        phases["cpu"] += c3 - c0
                        phases["events"] += size
                        phases["lineage"] += len(writes)
                applied += size
        finally:
            store.close()
    return found


def client_ceiling(parts: list[Batch], size: int, mark: int, window: int) -> tuple[float, float]:
    """CPU seconds openlineage-python alone spends building and serializing the
    window's lineage events: (construct, serialize)."""
    from openlineage.client.serde import Serde

    projection = LineageProjection()
    start = mark // size
    events = [
        e for b in parts[start : start + window // size] for e in projection.project(b).events
    ]
    build = RunEvents()
    t0 = time.process_time()
    typed = [build(e, e.job_namespace, e.job_name) for e in events]
    t1 = time.process_time()
    for event in typed:
        Serde.to_json(event)
    return t1 - t0, time.process_time() - t1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stored", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--window", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    total = max(args.stored) + args.window + args.batch
    recs = records(total)
    parts, decode_rate = batches(recs, args.batch)
    print(f"workload: {len(recs)} log events, {sum(len(b.events) for b in parts)} read by lineage")
    print(f"decode (shared by every plane, not counted): {decode_rate:,.0f} records/s")
    load_before = os.getloadavg()
    runs = [one_run(parts, args.batch, args.stored, args.window) for _ in range(args.repeat)]
    ceilings = [client_ceiling(parts, args.batch, args.stored[0], args.window) for _ in runs]
    load_after = os.getloadavg()
    rates, cpu_rates = {}, {}
    for mark in args.stored:
        per_run = [r[mark] for r in runs]
        rate = statistics.median(
            p["events"] / (p["project"] + p["write"] + p["flush"]) for p in per_run
        )
        cpu_rate = statistics.median(p["events"] / p["cpu"] for p in per_run)
        rates[mark] = rate
        cpu_rates[mark] = cpu_rate
        lineage = per_run[0]["lineage"]
        us = {
            phase: statistics.median(p[phase] / max(p["lineage"], 1) * 1e6 for p in per_run)
            for phase in ("project", "write", "flush")
        }
        print(
            f"at {mark:>7,} stored: {rate:>9,.0f} log events/s wall, {cpu_rate:,.0f} per CPU-second"
            f" (median of {args.repeat}), "
            f"{lineage:,.0f} lineage events in the window; per lineage event: "
            + ", ".join(f"{k} {v:.1f} us" for k, v in us.items())
        )
    construct = statistics.median(c for c, _ in ceilings)
    serialize = statistics.median(s for _, s in ceilings)
    per_lineage = runs[0][args.stored[0]]["lineage"]
    ceiling = runs[0][args.stored[0]]["events"] / (construct + serialize)
    print(
        f"ceiling, openlineage-python alone on the same window: {ceiling:,.0f} log events"
        " per CPU-second "
        f"(RunEvent construction {construct / per_lineage * 1e6:.1f} us + Serde.to_json "
        f"{serialize / per_lineage * 1e6:.1f} us per lineage event); plane / ceiling "
        f"{cpu_rates[args.stored[0]] / ceiling:.2f} (CPU)"
    )
    low, high = min(args.stored), max(args.stored)
    print(
        f"ratio {high:,} / {low:,} stored: {rates[high] / rates[low]:.2f} wall, "
        f"{cpu_rates[high] / cpu_rates[low]:.2f} CPU (target >= 0.80)"
    )
    print(f"load average before {load_before[0]:.2f} after {load_after[0]:.2f} (2 cores)")


if __name__ == "__main__":
    main()
