"""The whole worker, as a user runs it, against the machine's ceilings in the same run.

Run (needs the broker: ``proofstream kafka up``)::

    uv run --all-extras python bench/pipeline.py [--runs 3000] [--grow-runs 6000]
        [--rate 5000] [--seconds 10] [--rss-runs 60000] [--peer]

What it prints, each beside what it is compared with:

1. **C2**, raw librdkafka consume of the backlog's bytes (no decode), and **C3**,
   chDB inserting the same records from in-memory Avro blocks into plain tables
   (no views): the ceilings, measured here and now.
2. **The whole worker** — ``python -m proofstream run`` with every plane and proof
   closure, split over processes as it does by default — on a fresh state dir
   and a backlog of the realistic workload (``--runs`` simulated agent runs, ≥ 50k
   events): seconds from process start to every plane caught up, events/s over
   that span and from the worker API answering to caught up (draining), per-plane
   rates, the ratio to C2, peak RSS of every worker process.
3. **The facts plane alone** (``--planes facts``) on the same backlog, against C2,
   and beside the Quix Streams peer (``bench/peers``, with ``--peer``).
4. **Store growth**: every plane's rate on a 20k-event chunk with 10k events
   already stored, then with 100k stored (``--grow-runs``): the ratio must stay
   within 20%.
5. **Emit → visible** at ``--rate`` events/s for ``--seconds`` with every plane
   live: p50/p99 from the producer's acknowledgement to the row answering a query.
6. **Memory**: one drain of a large backlog (``--rss-runs``; 60000 runs ≈ 1M
   events): the peak RSS of every worker process while the first 100k events were
   applied against the peak over the whole drain (flat means within 10%).

A benchmark script, not a test: figures depend on the machine; the load average
is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import load as _load
from bench.machine import machine, write_figures
from producers.settings import KafkaSettings, TopicSettings
from proofstream.pipeline import worker_planes
from proofstream.settings import Settings
from proofstream.worker_client import WorkerClient
from proofstream.worker_process import WorkerProcess
from proofstream.workload import simulate
from schemas.codec import EventCodec
from sinks.base import LogPosition, LogRecord
from sinks.decode import Needs, decode
from sinks.facts.projection import FactsProjection
from tests.ports import free_port

ALL = ("facts", "archive", "evidence", "lineage", "identity", "catalog", "proof-closure")


def _topic(admin: AdminClient, partitions: int = 6) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    futures = admin.create_topics(
        [
            NewTopic(name, partitions, 1),
            NewTopic(f"{name}.dlq", 1, 1),
            NewTopic(f"{name}.gaps", 1, 1),
        ]
    )
    for future in futures.values():
        future.result(30)
    return name


def _fill(kafka: KafkaSettings, topic: str, runs: int, seed: int, codec: EventCodec) -> int:
    """The realistic workload of ``runs`` agent runs, encoded as the producer does and
    produced raw (setup, not timed). Returns the number of events."""
    producer = Producer({**kafka.client_config(), "linger.ms": "20", "compression.type": "zstd"})
    count = 0
    for event in simulate(runs=runs, seed=seed).events:
        value = codec.encode(event)
        key = (event.subject.run_id or event.subject.project).encode()
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.05)
        count += 1
        if count % 10_000 == 0:
            producer.poll(0)
    producer.flush(120)
    return count


def _records(kafka: KafkaSettings, topic: str, total: int) -> tuple[list[LogRecord], float]:
    """Every record of ``topic`` (C2: the consume alone is timed; no decode)."""
    consumer = Consumer(
        {
            **kafka.client_config(),
            "group.id": f"c2-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 16 << 20,
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    messages: list[Any] = []
    started = time.perf_counter()
    while len(messages) < total:
        # never ask for more than are left: consume() waits for its count or timeout
        want = min(10_000, total - len(messages))
        messages.extend(m for m in consumer.consume(want, 1.0) if m.error() is None)
    elapsed = time.perf_counter() - started
    consumer.close()
    records = [
        LogRecord(LogPosition(m.topic(), m.partition(), m.offset()), m.key(), m.value())
        for m in messages
    ]
    return records, len(records) / elapsed


def _c3(records: Sequence[LogRecord], codec: EventCodec, tmp: Path) -> float:
    """chDB inserting the same records from in-memory Avro blocks into plain tables
    with the blocks' own structure: ClickHouse's Avro reader and a plain MergeTree,
    no views, no dedup."""
    import clickhouse_connect

    projection = FactsProjection(codec)
    decoded = decode(codec, records, Needs.of([projection]))
    blocks = projection.project(decoded.batch_for(projection)).blocks
    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp / 'c3'}")
    try:
        for block in blocks:
            path = tmp / f"c3-{block.fingerprint.hex()}.avro"
            path.write_bytes(block.data)
            client.command(
                f"CREATE TABLE IF NOT EXISTS c3_{block.fingerprint.hex()} ENGINE = MergeTree"
                f" ORDER BY tuple() AS SELECT * FROM file('{path}', 'Avro') LIMIT 0"
            )
        started = time.perf_counter()
        for block in blocks:
            client.raw_insert(f"c3_{block.fingerprint.hex()}", insert_block=block.data, fmt="Avro")
        elapsed = time.perf_counter() - started
    finally:
        client.close()
    return len(records) / elapsed


def _settings(base: Settings, topic: str, state: Path, planes: Sequence[str] = ()) -> Settings:
    topics = TopicSettings(events=topic, dlq=f"{topic}.dlq", proof_gaps=f"{topic}.gaps")
    update: dict[str, Any] = {
        "web_port": free_port(),
        "group_prefix": f"bench-{uuid.uuid4().hex[:6]}",
        "proof_window_s": 3600,
    }
    if planes:
        update["projections"] = tuple(p for p in planes if p != "proof-closure")
        update["proof_closure"] = "proof-closure" in planes
    return base.model_copy(
        update={
            "state_dir": state,
            "kafka": base.kafka.model_copy(update={"topics": topics}),
            "processors": base.processors.model_copy(update=update),
        }
    )


def _rss(pids: Sequence[int]) -> dict[int, int]:
    out = {}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[pid] = int(line.split()[1]) * 1024
        except OSError:
            continue
    return out


def _cpu_s(pids: Sequence[int]) -> dict[int, float]:
    """User + system CPU seconds each process has used so far (``/proc/<pid>/stat``)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _covered(plane: dict[str, Any]) -> int:
    """Records a plane's watermark covers, over every partition (``/status``)."""
    return sum(int(m["offset"]) + 1 for m in plane.get("watermark") or [])


