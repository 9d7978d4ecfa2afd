"""Sub-benchmark of the catalog plane alone: its projection and its DataHub Lite store.

Not the whole worker (the pipeline benchmark is): it runs what the worker runs
for this plane, on the realistic simulated workload (``proofstream.workload.simulate``),
encoded by the codec into log records and decoded by the one decode step as the
runtime does, batch by batch (``processors.checkpoint``: ``project`` → ``write`` →
``flush``, batches of the worker's ``batch_max``). It prints the plane's events/s
(projection + store; decode, shared by every plane, excluded and shown apart) on a
20k-event window written when the store already holds 10k events and when it holds
100k (as ``bench/pipeline.py``'s store-growth check), the ratio of the two (the
plane must not slow down as its store grows), events per CPU-second beside the wall
rate, the time the garbage collector took in the window and its full collections,
and the machine's load average (2 cores, shared: compare medians of runs). As in a
worker, the log is held as bytes (records are made per batch, as a consumer hands
them over) and no batch outlives its checkpoint: the garbage collector sees what it
would see in a worker running this plane alone.

    uv run --all-extras python bench/catalog_plane.py --repeat 3
    uv run --all-extras python bench/catalog_plane.py --batch 2000 --window 10000

On a shared machine the wall rate follows the other jobs; compare the CPU rates
(``time.process_time``: the plane's Python and SQLite, not the disk's waits), the
medians of several runs. The plane's target is 15k events per CPU-second at both
store sizes, ratio >= 0.8.

What-ifs, to show where the rest of the time goes (none is the plane as it runs):
``--gc-freeze`` moves everything alive after setup out of the garbage collector's
reach (``gc.freeze()``, what a worker can do once its planes are open);
``--gc-threshold 10000,20,10`` sets the collector's thresholds (``gc.set_threshold``,
a worker's choice too); ``--without-validation`` makes the store's (compiled)
validation free.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from processors.settings import ProcessorSettings
from proofstream.workload import simulate
from schemas.codec import EventCodec
from sinks.base import LogPosition, LogRecord
from sinks.catalog import DataHubSettings, make_plane
from sinks.decode import Needs, decode

TOPIC = "fractalops.agent-actions.v1"


@dataclass
class Window:
    """Time spent on one window of events, per step."""

    events: int = 0
    decode: float = 0.0
    project: float = 0.0
    write: float = 0.0
    flush: float = 0.0
    cpu: float = 0.0
    aspects: int = 0
    gc: float = 0.0
    full_gcs: int = 0

    @property
    def plane(self) -> float:
        return self.project + self.write + self.flush

    def rate(self) -> float:
        return self.events / self.plane if self.plane else 0.0

    def cpu_rate(self) -> float:
        return self.events / self.cpu if self.cpu else 0.0

    def line(self) -> str:
        per = 1e6 / self.events
        return (
            f"{self.rate():6.0f} ev/s ({self.cpu_rate():6.0f} per CPU s; µs/ev: project"
            f" {self.project * per:.1f} write {self.write * per:.1f} flush {self.flush * per:.1f},"
            f" decode {self.decode * per:.1f}; {self.aspects / self.events:.2f} aspects/ev;"
            f" of it in GC {self.gc * per:.1f}, {self.full_gcs} full collections)"
        )


class GcClock:
    """Time the garbage collector spends, and its full collections (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.seconds += time.perf_counter() - self._started
        self.full += info["generation"] == 2


@dataclass
class Run:
    windows: dict[int, Window] = field(default_factory=dict)
    close_s: float = 0.0
    db_mb: float = 0.0


def records(count: int) -> list[bytes]:
    """At least ``count`` simulated events, encoded (one partition, in order). Kept as
    bytes, which the garbage collector never visits: a worker holds one batch of log
    records at a time, not the whole log (:func:`log_records`)."""
    codec = EventCodec()
    runs = count // 16 + 20  # ~17 events per simulated run
    events = simulate(runs=runs).events
    return [codec.encode(event) for event in events[:count]]


def log_records(log: Sequence[bytes], start: int, stop: int) -> list[LogRecord]:
    """The log records at offsets ``start`` to ``stop``, as the consumer hands them over."""
    return [LogRecord(LogPosition(TOPIC, 0, o), None, log[o]) for o in range(start, stop)]


def run_once(
    log: Sequence[bytes], marks: Sequence[int], window: int, batch: int, freeze: bool
) -> Run:
    codec = EventCodec()
    out = Run()
    with tempfile.TemporaryDirectory() as tmp:
        plane = make_plane(DataHubSettings(), Path(tmp), (TOPIC,))
        needs = Needs.of([plane.projection])
        store = plane.open_store()
        if freeze:  # everything alive now (modules, the log, the open store) is left alone
            gc.collect()
            gc.freeze()
        written = 0
        clock = GcClock()
        gc.callbacks.append(clock)
        try:
            for mark in sorted(marks):
                for stop, measured in ((mark, False), (mark + window, True)):
                    current = Window()
                    while written < stop:
                        chunk = log_records(log, written, min(written + batch, stop))
                        t0 = time.perf_counter()
                        part = decode(codec, chunk, needs).batch_for(plane.projection)
                        t1 = time.perf_counter()
                        c1 = time.process_time()
                        g1, f1 = clock.seconds, clock.full
                        writes = plane.projection.project(part)
                        t2 = time.perf_counter()
                        store.write(writes, part.upto)
                        t3 = time.perf_counter()
                        store.flush()
                        t4 = time.perf_counter()
                        current.cpu += time.process_time() - c1
                        current.gc += clock.seconds - g1
                        current.full_gcs += clock.full - f1
                        current.events += len(chunk)
                        current.aspects += len(writes)
                        current.decode += t1 - t0
                        current.project += t2 - t1
                        current.write += t3 - t2
                        current.flush += t4 - t3
                        written += len(chunk)
                        del chunk, part, writes  # the worker keeps no batch past its checkpoint
                    if measured:
                        out.windows[mark] = current
            out.db_mb = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 1e6
        finally:
            gc.callbacks.remove(clock)
            t0 = time.perf_counter()
            store.close()
            out.close_s = time.perf_counter() - t0
            gc.unfreeze()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--marks", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--window", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=ProcessorSettings().batch_max)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--gc-freeze", action="store_true", help="what-if: gc.freeze() after setup")
    parser.add_argument("--gc-threshold", help="what-if: gc.set_threshold(*it), e.g. 10000,20,10")
    parser.add_argument(
        "--without-validation", action="store_true", help="what-if: validation is free"
    )
    args = parser.parse_args()
    if args.without_validation:
        from sinks.catalog import store

        store.valid_mcp = lambda mcp: True  # type: ignore[assignment]
    log = records(max(args.marks) + args.window)
    if args.gc_threshold:
        gc.set_threshold(*(int(n) for n in args.gc_threshold.split(",")))
    what_if = [
        name for name in ("gc_freeze", "gc_threshold", "without_validation") if getattr(args, name)
    ]
    print(
        f"catalog plane sub-benchmark: {len(log)} simulated events, batches of {args.batch}"
        + (f"; what-if: {', '.join(what_if)}" if what_if else "")
    )
    runs = []
    for n in range(args.repeat):
        load = os.getloadavg()[0]
        result = run_once(log, args.marks, args.window, args.batch, args.gc_freeze)
        runs.append(result)
        for mark, w in sorted(result.windows.items()):
            print(f"run {n + 1} @{mark // 1000}k stored: {w.line()}")
        print(f"run {n + 1}: close {result.close_s:.2f}s, {result.db_mb:.0f} MB, load {load:.2f}")
    low, high = min(args.marks), max(args.marks)
    rates = {m: statistics.median(r.windows[m].rate() for r in runs) for m in args.marks}
    cpu = {m: statistics.median(r.windows[m].cpu_rate() for r in runs) for m in args.marks}
    print(
        f"median: {rates[low]:.0f} ev/s at {low // 1000}k stored, {rates[high]:.0f} ev/s at"
        f" {high // 1000}k stored: ratio {rates[high] / rates[low]:.2f};"
        f" per CPU-second {cpu[low]:.0f} and {cpu[high]:.0f}: ratio {cpu[high] / cpu[low]:.2f}"
        f" (flat: >= 0.80; target 15000 per CPU-second); load average now"
        f" {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
