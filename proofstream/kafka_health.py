"""Brokers and partitions of the project's topics as a client sees them.

Works against any cluster (the local one, ``compose.kafka.yml``, a managed one)
with the client's own settings: it needs metadata and topic configs only.

- **down**: a broker that holds a replica of one of the topics but is not in the
  cluster metadata (not registered, or fenced);
- **degraded**: a live broker missing from the ISR of a partition it replicates
  (it lags, or the log directory holding that replica failed);
- a partition is **under-replicated** when its ISR is smaller than its replica set,
  **under min ISR** when ``acks=all`` writes are refused (ISR < ``min.insync.replicas``),
  and **offline** when it has no leader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource

from producers.settings import KafkaSettings
from schemas.errors import BrokerUnavailableError

__all__ = ["ClusterHealth", "PartitionHealth", "cluster_health"]


@dataclass(frozen=True)
class PartitionHealth:
    topic: str
    partition: int
    leader: int | None
    replicas: list[int]
    isr: list[int]

    @property
    def ref(self) -> str:
        return f"{self.topic}/{self.partition}"

    def as_dict(self) -> dict[str, object]:
        return {
            "partition": self.partition,
            "leader": self.leader,
            "replicas": self.replicas,
            "isr": self.isr,
        }


@dataclass(frozen=True)
class ClusterHealth:
    """One reading. ``min_isr`` maps each topic to its ``min.insync.replicas``."""

    alive: list[int]
    partitions: list[PartitionHealth]
    min_isr: dict[str, int]
    missing_topics: list[str]

    @property
    def down(self) -> list[int]:
        assigned = {r for p in self.partitions for r in p.replicas}
        return sorted(assigned - set(self.alive))

    @property
    def degraded(self) -> dict[int, list[str]]:
        """Live broker id → the partitions it replicates but is not in sync for."""
        out: dict[int, list[str]] = {}
        for p in self.partitions:
            for replica in p.replicas:
                if replica in self.alive and replica not in p.isr:
                    out.setdefault(replica, []).append(p.ref)
        return dict(sorted(out.items()))

    @property
    def under_replicated(self) -> list[str]:
        return [p.ref for p in self.partitions if len(p.isr) < len(p.replicas)]

    @property
    def under_min_isr(self) -> list[str]:
        return [p.ref for p in self.partitions if len(p.isr) < self.min_isr.get(p.topic, 1)]

    @property
    def offline(self) -> list[str]:
        return [p.ref for p in self.partitions if p.leader is None]

    @property
    def state(self) -> str:
        """``ok``; ``degraded`` (a broker down or out of sync, writes still accepted);
        ``unavailable`` (a partition offline or under min ISR: some writes refused)."""
        if self.offline or self.under_min_isr:
            return "unavailable"
        if self.down or self.degraded or self.under_replicated:
            return "degraded"
        return "ok"

    def as_dict(self) -> dict[str, object]:
        topics: dict[str, dict[str, object]] = {}
        for p in self.partitions:
            entry = topics.setdefault(
                p.topic,
                {
                    "replication_factor": len(p.replicas),
                    "min_insync_replicas": self.min_isr.get(p.topic),
                    "partitions": [],
                },
            )
            partitions = entry["partitions"]
            assert isinstance(partitions, list)
            partitions.append(p.as_dict())
        return {
            "state": self.state,
            "brokers": {
                "alive": self.alive,
                "down": self.down,
                "degraded": {str(k): v for k, v in self.degraded.items()},
            },
            "under_replicated": self.under_replicated,
            "under_min_isr": self.under_min_isr,
            "offline": self.offline,
            "missing_topics": self.missing_topics,
            "topics": topics,
        }


def cluster_health(
    kafka: KafkaSettings, topics: Sequence[str], timeout_s: float = 10.0
) -> ClusterHealth:
    """Read broker and partition state for ``topics`` now. Topics that do not exist are
    listed in ``missing_topics``. Raises ``BrokerUnavailableError`` when no broker
    answers within ``timeout_s``."""
    admin = AdminClient({**kafka.client_config(), "log_level": "0"})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise BrokerUnavailableError(f"cannot read cluster metadata: {exc}") from exc
    partitions: list[PartitionHealth] = []
    missing = []
    for name in topics:
        meta = metadata.topics.get(name)
        if meta is None or meta.error is not None:
            missing.append(name)
            continue
        for pid in sorted(meta.partitions):
            p = meta.partitions[pid]
            partitions.append(
                PartitionHealth(
                    name,
                    pid,
                    p.leader if p.leader >= 0 else None,
                    sorted(p.replicas),
                    sorted(p.isrs),
                )
            )
    present = [t for t in topics if t not in missing]
    return ClusterHealth(
        alive=sorted(metadata.brokers),
        partitions=partitions,
        min_isr=_min_isr(admin, present, timeout_s),
        missing_topics=missing,
    )


def _min_isr(admin: AdminClient, topics: Sequence[str], timeout_s: float) -> dict[str, int]:
    if not topics:
        return {}
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics]
    found: dict[str, int] = {}
    for resource, future in admin.describe_configs(resources, request_timeout=timeout_s).items():
        try:
            entry = future.result(timeout=timeout_s).get("min.insync.replicas")
        except KafkaException:
            continue  # unknown: under_min_isr then assumes 1
        if entry is not None and entry.value is not None:
            found[resource.name] = int(entry.value)
    return found
