"""One KRaft JVM (combined broker + controller) owned by one home directory.

The single-node launcher, the secure launcher and every node of the local cluster
are a :class:`KafkaNode`. Its home holds ``server.properties``, ``log4j2.properties``,
the data directories, ``broker.log`` and ``broker.pid.json``.

Safety property: a node only ever signals the pid recorded in its pid file, and
only while that process is still a ``kafka.Kafka`` JVM whose command line names
*this* home's ``server.properties``. A reused pid, a stranger on the port or
another state directory's broker is never touched.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from schemas.errors import ConfigError

__all__ = ["KafkaNode", "NodeSpec", "new_cluster_id"]

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

MAIN_CLASS = "kafka.Kafka"
STOP_TIMEOUT_S = 45.0


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding, never
    starting with ``-`` (1 in 64 would: ``kafka-storage format --cluster-id -x…`` then
    reads the id as an option and fails; Kafka's own ``Uuid.randomUuid`` skips them too)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


@dataclass(frozen=True)
class NodeSpec:
    """Everything that makes one node: where it lives and its full configuration.

    ``properties`` is the whole ``server.properties``; ``log_dirs`` are the data
    directories it names (the first also holds the KRaft metadata log);
    ``format_args`` are extra ``kafka-storage format`` arguments (``--add-scram``);
    ``jvm_options`` extra JVM flags (``BrokerSettings.jvm_options``).
    """

    node_id: int
    home: Path
    heap: str
    properties: Mapping[str, str]
    log_dirs: Sequence[Path]
    format_args: Sequence[str] = field(default=())
    jvm_options: Sequence[str] = field(default=())


class KafkaNode:
    """Writes the configuration of, formats, starts and stops one KRaft JVM."""

    def __init__(self, spec: NodeSpec) -> None:
        self.spec = spec
        self.home = spec.home

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid.json"

    @property
    def properties_file(self) -> Path:
        return self.home / "server.properties"

    # -- state --------------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid of this node's JVM while it runs, else ``None`` (a stale pid file,
        whose process is gone or was reused, is removed)."""
        try:
            pid = int(json.loads(self.pid_file.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if is_our_jvm(pid, self.properties_file):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    # -- lifecycle ----------------------------------------------------------------------------
    def prepare(self, java: str, classpath: str, cluster_id: str) -> None:
        """Write the configuration and format the storage unless it is formatted.

        Idempotent: a formatted node keeps its data and cluster id. Raises
        ``ConfigError`` with the tool's output when formatting fails.
        """
        for directory in (self.home, *self.spec.log_dirs):
            directory.mkdir(parents=True, exist_ok=True)
        # 0600: the secure node's properties hold keystore and SCRAM passwords
        fd = os.open(self.properties_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(f"{k}={v}\n" for k, v in self.spec.properties.items()))
        self.properties_file.chmod(0o600)
        (self.home / "log4j2.properties").write_text(_LOG4J2)
        if all((d / "meta.properties").exists() for d in self.spec.log_dirs):
            return
        # The arguments go through a java @argfile (mode 0600, removed right after), so
        # --add-scram passwords never show in /proc/<pid>/cmdline.
        args = [
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "--cluster-id",
            cluster_id,
            "--config",
            str(self.properties_file),
            *self.spec.format_args,
        ]
        argfile = self.home / ".format.args"
        fd = os.open(argfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(f'"{a}"' for a in args) + "\n")
        try:
            proc = subprocess.run(
                [java, f"@{argfile}"], capture_output=True, text=True, check=False
            )
        finally:
            argfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            # never echo a line that could carry a password
            lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "password" not in ln]
            raise ConfigError(
                f"formatting KRaft storage of node {self.spec.node_id} failed:\n"
                + "\n".join(lines[-15:])
            )

    def start(self, java: str, classpath: str) -> subprocess.Popen[bytes]:
        """Spawn the JVM in its own session (a Ctrl-C in the launching shell must not
        reach it) and record its pid. The caller waits for readiness."""
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                [
                    java,
                    f"-Xms{self.spec.heap}",
                    f"-Xmx{self.spec.heap}",
                    "-XX:+UseG1GC",
                    *self.spec.jvm_options,
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
                    f"-Dkafka.logs.dir={self.home}",
                    "-cp",
                    classpath,
                    MAIN_CLASS,
                    str(self.properties_file),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=True,
            )
        self.pid_file.write_text(json.dumps({"pid": proc.pid, "node_id": self.spec.node_id}))
        return proc

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """SIGTERM (controlled shutdown: leadership moves away first), SIGKILL after
        ``timeout_s``. Returns whether a JVM of this node was running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        if not self._wait_gone(pid, timeout_s):
            os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 10.0)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> bool:
        """SIGKILL, as a crash or ``kill -9`` would: no controlled shutdown, no flush.
        Returns whether a JVM of this node was running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGKILL)
        self._wait_gone(pid, 30.0)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no broker log)"

    def _wait_gone(self, pid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            _reap(pid)
            if not is_our_jvm(pid, self.properties_file):
                return True
            time.sleep(0.1)
        return False


def is_our_jvm(pid: int, properties: Path) -> bool:
    """Whether ``pid`` is a live ``kafka.Kafka`` JVM started with ``properties``."""
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    if state == "Z":
        return False
    return MAIN_CLASS.encode() in cmdline and str(properties).encode() in cmdline


def _reap(pid: int) -> None:
    """Collect the exit status when the JVM is our own child (tests restart nodes)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
