"""The whole worker on the real broker: every plane, split or not.

- Events from a client that is not our producer go through the same seed rules:
  a violating event reaches the DLQ naming the rule it broke and becomes no fact,
  identity, aspect, evidence ref or lineage event.
- Two worker processes (the default split on a multi-core machine) build the same
  stores as one process does on the same log.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from processors.dlq import parse_dead_letter_headers
from producers import EventProducer
from producers.settings import KafkaSettings, TopicSettings
from proofstream.planes import plane
from proofstream.settings import Settings
from proofstream.worker_client import WorkerClient
from proofstream.worker_process import WorkerProcess
from proofstream.workload import simulate
from replay.plan import plan_rebuild
from schemas.codec import EventCodec
from schemas.records import to_record
from sinks.generations import LIVE
from tests import factories
from tests.conftest import TopicFactory
from tests.ports import free_port
from tests.waiting import wait_until

ENGINE_PLANES = ("facts", "archive", "evidence", "lineage", "identity", "catalog")
CODEC = EventCodec()


def _settings(settings: Settings, topics: TopicSettings, state: Path, split: str) -> Settings:
    kafka = KafkaSettings(bootstrap_servers=settings.kafka.bootstrap_servers, topics=topics)
    processors = settings.processors.model_copy(
        update={
            "web_port": free_port(),
            "split": split,
            "group_prefix": f"wp-{uuid.uuid4().hex[:8]}",
            "proof_window_s": 3600,
        }
    )
    return settings.model_copy(
        update={"state_dir": state, "kafka": kafka, "processors": processors}
    )


@pytest.fixture()
def topics(new_topic: TopicFactory) -> TopicSettings:
    return TopicSettings(events=new_topic(3), dlq=new_topic(1), proof_gaps=new_topic(1))


def _caught_up(settings: Settings, total: int) -> None:
    client = WorkerClient(settings)

    def done() -> bool:
        status = client.status()
        if not status:
            return False
        planes = status["projections"]
        if set(ENGINE_PLANES) - set(planes):
            return False
        return all(
            sum(int(m["offset"]) + 1 for m in planes[name]["watermark"]) >= total
            for name in ENGINE_PLANES
        )

    wait_until(done, timeout=300, interval=0.5, what="every plane caught up")


@pytest.fixture()
def run_worker() -> Iterator[Any]:
    started: list[WorkerProcess] = []

    def start(settings: Settings) -> WorkerProcess:
        worker = WorkerProcess(settings, dict(os.environ))
        worker.start(timeout_s=300)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


HOSTILE = {
    "producer.workload_id": "spiffe://10.0.0.1/ns/agents/sa/planner",
    "actor.id": "10.0.0.1/32",
    "subject.run_id": "tcp://[2001:db8::1]:8443",
    "producer.service": "172.16.4.2",
    "goal": "ship it with ghp_" + "a" * 36,
    "attributes": {"note": "github_pat_" + "B" * 30},
}


def _hostile_records() -> list[tuple[str, bytes]]:
    """Six valid-Avro ``run.started`` records, each breaking one seed rule, encoded
    the way any Avro client could (no model, no validators)."""
    out = []
    for n, (field, value) in enumerate(HOSTILE.items()):
        record = to_record(factories.run_started(run_id=f"xq-forbidden-{n}"))
        if "." in field:
            outer, inner = field.split(".")
            record[outer] = {**record[outer], inner: value}
        else:
            record[field] = value
        out.append((field, CODEC.encode_record(record)))
    return out


def _dlq(kafka: KafkaSettings, count: int) -> list[Any]:
    consumer = Consumer({**kafka.client_config(), "group.id": f"dlq-{uuid.uuid4().hex}"})
    consumer.assign([TopicPartition(kafka.topics.dlq, 0, 0)])
    letters: list[Any] = []
    try:
        wait_until(
            lambda: (
                letters.extend(m for m in consumer.consume(50, 0.5) if not m.error())
                or len(letters) >= count
            ),
            timeout=60,
            what=f"{count} dead letters",
        )
    finally:
        consumer.close()
    return letters


def test_a_hostile_client_cannot_get_past_the_seed_rules(
    settings: Settings, topics: TopicSettings, tmp_path: Path, run_worker: Any
) -> None:
    worker_settings = _settings(settings, topics, tmp_path / "state", "auto")
    good = list(simulate(runs=6, seed=31).events)
    with EventProducer(worker_settings.kafka, worker_settings.producer) as producer:
        producer.emit_many(good)
    raw = Producer({**worker_settings.kafka.client_config(), "acks": "all"})
    hostile = _hostile_records()
    for _, value in hostile:
        raw.produce(topics.events, key=b"hostile", value=value)
    raw.flush(30)
    worker = run_worker(worker_settings)
    _caught_up(worker_settings, len(good) + len(hostile))

    letters = _dlq(worker_settings.kafka, len(hostile))
    assert len(letters) == len(hostile)
    reasons = [parse_dead_letter_headers(m.headers()) for m in letters]
    assert {r["dlq.error"] for r in reasons} == {"InvalidEventError"}
    assert {r["dlq.projection"] for r in reasons} == {"*"}
    for (field, value), letter, reason in zip(hostile, letters, reasons, strict=True):
        assert letter.value() == value  # the original bytes
        assert field.split(".")[0] in reason["dlq.reason"], reason
    facts = WorkerClient(worker_settings).query(
        "SELECT count(), countIf(run_id LIKE 'xq-forbidden-%') FROM proof_facts FINAL"
    )
    assert facts["rows"] == [[len(good), 0]]
    worker.stop()
    # and nothing of them in any other plane: no identity, aspect or lineage event
    for name, dump in _dumps(worker_settings).items():
        assert "run-0000" in dump, name  # the good events are there
        assert "xq-forbidden-" not in dump and "ghp_" not in dump, name


def test_two_processes_build_the_same_stores_as_one(
    settings: Settings, topics: TopicSettings, tmp_path: Path, run_worker: Any
) -> None:
    events = list(simulate(runs=10, seed=41).events)
    split = _settings(settings, topics, tmp_path / "split", "auto")
    single = _settings(settings, topics, tmp_path / "single", "off")
    with EventProducer(split.kafka, split.producer) as producer:
        producer.emit_many(events)
    for each in (split, single):
        worker = run_worker(each)
        _caught_up(each, len(events))
        if each is split:
            status = WorkerClient(each).status() or {}
            assert [p["up"] for p in status["worker"]["peers"]] == [True]  # really two
        worker.stop()
    covered = plan_rebuild(split.kafka).covered
    for name in ("facts", "identity", "catalog", "evidence", "lineage"):
        digests = [_digest(name, each, covered) for each in (split, single)]
        assert digests[0] == digests[1], name


def _dumps(settings: Settings) -> dict[str, str]:
    """The identity, catalog and lineage stores as text, read from the stores."""
    from sinks.catalog.store import DataHubStore
    from sinks.identity.store import RdfStore
    from sinks.lineage.store import live_events_file

    out = {"lineage": live_events_file(settings.openlineage, settings.state_dir).read_text()}
    identity = plane("identity", settings, CODEC).open_store()
    try:
        assert isinstance(identity, RdfStore)
        out["identity"] = "\n".join(map(str, identity.triples()))
    finally:
        identity.close()
    catalog = plane("catalog", settings, CODEC).open_store()
    try:
        assert isinstance(catalog, DataHubStore)
        out["catalog"] = "\n".join(str(m.to_obj()) for m in catalog.lite.get_all_aspects())
    finally:
        catalog.close()
    return out


def _digest(name: str, settings: Settings, covered: Any) -> str:
    chosen = plane(name, settings, CODEC)
    store = chosen.open_store()
    try:
        assert chosen.generations is not None
        digest = chosen.generations(store).digest(LIVE, covered)
        assert digest.comparable, (name, digest.note)
        return digest.value
    finally:
        store.close()
