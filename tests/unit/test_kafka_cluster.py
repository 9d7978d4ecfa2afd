"""The local cluster's layout, configuration, status model and safety, without
starting a JVM (the fault tier runs the real thing)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proofstream.cli import app
from proofstream.devstack.cluster import KafkaCluster
from proofstream.devstack.quorum import parse_replication
from proofstream.kafka_health import ClusterHealth, PartitionHealth
from proofstream.settings import BrokerSettings, Settings
from schemas.errors import ConfigError


def _properties(cluster: KafkaCluster, node_id: int) -> dict[str, str]:
    return dict(cluster.node(node_id).spec.properties)


def test_three_nodes_on_consecutive_loopback_ports_with_rf3_min_isr2(tmp_path: Path) -> None:
    cluster = KafkaCluster(BrokerSettings(cluster_port=19092), tmp_path)
    assert cluster.layout.bootstrap == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
    assert cluster.layout.controllers == "127.0.0.1:19093,127.0.0.1:19095,127.0.0.1:19097"
    for node_id in (1, 2, 3):
        props = _properties(cluster, node_id)
        assert props["node.id"] == str(node_id)
        assert props["process.roles"] == "broker,controller"
        assert props["controller.quorum.voters"] == (
            "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
        )
        assert props["default.replication.factor"] == "3"
        assert props["min.insync.replicas"] == "2"
        assert props["offsets.topic.replication.factor"] == "3"
        assert props["unclean.leader.election.enable"] == "false"
        listeners = props["listeners"].split(",")
        assert all("//127.0.0.1:" in listener for listener in listeners)  # loopback only


def test_jbod_nodes_keep_the_metadata_log_out_of_the_data_dirs(tmp_path: Path) -> None:
    cluster = KafkaCluster(
        BrokerSettings(), tmp_path, ports=[(1, 2), (3, 4), (5, 6)], log_dirs_per_node=2
    )
    props = _properties(cluster, 3)
    data = props["log.dirs"].split(",")
    assert len(data) == 2
    assert props["metadata.log.dir"] not in data
    assert Path(props["metadata.log.dir"]) in cluster.node(3).spec.log_dirs  # formatted too


def test_fewer_than_three_nodes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 3 nodes"):
        KafkaCluster(BrokerSettings(), tmp_path, nodes=2)


def test_the_layout_is_fixed_by_the_first_up(tmp_path: Path) -> None:
    first = KafkaCluster(BrokerSettings(), tmp_path, ports=[(11, 12), (13, 14), (15, 16)])
    first.home.mkdir(parents=True)
    first.layout_file.write_text(json.dumps(asdict(first.layout)))  # what up() writes
    again = KafkaCluster(BrokerSettings(cluster_port=30000), tmp_path)
    assert again.layout == first.layout  # ports and cluster id from cluster.json


def test_down_never_signals_a_process_it_did_not_start(tmp_path: Path) -> None:
    cluster = KafkaCluster(BrokerSettings(), tmp_path, ports=[(1, 2), (3, 4), (5, 6)])
    cluster.home.mkdir(parents=True)
    cluster.layout_file.write_text(
        json.dumps({"cluster_id": "x", "host": "127.0.0.1", "ports": [[1, 2], [3, 4], [5, 6]]})
    )
    for node_id in (1, 2, 3):
        node = cluster.node(node_id)
        node.home.mkdir(parents=True)
        node.pid_file.write_text(json.dumps({"pid": os.getpid(), "node_id": node_id}))
    assert not any(p.running for p in cluster.processes())  # pytest is no kafka.Kafka
    assert cluster.down() == []
    assert cluster.kill_node(2) is False
    assert not any(cluster.node(i).pid_file.exists() for i in (1, 2, 3))  # stale: dropped


def test_status_of_a_cluster_never_started_is_stopped_with_exit_1(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, broker=BrokerSettings(cache_dir=tmp_path / "cache"))
    result = CliRunner().invoke(app, ["kafka", "status", "--nodes", "3", "--json"], obj=settings)
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["mode"] == "cluster"
    assert report["state"] == "stopped"
    assert [n["state"] for n in report["nodes"]] == ["down", "down", "down"]


def test_secure_cluster_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    result = CliRunner().invoke(app, ["kafka", "up", "--secure", "--nodes", "3"], obj=settings)
    assert isinstance(result.exception, ConfigError)
    assert "single node" in str(result.exception)


_ROWS = [
    ["NodeId", "DirectoryId", "LogEndOffset", "Lag", "LastFetchTimestamp",
     "LastCaughtUpTimestamp", "Status"],
    ["3", "AAAAAAAAAAAAAAAAAAAAAA", "1035", "0", "1796070275639", "1796070275639", "Leader"],
    ["1", "AAAAAAAAAAAAAAAAAAAAAA", "1035", "0", "1796070275537", "1796070275537", "Follower"],
    ["2", "AAAAAAAAAAAAAAAAAAAAAA", "990", "45", "1796070265551", "1796070260000", "Follower"],
]  # fmt: skip
REPLICATION = "".join("\t".join(f"{cell:<8}" for cell in row) + "\t\n" for row in _ROWS)
"""What ``kafka-metadata-quorum describe --replication`` prints (tab-separated, padded)."""


def test_quorum_replication_table_is_parsed() -> None:
    quorum = parse_replication(REPLICATION, now_ms=1796070275639)
    assert quorum.leader == 3
    assert quorum.voters == [1, 2, 3]
    assert quorum.observers == []
    assert quorum.max_lag == 45
    lagging = next(r for r in quorum.replicas if r.node_id == 2)
    assert lagging.last_caught_up_ms_ago == 15639


def test_quorum_output_without_rows_is_an_error() -> None:
    with pytest.raises(ValueError, match="no quorum replica"):
        parse_replication("Error: connection refused\n", now_ms=0)


def _partition(p: int, leader: int | None, replicas: list[int], isr: list[int]) -> PartitionHealth:
    return PartitionHealth("events", p, leader, replicas, isr)


def test_health_names_down_and_out_of_sync_brokers() -> None:
    health = ClusterHealth(
        alive=[1, 3],
        partitions=[
            _partition(0, 1, [1, 2, 3], [1, 3]),  # 2 is down
            _partition(1, 3, [1, 2, 3], [3]),  # 1 alive but out of sync, 2 down
        ],
        min_isr={"events": 2},
        missing_topics=[],
    )
    assert health.down == [2]
    assert health.degraded == {1: ["events/1"]}
    assert health.under_replicated == ["events/0", "events/1"]
    assert health.under_min_isr == ["events/1"]
    assert health.offline == []
    assert health.state == "unavailable"  # acks=all writes to events/1 are refused
    report = health.as_dict()
    assert report["brokers"] == {"alive": [1, 3], "down": [2], "degraded": {"1": ["events/1"]}}


def test_health_of_a_full_cluster_is_ok_and_one_lost_node_is_degraded() -> None:
    full = ClusterHealth([1, 2, 3], [_partition(0, 1, [1, 2, 3], [1, 2, 3])], {"events": 2}, [])
    assert full.state == "ok"
    one_down = ClusterHealth([1, 2], [_partition(0, 1, [1, 2, 3], [1, 2])], {"events": 2}, [])
    assert one_down.state == "degraded"
    no_leader = ClusterHealth([3], [_partition(0, None, [1, 2, 3], [3])], {"events": 2}, [])
    assert no_leader.offline == ["events/0"]
    assert no_leader.state == "unavailable"
