"""The consumer's rule screen versus decoding, on the demo workload's encoded events.

Run: ``uv run --all-extras python bench/rules_screen.py [--runs 200] [--rounds 5]``.
A script, not a test. The hot path must not decode every record in Python, so the
consumer calls ``schemas.rules.needs_check(event_type, body)`` on each still-encoded
body and validates in full (``EventCodec.decode``) only what it cannot clear.
Printed, per event, best of interleaved rounds (load average alongside):

* ``needs_check``: the screen, on every body;
* ``fastavro decode_record``: what the screen saves, the ceiling it is ratioed
  against (bytes -> raw dict, no validation);
* ``decode (full validation)``: the rulebook run on the model, per checked record;
* ``screen + full check of flagged``: the consumer's cost per record with the
  screen, against validating every record in full.

And the screen's flag rate: which event types it sends to full validation, and
whether any of them is a false positive outside ``ALWAYS_CHECKED``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from collections.abc import Callable

from proofstream.workload import simulate
from schemas import EventCodec
from schemas.rules import ALWAYS_CHECKED, needs_check

_HEADER = 10


def _per_event(fn: Callable[[], object], events: int) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) / events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200, help="simulated runs (~17 events each)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    codec = EventCodec()
    events = simulate(runs=args.runs).events
    raws = [codec.encode(e) for e in events]
    bodies = [(e.event_type, raw[_HEADER:]) for e, raw in zip(events, raws, strict=True)]
    flagged = [raw for (et, body), raw in zip(bodies, raws, strict=True) if needs_check(et, body)]
    n = len(raws)

    def screen() -> None:
        for event_type, body in bodies:
            needs_check(event_type, body)

    def decode_records() -> None:
        for raw in raws:
            codec.decode_record(raw)

    def decode_all() -> None:
        for raw in raws:
            codec.decode(raw)

    def decode_flagged() -> None:
        for raw in flagged:
            codec.decode(raw)

    benches = {
        "needs_check (every record)": (screen, n),
        "fastavro decode_record (every record)": (decode_records, n),
        "decode, full validation (every record)": (decode_all, n),
        "decode, full validation (flagged only)": (decode_flagged, max(1, len(flagged))),
    }
    load_before = os.getloadavg()
    best = dict.fromkeys(benches, float("inf"))
    for _ in range(args.rounds):
        for name, (fn, count) in benches.items():
            best[name] = min(best[name], _per_event(fn, count))
    load_after = os.getloadavg()

    screen_ns = best["needs_check (every record)"] * 1e9
    fastavro_ns = best["fastavro decode_record (every record)"] * 1e9
    full_ns = best["decode, full validation (every record)"] * 1e9
    share = len(flagged) / n
    with_screen_ns = screen_ns + share * best["decode, full validation (flagged only)"] * 1e9
    sizes = sorted(len(body) for _, body in bodies)
    print(
        f"{n:,} demo events ({args.runs} runs), bodies {sizes[0]}-{sizes[-1]} B (median "
        f"{sizes[n // 2]} B). Best of {args.rounds} interleaved rounds; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after, on {os.cpu_count()} CPUs"
    )
    print(f"{'':44s} {'ns/event':>9s}   ratio")
    print(f"{'needs_check, one regex scan':44s} {screen_ns:9,.0f}   1.00")
    print(f"{'fastavro decode_record':44s} {fastavro_ns:9,.0f}   {fastavro_ns / screen_ns:.1f}x")
    full = "decode + full validation, every record"
    print(f"{full:44s} {full_ns:9,.0f}   {full_ns / screen_ns:.1f}x")
    print(
        f"{'screen, then full validation of the flagged':44s} {with_screen_ns:9,.0f}   "
        f"{with_screen_ns / screen_ns:.1f}x  ({full_ns / with_screen_ns:.1f}x cheaper than "
        f"validating every record)"
    )
    by_type = Counter(raw_type for raw_type, body in bodies if needs_check(raw_type, body))
    outside = sum(c for t, c in by_type.items() if t not in ALWAYS_CHECKED)
    print(
        f"flagged {len(flagged):,} of {n:,} ({share:.1%}); cleared {1 - share:.1%}; flagged "
        f"outside ALWAYS_CHECKED (false positives of the scan): {outside}"
    )
    print("flagged by type: " + ", ".join(f"{t} {c}" for t, c in sorted(by_type.items())))


if __name__ == "__main__":
    main()
