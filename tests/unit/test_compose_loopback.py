"""compose.kafka.yml publishes nothing beyond loopback: its Kafka listeners are
PLAINTEXT, and Docker binds a bare "19092:19092" on every interface."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "compose.kafka.yml"


def test_every_published_port_is_bound_to_loopback() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    published = [(name, port) for name, svc in services.items() for port in svc.get("ports", [])]
    assert published, "the brokers and ClickHouse publish ports"
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all interfaces"