class Run:
    """One worker draining a backlog: per-plane catch-up times, rates and peak RSS.

    ``started`` is when the worker process was started (so the start-up is inside
    the span a user waits); ``ready`` is when its API first answered (stores open,
    consumer assigned). Per-plane rates are taken from ``ready``: a plane's own
    throughput, not the process start-up. Every plane the worker runs
    (``worker_planes``: the child process's included) must report caught up.
    """

    def __init__(self, settings: Settings, total: int, already: int = 0) -> None:
        self.settings = settings
        self.total = total
        self.already = already
        self.started = 0.0
        self.ready: float | None = None
        self.done: dict[str, float] = {}
        self.peak_rss: dict[int, int] = {}
        self.cpu: dict[int, float] = {}  # CPU seconds per worker process, start to caught up
        self.cpu_at_ready = 0.0  # ... of which spent before the API answered (start-up)
        # (events every plane has applied, RSS of every worker process in MB) per sample
        self.trace: list[tuple[int, float]] = []
        self.planes = list(worker_planes(settings, None))

    def drain(self, worker: WorkerProcess | None = None, timeout: float = 900.0) -> None:
        own = worker is None
        self.started = time.perf_counter()
        if worker is None:
            worker = WorkerProcess(self.settings, dict(os.environ))
            worker.start(timeout_s=300)
        client = WorkerClient(self.settings, status_timeout_s=5.0)
        status: dict[str, Any] | None = None
        try:
            while time.perf_counter() - self.started < timeout:
                status = client.status()
                now = time.perf_counter()
                if worker.pid is not None:
                    pids = [worker.pid, *_children(worker.pid)]
                    for pid in list(pids):
                        pids += _children(pid)
                    sizes = _rss(pids)
                    for pid, rss in sizes.items():
                        self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), rss)
                    for pid, used in _cpu_s(pids).items():
                        self.cpu[pid] = max(self.cpu.get(pid, 0.0), used)
                if status:
                    if worker.pid is not None:
                        self.trace.append((self._applied(status), sum(sizes.values()) / 2**20))
                    if self.ready is None:
                        self.ready = now
                        self.cpu_at_ready = sum(self.cpu.values())
                    for name, plane in status["projections"].items():
                        if name not in self.done and self._caught_up(plane):
                            self.done[name] = now
                    if all(name in self.done for name in self.planes):
                        return
                time.sleep(0.05)
            raise RuntimeError(f"not caught up in {timeout}s: {status}")
        finally:
            if own:
                worker.stop()

    def _applied(self, status: dict[str, Any]) -> int:
        """Events of this backlog every plane has applied."""
        planes = [status["projections"].get(name) or {} for name in self.planes]
        return max(0, min(_covered(p) for p in planes) - self.already)

    def peak_mb_until(self, applied: int) -> float:
        """Peak RSS (MB, every worker process) while at most ``applied`` events were in."""
        return max((mb for n, mb in self.trace if n <= applied), default=0.0)

    def _caught_up(self, plane: dict[str, Any]) -> bool:
        return _covered(plane) >= self.total + self.already

    def cpu_us_per_event(self) -> float:
        """CPU microseconds the worker processes used per event, start-up included."""
        return sum(self.cpu.values()) / max(self.total, 1) * 1e6

    def draining_cpu_us_per_event(self) -> float:
        """CPU microseconds per event from the API answering to caught up (no start-up)."""
        return (sum(self.cpu.values()) - self.cpu_at_ready) / max(self.total, 1) * 1e6

    def span(self) -> float:
        return max(self.done.values()) - self.started

    def rate(self) -> float:
        return self.total / self.span()

    def draining_rate(self) -> float:
        start = self.ready or self.started
        return self.total / max(max(self.done.values()) - start, 1e-9)

    def plane_rates(self) -> dict[str, float]:
        start = self.ready or self.started
        return {n: self.total / max(t - start, 1e-9) for n, t in sorted(self.done.items())}


