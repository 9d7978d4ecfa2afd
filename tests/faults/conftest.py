"""The fault tier's own 3-node cluster (loopback, free ports, a temporary state dir),
started once for the session and always stopped again.

Every node has two data directories and its KRaft metadata log in a third, so one
data directory can fail while the node lives on. Node 3's data directories are 64 MB
tmpfs mounts when this process may mount them (root with CAP_SYS_ADMIN), so a test
can fill one up while the node keeps running; otherwise they are plain directories
that a test makes unwritable. Kafka places a topic's new partitions in one directory (the one
with the fewest partitions), so a test breaks whichever one holds its topic.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka import KafkaException

from producers.settings import KafkaSettings, TopicSettings
from producers.topics import ensure_topics
from proofstream.devstack.cluster import KafkaCluster
from proofstream.kafka_health import ClusterHealth, cluster_health
from proofstream.settings import BrokerSettings
from schemas.errors import ProofstreamError
from tests.pipeline_process import WorkerRun, facts_group, worker_env
from tests.ports import free_port
from tests.waiting import wait_until

DISK_NODE = 3
DISK_SIZE = "64m"


@dataclass
class FaultCluster:
    cluster: KafkaCluster
    bootstrap: str
    disks: list[Path]
    """Node 3's data directories."""
    disks_are_tmpfs: bool
    needs_repair: bool = False
    """A test broke node 3's disk: restart it before the next test uses the cluster."""

    def repair(self) -> None:
        """Restart node 3, which brings its failed directory back online."""
        if self.needs_repair:
            self.cluster.stop_node(DISK_NODE)
            self.cluster.start_node(DISK_NODE)
            self.needs_repair = False

    def health(self, topics: list[str]) -> ClusterHealth | None:
        try:
            return cluster_health(KafkaSettings(bootstrap_servers=self.bootstrap), topics, 5)
        except (ProofstreamError, KafkaException):  # during a failover: read again later
            return None

    def wait_healthy(self, topics: list[str], timeout: float = 120.0) -> None:
        """Every node registered, ``topics`` exist and every replica is in sync."""

        def healthy() -> bool:
            health = self.health(topics)
            return (
                health is not None
                and len(health.alive) == 3
                and not health.missing_topics
                and health.state == "ok"
            )

        wait_until(healthy, timeout=timeout, interval=0.5, what=f"a healthy cluster for {topics}")


def _free_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


def _mount_tmpfs(path: Path) -> bool:
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


@pytest.fixture(scope="session")
def fault_root() -> Iterator[Path]:
    """A directory of this session's own: pytest's numbered temp dirs are pruned by any
    other pytest run of the same user, which would delete a live cluster's data."""
    root = Path(tempfile.mkdtemp(prefix="proofstream-faults-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def fault_cluster(fault_root: Path) -> Iterator[FaultCluster]:
    root = fault_root / "cluster"
    p = _free_ports(6)
    # C1 only: the nodes (re)start about twice as fast on two busy cores
    broker = BrokerSettings(cluster_ready_timeout_s=180, jvm_options=("-XX:TieredStopAtLevel=1",))
    cluster = KafkaCluster(
        broker, root, nodes=3, ports=list(zip(p[::2], p[1::2], strict=True)), log_dirs_per_node=2
    )
    disks = cluster.log_dirs(DISK_NODE)
    mounted: list[Path] = []
    for disk in disks:
        disk.mkdir(parents=True)
        if os.geteuid() == 0 and _mount_tmpfs(disk):
            mounted.append(disk)
    try:
        cluster.up()
        yield FaultCluster(cluster, cluster.layout.bootstrap, disks, mounted == disks)
    finally:
        cluster.down()
        for disk in mounted:
            subprocess.run(["umount", "-l", str(disk)], check=False)


@dataclass
class Scenario:
    """One test's topics, state dir and worker environment on the fault cluster."""

    kafka: KafkaSettings
    env: dict[str, str]
    group: str
    state_dir: Path
    workers: list[WorkerRun] = field(default_factory=list)

    def start_worker(self) -> WorkerRun:
        """A worker that is stopped when the test ends, whatever happens in it."""
        worker = WorkerRun(self.env, self.state_dir / "worker.log")
        self.workers.append(worker)
        return worker


@pytest.fixture()
def scenario(
    fault_cluster: FaultCluster,
    fault_root: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Scenario]:
    name = request.node.name.replace("[", "-").replace("]", "")[:40]
    suffix = uuid.uuid4().hex[:8]
    tmp_path = fault_root / f"{name}-{suffix}"
    topics = TopicSettings(
        events=f"faults.{name}.{suffix}.events",
        dlq=f"faults.{name}.{suffix}.dlq",
        proof_gaps=f"faults.{name}.{suffix}.gaps",
    )
    kafka = KafkaSettings(bootstrap_servers=fault_cluster.bootstrap, topics=topics)
    fault_cluster.repair()
    ensure_topics(kafka, partitions=6)  # the cluster's defaults: RF 3, min ISR 2
    fault_cluster.wait_healthy([topics.events, topics.dlq])
    health = fault_cluster.health([topics.events])
    assert health is not None
    assert {len(p.replicas) for p in health.partitions} == {3}
    assert health.min_isr[topics.events] == 2
    group_prefix = f"faults-{suffix}"
    state_dir = tmp_path / "state"
    env = worker_env(
        dict(os.environ),
        state_dir=state_dir,
        kafka=kafka,
        group_prefix=group_prefix,
        web_port=free_port(),
        replication=3,
    )
    scenario = Scenario(kafka, env, facts_group(group_prefix), state_dir)
    yield scenario
    for worker in scenario.workers:
        worker.stop()
