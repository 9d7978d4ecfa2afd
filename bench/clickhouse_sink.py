"""Benchmark: ClickHouseSink.write + flush vs a raw ``insert_arrow`` of the same facts.

Usage::

    uv run --all-extras python bench/clickhouse_sink.py [N] [BATCH]

Builds N (default 200 000) realistic decoded records in memory (a realistic mix of
event types, each template a real model round-tripped through the codec), then on
one embedded chDB:

* sink:  ``ClickHouseSink.write(batch)`` + ``flush()`` per batch of BATCH records
         (projection, Arrow conversion, proof_facts + typed tables, watermark);
* raw:   ``client.insert_arrow`` of the pre-built proof_facts Arrow table (same rows,
         same batches) into an identical table in another database.

Prints rows/s of both and the ratio sink/raw (target >= 0.8).
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from schemas.codec import EventCodec
from sinks.base import LoggedEvent, LogPosition
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink, to_arrow
from sinks.facts import FactsProjection

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.facts_scenario import events  # a realistic mix of real models


def build(n: int) -> list[LoggedEvent]:
    codec = EventCodec()
    templates = [codec.decode_record(codec.encode(e)) for e in events()]
    batch = []
    base = templates[0]["occurred_at"]
    for offset in range(n):
        record: dict[str, Any] = dict(templates[offset % len(templates)])
        record["event_id"] = str(uuid.UUID(int=offset + 1))
        record["occurred_at"] = base + offset * 1_000_000
        if record["event_type"] == "tool.invoked":
            record["input_digest"] = hashlib.sha256(offset.to_bytes(8, "little")).hexdigest()
            record["duration_ms"] = offset % 5000
        batch.append(
            LoggedEvent(
                LogPosition("events", offset % 6, offset),
                record["event_type"],
                record["event_id"],
                record,
            )
        )
    return batch


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    records = build(n)
    chunks = [records[i : i + size] for i in range(0, n, size)]
    with tempfile.TemporaryDirectory() as tmp:
        sink = ClickHouseSink.open(ClickHouseSettings(), Path(tmp))
        client = sink.client
        try:
            create = client.query("SHOW CREATE TABLE proof_facts").result_rows[0][0]
            client.command("CREATE DATABASE IF NOT EXISTS bench_raw")
            client.command(create.replace("proofstream.proof_facts", "bench_raw.proof_facts", 1))
            projection = FactsProjection()
            prebuilt = [to_arrow(projection.project(c)["proof_facts"]) for c in chunks]

            start = time.perf_counter()
            for table in prebuilt:
                client.insert_arrow("bench_raw.proof_facts", table)
            raw_s = time.perf_counter() - start

            start = time.perf_counter()
            for chunk in chunks:
                sink.write(chunk)
                sink.flush()
            sink_s = time.perf_counter() - start
            stored = client.query("SELECT count() FROM proof_facts").result_rows[0][0]
            assert stored == n, stored
        finally:
            sink.close()
    raw, through = n / raw_s, n / sink_s
    print(f"events: {n}, batch: {size}")
    print(f"raw insert_arrow (prebuilt, proof_facts only): {raw:12,.0f} rows/s  ({raw_s:.2f} s)")
    print(
        f"ClickHouseSink write+flush (all tables):        {through:12,.0f} rows/s  ({sink_s:.2f} s)"
    )
    print(f"ratio sink/raw: {through / raw:.2f}  (target >= 0.80)")


if __name__ == "__main__":
    main()