def _latency(settings: Settings, rate: int, seconds: float, codec: EventCodec) -> list[float]:
    """Every plane live; emit at ``rate``/s; time from ack to the row answering a query."""
    worker = WorkerProcess(settings, dict(os.environ))
    worker.start(timeout_s=300)
    client = WorkerClient(settings)
    topic = settings.kafka.topics.events
    template = codec.decode_record(codec.encode(simulate(runs=1, seed=3).events[0]))
    producer = Producer({**settings.kafka.client_config(), "linger.ms": "1", "acks": "all"})
    acked: list[float] = []
    visible: list[float] = []
    total = int(rate * seconds)

    def on_ack(err: object, _msg: object) -> None:
        acked.append(time.perf_counter())

    try:
        started = time.perf_counter()
        sent = 0
        last_poll = 0.0
        while len(visible) < total:
            now = time.perf_counter()
            due = min(total, int((now - started) * rate))
            while sent < due:
                record = {**template, "event_id": str(uuid.uuid4())}
                producer.produce(
                    topic, key=b"latency", value=codec.encode_record(record), on_delivery=on_ack
                )
                sent += 1
            producer.poll(0)
            if now - last_poll >= 0.02:
                last_poll = now
                sql = f"SELECT count() FROM proof_facts WHERE log_topic = '{topic}'"
                count = int(client.query(sql)["rows"][0][0])
                seen = time.perf_counter()
                while len(visible) < min(count, len(acked)):
                    visible.append(seen)
            if now - started > seconds + 120:
                break
            time.sleep(0.001)
    finally:
        worker.stop()
    return [v - a for a, v in zip(acked, visible, strict=False)]


