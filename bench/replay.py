"""Replay benchmark: rebuilds of N events, digest and finish included, against the
raw consume ceiling measured in the same run.

    uv run --all-extras python bench/replay.py [--runs 60000]

Setup (not timed) produces the realistic workload of ``--runs`` simulated agent
runs (about 17 events each: 60,000 runs ≈ 1M events) into a fresh 6-partition
topic. Then, each on a fresh state directory:

1. **C2**: confluent-kafka ``consume`` of the whole range by explicit assignment, no
   decode (the ceiling);
2. **facts**: ``replay.rebuild`` of the facts plane as ``proofstream replay rebuild
   facts`` runs it — plan, read, decode, project, insert, flush, digest of the shadow
   and of live, finish — wall time from the call to its return (target ≤ 15 s for 1M);
3. **all planes**: ``replay.rebuild_many`` of facts, identity, catalog, evidence and
   lineage in one pass over the log (``proofstream replay rebuild all``), wall time
   to its return (target ≤ 90 s for 1M), and each plane's share.

A benchmark script, not a test: figures depend on the machine; the load average
is printed with them.
"""

from __future__ import annotations

import sys
from pathlib import Path

# this script is named like the ``replay`` package: keep its folder off the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402
from confluent_kafka.cimpl import NewTopic  # noqa: E402

from bench.machine import load as _load  # noqa: E402
from bench.machine import machine, write_figures  # noqa: E402
from proofstream.planes import plane  # noqa: E402
from proofstream.settings import Settings  # noqa: E402
from proofstream.workload import simulate  # noqa: E402
from replay.plan import plan_rebuild  # noqa: E402
from replay.rebuild import rebuild_many  # noqa: E402
from schemas.codec import EventCodec  # noqa: E402

REBUILDABLE = ("facts", "identity", "catalog", "evidence", "lineage")


def _setup(settings: Settings, runs: int) -> tuple[str, int]:
    topic = f"bench-replay-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(settings.kafka.client_config())
    admin.create_topics([NewTopic(topic, 6, 1)])[topic].result(30)
    codec = EventCodec()
    producer = Producer(
        {**settings.kafka.client_config(), "linger.ms": 50, "compression.type": "zstd"}
    )
    count = 0
    for event in simulate(runs=runs, seed=5).events:
        key = (event.subject.run_id or event.subject.project).encode()
        value = codec.encode(event)
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.05)
        count += 1
        if count % 20_000 == 0:
            producer.poll(0)
    producer.flush(300)
    return topic, count


def _c2(settings: Settings, topic: str, total: int) -> float:
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": f"c2-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 64 << 20,
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    seen = 0
    started = time.perf_counter()
    while seen < total:
        # never ask for more than are left: consume() waits for its count or timeout
        want = min(10_000, total - seen)
        seen += sum(1 for m in consumer.consume(want, 1.0) if m.error() is None)
    elapsed = time.perf_counter() - started
    consumer.close()
    return total / elapsed


def _rebuild(settings: Settings, names: tuple[str, ...]) -> tuple[float, list[Any]]:
    """One rebuild as the CLI runs it; seconds from the call to its return."""
    codec = EventCodec()
    chosen = [plane(name, settings, codec) for name in names]
    stores = [p.open_store() for p in chosen]
    try:
        targets = []
        for p, store in zip(chosen, stores, strict=True):
            assert p.generations is not None
            targets.append((p.generations(store), p.projection))
        started = time.perf_counter()
        results = rebuild_many(targets, plan_rebuild(settings.kafka), kafka=settings.kafka)
        return time.perf_counter() - started, results
    finally:
        for store in stores:
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=60_000, help="simulated agent runs")
    parser.add_argument("--skip-all", action="store_true", help="only the facts rebuild")
    parser.add_argument(
        "--json-out", type=Path, help="also write the figures here (bench/capacity.py reads it)"
    )
    args = parser.parse_args()
    figures: dict[str, Any] = {"machine": machine(), "runs": args.runs}
    base = Settings()
    topic, total = _setup(base, args.runs)
    kafka = base.kafka.model_copy(
        update={"topics": base.kafka.topics.model_copy(update={"events": topic})}
    )
    print(f"{total:,} events of {args.runs:,} simulated runs, 6 partitions; {_load()}")
    c2 = max(_c2(base, topic, total) for _ in range(2))
    print(f"C2 raw consume (no decode): {c2:,.0f} ev/s = {total / c2:.1f} s for the range")
    figures |= {"events": total, "c2_ev_s": c2}
    with tempfile.TemporaryDirectory() as tmp:
        facts_settings = base.model_copy(update={"state_dir": Path(tmp) / "facts", "kafka": kafka})
        seconds, (facts,) = _rebuild(facts_settings, ("facts",))
        print(
            f"rebuild facts, digest and finish included: {seconds:.1f} s = {total / seconds:,.0f}"
            f" ev/s ({total / seconds / c2:.2f} x C2; build {facts.seconds:.1f} s; target ≤ 15 s"
            f" for 1M); {_load()}"
        )
        figures["facts"] = {"seconds": seconds, "build_s": facts.seconds, "ev_s": total / seconds}
        if not args.skip_all:
            every = base.model_copy(update={"state_dir": Path(tmp) / "all", "kafka": kafka})
            seconds, results = _rebuild(every, REBUILDABLE)
            print(
                f"rebuild all planes in one pass ({', '.join(REBUILDABLE)}): {seconds:.1f} s ="
                f" {total / seconds:,.0f} ev/s (build {results[0].seconds:.1f} s; target ≤ 90 s"
                f" for 1M); {_load()}"
            )
            figures["all"] = {
                "planes": list(REBUILDABLE),
                "seconds": seconds,
                "build_s": results[0].seconds,
                "ev_s": total / seconds,
            }
    write_figures(args.json_out, figures)


if __name__ == "__main__":
    main()
