"""``proofstream emit`` and ``tail`` against the real broker, through Typer's CliRunner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
from confluent_kafka import Producer
from typer.testing import CliRunner

from producers import EventProducer
from proofstream.cli import app
from proofstream.settings import Settings
from schemas.jsonio import event_to_json
from tests.integration.test_producer import event_id_of, started
from tests.kafka_reading import consume_all


def test_emit_file_rejects_bad_lines_sends_good_ones_and_tail_prints_them(
    settings: Settings, topic: str, tmp_path: Path
) -> None:
    good = [started(f"run-{i}") for i in range(4)]
    bad_workload = event_to_json(started())
    bad_workload["producer"]["workload_id"] = "10.0.0.7"  # a raw IP is not an identity
    lines = [
        orjson.dumps(event_to_json(good[0])).decode(),
        "{not json",
        orjson.dumps(event_to_json(good[1])).decode(),
        orjson.dumps({**event_to_json(good[2]), "event_type": "run.exploded"}).decode(),
        "",
        orjson.dumps(bad_workload).decode(),
        orjson.dumps(event_to_json(good[2])).decode(),
        orjson.dumps(event_to_json(good[3])).decode(),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    runner = CliRunner()

    result = runner.invoke(app, ["emit", "--file", str(path), "--topic", topic], obj=settings)
    assert result.exit_code == 1, result.output
    assert "line 2: <json>:" in result.stderr
    assert "line 4: event_type: unknown event type 'run.exploded'" in result.stderr
    assert "line 6: producer.workload_id:" in result.stderr
    assert "sent 4, rejected 3" in result.stdout
    landed = consume_all(settings, topic, 4)
    assert sorted(event_id_of(m) for m in landed) == sorted(str(e.event_id) for e in good)

    result = runner.invoke(
        app,
        ["tail", "--json", "--from-beginning", "--max", "4", "--timeout", "20", "--topic", topic],
        obj=settings,
    )
    assert result.exit_code == 0, result.output
    printed = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert sorted(p["event_id"] for p in printed) == sorted(str(e.event_id) for e in good)
    assert all(p["event_type"] == "run.started" for p in printed)

    result = runner.invoke(
        app,
        ["tail", "--from-beginning", "--max", "1", "--timeout", "20", "--topic", topic],
        obj=settings,
    )
    assert result.exit_code == 0, result.output
    assert "run.started" in result.stdout and "goal=fix issue #12" in result.stdout


def test_emit_all_good_exits_zero(settings: Settings, topic: str, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(orjson.dumps(event_to_json(started())).decode() + "\n")
    result = CliRunner().invoke(app, ["emit", "--file", str(path), "--topic", topic], obj=settings)
    assert result.exit_code == 0, result.output
    assert "sent 1, rejected 0" in result.stdout


def test_tail_reports_undecodable_records_and_goes_on(
    settings: Settings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=1)  # garbage first, then the event: order is known
    raw = Producer(settings.kafka.client_config())
    raw.produce(topic, value=b"garbage", partition=0)
    assert raw.flush(30) == 0
    path_event = started()
    with EventProducer(settings.kafka, settings.producer, topic=topic) as producer:
        producer.emit(path_event)
    result = CliRunner().invoke(
        app,
        ["tail", "--json", "--from-beginning", "--max", "1", "--timeout", "20", "--topic", topic],
        obj=settings,
    )
    assert result.exit_code == 0, result.output
    assert "<undecodable 0/0: not Avro single-object encoding" in result.stderr
    assert orjson.loads(result.stdout)["event_id"] == str(path_event.event_id)
