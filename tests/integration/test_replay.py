"""Replay on the real broker and real chDB: live == fold(log), bug-fix swap, archive.

The live projection is applied by the real runtime path (``Checkpointer`` with a
``ClickHouseSink``) fed from a confluent consumer, including a duplicate
delivery of an overlapping range (the kill -9 case); then a rebuild from the log
must produce the same digest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import clickhouse_connect
import pytest
from confluent_kafka import TopicPartition

from processors.checkpoint import Checkpointer, DeadLetter, RawRecord
from producers.producer import EventProducer
from producers.settings import KafkaSettings
from proofstream.settings import Settings
from proofstream.workload import simulate
from replay.archive import ArchiveSink, read_manifest, verify_archive
from replay.rebuild import StartFrom, plan_rebuild, rebuild
from replay.source import read_kafka, replay_consumer
from schemas.codec import EventCodec
from sinks.base import Batch, LogPosition
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink
from sinks.clickhouse_generations import ClickHouseGenerations
from sinks.facts import FactsProjection, TableRows
from sinks.generations import GenerationStatus
from tests.conftest import TopicFactory

pytest.importorskip("chdb")


class _NoDLQ:
    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        assert not letters, letters


def _kafka(settings: Settings, topic: str) -> KafkaSettings:
    topics = settings.kafka.topics.model_copy(update={"events": topic})
    return settings.kafka.model_copy(update={"topics": topics})


def _emit(kafka: KafkaSettings, runs: int = 12) -> int:
    events = list(simulate(runs=runs).events)
    with EventProducer(kafka) as producer:
        producer.emit_many(events)
    return len(events)


def _raw_records(kafka: KafkaSettings) -> list[RawRecord]:
    consumer = replay_consumer(kafka, "test")
    try:
        plan = plan_rebuild(kafka)
        return [
            RawRecord(LogPosition(t, p, o), k, v, h, ts)
            for chunk in read_kafka(consumer, plan.covered)
            for t, p, o, k, v, h, ts in chunk
        ]
    finally:
        consumer.close()


def _apply_live(sink: ClickHouseSink, records: Sequence[RawRecord], batch: int = 40) -> None:
    """The real checkpoint, batch by batch (commit is a no-op: no group here)."""
    with ThreadPoolExecutor(1) as executor:
        checkpointer = Checkpointer(sink, EventCodec(), _NoDLQ(), executor)

        async def commit() -> None:
            return None

        async def run() -> None:
            for start in range(0, len(records), batch):
                await checkpointer.run(records[start : start + batch], commit)

        asyncio.run(run())


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[ClickHouseSink]:
    sink = ClickHouseSink.open(ClickHouseSettings(), tmp_path, name="facts")
    yield sink
    sink.close()


def test_rebuilt_digest_equals_live_after_duplicate_delivery(
    settings: Settings, new_topic: TopicFactory, live: ClickHouseSink
) -> None:
    kafka = _kafka(settings, new_topic(partitions=3))
    count = _emit(kafka)
    records = _raw_records(kafka)
    assert len(records) == count
    half = len(records) // 2
    _apply_live(live, records[:half])
    _apply_live(live, records[half // 2 : half + 10], batch=17)  # kill -9: overlap again
    _apply_live(live, records[half:])

    target = ClickHouseGenerations(live)
    plan = plan_rebuild(kafka)
    result = rebuild(target, plan, kafka=kafka, projection_version=1)
    assert result.events == count
    assert result.equal, result.diffs
    assert not result.swapped
    gens = {g.number: g for g in target.generations()}
    assert gens[result.generation].status is GenerationStatus.BUILT
    assert gens[result.generation].lineage["job"]["name"] == "proofstream.replay.facts"
    assert gens[0].status is GenerationStatus.LIVE


def _fixed_projection() -> FactsProjection:
    """Version 2 of the facts projection: a 'bug fix' that fills workload_id differently."""

    @dataclasses.dataclass(frozen=True, slots=True)
    class FixedFacts(FactsProjection):
        def project(self, batch: Batch) -> dict[str, TableRows]:
            out = FactsProjection.project(self, batch)
            facts = out["proof_facts"]
            column = facts.columns.index("workload_id")
            data = list(facts.data)
            data[column] = [w.rsplit("/", 1)[-1] for w in data[column]]
            out["proof_facts"] = TableRows(facts.table, facts.columns, tuple(data))
            return out

    return FixedFacts(version=2)


def test_bug_fix_rebuild_and_swap_while_analysts_query(
    settings: Settings, new_topic: TopicFactory, live: ClickHouseSink, tmp_path: Path
) -> None:
    kafka = _kafka(settings, new_topic(partitions=3))
    count = _emit(kafka)
    _apply_live(live, _raw_records(kafka))

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
        target = ClickHouseGenerations(live, _fixed_projection())
        result = rebuild(target, plan_rebuild(kafka), kafka=kafka, projection_version=2, swap=True)
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
    again = rebuild(target, plan_rebuild(kafka), kafka=kafka, projection_version=2)
    assert again.equal
    target.drop(0)
    target.drop(again.generation)
    assert {g.number: g.status for g in target.generations()}[0] is GenerationStatus.DROPPED


def test_rebuild_from_archive_after_log_start_moved(
    settings: Settings, new_topic: TopicFactory, live: ClickHouseSink, tmp_path: Path, admin: object
) -> None:
    kafka = _kafka(settings, new_topic(partitions=2))
    _emit(kafka, runs=8)
    records = _raw_records(kafka)
    _apply_live(live, records)

    archive = ArchiveSink(tmp_path / "archive", seal_records=25)
    archive.write_raw(records[: len(records) // 2])
    archive.flush()
    archive.write_raw(records)  # overlapping re-delivery: a no-op for archived offsets
    archive.flush(seal_all=True)
    assert verify_archive(tmp_path / "archive") == []
    assert len(read_manifest(tmp_path / "archive")) >= 4

    # a few more events that only Kafka has: the rebuild reads them as the tail
    _emit(kafka, runs=1)
    tail = [r for r in _raw_records(kafka) if r.position not in {x.position for x in records}]
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

    target = ClickHouseGenerations(live)
    plan = plan_rebuild(kafka, StartFrom.ARCHIVE, archive_root=tmp_path / "archive")
    assert plan.from_archive and plan.from_kafka
    result = rebuild(
        target, plan, kafka=kafka, projection_version=1, archive_root=tmp_path / "archive"
    )
    assert result.events == len(records) + len(tail)
    assert result.equal, result.diffs


def test_tampered_segment_is_detected(
    settings: Settings, new_topic: TopicFactory, tmp_path: Path
) -> None:
    kafka = _kafka(settings, new_topic(partitions=1))
    _emit(kafka, runs=3)
    archive = ArchiveSink(tmp_path / "archive", seal_records=10)
    archive.write_raw(_raw_records(kafka))
    archive.flush(seal_all=True)
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
