"""A local multi-node KRaft cluster from the same jars: ``proofstream kafka up --nodes 3``.

Every node is a combined broker + controller, like ``compose.kafka.yml`` (the
deployment this rehearses): three JVMs instead of six on a 2-core machine, and
killing a node takes away a broker *and* a voter, which is what a lost machine
does. Three voters keep a quorum with one node down.

Layout under ``<state_dir>/kafka-cluster``: ``cluster.json`` (cluster id, node ids
and ports, fixed at the first ``up``) and ``node-<id>/`` (a :class:`KafkaNode` home).
Node ``i`` listens on ``cluster_port + 2(i-1)`` and its controller on the next
port, all on ``127.0.0.1``.

Cluster defaults make the project's topics durable: ``default.replication.factor=3``
and ``min.insync.replicas=2`` (so :func:`producers.ensure_topics`, which asks for the
broker's defaults, creates them with RF 3 / min ISR 2), internal topics with RF 3,
and a 6 s broker session so a dead node is fenced, and leadership moved, quickly.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from proofstream.devstack.jars import KafkaJars, find_java
from proofstream.devstack.kafka import check_ports_free, wait_for_brokers
from proofstream.devstack.node import KafkaNode, NodeSpec, new_cluster_id
from proofstream.settings import BrokerSettings
from schemas.errors import BrokerUnavailableError, ConfigError

__all__ = ["ClusterLayout", "KafkaCluster", "NodeProcess"]

REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2


@dataclass(frozen=True)
class ClusterLayout:
    """What ``cluster.json`` records: fixed for the life of the cluster's data."""

    cluster_id: str
    host: str
    ports: tuple[tuple[int, int], ...]
    """(broker port, controller port) of node 1, 2, ..."""
    log_dirs_per_node: int = 1

    @property
    def node_ids(self) -> list[int]:
        return list(range(1, len(self.ports) + 1))

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{self.host}:{port}" for port, _ in self.ports)

    @property
    def controllers(self) -> str:
        return ",".join(f"{self.host}:{ctl}" for _, ctl in self.ports)

    @property
    def voters(self) -> str:
        return ",".join(f"{i}@{self.host}:{ctl}" for i, (_, ctl) in enumerate(self.ports, 1))


@dataclass(frozen=True)
class NodeProcess:
    """One node as the launcher sees it (process level, no network call)."""

    node_id: int
    running: bool
    pid: int | None
    bootstrap: str
    controller: str
    log_file: Path

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.node_id,
            "running": self.running,
            "pid": self.pid,
            "bootstrap": self.bootstrap,
            "controller": self.controller,
            "log_file": str(self.log_file),
        }


