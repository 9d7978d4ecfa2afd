"""The launcher's failure paths: clear messages, and it never signals a stranger."""

from __future__ import annotations

import json
import os
import socket
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proofstream.cli import app
from proofstream.devstack import node
from proofstream.devstack.kafka import KafkaLauncher
from proofstream.settings import BrokerSettings, Settings
from schemas.errors import ConfigError
from tests.ports import free_port


def _broker(tmp_path: Path, port: int | None = None) -> BrokerSettings:
    return BrokerSettings(
        port=port or free_port(), controller_port=free_port(), cache_dir=tmp_path / "cache"
    )


def test_missing_java_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no java, no mvn
    with pytest.raises(ConfigError, match=r"Java is not on PATH.*apt-get install"):
        KafkaLauncher(_broker(tmp_path), tmp_path / "state").up()


def test_missing_maven_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match=r"Maven \(mvn\) is not on PATH"):
        KafkaLauncher(_broker(tmp_path), tmp_path / "state").fetch()


def test_port_taken_is_reported_not_killed(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"port {port} on 127.0.0.1 is taken"):
            KafkaLauncher(_broker(tmp_path, port), tmp_path / "state").up()


def test_down_never_signals_a_process_it_did_not_start(tmp_path: Path) -> None:
    launcher = KafkaLauncher(_broker(tmp_path), tmp_path / "state")
    pid_file = tmp_path / "state" / "kafka" / "broker.pid.json"
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(json.dumps({"pid": os.getpid(), "port": 1, "version": "x"}))
    assert launcher.status().running is False  # our pytest process is no kafka.Kafka
    assert launcher.down() is False
    assert not pid_file.exists()  # the stale pid file is dropped


def test_status_cli_reports_stopped_with_exit_1(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", broker=_broker(tmp_path))
    result = CliRunner().invoke(app, ["kafka", "status", "--json"], obj=settings)
    assert result.exit_code == 1
    status = json.loads(result.stdout)
    assert status["running"] is False
    assert status["pid"] is None
    assert status["version"] == settings.broker.kafka_version


def test_a_cluster_id_never_reads_as_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    # uuid bytes whose base64 starts with "-" (0xf8 → "-" in the URL-safe alphabet),
    # then ordinary ones: the first is skipped, as Kafka's own Uuid.randomUuid does
    drawn = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(int=1 << 100)])
    monkeypatch.setattr(node.uuid, "uuid4", lambda: next(drawn))
    cluster_id = node.new_cluster_id()
    assert not cluster_id.startswith("-") and len(cluster_id) == 22
