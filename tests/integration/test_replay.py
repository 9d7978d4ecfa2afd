"""Replay on the real broker and real chDB: live == fold(log), bug-fix swap, archive.

The live plane is applied by the real runtime path (the engine's ``Checkpoint``
with a ``ClickHouseStore``) fed from a confluent consumer, including a duplicate
delivery of an overlapping range (the kill -9 case); then a rebuild from the log
must produce the same digest.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import clickhouse_connect
import pytest
from confluent_kafka import TopicPartition

from processors.checkpoint import Checkpoint
from processors.dlq import DeadLetter
from producers.producer import EventProducer
from producers.settings import KafkaSettings
from proofstream.settings import Settings
from proofstream.workload import simulate
from replay.plan import StartFrom, plan_rebuild
from replay.rebuild import rebuild
from replay.source import read_kafka, replay_consumer
from schemas.codec import EventCodec
from sinks.archive.projection import ArchiveProjection
from sinks.archive.reader import read_manifest, verify_archive
from sinks.archive.store import ArchiveStore
from sinks.base import Batch, LogRecord, high_offsets
from sinks.decode import Needs, decode
from sinks.facts import views
from sinks.facts.generations import ClickHouseGenerations
from sinks.facts.projection import FactsProjection
from sinks.facts.settings import ClickHouseSettings
from sinks.facts.store import ClickHouseStore
from sinks.generations import GenerationStatus
from tests.conftest import TopicFactory

pytest.importorskip("chdb")

CODEC = EventCodec()


class _NoDLQ:
    def publish(self, letters: Sequence[DeadLetter]) -> None:
        assert not letters, letters


class _NoCommit:
    def commit(self, upto: Mapping[tuple[str, int], int]) -> None:
        return None


def _kafka(settings: Settings, topic: str) -> KafkaSettings:
    topics = settings.kafka.topics.model_copy(update={"events": topic})
    return settings.kafka.model_copy(update={"topics": topics})


def _emit(kafka: KafkaSettings, runs: int = 12) -> int:
    events = list(simulate(runs=runs).events)
    with EventProducer(kafka) as producer:
        producer.emit_many(events)
    return len(events)


def _records(kafka: KafkaSettings) -> list[LogRecord]:
    consumer = replay_consumer(kafka, "test")
    try:
        plan = plan_rebuild(kafka)
        return [r for chunk in read_kafka(consumer, plan.covered) for r in chunk]
    finally:
        consumer.close()


def _apply_live(store: ClickHouseStore, records: Sequence[LogRecord], batch: int = 40) -> None:
    """The engine's checkpoint, batch by batch (commit is a no-op: no group here)."""
    projection = FactsProjection(CODEC)
    checkpoint = Checkpoint(projection, store, _NoDLQ(), _NoCommit())
    for start in range(0, len(records), batch):
        checkpoint.run(decode(CODEC, records[start : start + batch], Needs.of([projection])))


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[ClickHouseStore]:
    store = ClickHouseStore.open(ClickHouseSettings(), tmp_path, name="facts")
    yield store
    store.close()


def _generations(store: ClickHouseStore, version: int = 1) -> ClickHouseGenerations:
    return ClickHouseGenerations(store, CODEC.catalog, version)


