"""Launch a real single-node Apache Kafka broker (KRaft) from the official jars.

The jars come from Maven Central through Maven, once (:mod:`proofstream.devstack.jars`).
The broker runs combined broker+controller on ``127.0.0.1`` with its configuration,
data and log under ``<state_dir>/kafka`` (:mod:`proofstream.devstack.node`).
:mod:`proofstream.devstack.cluster` runs several such nodes, and
:mod:`proofstream.devstack.secure` one behind SASL_SSL.

The launcher only ever stops a process it started: the pid file records the pid
and the process must still be a ``kafka.Kafka`` JVM whose command line names this
state directory's ``server.properties``. Anything else on the port is reported,
never killed.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from proofstream.devstack.jars import KafkaJars, find_java
from proofstream.devstack.node import KafkaNode, NodeSpec, new_cluster_id
from proofstream.settings import BrokerSettings
from proofstream.text import plural
from schemas.errors import BrokerUnavailableError, ConfigError

__all__ = [
    "SINGLE_NODE",
    "BrokerStatus",
    "KafkaLauncher",
    "broker_reachable",
    "check_ports_free",
    "single_node_properties",
    "wait_for_brokers",
]


@dataclass(frozen=True)
class BrokerStatus:
    """What ``proofstream kafka status`` reports for a single node."""

    running: bool
    pid: int | None
    bootstrap: str
    version: str
    state_dir: Path
    log_file: Path

    def as_dict(self) -> dict[str, object]:
        return {
            "mode": "single",
            "running": self.running,
            "pid": self.pid,
            "bootstrap": self.bootstrap,
            "version": self.version,
            "state_dir": str(self.state_dir),
            "log_file": str(self.log_file),
        }


SINGLE_NODE: dict[str, str] = {
    "num.partitions": "3",
    # single node: internal topics cannot have more replicas than brokers
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    # tests and the demo start consumers right away; don't wait 3 s for more members
    "group.initial.rebalance.delay.ms": "0",
}
"""What every single-node broker (plaintext or secure) sets beside its listeners."""


def single_node_properties(
    host: str, port: int, controller_port: int, data_dir: Path
) -> dict[str, str]:
    """``server.properties`` of the plaintext single node (broker + controller, id 1)."""
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        **SINGLE_NODE,
    }


class KafkaLauncher:
    """Fetches, formats, starts, probes and stops the local single-node broker.

    Every public method is idempotent: ``up`` on a running broker reports it,
    ``down`` on a stopped one does nothing.
    """

    def __init__(self, broker: BrokerSettings, state_dir: Path) -> None:
        self._cfg = broker
        self._home = state_dir.resolve() / "kafka"
        self._jars = KafkaJars(broker)
        data = self._home / "data"
        self._node = KafkaNode(
            NodeSpec(
                node_id=1,
                home=self._home,
                heap=broker.heap,
                properties=single_node_properties(
                    broker.host, broker.port, broker.controller_port, data
                ),
                log_dirs=(data,),
                jvm_options=broker.jvm_options,
            )
        )

    @property
    def libs_dir(self) -> Path:
        return self._jars.libs_dir

    @property
    def log_file(self) -> Path:
        return self._node.log_file

    def status(self) -> BrokerStatus:
        """Report whether the broker this state dir launched is running. No side effects
        beyond removing a stale pid file."""
        pid = self._node.pid()
        return BrokerStatus(
            running=pid is not None,
            pid=pid,
            bootstrap=self._cfg.bootstrap,
            version=self._cfg.kafka_version,
            state_dir=self._home,
            log_file=self.log_file,
        )

    def fetch(self) -> Path:
        """Download the broker jars unless the cache holds them; see :class:`KafkaJars`."""
        return self._jars.fetch()

    def up(self) -> tuple[BrokerStatus, bool]:
        """Start the broker unless it already runs; wait until it answers metadata.

        Returns the status and whether this call started it. Raises ``ConfigError`` when
        Java or Maven is missing or the port is taken by another process, and
        ``BrokerUnavailableError`` (after stopping what it started) when the broker
        does not become ready within ``ready_timeout_s``.
        """
        current = self.status()
        if current.running:
            self.wait_ready()
            return current, False
        java = find_java()
        check_ports_free(self._cfg.host, (self._cfg.port, self._cfg.controller_port))
        self.fetch()
        classpath = self._jars.classpath()
        self._node.prepare(java, classpath, new_cluster_id())
        proc = self._node.start(java, classpath)
        try:
            self.wait_ready(process=proc)
        except BrokerUnavailableError:
            self.down()
            raise
        return self.status(), True

    def down(self) -> bool:
        """Stop the broker this state dir started (SIGTERM, then SIGKILL after a timeout).

        Returns whether a broker was stopped. Never signals a process it did not start.
        """
        return self._node.stop()

    def wait_ready(self, process: subprocess.Popen[bytes] | None = None) -> None:
        """Block until the broker answers a metadata request listing itself.

        Raises ``BrokerUnavailableError`` with the tail of the broker log on timeout or
        when the process exits first.
        """
        wait_for_brokers(
            {"bootstrap.servers": self._cfg.bootstrap},
            expected=1,
            timeout_s=self._cfg.ready_timeout_s,
            processes=[process] if process is not None else [],
            log_tail=self._node.log_tail,
        )


def wait_for_brokers(
    client_config: Mapping[str, str | int | float | bool],
    *,
    expected: int,
    timeout_s: float,
    processes: Iterable[subprocess.Popen[bytes]] = (),
    log_tail: Callable[[], str] = lambda: "",
) -> None:
    """Block until metadata lists ``expected`` brokers. Raises ``BrokerUnavailableError``
    with ``log_tail()`` when one of ``processes`` exits first or on timeout."""
    admin = AdminClient(
        {
            **client_config,
            "socket.connection.setup.timeout.ms": "2000",
            # "connection refused" is the expected answer while the JVMs start
            "log_level": "0",
        }
    )
    bootstrap = client_config["bootstrap.servers"]
    deadline = time.monotonic() + timeout_s
    seen = 0
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise BrokerUnavailableError(
                    f"a broker exited with code {process.returncode} while starting:\n{log_tail()}"
                )
        with contextlib.suppress(KafkaException):
            seen = len(admin.list_topics(timeout=2).brokers)
            if seen >= expected:
                return
        time.sleep(0.1)
    raise BrokerUnavailableError(
        f"{plural(expected, 'broker')} at {bootstrap} did not answer metadata within"
        f" {timeout_s:.0f}s "
        f"({seen} did):\n{log_tail()}"
    )


def check_ports_free(host: str, ports: Iterable[int]) -> None:
    """Raise ``ConfigError`` naming the first port on ``host`` something listens on."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise ConfigError(
                    f"port {port} on {host} is taken by another process. Stop it, "
                    "or pick free ports with PROOFSTREAM_BROKER__PORT and "
                    "PROOFSTREAM_BROKER__CONTROLLER_PORT (__CLUSTER_PORT for --nodes, "
                    "__SECURE_PORT for --secure) and point clients at it with "
                    "PROOFSTREAM_KAFKA__BOOTSTRAP_SERVERS."
                ) from exc


def broker_reachable(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """Whether some Kafka broker answers metadata at ``bootstrap`` (ours or not)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": "0"})
    try:
        return bool(admin.list_topics(timeout=timeout_s).brokers)
    except KafkaException:
        return False
