"""Codec throughput versus a flat 15-field fastavro record, measured in the same run.

Run: ``uv run --all-extras python bench/codec.py [--n 50000]``. Prints events/s
for the flat baseline and for our codec, and the ratios. A script, not a test.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
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


def rate(fn: Callable[[], object], n: int) -> float:
    for _ in range(min(n, 2000)):
        fn()
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    n = parser.parse_args().n

    codec = EventCodec()
    event = ToolInvoked(
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
    record = to_record(event)
    fields = {name: getattr(event, name) for name in type(event).model_fields}
    raw = codec.encode(event)

    def flat_encode() -> bytes:
        buf = io.BytesIO()
        schemaless_writer(buf, FLAT, FLAT_RECORD)
        return buf.getvalue()

    flat_raw = flat_encode()
    results = {
        "flat15 encode (fastavro)": rate(flat_encode, n),
        "flat15 decode (fastavro)": rate(
            lambda: schemaless_reader(io.BytesIO(flat_raw), FLAT, None), n
        ),
        "codec encode_record (dict->bytes)": rate(lambda: codec.encode_record(record), n),
        "codec decode_record (bytes->dict)": rate(lambda: codec.decode_record(raw), n),
        "encode(model) (model->bytes)": rate(lambda: codec.encode(event), n),
        "decode(model) (bytes->validated model)": rate(lambda: codec.decode(raw), n // 5),
        "model construction (validation) only": rate(lambda: ToolInvoked(**fields), n // 5),
    }
    flat_enc = results["flat15 encode (fastavro)"]
    flat_dec = results["flat15 decode (fastavro)"]
    print(f"ToolInvoked event: {len(raw)} B on the wire; flat15 body: {len(flat_raw)} B")
    for name, value in results.items():
        base = flat_dec if "decode" in name else flat_enc
        print(f"{name:42s} {value:>10,.0f} events/s   ratio vs flat15 {value / base:5.2f}")


if __name__ == "__main__":
    main()
