"""What the realistic workload costs on disk, measured on this machine without Kafka.

1. **Workload**: ``proofstream.workload.simulate`` makes ``runs`` agent runs; each
   event becomes the producer's record (``EventSerializer.record``: key, the value
   ``EventCodec.encode`` writes, headers) plus a ``traceparent`` header, which the
   producer adds from its span.
2. **Kafka**: records go to 6 partitions as librdkafka's default partitioner puts a
   key (CRC32 of the key modulo the partitions) and are framed into v2 record
   batches by aiokafka's batch builder with zstd, as the broker stores them: one
   record per batch (what a 5 ms linger gives at agent-run rates) and full 1 MB
   batches (high rates). Like librdkafka, it keeps a batch uncompressed when zstd
   does not shrink it.
3. **Stores**: every plane's own projection and store (``proofstream.planes.plane``)
   on a fresh state dir, driven as the engine applies a batch: decode once
   (``sinks.decode``), then ``project``, ``write``, ``flush``. Per plane:

   - bytes per event, batched: the state dir after every event in batches of
     ``batch_events`` (the worker's ``batch_max``), minus the empty store's;
   - bytes per flush: the first ``probe`` events flushed one by one minus the same
     events flushed once, over the ``probe - 1`` extra flushes;
   - facts: ``data_compressed_bytes`` of the active parts in ``system.parts`` after
     ``OPTIMIZE TABLE … FINAL`` on every table;
   - archive: segments of the sizes it seals at by age for each rate asked for,
     sealed at the end with ``ArchiveStore.seal``;
   - evidence: the ledger and tlog (tiles, checkpoints, index); artifacts are
     uploaded beside the events, not carried by them.

   A state dir's size is the sum of its files' sizes, not the filesystem's blocks.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.record.default_records import DefaultRecordBase, DefaultRecordBatchBuilder

from bench.capacity_model import archive_segment_records, events_per_day
from processors.settings import ProcessorSettings
from producers.serializer import EventSerializer
from proofstream.planes import plane
from proofstream.settings import Settings
from proofstream.workload import simulate
from schemas.codec import EventCodec
from schemas.events import EvidenceRecorded
from sinks.archive.store import ArchiveStore
from sinks.base import LogPosition, LogRecord
from sinks.catalog import DataHubSettings
from sinks.decode import Needs, decode
from sinks.evidence import ChronicleSettings
from sinks.facts.settings import ClickHouseSettings
from sinks.facts.store import ClickHouseStore
from sinks.identity import RdfSettings
from sinks.lineage import OpenLineageSettings

__all__ = ["PARTITIONS", "Measured", "StoreFigure", "measure"]

PARTITIONS = 6  # the events topic's, as producers.topics creates it
TOPIC = "events"
KAFKA_BATCH_BYTES = 1_000_000  # librdkafka's batch.size default: its largest batch
FLUSHED_PLANES = ("evidence", "lineage", "identity", "catalog")  # facts, archive: see measure
FactsRow = tuple[str, int, int, int, int]


@dataclass(frozen=True)
class StoreFigure:
    """One store's measured cost: bytes per event batched, and per flush."""

    per_event: float
    per_flush: float | None


@dataclass
class Measured:
    """Everything measured, as ``docs/capacity.md`` prints it."""

    runs: int
    events: int
    seed: int
    batch_events: int
    probe: int
    run_events: list[int]
    value_bytes: list[int]
    key_bytes: float
    header_bytes: float
    kafka_single: float
    kafka_batched: float
    artifacts_per_run: float
    stores: dict[str, StoreFigure] = field(default_factory=dict)
    facts_tables: list[FactsRow] = field(default_factory=list)
    archive: dict[int, float] = field(default_factory=dict)
    seconds: float = 0.0


def _embedded(state_dir: Path) -> Settings:
    """Settings with every store embedded under ``state_dir`` (whatever the
    environment says), so the measurement needs no server."""
    return Settings().model_copy(
        update={
            "state_dir": state_dir,
            "clickhouse": ClickHouseSettings(),
            "rdf": RdfSettings(),
            "datahub": DataHubSettings(),
            "chronicle": ChronicleSettings(),
            "openlineage": OpenLineageSettings(),
        }
    )


