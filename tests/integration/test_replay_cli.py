"""``proofstream replay | archive | dlq`` end to end on the real broker and chDB."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from producers.producer import EventProducer
from proofstream.cli import app
from proofstream.settings import Settings
from proofstream.workload import simulate
from tests.conftest import TopicFactory

pytest.importorskip("chdb")


@pytest.fixture()
def cli_settings(settings: Settings, new_topic: TopicFactory, tmp_path: Path) -> Settings:
    topics = settings.kafka.topics.model_copy(
        update={"events": new_topic(partitions=3), "dlq": new_topic(partitions=1)}
    )
    kafka = settings.kafka.model_copy(update={"topics": topics})
    # a port no worker listens on: the commands must open the store directly
    processors = settings.processors.model_copy(update={"web_port": 1})
    return settings.model_copy(
        update={"kafka": kafka, "state_dir": tmp_path / "state", "processors": processors}
    )


def _invoke(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), obj=settings)
    return result.exit_code, result.output


def test_rebuild_swap_verify_gc_and_archive(cli_settings: Settings) -> None:
    with EventProducer(cli_settings.kafka) as producer:
        producer.emit_many(simulate(runs=6).events)

    code, out = _invoke(cli_settings, "replay", "rebuild", "facts", "--dry-run")
    assert code == 0 and "dry run" in out
    # the store is empty: the first rebuild differs from live, and swapping fills it
    code, out = _invoke(cli_settings, "replay", "rebuild", "facts", "--swap")
    assert code == 0, out
    assert "differ" in out and "swapped" in out
    code, out = _invoke(cli_settings, "replay", "verify", "facts")
    assert code == 0, out
    assert "equal" in out
    code, out = _invoke(cli_settings, "replay", "gc", "facts")
    assert code == 0 and "dropped generation 0" in out, out
    code, out = _invoke(cli_settings, "replay", "generations", "facts")
    assert code == 0 and "live" in out

    code, out = _invoke(cli_settings, "archive", "sync")
    assert code == 0 and "archived" in out, out
    code, out = _invoke(cli_settings, "archive", "verify")
    assert code == 0 and "intact" in out, out
    code, out = _invoke(cli_settings, "replay", "verify", "facts", "--from-archive")
    assert code == 0, out


def test_dlq_list_and_redrive_once(cli_settings: Settings) -> None:
    kafka = cli_settings.kafka
    producer = Producer(kafka.client_config())
    for n in range(3):
        producer.produce(
            kafka.topics.dlq,
            key=f"run-{n}".encode(),
            value=b"\xc3\x01garbage",
            headers=[
                ("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"),
                ("dlq.error", b"DecodeError"),
                ("dlq.reason", b"unknown schema fingerprint"),
                ("dlq.projection", b"facts"),
                ("dlq.source.topic", kafka.topics.events.encode()),
                ("dlq.source.partition", b"0"),
                ("dlq.source.offset", str(n).encode()),
            ],
        )
    assert producer.flush(30) == 0

    code, out = _invoke(cli_settings, "dlq", "list")
    assert code == 0 and "DecodeError" in out and "3" in out, out
    code, out = _invoke(
        cli_settings, "dlq", "redrive", "--filter", "error=DecodeError", "--dry-run"
    )
    assert code == 0 and "matched 3, redriven 0" in out, out
    code, out = _invoke(cli_settings, "dlq", "redrive", "--filter", "error=DecodeError")
    assert code == 0 and "matched 3, redriven 3" in out and "sha256" in out, out
    code, out = _invoke(cli_settings, "dlq", "redrive")
    assert code == 0 and "redriven 0, already redriven 3" in out, out

    from replay.source import log_extents, read_kafka, replay_consumer

    consumer = replay_consumer(kafka, "check")
    try:
        extents = log_extents(consumer, kafka.topics.events)
        covered = {
            (kafka.topics.events, p): (e.low, e.high - 1) for p, e in extents.items() if e.high
        }
        records = [r for chunk in read_kafka(consumer, covered) for r in chunk]
    finally:
        consumer.close()
    assert len(records) == 3
    for record in records:
        names = {k for k, _ in record.headers}
        assert record.value == b"\xc3\x01garbage"
        assert "traceparent" in names and "redrive.id" in names
        assert not any(k.startswith("dlq.") for k in names)
