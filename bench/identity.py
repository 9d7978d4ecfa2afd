"""Sub-benchmark of the identity plane alone: projection and store on the simulated workload.

Not the job as a user runs it (``bench/pipeline.py`` is): no broker, no other
plane. The workload (``proofstream.workload.simulate``) is encoded by the codec
into log records and decoded by the one decode step, as the runtime does, before
the clock starts; then, per batch, the clock runs over what the plane costs a
checkpoint: ``IdentityProjection.project`` → ``RdfStore.write`` → ``flush``, on
an embedded Oxigraph store in a temporary directory.

It prints events/s over the batches that land while the store already holds 10k
to 40k and 100k to 130k events (the plane must not slow down as it grows), the triples
written per event, the decode rate for scale, and the load average. The machine
is shared: compare medians of several ``--repeat``; the events per CPU-second of
the whole process (RocksDB's threads included) are printed too, as they depend
far less on what else runs::

    uv run --all-extras python bench/identity.py                 # batches of 2000
    uv run --all-extras python bench/identity.py --batch 500 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from proofstream.workload import simulate
from schemas.codec import EventCodec
from sinks.base import Batch, LogPosition, LogRecord
from sinks.decode import Needs, decode
from sinks.identity.projection import IdentityProjection
from sinks.identity.settings import RdfSettings
from sinks.identity.store import RdfStore

WINDOWS = (10_000, 100_000)
"""Stored events at the start of each measured window."""
WINDOW = 30_000
"""Events measured per window: longer than the store's journal-load period (~25k
events), so every window pays for its share of loads into Oxigraph."""


def batches(runs: int, size: int, projection: IdentityProjection) -> tuple[list[Batch], float]:
    """The workload as the runtime would hand it to the projection, and the decode rate."""
    codec = EventCodec()
    records = [
        LogRecord(LogPosition("fractalops.agent-actions.v1", 0, offset), None, codec.encode(event))
        for offset, event in enumerate(simulate(runs=runs).events)
    ]
    needs = Needs.of([projection])
    start = time.perf_counter()
    out = []
    for i in range(0, len(records), size):
        decoded = decode(codec, records[i : i + size], needs)
        assert not decoded.rejected
        out.append(decoded.batch_for(projection))
    return out, len(records) / (time.perf_counter() - start)


Rates = dict[int, tuple[float, float]]
"""Per window (stored events at its start): events per second, events per CPU-second."""


def one_run(parts: list[Batch], projection: IdentityProjection) -> tuple[Rates, float]:
    """The rates per window and the triples written per event."""
    seconds: dict[int, float] = dict.fromkeys(WINDOWS, 0.0)
    cpu: dict[int, float] = dict.fromkeys(WINDOWS, 0.0)
    events: dict[int, int] = dict.fromkeys(WINDOWS, 0)
    with tempfile.TemporaryDirectory() as tmp:
        store = RdfStore.open(RdfSettings(), Path(tmp))
        stored = 0
        try:
            for batch in parts:
                start, start_cpu = time.perf_counter(), time.process_time()
                store.write(projection.project(batch), batch.upto)
                store.flush()
                elapsed = time.perf_counter() - start
                used = time.process_time() - start_cpu
                for window in WINDOWS:
                    if window <= stored < window + WINDOW:
                        seconds[window] += elapsed
                        cpu[window] += used
                        events[window] += len(batch)
                stored += len(batch)
            written = store.triples_written / stored
        finally:
            store.close()
    rates = {w: (events[w] / seconds[w], events[w] / cpu[w]) for w in WINDOWS if seconds[w]}
    return rates, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=2000, help="events per checkpoint")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runs", type=int, default=7_800, help="simulated runs (~17 events)")
    args = parser.parse_args()
    projection = IdentityProjection()
    parts, decode_rate = batches(args.runs, args.batch, projection)
    total = sum(len(b) for b in parts)
    if total < WINDOWS[-1] + WINDOW:
        parser.error(f"{total} events do not reach the last window; raise --runs")
    print(f"identity plane: {total} events in batches of {args.batch}; decode {decode_rate:,.0f}/s")
    rates: dict[int, list[tuple[float, float]]] = {w: [] for w in WINDOWS}
    for n in range(args.repeat):
        per_window, written = one_run(parts, projection)
        for window, rate in per_window.items():
            rates[window].append(rate)
        shown = "  ".join(
            f"@{w // 1000}k {r:,.0f} ev/s ({c:,.0f} ev/CPU-s)" for w, (r, c) in per_window.items()
        )
        print(f"  run {n + 1}: {shown}  {written:.2f} triples written/event")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    for label, i in (("ev/s", 0), ("ev/CPU-s", 1)):
        first, last = (statistics.median(r[i] for r in rates[w]) for w in WINDOWS)
        print(
            f"median {label}: @10k {first:,.0f}, @100k {last:,.0f} (100k/10k = {last / first:.2f})"
        )
    print(f"load average {load}")


if __name__ == "__main__":
    main()
