"""A plane that fails for good stops its worker with a non-zero exit, instead of
stalling every plane behind it; the restart applies what the failure abandoned.

The worker is the real host (``tests.failing_worker``: faust, the engine, Kafka and
chDB) with a facts store whose flush is refused for good.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from processors.engine import Engine
from processors.offsets import committed_offsets
from producers import EventProducer
from proofstream.settings import Settings
from proofstream.workload import simulate
from schemas.codec import EventCodec
from sinks.facts import make_plane
from sinks.facts.settings import ClickHouseSettings
from sinks.facts.store import ClickHouseStore
from tests.conftest import TopicFactory
from tests.failing_worker import REFUSAL
from tests.pipeline_process import ROOT, facts_group, worker_env
from tests.ports import free_port
from tests.waiting import wait_until


def test_a_failed_plane_exits_non_zero_and_the_restart_applies_its_batch(
    settings: Settings, new_topic: TopicFactory, tmp_path: Path
) -> None:
    kafka = new_topic.kafka(settings.kafka, partitions=2)
    topics = kafka.topics
    prefix = f"failure-{topics.events}"
    events = list(simulate(runs=4, seed=7).events)
    with EventProducer(kafka, settings.producer) as producer:
        producer.emit_many(events)
    env = worker_env(
        os.environ,
        state_dir=tmp_path,
        kafka=kafka,
        group_prefix=prefix,
        web_port=free_port(),
        extra={"PROOFSTREAM_PROCESSORS__STOP_TIMEOUT_S": "5"},
    )
    (tmp_path / "no-secrets").mkdir()
    worker = subprocess.run(
        [sys.executable, "-m", "tests.failing_worker"],
        check=False,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert worker.returncode == os.EX_SOFTWARE, worker.stderr[-3000:]
    assert f"lane facts: RuntimeError: {REFUSAL}" in worker.stderr
    group = facts_group(prefix)

    def committed() -> int:
        offsets = committed_offsets(kafka, group, topics.events, [0, 1])
        return sum(max(o, 0) for o in offsets.values())

    assert committed() == 0  # the batch never became durable: nothing committed

    # the restart, with the store as it is: what the failed lane abandoned is applied once
    processors = settings.processors.model_copy(
        update={"group_prefix": prefix, "batch_within_s": 0.1}
    )
    codec = EventCodec()
    engine = Engine([make_plane(ClickHouseSettings(), tmp_path, codec)], codec, kafka, processors)
    engine.start()
    try:
        wait_until(lambda: committed() == len(events), timeout=120, what="commits")
        assert engine.failure is None
    finally:
        engine.stop()
    store = ClickHouseStore.open(ClickHouseSettings(), tmp_path)
    try:
        count = store.client.query("SELECT count() FROM proof_facts FINAL").result_rows[0][0]
    finally:
        store.close()
    assert count == len(events)
