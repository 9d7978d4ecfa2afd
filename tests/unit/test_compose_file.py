"""compose.kafka.yml cannot run here (no Docker engine), so check what it says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from producers.settings import TopicSettings

COMPOSE = Path(__file__).resolve().parents[2] / "compose.kafka.yml"
BROKERS = ("kafka-1", "kafka-2", "kafka-3")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def test_services(compose: dict[str, Any]) -> None:
    # the ClickHouse cluster's services: tests/unit/test_compose_clickhouse.py
    clickhouse = {"clickhouse-keeper", "clickhouse-1", "clickhouse-2"}
    assert set(compose["services"]) == {*BROKERS, *clickhouse, "topics-init"}


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and re.fullmatch(r"\d+(\.\d+)+", tag), f"{name}: {image} is not pinned"
    for name in (*BROKERS, "topics-init"):
        image = compose["services"][name]["image"]
        assert image.startswith("apache/kafka:4."), f"{name}: official Apache Kafka 4.x image"


def test_kraft_quorum_and_listeners(compose: dict[str, Any]) -> None:
    voters = set()
    for index, name in enumerate(BROKERS, start=1):
        env = compose["services"][name]["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert int(env["KAFKA_NODE_ID"]) == index
        voters.add(env["KAFKA_CONTROLLER_QUORUM_VOTERS"])
        listeners = env["KAFKA_LISTENERS"]
        assert "CONTROLLER://:9093" in listeners and "INTERNAL://:9092" in listeners
        advertised = env["KAFKA_ADVERTISED_LISTENERS"]
        assert f"INTERNAL://{name}:9092" in advertised
        assert re.search(r"EXTERNAL://localhost:\d+", advertised)
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    cluster_ids = {compose["services"][n]["environment"]["CLUSTER_ID"] for n in BROKERS}
    assert len(cluster_ids) == 1


def _topic_commands(compose: dict[str, Any]) -> dict[str, str]:
    script = "\n".join(compose["services"]["topics-init"]["command"])
    commands = {}
    for line in script.splitlines():
        match = re.search(r"--create .*--topic (\S+)", line)
        if match:
            commands[match.group(1)] = line
    return commands


def test_topics_created_with_replication_three(compose: dict[str, Any]) -> None:
    commands = _topic_commands(compose)
    topics = TopicSettings()
    assert set(commands) == {topics.events, topics.dlq, topics.proof_gaps}
    for topic, line in commands.items():
        assert "--replication-factor 3" in line, topic
        assert "--config min.insync.replicas=2" in line, topic
    assert "--config retention.ms=-1" in commands[topics.events]


def test_topics_job_waits_for_healthy_brokers(compose: dict[str, Any]) -> None:
    job = compose["services"]["topics-init"]
    assert job["restart"] == "no"
    assert {k: v["condition"] for k, v in job["depends_on"].items()} == dict.fromkeys(
        BROKERS, "service_healthy"
    )