def _records(runs: int, seed: int, codec: EventCodec) -> tuple[list[LogRecord], dict[str, Any]]:
    """The workload as log records in offset order, and what it says about itself."""
    events = simulate(runs=runs, seed=seed).events
    serializer = EventSerializer(codec)
    offsets = [0] * PARTITIONS
    records = []
    for event in events:
        out = serializer.record(event)
        # the producer's span context: the envelope's traceparent has the same length
        traceparent = event.trace.traceparent if event.trace else None
        headers = out.headers + ((("traceparent", traceparent.encode()),) if traceparent else ())
        partition = zlib.crc32(out.key) % PARTITIONS
        position = LogPosition(TOPIC, partition, offsets[partition])
        offsets[partition] += 1
        stamp = int(event.occurred_at.timestamp() * 1000)
        records.append(LogRecord(position, out.key, out.value, headers, stamp))
    runs_of = Counter(e.subject.run_id for e in events)
    evidence = sum(e.size_bytes for e in events if isinstance(e, EvidenceRecorded))
    return records, {"run_events": sorted(runs_of.values()), "artifacts": evidence / runs}


def _builder(limit: int) -> Any:
    # an idempotent producer's batch (producer id set), zstd as producers.config sets it
    return DefaultRecordBatchBuilder(
        magic=2,
        compression_type=DefaultRecordBase.CODEC_ZSTD,
        is_transactional=0,
        producer_id=1,
        producer_epoch=0,
        base_sequence=0,
        batch_size=limit,
    )


def _batch_bytes(records: Sequence[LogRecord], limit: int) -> int:
    """Bytes of ``records`` framed in zstd v2 batches of at most ``limit`` bytes, per
    partition in offset order. The builder always takes a batch's first record, so
    ``limit=1`` gives one record per batch."""
    total = 0
    for partition in range(PARTITIONS):
        builder, count = _builder(limit), 0
        for record in (r for r in records if r.position.partition == partition):
            fields = (record.timestamp_ms, record.key, record.value, list(record.headers))
            if builder.append(count, *fields) is None:  # full: close it, start the next
                total += len(builder.build())
                builder, count = _builder(limit), 0
                builder.append(count, *fields)
            count += 1
        if count:
            total += len(builder.build())
    return total


def _size(path: Path) -> int:
    """Bytes of the files under ``path``. The evidence log's partial tiles
    (``tile/…/<N>.p/<W>``, C2SP tlog-tiles) are left out: they are the right edge of
    the tree, rewritten as it grows and deleted once their tile is full, so they stay
    under a few MB per log whatever its length (fewer than 256 per tile level)."""
    return sum(
        f.stat().st_size
        for f in path.rglob("*")
        if f.is_file() and not any(p.endswith(".p") for p in f.relative_to(path).parts)
    )


def _apply(
    name: str, settings: Settings, records: Sequence[LogRecord], batch: int, store: Any = None
) -> Any:
    """Apply ``records`` to ``name``'s live store (or ``store``) in batches of ``batch``:
    decode, project, write, flush, as the engine does. Returns the still-open store."""
    codec = EventCodec()
    chosen = plane(name, settings, codec)
    store = store if store is not None else chosen.open_store()
    needs = Needs.of([chosen.projection])
    for start in range(0, len(records), batch):
        part = decode(codec, records[start : start + batch], needs).batch_for(chosen.projection)
        store.write(chosen.projection.project(part), part.upto)
        store.flush()
    if not records:
        store.flush()  # what a store writes once, on its first flush, is not per event
    return store


def _measure_plane(name: str, root: Path, records: Sequence[LogRecord], batch: int) -> int:
    """Bytes of ``name``'s state dir after ``records`` in batches of ``batch``, minus
    the bytes of its empty store."""
    empty = _apply(name, _embedded(root / f"{name}-empty"), [], batch)
    empty.close()
    store = _apply(name, _embedded(root / name), records, batch)
    store.close()
    return _size(root / name) - _size(root / f"{name}-empty")


