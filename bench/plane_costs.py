"""Sub-benchmark: what each plane costs in CPU per event, and what that allows.

    uv run --all-extras python bench/plane_costs.py [--runs 3000]

A sub-benchmark (part of the job measured alone), not the job: ``bench/pipeline.py``
measures the whole worker. This one explains its figure. On one backlog of the
realistic workload it runs the worker (``proofstream run --planes <plane>``, one
process) once per plane, then once with every plane as a user runs it, and prints
for each the CPU its processes used per event while draining (from the API
answering to caught up: the start-up, imports and store opening, is left out)
and from start to caught up.

The sum of the planes' draining costs, less the fixed part (consume and decode)
counted once per plane beyond the first, bounds the whole worker's draining rate on
this machine: ``cpus / (µs per event)``; the cheapest plane's cost stands in for
the fixed part, so the bound is generous. A rate target above that bound needs
cheaper planes or more cores, not better scheduling. The broker's CPU is not
counted (it runs in its own JVM).

A benchmark script, not a test: figures depend on the machine; the load average is
printed with them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import load as _load
from bench.machine import machine, write_figures
from bench.pipeline import ALL, Run, _fill, _settings, _topic
from proofstream.settings import Settings
from schemas.codec import EventCodec


def _one(base: Settings, topic: str, state: Path, planes: list[str], total: int) -> Run:
    run = Run(_settings(base, topic, state, planes), total)
    run.drain()
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3000, help="agent runs in the backlog")
    parser.add_argument("--json-out", type=Path, help="also write the figures here")
    args = parser.parse_args()
    base = Settings()
    admin = AdminClient(base.kafka.client_config())
    cpus = os.cpu_count() or 1
    figures: dict[str, Any] = {"machine": machine(), "planes": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        topic = _topic(admin)
        total = _fill(base.kafka, topic, args.runs, 11, EventCodec())
        print(f"backlog: {total:,} events of {args.runs:,} simulated runs; {_load()}")
        costs: dict[str, float] = {}
        for plane in ALL:
            run = _one(base, topic, tmp / plane, [plane], total)
            costs[plane] = run.draining_cpu_us_per_event()
            figures["planes"][plane] = {
                "draining_cpu_us_per_event": costs[plane],
                "cpu_us_per_event": run.cpu_us_per_event(),
                "draining_ev_s": run.draining_rate(),
            }
            print(
                f"    {plane:14s} alone: {costs[plane]:5,.0f} µs CPU/event draining"
                f" ({run.cpu_us_per_event():,.0f} with start-up),"
                f" {run.draining_rate():9,.0f} ev/s draining ({_load()})"
            )
        whole = _one(base, topic, tmp / "whole", [], total)
        fixed = min(costs.values())
        summed = sum(costs.values()) - fixed * (len(costs) - 1)
        bound = cpus / summed * 1e6
        figures |= {
            "events": total,
            "fixed_us": fixed,
            "sum_us": summed,
            "bound_ev_s": bound,
            "whole": {
                "draining_cpu_us_per_event": whole.draining_cpu_us_per_event(),
                "draining_ev_s": whole.draining_rate(),
            },
        }
        print(
            f"sum of the planes, the cheapest one's cost counted once as the fixed part:"
            f" {summed:,.0f} µs CPU/event → at most {bound:,.0f} ev/s on {cpus} CPUs"
        )
        print(
            f"whole worker (every plane, as `proofstream run`):"
            f" {whole.draining_cpu_us_per_event():,.0f} µs CPU/event draining,"
            f" {whole.draining_rate():,.0f} ev/s draining = {whole.draining_rate() / bound:.2f}"
            f" of that bound ({_load()})"
        )
    write_figures(args.json_out, figures)


if __name__ == "__main__":
    main()
