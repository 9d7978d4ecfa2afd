"""Faults on a real 3-node cluster while a producer emits and the worker consumes.

The promise under test (DESIGN, Processing guarantees): every event the broker
acknowledged becomes exactly one fact, whatever happens to one node, and the worker
keeps running. Each test prints sent / acknowledged / found and asserts 0 lost (an
acknowledged id missing), 0 doubled (more FINAL rows than distinct ids) and nothing
foreign. Events the producer was *not* told were acknowledged may or may not be there.

Topics get the cluster's defaults: replication 3, ``min.insync.replicas=2``, so one
node can be lost without refusing a single ``acks=all`` write.
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.faults.conftest import DISK_NODE, FaultCluster, Scenario
from tests.faults.load import Load
from tests.pipeline_process import GroupProgress, WorkerRun, cli, read_facts
from tests.waiting import wait_until

pytestmark = pytest.mark.faults

WARMUP = 300
"""Events acknowledged (and some consumed) before the fault is injected."""
AFTER = 300
"""Events acknowledged after the fault: the pipeline made progress through it."""


def _run(scenario: Scenario, fault: Callable[[Load], None], label: str) -> None:
    """Start the worker and the load, inject ``fault``, stop the load, wait until the
    worker committed everything, stop it, and check the facts against the load."""
    clock = _Clock()
    worker = scenario.start_worker()
    progress = GroupProgress(scenario.kafka, scenario.group)
    load = Load(scenario.kafka).start()
    try:
        load.wait_acked(WARMUP)
        wait_until(
            lambda: (p := progress.read()) and p.committed > 0,
            timeout=180,
            interval=0.5,
            what=f"the worker consuming ({worker.tail(5)})",
        )
        clock.lap("worker consuming")
        fault(load)
        clock.lap("fault")
        load.wait_acked(load.acked_count() + AFTER, timeout=180)
    finally:
        load.stop()
    try:
        wait_until(
            lambda: (p := progress.read()) and p.lag == 0,
            timeout=240,
            interval=0.5,
            what=f"the worker caught up ({worker.tail(5)})",
        )
    finally:
        progress.close()
    clock.lap("caught up")
    assert worker.alive(), f"the worker died during the fault:\n{worker.tail()}"
    worker.stop()
    facts = read_facts(scenario.env)
    clock.lap("stopped, facts read")
    lost = load.acked - facts.ids
    doubled = facts.rows - len(facts.ids)
    foreign = facts.ids - load.sent
    print(
        f"\n[{label}] sent {len(load.sent)}, acknowledged {len(load.acked)}, "
        f"found {len(facts.ids)} distinct / {facts.rows} rows (FINAL); "
        f"lost {len(lost)}, doubled {doubled}, foreign {len(foreign)}; "
        f"producer failures {len(load.failures)}; {clock}"
    )
    assert not lost, f"{len(lost)} acknowledged events have no fact, e.g. {sorted(lost)[:3]}"
    assert doubled == 0
    assert not foreign
    assert len(load.acked) >= WARMUP + AFTER


class _Clock:
    """Seconds per phase, printed with the counts (CI wall time matters)."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self._laps: list[str] = []

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self._laps.append(f"{name} {now - self._last:.0f}s")
        self._last = now

    def __str__(self) -> str:
        return ", ".join(self._laps)


def _busiest_partition(scenario: Scenario) -> tuple[int, int]:
    """(partition, its leader) of the events partition with the most records now."""
    consumer = Consumer(
        {"bootstrap.servers": scenario.kafka.bootstrap_servers, "group.id": "faults-probe"}
    )
    topic = scenario.kafka.topics.events
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        sizes = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in meta
        }
    finally:
        consumer.close()
    busiest = max(sizes, key=lambda p: sizes[p])
    return busiest, meta[busiest].leader


def _leader_of(admin: AdminClient, topic: str, partition: int) -> int | None:
    try:
        leader = admin.list_topics(topic, timeout=5).topics[topic].partitions[partition].leader
    except (KafkaException, KeyError):  # metadata during an election: ask again
        return None
    return leader if leader >= 0 else None