def test_rebuilt_digest_equals_live_after_duplicate_delivery(
    settings: Settings, new_topic: TopicFactory, live: ClickHouseStore
) -> None:
    kafka = _kafka(settings, new_topic(partitions=3))
    count = _emit(kafka)
    records = _records(kafka)
    assert len(records) == count
    half = len(records) // 2
    _apply_live(live, records[:half])
    _apply_live(live, records[half // 2 : half + 10], batch=17)  # kill -9: overlap again
    _apply_live(live, records[half:])

    target = _generations(live)
    plan = plan_rebuild(kafka)
    result = rebuild(target, plan, kafka=kafka, projection=FactsProjection(CODEC))
    assert result.events == count
    assert result.equal, result.diffs
    assert not result.swapped
    gens = {g.number: g for g in target.generations()}
    assert gens[result.generation].status is GenerationStatus.BUILT
    assert gens[result.generation].lineage["job"]["name"] == "proofstream.replay.facts"
    assert gens[0].status is GenerationStatus.LIVE


def _fixed_views(monkeypatch: pytest.MonkeyPatch) -> None:
    """Version 2 of the facts views: a 'bug fix' that fills workload_id differently
    (the last path segment of the SPIFFE id)."""
    envelope = views._envelope

    def fixed(event_type: str, version: int) -> dict[str, str]:
        out = envelope(event_type, version)
        if version == 2:
            out["workload_id"] = (
                "arrayElement(splitByChar('/', tupleElement(producer, 'workload_id')), -1)"
            )
        return out

    monkeypatch.setattr(views, "_envelope", fixed)


def test_bug_fix_rebuild_and_swap_while_analysts_query(
    settings: Settings,
    new_topic: TopicFactory,
    live: ClickHouseStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kafka = _kafka(settings, new_topic(partitions=3))
    count = _emit(kafka)
    _apply_live(live, _records(kafka))
    _fixed_views(monkeypatch)

    # an analyst on their own client to the same chDB directory, querying in a loop
    analyst = clickhouse_connect.get_client(dsn=f"chdb://{(tmp_path / 'clickhouse').resolve()}")
    stop = threading.Event()
    failures: list[str] = []
    answers: list[int] = []

    def query_loop() -> None:
        while not stop.is_set():
            try:
                rows = analyst.query("SELECT count() FROM proofstream.v_runs").result_rows
                answers.append(int(rows[0][0]))
            except Exception as exc:
                failures.append(repr(exc))

    thread = threading.Thread(target=query_loop)
    thread.start()
    try:
        target = _generations(live, version=2)
        fixed = FactsProjection(CODEC, version=2)
        result = rebuild(target, plan_rebuild(kafka), kafka=kafka, projection=fixed, swap=True)
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert len(answers) > 0
    assert result.swapped and result.events == count
    assert not result.equal
    facts_diff = {d.table: d for d in result.diffs}["proof_facts"]
    assert facts_diff.changed == count and facts_diff.added == facts_diff.removed == 0
    assert all(d.equal for d in result.diffs if d.table != "proof_facts")

    shapes = live.client.query("SELECT DISTINCT workload_id FROM proof_facts FINAL").result_rows
    assert all("/" not in str(w) for (w,) in shapes)
    gens = {g.number: g.status for g in target.generations()}
    assert gens == {0: GenerationStatus.OLD, result.generation: GenerationStatus.LIVE}
    assert live.watermark() == {k: last for k, (_, last) in result.plan.covered.items()}

    # a second verify of the new live generation against the same log is equal
    again = rebuild(target, plan_rebuild(kafka), kafka=kafka, projection=fixed)
    assert again.equal
    target.drop(0)
    target.drop(again.generation)
    assert {g.number: g.status for g in target.generations()}[0] is GenerationStatus.DROPPED


def _archive(archive: ArchiveStore, records: Sequence[LogRecord]) -> None:
    batch = Batch(raw=records, upto=high_offsets(r.position for r in records))
    archive.write(ArchiveProjection().project(batch), batch.upto)


def test_rebuild_from_archive_after_log_start_moved(
    settings: Settings,
    new_topic: TopicFactory,
    live: ClickHouseStore,
    tmp_path: Path,
    admin: object,
) -> None:
    kafka = _kafka(settings, new_topic(partitions=2))
    _emit(kafka, runs=8)
    records = _records(kafka)
    _apply_live(live, records)

    archive = ArchiveStore(tmp_path / "archive", seal_records=25)
    _archive(archive, records[: len(records) // 2])
    archive.flush()
    _archive(archive, records)  # overlapping re-delivery: a no-op for archived offsets
    archive.seal()
    assert verify_archive(tmp_path / "archive") == []
    assert len(read_manifest(tmp_path / "archive")) >= 4

    # a few more events that only Kafka has: the rebuild reads them as the tail
    _emit(kafka, runs=1)
    tail = [r for r in _records(kafka) if r.position not in {x.position for x in records}]
    assert tail
    _apply_live(live, tail)

    # retention: move the log start past the archived records
    marks = archive.watermark()
    futures = admin.delete_records(  # type: ignore[attr-defined]
        [TopicPartition(t, p, o + 1) for (t, p), o in marks.items()]
    )
    for future in futures.values():
        future.result(timeout=30)
    kafka_only = plan_rebuild(kafka, StartFrom.BEGINNING)
    assert all(kafka_only.covered.get(k, (o + 1, o))[0] == o + 1 for k, o in marks.items())

    target = _generations(live)
    plan = plan_rebuild(kafka, StartFrom.ARCHIVE, archive_root=tmp_path / "archive")
    assert plan.from_archive and plan.from_kafka
    result = rebuild(
        target,
        plan,
        kafka=kafka,
        projection=FactsProjection(CODEC),
        archive_root=tmp_path / "archive",
    )
    assert result.events == len(records) + len(tail)
    assert result.equal, result.diffs


def test_tampered_segment_is_detected(
    settings: Settings, new_topic: TopicFactory, tmp_path: Path
) -> None:
    kafka = _kafka(settings, new_topic(partitions=1))
    _emit(kafka, runs=3)
    archive = ArchiveStore(tmp_path / "archive", seal_records=10)
    _archive(archive, _records(kafka))
    archive.seal()
    segments = read_manifest(tmp_path / "archive")
    assert verify_archive(tmp_path / "archive") == []
    victim = segments[1]
    path = tmp_path / "archive" / "sha256" / victim.sha256[:2] / victim.sha256[2:]
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[-40] ^= 0xFF
    path.write_bytes(bytes(data))
    problems = verify_archive(tmp_path / "archive")
    assert problems and problems[0].segment == victim.label
