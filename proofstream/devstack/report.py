"""``proofstream kafka status`` for the local cluster: processes, quorum, partitions.

The report is one JSON-able dict (``--json`` prints it as is). Keys:

- ``mode``: ``"cluster"``; ``state``: ``ok`` | ``degraded`` (a node down or out of
  sync, writes still accepted) | ``unavailable`` (a partition offline or under
  ``min.insync.replicas``) | ``stopped`` (no node runs);
- ``running`` (every node runs), ``version``, ``bootstrap``, ``controllers``,
  ``state_dir``, ``cluster_id``;
- ``nodes``: per node ``id``, ``running``, ``pid``, ``bootstrap``, ``controller``,
  ``log_file``, ``state`` (``ok`` | ``down`` | ``unregistered`` | ``degraded``) and
  ``out_of_sync`` (the partitions it replicates but is not in the ISR of);
- ``quorum``: ``leader``, ``voters``, ``observers``, ``max_lag`` and ``replicas``
  (``id``, ``status``, ``log_end_offset``, ``lag``, ``last_caught_up_ms_ago``), or
  ``error`` when the controllers did not answer;
- ``health``: :meth:`proofstream.kafka_health.ClusterHealth.as_dict` for the
  project's topics (partition ``leader``/``replicas``/``isr``, ``brokers``
  ``alive``/``down``/``degraded``, ``under_replicated``, ``under_min_isr``,
  ``offline``), or ``{"error": ...}`` when no broker answered.
"""

from __future__ import annotations

from typing import Any

from producers.settings import KafkaSettings
from proofstream.devstack.cluster import KafkaCluster
from proofstream.devstack.jars import KafkaJars
from proofstream.devstack.quorum import describe_quorum
from proofstream.kafka_health import cluster_health
from proofstream.settings import BrokerSettings
from schemas.errors import BrokerUnavailableError

__all__ = ["cluster_report"]


def cluster_report(
    cluster: KafkaCluster, broker: BrokerSettings, kafka: KafkaSettings
) -> dict[str, Any]:
    """Read everything now. ``kafka`` supplies the topic names and client security;
    its bootstrap servers are replaced by the cluster's. Network failures end up in
    the report (``error`` keys), never as exceptions."""
    layout = cluster.layout
    processes = cluster.processes()
    report: dict[str, Any] = {
        "mode": "cluster",
        "running": all(p.running for p in processes),
        "version": broker.kafka_version,
        "bootstrap": layout.bootstrap,
        "controllers": layout.controllers,
        "state_dir": str(cluster.home),
        "cluster_id": layout.cluster_id,
    }
    nodes = [p.as_dict() for p in processes]
    report["nodes"] = nodes
    if not any(p.running for p in processes):
        report.update(state="stopped", quorum=None, health=None)
        for node in nodes:
            node.update(state="down", out_of_sync=[])
        return report
    report["quorum"] = describe_quorum(KafkaJars(broker), layout.controllers).as_dict()
    client = kafka.model_copy(update={"bootstrap_servers": layout.bootstrap})
    topics = [client.topics.events, client.topics.dlq, client.topics.proof_gaps]
    try:
        health = cluster_health(client, topics)
    except BrokerUnavailableError as exc:
        report["health"] = {"error": str(exc)}
        report["state"] = "unavailable"
        for node in nodes:
            node.update(state="ok" if node["running"] else "down", out_of_sync=[])
        return report
    report["health"] = health.as_dict()
    degraded = health.degraded
    for process, node in zip(processes, nodes, strict=True):
        out = degraded.get(process.node_id, [])
        if not process.running:
            state = "down"
        elif process.node_id not in health.alive:
            state = "unregistered"  # starting, or fenced by the controller
        elif out:
            state = "degraded"
        else:
            state = "ok"
        node.update(state=state, out_of_sync=out)
    states = {n["state"] for n in nodes}
    if health.state == "unavailable":
        report["state"] = "unavailable"
    elif health.state == "degraded" or states != {"ok"}:
        report["state"] = "degraded"
    else:
        report["state"] = "ok"
    return report