def test_kill_9_the_leader_of_the_busiest_partition(
    fault_cluster: FaultCluster, scenario: Scenario
) -> None:
    topics = [scenario.kafka.topics.events, scenario.kafka.topics.dlq]

    def kill_leader(load: Load) -> None:
        partition, leader = _busiest_partition(scenario)
        print(f"\nkill -9 node {leader}, leader of the busiest partition {partition}")
        assert fault_cluster.cluster.kill_node(leader)
        admin = AdminClient({"bootstrap.servers": scenario.kafka.bootstrap_servers})
        topic = scenario.kafka.topics.events
        wait_until(
            lambda: _leader_of(admin, topic, partition) not in (None, leader),
            timeout=60,
            interval=0.2,
            what=f"a new leader for partition {partition}",
        )
        # the pipeline goes on with one node down...
        load.wait_acked(load.acked_count() + AFTER, timeout=180)
        # ...and the node comes back and catches up
        fault_cluster.cluster.start_node(leader)
        fault_cluster.wait_healthy(topics)

    _run(scenario, kill_leader, "kill -9 leader")


def test_rolling_restart_of_all_nodes(fault_cluster: FaultCluster, scenario: Scenario) -> None:
    topics = [scenario.kafka.topics.events, scenario.kafka.topics.dlq, "__consumer_offsets"]

    def roll(load: Load) -> None:
        for node in fault_cluster.cluster.layout.node_ids:
            print(f"\nrestart node {node}")
            assert fault_cluster.cluster.stop_node(node)  # controlled shutdown
            fault_cluster.cluster.start_node(node)
            fault_cluster.wait_healthy(topics)  # the next one only when all are in sync
            load.wait_acked(load.acked_count() + 100, timeout=120)

    _run(scenario, roll, "rolling restart")


