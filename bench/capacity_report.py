"""The sections of ``docs/capacity.md`` below its header, as Markdown lines.

Each section turns measured figures (``Measured``, the benches' JSON) into a table
through :mod:`bench.capacity_model` and says in a sentence how they were made.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench import capacity_model as m
from bench.capacity_measure import PARTITIONS, Measured

__all__ = [
    "assumptions_section",
    "measured_section",
    "partitions_section",
    "per_year_section",
    "rebuild_section",
    "table",
    "throughput_section",
    "workload_section",
]

RUNS_PER_DAY = (1_000, 10_000, 100_000)
TARGETS = (1_000, 10_000, 100_000, 1_000_000)
STORES = (
    ("facts", "ClickHouse (facts), compressed, one replica"),
    ("evidence", "Chronicle ledger + tlog (no artifacts)"),
    ("identity", "RDF (Oxigraph)"),
    ("catalog", "Catalog (DataHub Lite)"),
    ("lineage", "Lineage (OpenLineage file)"),
)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(row) + " |" for row in rows]


def _spread(values: list[int], digits: int) -> list[str]:
    mean = sum(values) / len(values)
    return [
        f"{mean:.{digits}f}",
        f"{m.percentile(values, 50):.0f}",
        f"{m.percentile(values, 95):.0f}",
    ]


def workload_section(ms: Measured) -> list[str]:
    """Events per run, bytes per event on the wire and in Kafka."""
    means = (
        ("key bytes per event (the run id)", ms.key_bytes),
        ("header bytes per event (5 headers, traceparent included)", ms.header_bytes),
        ("Kafka bytes per event, one record per batch (zstd when it shrinks it)", ms.kafka_single),
        ("Kafka bytes per event, full 1 MB zstd batches", ms.kafka_batched),
    )
    rows = [
        ["events per agent run", *_spread(ms.run_events, 1)],
        ["value bytes per event (Avro single-object)", *_spread(ms.value_bytes, 0)],
        *[[label, f"{value:.0f}", "", ""] for label, value in means],
    ]
    return [
        "",
        "## Workload",
        "",
        "The simulated workload (`proofstream.workload.simulate`: AgentSquad and research"
        " runs), each event as the record the producer sends; Kafka bytes are whole v2"
        " record batches as the broker stores them.",
        "",
        *table(["per event or run", "mean", "p50", "p95"], rows),
    ]


def measured_section(ms: Measured) -> list[str]:
    rows = []
    for name, label in STORES:
        fig = ms.stores[name]
        flush = "merged away" if fig.per_flush is None else f"{fig.per_flush:,.0f}"
        live = m.live_bytes_per_event(name, fig.per_event, fig.per_flush)
        how = "`system.parts`, compressed" if name == "facts" else "files, less the empty store"
        rows.append([label, f"{fig.per_event:,.0f}", flush, f"{live:,.0f}", how])
    for seal, per_event in sorted(ms.archive.items()):
        rows.append(
            [
                f"Archive, segments of {seal:,} records",
                f"{per_event:,.0f}",
                "gone at seal",
                f"{per_event:,.0f}",
                "sealed Avro segments + manifest",
            ]
        )
    facts = [
        [t, f"{n:,}", m.fmt_bytes(c), m.fmt_bytes(u), m.fmt_bytes(d)]
        for t, n, c, u, d in ms.facts_tables
    ]
    return [
        "",
        "## Storage measured, bytes per event",
        "",
        f"Each plane's own projection and store on a fresh state dir, {ms.events:,} events"
        f" applied in batches of {ms.batch_events:,} (batched); per flush from the first"
        f" {ms.probe:,} events flushed one by one against the same flushed once. Live = a"
        " store that flushes after every event (what the worker's 0.1 s batch window"
        " gives at these rates), counting per-flush bytes only where they stay. Facts'"
        " watermark rows are merged away (ReplacingMergeTree); the archive appends a block"
        " per flush to its pending tail, which is deleted once the segment is sealed.",
        "",
        *table(["store", "batched B/event", "B/flush", "live B/event", "measured as"], rows),
        "",
        "ClickHouse tables, from `system.parts` (active parts, after `OPTIMIZE … FINAL`):",
        "",
        *table(["table", "rows", "compressed", "uncompressed", "on disk"], facts),
    ]


def throughput_section(pipeline: dict[str, Any] | None, replay: dict[str, Any] | None) -> list[str]:
    rows = []
    for what, ev_s, cpus in m.throughput_rows(pipeline, replay):
        per = m.per_core(ev_s, cpus)
        rows.append([what, m.cell(ev_s, m.fmt_count), str(cpus or ""), m.cell(per, m.fmt_count)])
    return [
        "",
        "## Throughput per core",
        "",
        "ev/s as the benches measured them; per core = ev/s / the machine's CPUs. The"
        " whole worker uses every CPU of the machine (its planes share them, split over"
        " processes), so a plane's figure is what it gets while sharing, not alone.",
        "",
        *table(["what", "ev/s", "CPUs", "ev/s per core"], rows),
    ]


def partitions_section(ms: Measured, pipeline: dict[str, Any] | None, headroom: float) -> list[str]:
    planes = (pipeline or {}).get("whole", {}).get("planes_ev_s") or {}
    slowest = min(planes.items(), key=lambda kv: kv[1]) if planes else None
    processes = int(m.lookup(pipeline, "whole", "processes") or 1)
    rows, need = [], ["workers", "partitions"]
    for target in TARGETS:
        row = [f"{target:,}"]
        row += [
            f"{m.fmt_count(target * b / 1e6)} MB/s" for b in (ms.kafka_single, ms.kafka_batched)
        ]
        if slowest is None:
            row += [m.NOT_MEASURED] * len(need)
        else:
            row += [
                str(m.workers_needed(target, slowest[1], headroom=headroom)),
                str(
                    m.partitions_needed(target, slowest[1], processes=processes, headroom=headroom)
                ),
            ]
        rows.append(row)
    basis = (
        f"the whole worker's slowest plane, {slowest[0]}, at {slowest[1]:,.0f} ev/s in"
        f" {processes} process(es)"
        if slowest
        else f"the slowest plane's rate is {m.NOT_MEASURED} (no pipeline figures)"
    )
    return [
        "",
        "## Partitions needed",
        "",
        f"Rule: `partitions = max(ceil(target * {headroom:g} / slowest), processes)`. A"
        " partition is read by one consumer of each plane, so it can carry at most what one"
        " worker drains for its slowest plane (`slowest`, measured with every partition in"
        f" one worker: an upper bound per partition); the factor {headroom:g} is headroom to"
        " catch up after an outage; and every worker process needs a partition. Workers ="
        f" machines of the measured size for that rate. Basis: {basis}. Today one worker"
        " reads every partition and each store is opened by one process, so a second"
        " worker needs the planes sharded by partition first: beyond one worker the"
        " partition count is what the rate needs, not what the code can use yet. Kafka in"
        " = target * bytes per event, between one record per batch (low rates: a 5 ms"
        " linger rarely holds two records of a partition) and full 1 MB batches (high"
        " rates); the brokers write it replication times.",
        "",
        *table(["events/s", "Kafka in, 1-record batches", "full batches", *need], rows),
    ]


def per_year_section(ms: Measured, per_run: float, args: argparse.Namespace) -> list[str]:
    days = m.YEAR_DAYS
    daily = [m.events_per_day(n, per_run) for n in RUNS_PER_DAY]
    local = [
        m.kafka_bytes_per_year(ms.kafka_single, d, replication=args.replication)[0] for d in daily
    ]
    tiered = [
        m.kafka_bytes_per_year(
            ms.kafka_single, d, replication=args.replication, local_days=args.local_days
        )
        for d in daily
    ]
    rows = [
        ["events per day", *[m.fmt_count(d) for d in daily]],
        ["events per second (mean)", *[m.fmt_count(d / m.DAY_S) for d in daily]],
        [
            "events per worker batch (0.1 s window)",
            *[f"{m.events_per_batch(d / m.DAY_S):.2f}" for d in daily],
        ],
        [f"Kafka, full retention on brokers (x {args.replication})", *map(m.fmt_bytes, local)],
        [
            f"Kafka tiered: brokers, last {args.local_days} days (x {args.replication})",
            *[m.fmt_bytes(t[0]) for t in tiered],
        ],
        ["Kafka tiered: object storage (one copy)", *[m.fmt_bytes(t[1]) for t in tiered]],
    ]
    stores_total = [0.0] * len(daily)
    for name, label in STORES:
        fig = ms.stores[name]
        per_event = m.live_bytes_per_event(name, fig.per_event, fig.per_flush)
        year = [per_event * d * days for d in daily]
        stores_total = [a + b for a, b in zip(stores_total, year, strict=True)]
        rows.append([label, *map(m.fmt_bytes, year)])
    archive = []
    for d in daily:
        seal = m.archive_segment_records(d, PARTITIONS)
        archive.append(ms.archive[seal] * d * days)
    stores_total = [a + b for a, b in zip(stores_total, archive, strict=True)]
    rows.append(["Archive (Avro segments, sealed every 300 s)", *map(m.fmt_bytes, archive)])
    rows.append(["**all stores above, Kafka aside**", *map(m.fmt_bytes, stores_total)])
    artifacts = [ms.artifacts_per_run * n * days for n in RUNS_PER_DAY]
    rows.append(
        [
            "Chronicle artifacts (workload's declared sizes, not measured)",
            *map(m.fmt_bytes, artifacts),
        ]
    )
    return [
        "",
        "## Storage per year",
        "",
        f"One year = {days} days at a steady rate; live bytes per event from the table"
        " above; Kafka at one record per batch (at these rates a 5 ms linger rarely"
        " holds two events of one partition); the archive at the segment size it seals"
        " at by age at that rate. Decimal units (1 GB = 10⁹ B).",
        "",
        *table(["agent runs per day", *[f"{n:,}" for n in RUNS_PER_DAY]], rows),
    ]


def rebuild_section(ms: Measured, per_run: float, replay: dict[str, Any] | None) -> list[str]:
    rows = []
    for n in RUNS_PER_DAY:
        events = m.events_per_day(n, per_run) * m.YEAR_DAYS
        facts = m.rebuild_seconds(events, m.lookup(replay, "facts", "ev_s"))
        every = m.rebuild_seconds(events, m.lookup(replay, "all", "ev_s"))
        rows.append(
            [
                f"{n:,}",
                m.fmt_count(events),
                m.cell(facts, m.fmt_duration),
                m.cell(every, m.fmt_duration),
            ]
        )
    size = m.lookup(replay, "events")
    basis = (
        f"linear extrapolation of `bench/replay.py` on {size:,.0f} events"
        if size
        else f"{m.NOT_MEASURED}: no replay figures"
    )
    return [
        "",
        "## Full rebuild of one year",
        "",
        f"Time = events / the rebuild's measured ev/s ({basis}). Linear: it assumes the"
        " rate at that size stays what it was at the measured size; stores that slow"
        " as they grow make it longer (see the pipeline bench's store-growth figures).",
        "",
        *table(["agent runs per day", "events in a year", "facts", "all planes"], rows),
    ]


def assumptions_section(ms: Measured, args: argparse.Namespace) -> list[str]:
    return [
        "",
        "## Assumptions",
        "",
        f"- The workload is the simulation's ({ms.events / ms.runs:.1f} events per run);"
        " real runs with more tool calls scale every figure per run, not per event.",
        f"- Kafka: {PARTITIONS} partitions by CRC32 of the key (librdkafka's default"
        f" partitioner), replication {args.replication}, zstd; batch framing by aiokafka's"
        " v2 batch builder; index files (about 0.5% of the log) left out. Tiered: the"
        f" brokers keep the last {args.local_days} days, object storage one copy of all.",
        "- ClickHouse: one replica (multiply by the replicas of a cluster). Every figure"
        " is from a sample: what a store writes once (the catalog's schemas) is spread"
        " over its events, and more rows compress better: a larger `--runs` lowers both.",
        "- Live stores flush after every event. The worker flushes once per batch, and a"
        " batch is what arrives in 0.1 s: about one event at 1k and 10k runs a day, more"
        ' at 100k (row "events per worker batch"), where the lineage figure is then an'
        " upper bound.",
        "- Per-flush bytes count only where they stay: signed checkpoints (evidence) and"
        " RUNNING checkpoint events (lineage); watermarks elsewhere are replaced.",
        "- Chronicle artifacts are not in the events: their row uses the sizes the"
        " workload declares for browser proofs and test reports, uploaded once each.",
        "- Sizes are sums of file sizes (what a copy or an object store holds), not"
        " filesystem blocks; a store's empty size is subtracted. The evidence log's"
        " partial tiles are left out: they are its right edge, deleted once their tile is"
        " full, a few MB at most whatever the log's length.",
    ]