def _peer(kafka: KafkaSettings, topic: str, total: int, tmp: Path) -> float | None:
    script = Path(__file__).resolve().parent / "peers" / "run_quix.py"
    if not script.exists():
        return None
    done = subprocess.run(
        [sys.executable, str(script), "--bootstrap", kafka.bootstrap_servers, "--topic", topic,
         "--events", str(total), "--state", str(tmp / "quix")],
        capture_output=True, text=True, check=False, timeout=1800,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        print(f"peer failed ({done.returncode}): {done.stderr[-500:]}")
        return None
    return float(json.loads(lines[-1])["events_per_s"])


def _report(label: str, run: Run, c2: float) -> None:
    mb = sum(run.peak_rss.values()) / 2**20
    print(
        f"{label}: {run.total:,} events; start → all caught up {run.span():.1f} s = "
        f"{run.rate():,.0f} ev/s ({run.rate() / c2:.3f} x C2); draining {run.draining_rate():,.0f}"
        f" ev/s from the API up ({run.draining_rate() / c2:.3f} x C2); peak RSS {mb:,.0f} MB over"
        f" {len(run.peak_rss)} process(es); CPU {sum(run.cpu.values()):.1f} s ="
        f" {run.cpu_us_per_event():,.0f} µs/event ({run.draining_cpu_us_per_event():,.0f} draining)"
    )
    for name, rate in run.plane_rates().items():
        print(f"    {name:14s} {rate:10,.0f} ev/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3000, help="agent runs in the backlog")
    parser.add_argument("--grow-runs", type=int, default=6000, help="runs for the 100k store")
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rss-runs", type=int, default=0, help="runs of the RSS backlog (0: skip)")
    parser.add_argument("--peer", action="store_true", help="run the Quix Streams peer too")
    parser.add_argument("--skip", default="", help="comma list: latency,growth,facts")
    parser.add_argument(
        "--json-out", type=Path, help="also write the figures here (bench/capacity.py reads it)"
    )
    args = parser.parse_args()
    figures: dict[str, Any] = {"machine": machine(), "args": vars(args) | {"json_out": None}}
    skip = set(filter(None, args.skip.split(",")))
    base = Settings()
    admin = AdminClient(base.kafka.client_config())
    codec = EventCodec()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        topic = _topic(admin)
        total = _fill(base.kafka, topic, args.runs, 11, codec)
        print(f"backlog: {total:,} events of {args.runs:,} simulated runs, 6 partitions; {_load()}")
        records, c2 = _records(base.kafka, topic, total)
        c2 = max(c2, _records(base.kafka, topic, total)[1])  # the better of two: a ceiling
        c3 = _c3(records, codec, tmp)
        print(f"C2 raw consume (no decode): {c2:12,.0f} ev/s")
        print(f"C3 chDB Avro insert, plain tables: {c3:12,.0f} ev/s")
        figures |= {"backlog": {"events": total, "runs": args.runs, "partitions": 6}}
        figures |= {"c2_ev_s": c2, "c3_ev_s": c3}

        whole = Run(_settings(base, topic, tmp / "whole"), total)
        whole.drain()
        _report(f"whole worker, every plane ({_load()})", whole, c2)
        figures["whole"] = _figures(whole, c2)

        if "facts" not in skip:
            facts = Run(_settings(base, topic, tmp / "facts", ["facts"]), total)
            facts.drain()
            _report(f"facts plane alone ({_load()})", facts, c2)
            figures["facts_alone"] = _figures(facts, c2)
            if args.peer:
                peer = _peer(base.kafka, topic, total, tmp)
                figures["peer_ev_s"] = peer
                if peer:
                    print(
                        f"Quix Streams peer (decode + chDB batches): {peer:,.0f} ev/s; facts plane"
                        f" / peer = {facts.draining_rate() / peer:.2f}x (target ≥ 3)"
                    )

        if "growth" not in skip:
            figures["growth"] = _growth(base, admin, codec, tmp, args.grow_runs)

        if "latency" not in skip:
            lat_topic = _topic(admin, 6)
            latencies = sorted(
                _latency(_settings(base, lat_topic, tmp / "lat"), args.rate, args.seconds, codec)
            )
            if latencies:
                p50 = statistics.median(latencies)
                p99 = latencies[int(len(latencies) * 0.99) - 1]
                print(
                    f"emit → visible at {args.rate:,}/s for {args.seconds:.0f} s, every plane live"
                    f" ({len(latencies):,} events, {_load()}): p50 {p50 * 1000:.0f} ms,"
                    f" p99 {p99 * 1000:.0f} ms (target p99 ≤ 250 ms)"
                )
                figures["latency"] = {
                    "rate": args.rate,
                    "events": len(latencies),
                    "p50_ms": p50 * 1000,
                    "p99_ms": p99 * 1000,
                }

        if args.rss_runs:
            figures["rss"] = _memory(base, admin, codec, tmp, args.rss_runs)
    write_figures(args.json_out, figures)


def _memory(
    base: Settings, admin: AdminClient, codec: EventCodec, tmp: Path, runs: int
) -> dict[str, Any]:
    """The issue's "100k vs 1M backlog", in one drain of the ``runs`` backlog: the
    peak RSS of every worker process while the first 100k events were applied (what
    a 100k backlog's drain holds) against the peak over the whole drain."""
    big = _topic(admin)
    big_total = _fill(base.kafka, big, runs, 13, codec)
    large = Run(_settings(base, big, tmp / "rss"), big_total)
    large.drain(timeout=3600)
    first_n = min(100_000, big_total // 10)
    first = large.peak_mb_until(first_n)
    whole = large.peak_mb_until(big_total)
    steps = [large.peak_mb_until(big_total * k // 10) for k in range(1, 11)]
    print(
        f"RSS over one drain of {big_total:,} events ({large.rate():,.0f} ev/s, {_load()}):"
        f" peak {first:,.0f} MB while the first {first_n:,} were applied, {whole:,.0f} MB"
        f" over all ({whole / first:.2f}x; flat means ≤ 1.10)"
    )
    print("    peak by tenth: " + " · ".join(f"{mb:,.0f}" for mb in steps) + " MB")
    return {
        "events": big_total,
        "first_events": first_n,
        "peak_mb": [first, whole],
        "peak_mb_by_tenth": steps,
        "ev_s": large.rate(),
    }


def _figures(run: Run, c2: float) -> dict[str, Any]:
    """One drain's figures, as ``--json-out`` writes them."""
    return {
        "events": run.total,
        "span_s": run.span(),
        "ev_s": run.rate(),
        "draining_ev_s": run.draining_rate(),
        "ratio_to_c2": run.rate() / c2,
        "planes_ev_s": run.plane_rates(),
        "peak_rss_mb": sum(run.peak_rss.values()) / 2**20,
        "processes": len(run.peak_rss),
        "cpu_s": sum(run.cpu.values()),
        "cpu_us_per_event": run.cpu_us_per_event(),
        "draining_cpu_us_per_event": run.draining_cpu_us_per_event(),
    }


def _growth(
    base: Settings, admin: AdminClient, codec: EventCodec, tmp: Path, grow_runs: int
) -> dict[str, Any]:
    """Rates on a 20k-event chunk with ~10k events stored, then with ~100k stored."""
    topic = _topic(admin)
    settings = _settings(base, topic, tmp / "growth")
    worker = WorkerProcess(settings, dict(os.environ))
    worker.start(timeout_s=300)
    try:
        stored = _fill(base.kafka, topic, 600, 21, codec)
        Run(settings, stored).drain(worker)
        chunk = _fill(base.kafka, topic, 1200, 22, codec)
        small = Run(settings, chunk, already=stored)
        small.drain(worker)
        stored += chunk
        stored += _fill(base.kafka, topic, max(0, grow_runs - 1800), 23, codec)
        Run(settings, 0, already=stored).drain(worker)
        chunk2 = _fill(base.kafka, topic, 1200, 24, codec)
        large = Run(settings, chunk2, already=stored)
        large.drain(worker)
    finally:
        worker.stop()
    print(
        f"store growth: a {chunk:,}-event chunk at ~{small.already:,} stored"
        f" vs at ~{large.already:,} stored ({_load()})"
    )
    small_rates, large_rates = small.plane_rates(), large.plane_rates()
    for name in sorted(small_rates):
        a, b = small_rates[name], large_rates.get(name, 0.0)
        print(f"    {name:14s} {a:10,.0f} → {b:10,.0f} ev/s  ({b / a:.2f}x; target ≥ 0.8)")
    return {
        "stored": [small.already, large.already],
        "planes_ev_s": {n: [small_rates[n], large_rates.get(n, 0.0)] for n in small_rates},
    }


if __name__ == "__main__":
    main()
