"""Catalog (DataHub Lite) sink on a simulated workload: prints events/s and aspects
per event. The identity plane has its own sub-benchmark, ``bench/identity.py``.

    uv run --all-extras python bench/semantics_catalog.py --runs 600 --extra-tools 0
    uv run --all-extras python bench/semantics_catalog.py --runs 300 --extra-tools 40
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from proofstream.workload import simulate
from schemas.events import Event, ToolInvoked
from sinks.datahub import DataHubSettings, DataHubSink
from tests.workload_batch import logged


def events(runs: int, extra_tools: int) -> list[Event]:
    out: list[Event] = []
    for event in simulate(runs=runs).events:
        out.append(event)
        if isinstance(event, ToolInvoked):
            for n in range(extra_tools // 5):  # ~5 tool events per run in the base workload
                out.append(
                    event.model_copy(update={"event_id": uuid.uuid5(event.event_id, str(n))})
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--extra-tools", type=int, default=0)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    batch = logged(events(args.runs, args.extra_tools))
    print(f"{len(batch)} events, {args.runs} runs")
    with tempfile.TemporaryDirectory() as tmp:
        for label, sink in (("datahub", DataHubSink.open(DataHubSettings(), Path(tmp))),):
            start = time.perf_counter()
            for i in range(0, len(batch), args.batch):
                sink.write(batch[i : i + args.batch])
                sink.flush()
            elapsed = time.perf_counter() - start
            written, unit = sink.aspects_written, "aspects"
            print(
                f"{label:8} {len(batch) / elapsed:8.0f} events/s  "
                f"{written} {unit} = {written / len(batch):.3f} per event"
            )
            sink.close()


if __name__ == "__main__":
    main()
