"""The live pipeline end to end: real broker, real worker process, real chDB.

Each test gets its own topics, state directory and API port, and runs the worker
as ``python -m proofstream run`` exactly as operators do.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from processors.dlq import parse_dead_letter_headers
from producers import EventProducer
from proofstream.settings import Settings
from proofstream.status import collect_status
from proofstream.worker_client import WorkerClient
from proofstream.worker_process import WorkerProcess
from proofstream.workload import simulate
from schemas.events import Event
from tests.conftest import TopicFactory
from tests.ports import free_port
from tests.waiting import wait_until


@pytest.fixture()
def pipeline_settings(settings: Settings, new_topic: TopicFactory, tmp_path: Path) -> Settings:
    kafka = new_topic.kafka(settings.kafka, partitions=3)
    topics = kafka.topics
    processors = settings.processors.model_copy(
        update={
            "web_port": free_port(),
            "batch_max": 500,
            "batch_within_s": 0.1,
            # the facts plane only: the other planes have their own tests, and the
            # demo test runs the full worker
            "projections": ("facts",),
            "proof_closure": False,
            "split": "off",
            "group_prefix": f"it-{topics.events}",
        }
    )
    return settings.model_copy(
        update={"state_dir": tmp_path / "state", "kafka": kafka, "processors": processors}
    )


@pytest.fixture()
def worker(pipeline_settings: Settings) -> Iterator[WorkerProcess]:
    process = WorkerProcess(pipeline_settings, dict(os.environ))
    process.start()
    yield process
    process.kill()


def _emit(settings: Settings, events: list[Event]) -> None:
    with EventProducer(settings.kafka, settings.producer) as producer:
        producer.emit_many(events)


def _lag(settings: Settings) -> int:
    report = collect_status(settings, ["facts"])
    return int(report["projections"]["facts"]["lag"])


def _caught_up(settings: Settings, timeout: float = 300.0) -> None:
    wait_until(lambda: _lag(settings) == 0, timeout=timeout, interval=0.3, what="lag 0")


def _counts(settings: Settings) -> tuple[int, int, int]:
    """(facts FINAL, distinct event ids, physical rows), through the worker."""
    answer = WorkerClient(settings).query(
        "SELECT (SELECT count() FROM proof_facts FINAL), "
        "(SELECT uniqExact(event_id) FROM proof_facts), (SELECT count() FROM proof_facts)"
    )
    final, distinct, physical = answer["rows"][0]
    return int(final), int(distinct), int(physical)


def test_exact_counts(pipeline_settings: Settings, worker: WorkerProcess) -> None:
    events = list(simulate(runs=30, seed=11).events)
    _emit(pipeline_settings, events)
    _caught_up(pipeline_settings)
    final, distinct, _ = _counts(pipeline_settings)
    assert final == distinct == len(events)


def _blocked(pid: int, thread: str) -> int:
    """The blocked-signal mask of one thread of ``pid`` (``/proc``)."""
    for line in Path(f"/proc/{pid}/task/{thread}/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no SigBlk for thread {thread} of {pid}")


def test_every_worker_thread_leaves_sigterm_to_the_signal_thread(
    pipeline_settings: Settings, worker: WorkerProcess
) -> None:
    """SIGTERM and SIGINT are blocked in every thread of the worker (librdkafka's, the
    lanes', chDB's, numpy's ...) but one: the signal thread, whose ``sigwait`` takes
    them whatever the main thread is doing (the kernel shows a thread in ``sigwait``
    with the awaited signals unblocked). The worker still stops on SIGTERM, code 0."""
    pid = worker.pid
    assert pid is not None
    wanted = (1 << (signal.SIGTERM - 1)) | (1 << (signal.SIGINT - 1))
    threads = [t.name for t in Path(f"/proc/{pid}/task").iterdir()]
    assert len(threads) > 10  # librdkafka, lanes, faust, chDB: every one checked
    open_to_them = [t for t in threads if _blocked(pid, t) & wanted != wanted]
    assert len(open_to_them) == 1, {t: hex(_blocked(pid, t)) for t in threads}
    assert open_to_them != [str(pid)]  # not the main thread
    assert worker.stop(timeout_s=60) == 0


def test_kill_9_mid_stream_loses_and_doubles_nothing(
    pipeline_settings: Settings, worker: WorkerProcess
) -> None:
    events = list(simulate(runs=400, seed=3).events)
    _emit(pipeline_settings, events)
    total = len(events)

    def partly_applied() -> bool:
        final, _, _ = _counts(pipeline_settings)
        return 0 < final < total

    wait_until(partly_applied, timeout=300, interval=0.05, what="a partly applied log")
    worker.kill()  # SIGKILL: no shutdown, uncommitted batches are read again
    worker.start()
    _caught_up(pipeline_settings)
    final, distinct, physical = _counts(pipeline_settings)
    assert final == distinct == total
    assert physical >= total  # redelivered rows may exist physically; FINAL collapses them


def test_poison_goes_to_dlq_while_the_partition_flows(
    pipeline_settings: Settings, worker: WorkerProcess
) -> None:
    good = list(simulate(runs=2, seed=5).events)
    kafka = pipeline_settings.kafka
    producer = Producer({**kafka.client_config(), "acks": "all"})
    poison = b"\xc3\x01\x00\x00\x00\x00\x00\x00\x00\x00definitely not avro"
    # same key as the good events' run: same partition, poison in the middle
    key = b"run-0000"
    _emit(pipeline_settings, good[:5])
    producer.produce(kafka.topics.events, key=key, value=poison, headers=[("origin", b"test")])
    producer.flush(30)
    _emit(pipeline_settings, good[5:])
    _caught_up(pipeline_settings)

    final, _, _ = _counts(pipeline_settings)
    assert final == len(good)
    consumer = Consumer({**kafka.client_config(), "group.id": "dlq-check"})
    consumer.assign([TopicPartition(kafka.topics.dlq, 0, 0)])
    letters: list[Any] = []
    wait_until(
        lambda: letters.extend(m for m in consumer.consume(10, 0.5) if not m.error()) or letters,
        timeout=30,
        what="a DLQ record",
    )
    consumer.close()
    assert len(letters) == 1
    letter = letters[0]
    assert letter.value() == poison and letter.key() == key  # original bytes
    headers = parse_dead_letter_headers(letter.headers())
    assert headers["dlq.error"] == "DecodeError"
    assert headers["dlq.projection"] == "*"  # no plane may apply it
    assert headers["dlq.source.topic"] == kafka.topics.events
    assert ("origin", b"test") in letter.headers()


def test_duplicate_delivery_changes_nothing(pipeline_settings: Settings) -> None:
    events = list(simulate(runs=20, seed=9).events)
    _emit(pipeline_settings, events)
    first = WorkerProcess(pipeline_settings, dict(os.environ))
    first.start()
    try:
        _caught_up(pipeline_settings)
        before = _counts(pipeline_settings)
    finally:
        first.stop()
    # forget the store's watermark, as a crash between the inserts and the watermark
    # would: the next worker is handed every record again
    from sinks.facts.store import ClickHouseStore

    store = ClickHouseStore.open(pipeline_settings.clickhouse, pipeline_settings.state_dir)
    try:
        store.client.command("TRUNCATE TABLE watermarks")
    finally:
        store.close()
    assert _lag(pipeline_settings) == len(events)
    second = WorkerProcess(pipeline_settings, dict(os.environ))
    second.start()
    try:
        _caught_up(pipeline_settings)
        after = _counts(pipeline_settings)
    finally:
        second.stop()
    assert before[0] == after[0] == len(events)
    assert before[1] == after[1] == len(events)
    # Physical rows may double until a merge: redelivered batches are cut where the
    # consumer's fetches happen to end, so their dedup tokens differ; ReplacingMergeTree
    # on event_id collapses them (FINAL above). Same-cut redelivery writing no part at
    # all is checked by the contract test
    # test_dedup_token_drops_the_exact_same_block_before_it_is_written.


def test_query_answers_the_same_through_worker_and_direct(pipeline_settings: Settings) -> None:
    _emit(pipeline_settings, list(simulate(runs=10, seed=2).events))
    sql = (
        "SELECT event_type, count() AS n, min(occurred_at) AS first FROM proof_facts FINAL "
        "GROUP BY event_type ORDER BY event_type"
    )
    process = WorkerProcess(pipeline_settings, dict(os.environ))
    process.start()
    try:
        _caught_up(pipeline_settings)
        via_worker = WorkerClient(pipeline_settings).query(sql)
    finally:
        process.stop()
    assert not WorkerClient(pipeline_settings).available()
    from processors.worker import jsonable
    from sinks.facts.query import FactsReader

    reader = FactsReader.open(pipeline_settings.clickhouse, pipeline_settings.state_dir)
    try:
        result = reader.query(sql)
    finally:
        reader.close()
    direct = {"columns": list(result.columns), "rows": jsonable([list(r) for r in result.rows])}
    assert via_worker == direct
    assert len(direct["rows"]) > 5


def test_a_fresh_store_meets_an_old_group_and_is_filled_from_the_start(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    events = list(simulate(runs=8, seed=21).events)
    _emit(pipeline_settings, events)
    first = WorkerProcess(pipeline_settings, dict(os.environ))
    first.start()
    try:
        _caught_up(pipeline_settings)
    finally:
        first.stop()
    # same topics and consumer groups, new (empty) state directory
    fresh = pipeline_settings.model_copy(update={"state_dir": tmp_path / "fresh"})
    second = WorkerProcess(fresh, dict(os.environ))
    second.start()
    try:
        _caught_up(fresh)
        final, distinct, _ = _counts(fresh)
    finally:
        second.stop()
    assert final == distinct == len(events)
