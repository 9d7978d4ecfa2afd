"""Sub-benchmark of the evidence plane alone (projection + store), not the pipeline.

Run: ``uv run --all-extras python bench/evidence.py [--batch 2000] [--repeat 3]``.

What the worker does for this plane, per batch: the one decode step
(``sinks.decode.decode``, only ``evidence.recorded`` decoded in Python), the pure
``EvidenceProjection``, then ``EvidenceStore.write`` + ``flush`` (index rows, the
tiles that changed, a signed checkpoint, the watermark; fsync'd). Two loads:

- **workload**: ``proofstream.workload.simulate`` encoded by ``EventCodec`` into
  ``LogRecord``s on 3 partitions (evidence is ~5% of it); events/s measured over a
  window of ``--window`` records fed to a store that consumed 10k, and one that
  consumed 100k events;
- **evidence-only**: every record is ``evidence.recorded``; leaves/s likewise with
  10k and 100k leaves in the log. Flat means flush cost does not grow with the log
  (tiles are written incrementally; the index has no random-key B-tree).

The two stores' timed batches alternate, so both see the same machine load.

Each rate is printed twice: ``plane`` (projection + store: this plane's own cost)
and ``+decode`` (with the decode step, which the runtime runs once per batch for
all planes together). Filling up to a mark uses large batches (same end state,
less waiting); timed batches have ``--batch`` records a flush, like the runtime.
Prints medians of ``--repeat`` runs and the load average before and after
(2-core machine, shared with other work).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from proofstream.workload import simulate
from schemas.codec import EventCodec
from sinks.base import LogPosition, LogRecord
from sinks.decode import Needs, decode
from sinks.evidence import ChronicleSettings
from sinks.evidence.projection import EvidenceProjection
from sinks.evidence.store import EvidenceStore

MARKS = (10_000, 100_000)


def workload_records(count: int) -> list[LogRecord]:
    codec = EventCodec()
    events = []
    runs = 400
    while len(events) < count:
        events = simulate(runs=runs).events
        runs *= 2
    offsets = [0, 0, 0]
    out = []
    for n, event in enumerate(events[:count]):
        partition = n % 3
        out.append(
            LogRecord(
                LogPosition("bench", partition, offsets[partition]), None, codec.encode(event)
            )
        )
        offsets[partition] += 1
    return out


def evidence_records(count: int) -> list[LogRecord]:
    """``count`` distinct ``evidence.recorded`` records: one of the workload's, re-keyed."""
    codec = EventCodec()
    template = next(e for e in simulate(runs=4).events if e.event_type == "evidence.recorded")
    records = []
    for n in range(count):
        digest = hashlib.sha256(str(n).encode()).hexdigest()
        event = template.model_copy(update={"event_id": uuid.UUID(int=n + 1), "sha256": digest})
        records.append(LogRecord(LogPosition("bench", 0, n), None, codec.encode(event)))
    return records


def feed(store: EvidenceStore, records: Sequence[LogRecord], size: int) -> tuple[float, float]:
    """Feed ``records`` in batches of ``size``; returns (decode seconds, plane seconds)."""
    codec, projection = EventCodec(), EvidenceProjection()
    needs = Needs.of([projection])
    decoding = plane = 0.0
    for start in range(0, len(records), size):
        started = time.perf_counter()
        batch = decode(codec, records[start : start + size], needs).batch_for(projection)
        decoded = time.perf_counter()
        store.write(projection.project(batch), batch.upto)
        store.flush()
        decoding += decoded - started
        plane += time.perf_counter() - decoded
    return decoding, plane


def measure(records: Sequence[LogRecord], batch: int, window: int) -> list[tuple[float, float]]:
    """Per mark: (plane records/s, decode + plane records/s) over ``window`` records
    fed to a store that had consumed ``mark`` records. One store per mark, and the
    timed batches alternate between them, so every mark sees the same machine load
    (the machine is shared and its load swings within a minute)."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        stores = [EvidenceStore.open_live(ChronicleSettings(), Path(tmp) / str(m)) for m in MARKS]
        try:
            for store, mark in zip(stores, MARKS, strict=True):
                feed(store, records[:mark], 5000)
            spent = [[0.0, 0.0] for _ in MARKS]
            for start in range(0, window, batch):
                for n, (store, mark) in enumerate(zip(stores, MARKS, strict=True)):
                    part = records[mark + start : mark + min(start + batch, window)]
                    decoding, plane = feed(store, part, batch)
                    spent[n][0] += decoding
                    spent[n][1] += plane
        finally:
            for store in stores:
                store.close()
    return [(window / plane, window / (decoding + plane)) for decoding, plane in spent]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2000, help="records per flush")
    parser.add_argument("--window", type=int, default=10_000, help="records timed per mark")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    total = MARKS[-1] + args.window
    print(
        f"load average {os.getloadavg()[0]:.2f}; preparing {total:,} records per load", flush=True
    )
    loads = {"workload": workload_records(total), "evidence-only": evidence_records(total)}
    header = EventCodec().header
    evidence = sum(1 for r in loads["workload"] if header(r.value or b"")[1] == "evidence.recorded")
    share = evidence / total
    for name, records in loads.items():
        runs = [measure(records, args.batch, args.window) for _ in range(args.repeat)]
        unit = "events/s" if name == "workload" else "leaves/s"
        for label, which in (("plane", 0), ("+decode", 1)):
            medians = [statistics.median(run[i][which] for run in runs) for i in range(len(MARKS))]
            cells = "  ".join(
                f"at {m // 1000}k: {r:>9,.0f} {unit}" for m, r in zip(MARKS, medians, strict=True)
            )
            flat = medians[1] / medians[0]
            print(f"{name:14} {label:8} {cells}  (100k/10k = {flat:.2f})", flush=True)
        if name == "workload":
            print(f"{'':23} evidence is {share:.1%} of the workload's events")
    print(f"load average {os.getloadavg()[0]:.2f}; batch {args.batch} records per flush")


if __name__ == "__main__":
    main()
