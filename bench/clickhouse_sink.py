"""Benchmark: ClickHouseSink.write + flush vs a raw ``insert_arrow`` of the same facts.

Usage::

    uv run --all-extras python bench/clickhouse_sink.py [N] [BATCH]

Builds N (default 200 000) realistic decoded records in memory (a realistic mix of
event types, each template a real model round-tripped through the codec), then on
one embedded chDB:

* sink:  ``ClickHouseSink.write(batch)`` + ``flush()`` per batch of BATCH records
         (projection, Arrow conversion, proof_facts + typed tables, watermark);
* raw:   ``client.insert_arrow`` of the same rows, pre-built as Arrow tables (every
         table the sink fills, same batches) into identical tables in another
         database — and, stricter, of ``proof_facts`` alone.

Prints events/s and the ratios sink/raw (target >= 0.8 against the same rows).
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
            projection = FactsProjection()
            # the same rows the sink writes: every table the projection fills, prebuilt
            prebuilt = [
                [(t, to_arrow(rows)) for t, rows in projection.project(c).items() if len(rows)]
                for c in chunks
            ]
            tables = sorted({t for chunk in prebuilt for t, _ in chunk})
            client.command("CREATE DATABASE IF NOT EXISTS bench_raw")
            for table in tables:
                create = client.query(f"SHOW CREATE TABLE {table}").result_rows[0][0]
                client.command(create.replace(f"proofstream.{table}", f"bench_raw.{table}", 1))

            start = time.perf_counter()
            for chunk in prebuilt:
                for table, arrow in chunk:
                    if table == "proof_facts":
                        client.insert_arrow(f"bench_raw.{table}", arrow)
            facts_only_s = time.perf_counter() - start
            client.command("TRUNCATE TABLE bench_raw.proof_facts")

            start = time.perf_counter()
            for chunk in prebuilt:
                for table, arrow in chunk:
                    client.insert_arrow(f"bench_raw.{table}", arrow)
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
    raw, through, facts_only = n / raw_s, n / sink_s, n / facts_only_s
    print(f"events: {n}, batch: {size}, tables written: {', '.join(tables)}")
    print(f"raw insert_arrow, proof_facts only (prebuilt): {facts_only:12,.0f} events/s")
    print(f"raw insert_arrow, same rows as the sink:       {raw:12,.0f} events/s  ({raw_s:.2f} s)")
    print(f"ClickHouseSink write+flush:                    {through:12,.0f} events/s  ", end="")
    print(f"({sink_s:.2f} s)")
    print(f"ratio sink / raw same rows: {through / raw:.2f}  (target >= 0.80)")
    print(f"ratio sink / raw proof_facts only: {through / facts_only:.2f}  (stricter)")


if __name__ == "__main__":
    main()
