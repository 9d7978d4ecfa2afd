"""Launch a real single-node Apache Kafka broker (KRaft) from the official jars.

The jars come from Maven Central through Maven, once, into a cache directory
(``BrokerSettings.cache_dir``); Maven's own ``~/.m2`` cache makes a second fetch
cheap too. The broker runs combined broker+controller on ``127.0.0.1`` with its
configuration, data and log under ``<state_dir>/kafka``.

The launcher only ever stops a process it started: the pid file records the pid
and the process must still be a ``kafka.Kafka`` JVM whose command line names this
state directory's ``server.properties``. Anything else on the port is reported,
never killed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from proofstream.settings import BrokerSettings
from schemas.errors import BrokerUnavailableError, ConfigError

__all__ = ["BrokerStatus", "KafkaLauncher", "broker_reachable"]

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>proofstream.devstack</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{scala}</artifactId>
      <version>{kafka}</version>
    </dependency>
    <!-- Kafka 4 logs through slf4j 1.7 to log4j2: this is the binding it ships with. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""

_MAIN_CLASS = "kafka.Kafka"
_STOP_TIMEOUT_S = 45.0


@dataclass(frozen=True)
class BrokerStatus:
    """What ``proofstream kafka status`` reports."""

    running: bool
    pid: int | None
    bootstrap: str
    version: str
    state_dir: Path
    log_file: Path

    def as_dict(self) -> dict[str, object]:
        return {
            "running": self.running,
            "pid": self.pid,
            "bootstrap": self.bootstrap,
            "version": self.version,
            "state_dir": str(self.state_dir),
            "log_file": str(self.log_file),
        }


class KafkaLauncher:
    """Fetches, formats, starts, probes and stops the local broker.

    Every public method is idempotent: ``up`` on a running broker reports it,
    ``down`` on a stopped one does nothing.
    """

    def __init__(self, broker: BrokerSettings, state_dir: Path) -> None:
        self._cfg = broker
        self._home = state_dir.resolve() / "kafka"
        self._jars = broker.cache_dir / f"kafka_{broker.scala_version}-{broker.kafka_version}"

    # -- paths -------------------------------------------------------------------------------
    @property
    def libs_dir(self) -> Path:
        return self._jars / "libs"

    @property
    def log_file(self) -> Path:
        return self._home / "broker.log"

    @property
    def _pid_file(self) -> Path:
        return self._home / "broker.pid.json"

    @property
    def _properties(self) -> Path:
        return self._home / "server.properties"

    @property
    def _data_dir(self) -> Path:
        return self._home / "data"

    # -- public ------------------------------------------------------------------------------
    def status(self) -> BrokerStatus:
        """Report whether the broker this state dir launched is running. No side effects
        beyond removing a stale pid file."""
        pid = self._live_pid()
        return BrokerStatus(
            running=pid is not None,
            pid=pid,
            bootstrap=self._cfg.bootstrap,
            version=self._cfg.kafka_version,
            state_dir=self._home,
            log_file=self.log_file,
        )

    def fetch(self) -> Path:
        """Download the broker jars with Maven unless the cache already holds them.

        Idempotent; returns the directory of jars. Raises ``ConfigError`` when Maven is
        missing or the download fails (the message carries Maven's last lines).
        """
        marker = self._jars / ".complete"
        if marker.exists():
            return self.libs_dir
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ConfigError(
                "Maven (mvn) is not on PATH; it fetches the Kafka jars from Maven Central. "
                "Install it (Debian: apt-get install -y maven) and run the command again."
            )
        self._jars.mkdir(parents=True, exist_ok=True)
        pom = self._jars / "pom.xml"
        pom.write_text(
            _POM.format(
                scala=self._cfg.scala_version,
                kafka=self._cfg.kafka_version,
                log4j=self._cfg.log4j_version,
            )
        )
        if self.libs_dir.exists():
            shutil.rmtree(self.libs_dir)
        proc = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs_dir}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise ConfigError(
                f"Maven could not fetch org.apache.kafka:kafka_{self._cfg.scala_version}:"
                f"{self._cfg.kafka_version}:\n{tail}"
            )
        marker.write_text(self._cfg.kafka_version)
        return self.libs_dir

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
        java = self._java()
        self._check_ports_free()
        libs = self.fetch()
        self._home.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._format_storage(java, libs)
        log = self.log_file.open("ab")
        try:
            proc = subprocess.Popen(
                [
                    java,
                    f"-Xms{self._cfg.heap}",
                    f"-Xmx{self._cfg.heap}",
                    "-XX:+UseG1GC",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={self._home / 'log4j2.properties'}",
                    f"-Dkafka.logs.dir={self._home}",
                    "-cp",
                    f"{libs}/*",
                    _MAIN_CLASS,
                    str(self._properties),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._home,
                start_new_session=True,  # a Ctrl-C in the launching shell must not kill it
            )
        finally:
            log.close()
        self._pid_file.write_text(
            json.dumps(
                {"pid": proc.pid, "port": self._cfg.port, "version": self._cfg.kafka_version}
            )
        )
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
        pid = self._live_pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)  # controlled shutdown: flushes logs, leaves the quorum
        if not self._wait_gone(pid, _STOP_TIMEOUT_S):
            os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 10.0)
        self._pid_file.unlink(missing_ok=True)
        return True

    def wait_ready(self, process: subprocess.Popen[bytes] | None = None) -> None:
        """Block until the broker answers a metadata request listing itself.

        Raises ``BrokerUnavailableError`` with the tail of the broker log on timeout or
        when the process exits first.
        """
        admin = AdminClient(
            {
                "bootstrap.servers": self._cfg.bootstrap,
                "socket.connection.setup.timeout.ms": "2000",
                # "connection refused" is the expected answer while the JVM starts
                "log_level": "0",
            }
        )
        deadline = time.monotonic() + self._cfg.ready_timeout_s
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise BrokerUnavailableError(
                    f"the broker exited with code {process.returncode} while starting:\n"
                    f"{self._log_tail()}"
                )
            with contextlib.suppress(KafkaException):
                metadata = admin.list_topics(timeout=2)
                if metadata.brokers:
                    return
        raise BrokerUnavailableError(
            f"the broker at {self._cfg.bootstrap} did not answer metadata within "
            f"{self._cfg.ready_timeout_s:.0f}s:\n{self._log_tail()}"
        )

    # -- internals ---------------------------------------------------------------------------
    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise ConfigError(
                "Java is not on PATH; Kafka 4 needs Java 17 or newer. Install it "
                "(Debian: apt-get install -y openjdk-17-jre-headless) and run the command again."
            )
        return java

    def _check_ports_free(self) -> None:
        for port in (self._cfg.port, self._cfg.controller_port):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((self._cfg.host, port))
                except OSError as exc:
                    raise ConfigError(
                        f"port {port} on {self._cfg.host} is taken by another process. Stop it, "
                        "or pick free ports with PROOFSTREAM_BROKER__PORT and "
                        "PROOFSTREAM_BROKER__CONTROLLER_PORT (and point clients at it with "
                        "PROOFSTREAM_KAFKA__BOOTSTRAP_SERVERS)."
                    ) from exc

    def _write_config(self) -> None:
        host, port, ctl = self._cfg.host, self._cfg.port, self._cfg.controller_port
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{host}:{ctl}",
            "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{ctl}",
            "advertised.listeners": f"PLAINTEXT://{host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self._data_dir),
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
        self._properties.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        (self._home / "log4j2.properties").write_text(_LOG4J2)

    def _format_storage(self, java: str, libs: Path) -> None:
        if (self._data_dir / "meta.properties").exists():
            return
        proc = subprocess.run(
            [
                java,
                "-cp",
                f"{libs}/*",
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                _cluster_id(),
                "--config",
                str(self._properties),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ConfigError(f"formatting KRaft storage failed:\n{proc.stdout}{proc.stderr}")

    def _live_pid(self) -> int | None:
        try:
            pid = int(json.loads(self._pid_file.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if _is_our_broker(pid, self._properties):
            return pid
        self._pid_file.unlink(missing_ok=True)  # stale: the process is gone or was reused
        return None

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _reap(pid)
            if not _is_our_broker(pid, self._properties):
                return True
            time.sleep(0.1)
        return False

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no broker log)"


def broker_reachable(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """Whether some Kafka broker answers metadata at ``bootstrap`` (ours or not)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": "0"})
    try:
        return bool(admin.list_topics(timeout=timeout_s).brokers)
    except KafkaException:
        return False


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _is_our_broker(pid: int, properties: Path) -> bool:
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    if state == "Z":
        return False
    return _MAIN_CLASS.encode() in cmdline and str(properties).encode() in cmdline


def _reap(pid: int) -> None:
    """Collect the exit status when the broker is our own child (tests restart it)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
