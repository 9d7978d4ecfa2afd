"""The KRaft quorum as the controllers see it, through Kafka's own
``MetadataQuorumCommand`` (``kafka-metadata-quorum.sh describe --replication``).

librdkafka has no DescribeQuorum call, so the command runs from the cached jars
(``KafkaJars.fetch_tools``) in a short-lived JVM (about a second).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

from proofstream.devstack.jars import KafkaJars, find_java

__all__ = ["QuorumReplica", "QuorumStatus", "describe_quorum", "parse_replication"]

_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class QuorumReplica:
    """One row of ``describe --replication``: a voter (Leader/Follower) or an Observer."""

    node_id: int
    status: str
    log_end_offset: int
    lag: int
    last_caught_up_ms_ago: int | None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.node_id,
            "status": self.status,
            "log_end_offset": self.log_end_offset,
            "lag": self.lag,
            "last_caught_up_ms_ago": self.last_caught_up_ms_ago,
        }


@dataclass(frozen=True)
class QuorumStatus:
    """The metadata quorum: its leader, voters and observers, and each one's lag."""

    leader: int | None
    voters: list[int]
    observers: list[int]
    replicas: list[QuorumReplica]
    error: str | None = None

    @property
    def max_lag(self) -> int | None:
        return max((r.lag for r in self.replicas), default=None)

    def as_dict(self) -> dict[str, object]:
        return {
            "leader": self.leader,
            "voters": self.voters,
            "observers": self.observers,
            "max_lag": self.max_lag,
            "replicas": [r.as_dict() for r in self.replicas],
            "error": self.error,
        }


def parse_replication(text: str, now_ms: int) -> QuorumStatus:
    """Parse the table ``describe --replication`` prints. Pure.

    Columns: NodeId, DirectoryId, LogEndOffset, Lag, LastFetchTimestamp,
    LastCaughtUpTimestamp, Status. Raises ``ValueError`` when no row parses.
    """
    replicas = []
    for line in text.splitlines():
        cells = line.split()
        if len(cells) < 7 or not cells[0].isdigit():
            continue
        caught_up = int(cells[5])
        replicas.append(
            QuorumReplica(
                node_id=int(cells[0]),
                status=cells[6],
                log_end_offset=int(cells[2]),
                lag=int(cells[3]),
                last_caught_up_ms_ago=max(0, now_ms - caught_up) if caught_up > 0 else None,
            )
        )
    if not replicas:
        raise ValueError(f"no quorum replica in: {text.strip()[:200]!r}")
    leader = next((r.node_id for r in replicas if r.status == "Leader"), None)
    voters = sorted(r.node_id for r in replicas if r.status in ("Leader", "Follower"))
    observers = sorted(r.node_id for r in replicas if r.status == "Observer")
    return QuorumStatus(leader, voters, observers, replicas)


def describe_quorum(jars: KafkaJars, controllers: str) -> QuorumStatus:
    """Ask the controllers at ``controllers`` (``host:port,...``) for the quorum.

    Never raises for an unreachable quorum: the returned status then carries
    ``error`` (one line) and no replicas. Raises ``ConfigError`` only when Java or
    the tools jar cannot be had.
    """
    java = find_java()
    jars.fetch_tools()
    command = [
        java,
        "-Xmx128m",
        "-XX:TieredStopAtLevel=1",  # a one-shot command: start fast, no C2
        "-Dlog4j2.rootLogger.level=ERROR",
        "-cp",
        jars.classpath(tools=True),
        "org.apache.kafka.tools.MetadataQuorumCommand",
        "--bootstrap-controller",
        controllers,
        "describe",
        "--replication",
    ]
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return QuorumStatus(None, [], [], [], f"no answer from {controllers} in {_TIMEOUT_S:.0f}s")
    try:
        return parse_replication(proc.stdout, int(time.time() * 1000))
    except ValueError:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return QuorumStatus(None, [], [], [], _one_line(last))


def _one_line(text: str) -> str:
    return text.replace("\n", " ")[:300]