def _facts(root: Path, records: Sequence[LogRecord], batch: int) -> list[FactsRow]:
    """``(table, rows, compressed, uncompressed, on disk)`` of the facts store's active
    parts, after ``OPTIMIZE … FINAL`` on every MergeTree table."""
    settings = _embedded(root / "facts")
    store = _apply("facts", settings, records, batch)
    try:
        assert isinstance(store, ClickHouseStore)
        client, db = store.client, {"db": settings.clickhouse.database}
        tables = client.query(
            "SELECT name FROM system.tables WHERE database = {db:String}"
            " AND engine LIKE '%MergeTree%'",
            parameters=db,
        ).result_rows
        for (table,) in tables:
            client.command(f"OPTIMIZE TABLE `{table}` FINAL")
        rows = client.query(
            "SELECT table, sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes),"
            " sum(bytes_on_disk) FROM system.parts WHERE database = {db:String} AND active"
            " GROUP BY table ORDER BY 3 DESC",
            parameters=db,
        ).result_rows
    finally:
        store.close()
    return [(str(t), int(n), int(c), int(u), int(d)) for t, n, c, u, d in rows]


def _archive(root: Path, records: Sequence[LogRecord], batch: int, seal: int) -> float:
    """Bytes per event of the archive sealed in segments of ``seal`` records: the
    plane's store class with ``seal_records`` set to what sealing by age gives."""
    store = ArchiveStore(root / f"archive-{seal}", seal_records=seal)
    _apply("archive", _embedded(root), records, batch, store).seal()
    store.close()
    return _size(root / f"archive-{seal}") / len(records)


def measure(
    runs: int,
    *,
    seed: int = 5,
    batch_events: int | None = None,
    probe: int = 1000,
    runs_per_day: Sequence[int] = (),
    log: Callable[[str], None] = print,
) -> Measured:
    """Measure the workload of ``runs`` agent runs (module docstring); the archive in
    segments of the size it seals at for each of ``runs_per_day``."""
    started = time.perf_counter()
    batch = batch_events or ProcessorSettings().batch_max
    codec = EventCodec()
    records, about = _records(runs, seed, codec)
    total = len(records)
    probe = max(2, min(probe, total))
    measured = Measured(
        runs=runs,
        events=total,
        seed=seed,
        batch_events=batch,
        probe=probe,
        run_events=about["run_events"],
        value_bytes=[len(r.value or b"") for r in records],
        key_bytes=statistics.fmean(len(r.key or b"") for r in records),
        header_bytes=statistics.fmean(sum(len(k) + len(v) for k, v in r.headers) for r in records),
        kafka_single=_batch_bytes(records, 1) / total,
        kafka_batched=_batch_bytes(records, KAFKA_BATCH_BYTES) / total,
        artifacts_per_run=about["artifacts"],
    )
    log(f"{total:,} events of {runs:,} runs; Kafka framing done")
    with tempfile.TemporaryDirectory(prefix="capacity-") as tmp:
        root = Path(tmp)
        # facts: its per-flush writes are watermark rows that OPTIMIZE … FINAL
        # collapses (ReplacingMergeTree per partition), so no flush probe
        measured.facts_tables = _facts(root, records, batch)
        compressed = sum(t[2] for t in measured.facts_tables)
        measured.stores["facts"] = StoreFigure(compressed / total, None)
        log(f"facts: {compressed / total:,.0f} B/event compressed")
        for name in FLUSHED_PLANES:
            once = _measure_plane(name, root / "once", records[:probe], probe)
            each = _measure_plane(name, root / "each", records[:probe], 1)
            per_flush = (each - once) / (probe - 1)
            batched = _measure_plane(name, root, records, batch)
            flushes = -(-total // batch)
            per_event = (batched - flushes * per_flush) / total
            measured.stores[name] = StoreFigure(per_event, per_flush)
            log(f"{name}: {per_event:,.0f} B/event batched, {per_flush:,.0f} B/flush")
        daily = [events_per_day(n, total / runs) for n in runs_per_day]
        for seal in sorted({archive_segment_records(d, PARTITIONS) for d in daily}):
            measured.archive[seal] = _archive(root, records, batch, seal)
            log(f"archive, segments of {seal:,} records: {measured.archive[seal]:,.0f} B/event")
    measured.seconds = time.perf_counter() - started
    return measured
