"""Codec throughput: a plain report of what each codec path costs per event.

Run: ``uv run --all-extras python bench/codec.py [--runs 600] [--rounds 5]``. A
script, not a test. On the realistic workload (``proofstream.workload.simulate``),
every path runs once per round, rounds interleaved, best round kept, so background
load hits all lines alike; the load average is printed with the figures:

- ``encode(model)``: what the producer's serializer does per event;
- ``header``: the hot path's check of every record (marker, size, fingerprint);
- ``needs_check``: the seed rulebook's screen of an encoded body;
- ``decode_record``: fastavro into a plain dict (a plane that reads decoded events);
- ``decode_checked``: the same plus the model's validators (a record the screen flags);
- ``decode(model)``: into the pydantic model.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence

from proofstream.workload import simulate
from schemas.codec import EventCodec
from schemas.rules import needs_check


def _best(fn: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=600, help="simulated runs (~17 events each)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    codec = EventCodec()
    events = simulate(runs=args.runs).events
    raws = [codec.encode(e) for e in events]
    typed = [(codec.header(r)[1], r[10:]) for r in raws]

    def each(fn: Callable[[bytes], object], items: Sequence[bytes]) -> Callable[[], None]:
        def run() -> None:
            for item in items:
                fn(item)

        return run

    lines = {
        "encode(model)": lambda: [codec.encode(e) for e in events],
        "header": each(codec.header, raws),
        "needs_check": lambda: [needs_check(t, b) for t, b in typed],
        "decode_record": each(codec.decode_record, raws),
        "decode_checked": each(codec.decode_checked, raws),
        "decode(model)": each(codec.decode, raws),
    }
    print(f"{len(events):,} events, mean {sum(map(len, raws)) / len(raws):.0f} B on the wire;"
          f" load avg {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'path':18s} {'events/s':>12s} {'us/event':>9s}")
    for name, fn in lines.items():
        seconds = _best(fn, args.rounds)
        print(f"{name:18s} {len(events) / seconds:12,.0f} {seconds / len(events) * 1e6:9.2f}")


if __name__ == "__main__":
    main()