def _fill(disk: Path) -> int:
    """Write zeros into ``disk`` until the file system is full; return the bytes."""
    written = 0
    block = b"\0" * (1 << 20)
    with (disk / "filler").open("wb", buffering=0) as f:
        while True:
            try:
                written += f.write(block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                return written


def _status_kafka(scenario: Scenario) -> dict[str, object] | None:
    """The ``kafka`` part of ``proofstream status --json``; ``None`` if the command
    failed (printed): while leaders and coordinators move it may, and is asked again."""
    proc = cli(scenario.env, "status", "--json", timeout_s=120)
    if proc.returncode != 0:
        print(f"proofstream status exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
        return None
    report = json.loads(proc.stdout)
    kafka = report["kafka"]
    assert isinstance(kafka, dict)
    return kafka


# The worker consumes with librdkafka, which refreshes its metadata on
# KAFKA_STORAGE_ERROR and fails over at once. (aiokafka 0.14, faust's consumer, does
# not: it kept fetching from the failed leader for the whole 240 s wait when this
# tier ran an earlier faust-hosted engine; docs/kafka-ops.md, findings.)
def test_a_full_disk_on_one_node(fault_cluster: FaultCluster, scenario: Scenario) -> None:
    """The node-3 data directory holding this test's partitions fills up (a 64 MB
    tmpfs) or, where no tmpfs can be mounted, becomes unwritable (mode 0500, which
    binds a non-root broker only): Kafka takes that directory offline, the node lives
    on without those replicas, and ``proofstream status`` names it as out of sync.

    Deleting the directory under the running broker was tried as a fallback and is
    not used: the worker did not catch up within 240 s (docs/kafka-ops.md, findings)."""
    if not fault_cluster.disks_are_tmpfs and os.geteuid() == 0:
        pytest.skip(
            "root without CAP_SYS_ADMIN: no tmpfs can be mounted, and mode 0500 does not "
            "stop a root broker from writing; run the tier as root with mount rights"
        )
    topic = scenario.kafka.topics.events
    placed = {d: sorted(r.name for r in d.glob(f"{topic}-*")) for d in fault_cluster.disks}
    disk = max(placed, key=lambda d: len(placed[d]))
    assert placed[disk], f"precondition: node {DISK_NODE} holds no replica of {topic}"
    before = _status_kafka(scenario)
    assert before is not None
    assert before["state"] == "ok"

    def break_disk(load: Load) -> None:
        if fault_cluster.disks_are_tmpfs:
            print(f"\nfilled {disk} with {_fill(disk) >> 20} MB; replicas there: {placed[disk]}")
        else:
            disk.chmod(0o500)
            print(f"\nmade {disk} unwritable (no tmpfs here); replicas there: {placed[disk]}")
        fault_cluster.needs_repair = True
        topics = [scenario.kafka.topics.events]

        def node_out_of_sync() -> bool:
            health = fault_cluster.health(topics)
            return health is not None and DISK_NODE in health.degraded

        wait_until(node_out_of_sync, timeout=120, interval=0.5, what="node 3 out of the ISR")
        kafka = wait_until(
            lambda: _status_kafka(scenario), timeout=150, interval=1, what="proofstream status"
        )
        print(f"proofstream status: kafka {kafka['state']}, brokers {kafka['brokers']}")
        brokers = kafka["brokers"]
        assert isinstance(brokers, dict)
        assert str(DISK_NODE) in brokers["degraded"]
        assert DISK_NODE in brokers["alive"]  # the node lives on without that directory
        assert kafka["state"] == "degraded"  # writes still accepted: ISR 2 >= min ISR 2
        assert kafka["under_min_isr"] == []

    try:
        _run(scenario, break_disk, f"full disk on node {DISK_NODE}")
    finally:
        disk.chmod(0o755)
        (disk / "filler").unlink(missing_ok=True)


STOP_TIMEOUT_S = 5.0
"""The worker's ``processors.stop_timeout_s`` in the SIGTERM test: the longest wait for
a batch in flight; the bound on the whole stop adds the hosts' own shutdown."""


def test_sigterm_with_every_node_down(fault_cluster: FaultCluster, scenario: Scenario) -> None:
    """The whole cluster stops first (controlled shutdown of all three nodes), then the
    worker gets SIGTERM: it exits by itself, with code 0, within a bounded time, and
    a second worker started once the cluster is back completes the facts with nothing
    lost and nothing doubled (what the first could not commit is applied again and
    deduplicated by the store)."""
    env = {**scenario.env, "PROOFSTREAM_PROCESSORS__STOP_TIMEOUT_S": str(STOP_TIMEOUT_S)}
    first = WorkerRun(env, scenario.state_dir / "worker-1.log")
    scenario.workers.append(first)
    progress = GroupProgress(scenario.kafka, scenario.group)
    load = Load(scenario.kafka).start()
    try:
        load.wait_acked(WARMUP)
        wait_until(
            lambda: (p := progress.read()) and p.committed > 0,
            timeout=180,
            interval=0.5,
            what=f"the worker consuming ({first.tail(5)})",
        )
    finally:
        load.stop()
        progress.close()
    fault_cluster.cluster.down()
    try:
        began = time.monotonic()
        # SIGKILL only after 60 s: a worker still running then fails the test below
        code = first.stop(timeout_s=60.0)
        took = time.monotonic() - began
        print(f"\n[sigterm, cluster down] exit code {code} after {took:.1f}s")
        assert code == 0, f"exit code {code}:\n{first.tail()}\n{first.stacks()}"
        assert took < STOP_TIMEOUT_S + 30, first.tail()
    finally:
        fault_cluster.cluster.up()
        fault_cluster.wait_healthy([scenario.kafka.topics.events, "__consumer_offsets"])
    second = scenario.start_worker()
    progress = GroupProgress(scenario.kafka, scenario.group)
    try:
        wait_until(
            lambda: (p := progress.read()) and p.lag == 0,
            timeout=240,
            interval=0.5,
            what=f"the second worker caught up ({second.tail(5)})",
        )
    finally:
        progress.close()
    second.stop()
    facts = read_facts(scenario.env)
    lost = load.acked - facts.ids
    assert not lost, f"{len(lost)} acknowledged events have no fact, e.g. {sorted(lost)[:3]}"
    assert facts.rows == len(facts.ids)
    assert not facts.ids - load.sent