class KafkaCluster:
    """Starts, stops, kills and restarts the nodes of the local cluster.

    ``up``/``down`` are idempotent; ``down`` and ``kill_node`` only ever signal JVMs
    whose pid file and command line belong to this state directory. ``ports``
    overrides the ports derived from ``broker.cluster_port`` (tests pick free ones);
    ``log_dirs_per_node=2`` gives each node a second data directory (JBOD) and the
    metadata log a directory of its own, so one disk can fail while the node lives on.
    """

    def __init__(
        self,
        broker: BrokerSettings,
        state_dir: Path,
        *,
        nodes: int = 3,
        ports: Sequence[tuple[int, int]] | None = None,
        log_dirs_per_node: int = 1,
    ) -> None:
        self._cfg = broker
        self.home = state_dir.resolve() / "kafka-cluster"
        self._jars = KafkaJars(broker)
        saved = self._load_layout()
        if saved is not None:
            self.layout = saved
        else:
            if nodes < REPLICATION_FACTOR:
                raise ConfigError(
                    f"a cluster needs at least {REPLICATION_FACTOR} nodes for replication "
                    f"factor {REPLICATION_FACTOR}; use `proofstream kafka up` for one node"
                )
            chosen = tuple(ports) if ports is not None else self._default_ports(nodes)
            if len(chosen) != nodes:
                raise ConfigError(f"{nodes} nodes need {nodes} port pairs, got {len(chosen)}")
            self.layout = ClusterLayout(new_cluster_id(), broker.host, chosen, log_dirs_per_node)

    # -- layout -------------------------------------------------------------------------------
    @property
    def layout_file(self) -> Path:
        return self.home / "cluster.json"

    def exists(self) -> bool:
        """Whether a cluster was ever started in this state directory."""
        return self.layout_file.exists()

    def log_dirs(self, node_id: int) -> list[Path]:
        """The node's data directories (``log.dirs``)."""
        home = self.home / f"node-{node_id}"
        return [home / f"data-{n}" for n in range(self.layout.log_dirs_per_node)]

    def metadata_dir(self, node_id: int) -> Path:
        """Where the node keeps the KRaft metadata log: the first data directory, or a
        directory of its own with several data directories, so that any one of them
        can fail without taking the metadata log (and the node) down."""
        if self.layout.log_dirs_per_node == 1:
            return self.log_dirs(node_id)[0]
        return self.home / f"node-{node_id}" / "metadata"

    def node(self, node_id: int) -> KafkaNode:
        if node_id not in self.layout.node_ids:
            raise ConfigError(f"no node {node_id} in the cluster (nodes {self.layout.node_ids})")
        return KafkaNode(
            NodeSpec(
                node_id=node_id,
                home=self.home / f"node-{node_id}",
                heap=self._cfg.cluster_heap,
                properties=self._properties(node_id),
                log_dirs=sorted({*self.log_dirs(node_id), self.metadata_dir(node_id)}),
                jvm_options=self._cfg.jvm_options,
            )
        )

    # -- state --------------------------------------------------------------------------------
    def processes(self) -> list[NodeProcess]:
        """Every node's process state (no network call)."""
        found = []
        for node_id, (port, ctl) in zip(self.layout.node_ids, self.layout.ports, strict=True):
            node = self.node(node_id)
            pid = node.pid()
            found.append(
                NodeProcess(
                    node_id,
                    pid is not None,
                    pid,
                    f"{self.layout.host}:{port}",
                    f"{self.layout.host}:{ctl}",
                    node.log_file,
                )
            )
        return found

    # -- lifecycle ----------------------------------------------------------------------------
    def up(self) -> list[int]:
        """Start every node that is not running and wait until all brokers are
        registered. Returns the ids started now (empty: it was already up).

        Raises ``ConfigError`` (Java/Maven missing, a port taken by a stranger) and
        ``BrokerUnavailableError`` when the cluster is not ready within
        ``cluster_ready_timeout_s`` (the nodes started by this call are stopped again).
        """
        stopped = [p.node_id for p in self.processes() if not p.running]
        if stopped:
            java = find_java()
            ports = dict(zip(self.layout.node_ids, self.layout.ports, strict=True))
            for node_id in stopped:
                check_ports_free(self.layout.host, ports[node_id])
            self._jars.fetch()
            self.home.mkdir(parents=True, exist_ok=True)
            self.layout_file.write_text(json.dumps(asdict(self.layout), indent=2))
            classpath = self._jars.classpath()
            for node_id in stopped:
                self.node(node_id).prepare(java, classpath, self.layout.cluster_id)
            procs = [self.node(i).start(java, classpath) for i in stopped]
            try:
                self.wait_ready(procs)
            except BrokerUnavailableError:
                for node_id in stopped:
                    self.node(node_id).stop()
                raise
        else:
            self.wait_ready([])
        return stopped

    def down(self) -> list[int]:
        """Stop every running node (controlled shutdown, one after the other so the
        last ones keep a quorum while the first leave). Returns the ids stopped."""
        if not self.exists():
            return []
        return [p.node_id for p in reversed(self.processes()) if self.node(p.node_id).stop()]

    def stop_node(self, node_id: int) -> bool:
        """Controlled shutdown of one node (SIGTERM). Returns whether it was running."""
        return self.node(node_id).stop()

    def kill_node(self, node_id: int) -> bool:
        """``kill -9`` one node. Returns whether it was running."""
        return self.node(node_id).kill()

    def start_node(self, node_id: int) -> None:
        """Start one stopped node and wait until every broker is registered again.
        A running node is left alone. Raises like :meth:`up`."""
        node = self.node(node_id)
        if node.pid() is not None:
            return
        java = find_java()
        classpath = self._jars.classpath()
        node.prepare(java, classpath, self.layout.cluster_id)
        self.wait_ready([node.start(java, classpath)])

    def wait_ready(self, processes: Sequence[subprocess.Popen[bytes]] = ()) -> None:
        """Block until metadata lists every node as a broker; raises
        ``BrokerUnavailableError`` with the logs' tails on timeout or when one of
        ``processes`` exits first."""
        wait_for_brokers(
            {"bootstrap.servers": self.layout.bootstrap},
            expected=len(self.layout.ports),
            timeout_s=self._cfg.cluster_ready_timeout_s,
            processes=processes,
            log_tail=self._log_tails,
        )

    # -- internals ----------------------------------------------------------------------------
    def _default_ports(self, nodes: int) -> tuple[tuple[int, int], ...]:
        base = self._cfg.cluster_port
        return tuple((base + 2 * i, base + 2 * i + 1) for i in range(nodes))

    def _load_layout(self) -> ClusterLayout | None:
        try:
            raw = json.loads(self.layout_file.read_text())
            return ClusterLayout(
                cluster_id=str(raw["cluster_id"]),
                host=str(raw["host"]),
                ports=tuple((int(p), int(c)) for p, c in raw["ports"]),
                log_dirs_per_node=int(raw.get("log_dirs_per_node", 1)),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"unreadable cluster layout {self.layout_file}: {exc}") from exc

    def _properties(self, node_id: int) -> dict[str, str]:
        layout = self.layout
        port, ctl = layout.ports[node_id - 1]
        host = layout.host
        rf, isr = str(REPLICATION_FACTOR), str(MIN_INSYNC_REPLICAS)
        return {
            "process.roles": "broker,controller",
            "node.id": str(node_id),
            "controller.quorum.voters": layout.voters,
            "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{ctl}",
            "advertised.listeners": f"PLAINTEXT://{host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": ",".join(str(d) for d in self.log_dirs(node_id)),
            "metadata.log.dir": str(self.metadata_dir(node_id)),
            "num.partitions": "3",
            "default.replication.factor": rf,
            "min.insync.replicas": isr,
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": isr,
            "unclean.leader.election.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            # a killed node is fenced (and loses its leaderships) after 6 s, not 9
            "broker.heartbeat.interval.ms": "1000",
            "broker.session.timeout.ms": "6000",
            # three JVMs share two cores with the pipeline: fewer threads each
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "background.threads": "2",
        }

    def _log_tails(self) -> str:
        return "\n".join(
            f"--- node {i} ({self.node(i).log_file}):\n{self.node(i).log_tail(8)}"
            for i in self.layout.node_ids
        )
