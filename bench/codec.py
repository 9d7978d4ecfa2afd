"""Codec throughput versus flat 15-field fastavro records, measured in the same run.

Run: ``uv run --all-extras python bench/codec.py [--n 20000] [--rounds 5]``. A script,
not a test. Two baselines, both plain fastavro ``schemaless_writer``/``reader`` on a
flat record of 15 fields (10 strings, 3 longs, an int, a boolean):

* ``flat15 primitive``: every value already in its Avro form (the issue's baseline);
* ``flat15 logical``: the same shape with one ``uuid`` and one ``timestamp-micros``
  field written and read as ``uuid.UUID``/``datetime`` objects, the way most
  fastavro users write records.

Our lines are ratioed against both (encode lines against the encode baselines,
decode lines against the decode baselines); the ``primitive`` column is the stricter
one. Every benchmark runs once per round, rounds interleaved, best round kept, so
background load hits all lines alike; the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import io
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas import (
    Actor,
    ActorKind,
    EventCodec,
    Outcome,
    Producer,
    Subject,
    TeamType,
    ToolInvoked,
    Trace,
    to_record,
)

FLAT = parse_schema(
    {
        "type": "record",
        "name": "Flat15",
        "fields": [{"name": f"s{i}", "type": "string"} for i in range(10)]
        + [{"name": f"l{i}", "type": "long"} for i in range(3)]
        + [{"name": "i", "type": "int"}, {"name": "b", "type": "boolean"}],
    }
)
FLAT_RECORD: dict[str, Any] = {
    **{f"s{i}": f"value-{i}-abcdefgh" for i in range(10)},
    **{f"l{i}": 1_700_000_000_000_000 + i for i in range(3)},
    "i": 42,
    "b": True,
}
FLAT_LOGICAL = parse_schema(
    {
        "type": "record",
        "name": "Flat15Logical",
        "fields": [{"name": "id", "type": {"type": "string", "logicalType": "uuid"}}]
        + [{"name": f"s{i}", "type": "string"} for i in range(9)]
        + [{"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}}]
        + [{"name": f"l{i}", "type": "long"} for i in range(2)]
        + [{"name": "i", "type": "int"}, {"name": "b", "type": "boolean"}],
    }
)
FLAT_LOGICAL_RECORD: dict[str, Any] = {
    "id": uuid.UUID("0af76519-16cd-43dd-8448-eb211c80319c"),
    **{f"s{i}": f"value-{i}-abcdefgh" for i in range(9)},
    "at": datetime(2025, 1, 2, 3, 4, 5, 678901, UTC),
    **{f"l{i}": 1_700_000_000_000_000 + i for i in range(2)},
    "i": 42,
    "b": True,
}


def _event() -> ToolInvoked:
    return ToolInvoked(
        producer=Producer(
            service="planner", version="1.4.0", workload_id="spiffe://fractalops/ns/a/sa/planner"
        ),
        actor=Actor(
            kind=ActorKind.AGENT, id="agent-7", role="planner", team_type=TeamType.AGENTSQUAD
        ),
        subject=Subject(project="fractalops", repository="fractalops/proofstream", run_id="run-42"),
        trace=Trace(traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        attributes={"k": "v"},
        mcp_server="github",
        tool="create_pull_request",
        input_digest="a" * 64,
        output_digest="b" * 64,
        duration_ms=812,
        outcome=Outcome.SUCCESS,
    )


def _writer(schema: Any, record: dict[str, Any]) -> Callable[[], bytes]:
    def encode() -> bytes:
        buf = io.BytesIO()
        schemaless_writer(buf, schema, record)
        return buf.getvalue()

    return encode


def _reader(schema: Any, body: bytes) -> Callable[[], object]:
    return lambda: schemaless_reader(io.BytesIO(body), schema, None)


def _seconds_per_call(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    codec = EventCodec()
    event = _event()
    record = to_record(event)
    fields = {name: getattr(event, name) for name in type(event).model_fields}
    raw = codec.encode(event)
    flat_encode = _writer(FLAT, FLAT_RECORD)
    logical_encode = _writer(FLAT_LOGICAL, FLAT_LOGICAL_RECORD)

    # name -> (callable, calls per round as a fraction of n, "enc"/"dec")
    benches: dict[str, tuple[Callable[[], object], float, str]] = {
        "flat15 primitive encode (fastavro)": (flat_encode, 1, "enc"),
        "flat15 logical encode (fastavro)": (logical_encode, 1, "enc"),
        "flat15 primitive decode (fastavro)": (_reader(FLAT, flat_encode()), 1, "dec"),
        "flat15 logical decode (fastavro)": (_reader(FLAT_LOGICAL, logical_encode()), 1, "dec"),
        "codec encode_record (dict->bytes)": (lambda: codec.encode_record(record), 1, "enc"),
        "codec decode_record (bytes->dict)": (lambda: codec.decode_record(raw), 1, "dec"),
        "encode(model) (model->bytes)": (lambda: codec.encode(event), 1, "enc"),
        "decode(model) (bytes->validated model)": (lambda: codec.decode(raw), 0.2, "dec"),
        "to_record (model->dict) only": (lambda: to_record(event), 1, "-"),
        "model construction (validation) only": (lambda: ToolInvoked(**fields), 0.2, "-"),
    }
    load_before = os.getloadavg()
    best = dict.fromkeys(benches, float("inf"))
    for fn, _, _ in benches.values():  # warm up
        _seconds_per_call(fn, 500)
    for _ in range(args.rounds):
        for name, (fn, share, _) in benches.items():
            best[name] = min(best[name], _seconds_per_call(fn, max(1, int(args.n * share))))
    load_after = os.getloadavg()

    rate = {name: 1 / seconds for name, seconds in best.items()}
    base = {
        kind: tuple(rate[f"flat15 {shape} {verb} (fastavro)"] for shape in ("primitive", "logical"))
        for kind, verb in (("enc", "encode"), ("dec", "decode"))
    }
    print(
        f"ToolInvoked: {len(raw)} B on the wire; flat15 body: {len(flat_encode())} B. "
        f"Best of {args.rounds} interleaved rounds of {args.n:,} calls; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after, on {os.cpu_count()} CPUs"
    )
    print(f"{'':42s} {'events/s':>10s}   {'us/event':>8s}   vs flat15 primitive | logical")
    for name, (_, _, kind) in benches.items():
        line = f"{name:42s} {rate[name]:>10,.0f}   {best[name] * 1e6:8.2f}"
        if kind in base:
            primitive, logical = base[kind]
            line += f"   {rate[name] / primitive:17.2f} | {rate[name] / logical:.2f}"
        print(line)


if __name__ == "__main__":
    main()
