"""Proof closure on the real broker: a gap for a PR merged without browser proof,
closed when the proof arrives later, and the state survives a restart. The route
plane runs in the engine, the table in its faust app, as in the worker."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from processors.engine import Engine
from processors.proof_closure import (
    ProofClosureRuntime,
    awaits_window,
    by_pr_topic,
    next_actions,
    route_plane,
)
from producers import EventProducer
from proofstream.settings import Settings
from schemas.codec import EventCodec
from schemas.errors import ConfigError
from schemas.events import EvidenceKind, EvidenceRecorded, PullRequestMerged
from tests import factories
from tests.conftest import TopicFactory

GITHUB = {"github_app_installation_id": 7, "delivery_identity": "fractalops-agents[bot]"}


def merged(pr: str) -> PullRequestMerged:
    return PullRequestMerged(
        producer=factories.producer("committer"),
        actor=factories.agent("committer"),
        subject=factories.subject(run_id=f"run-{pr}"),
        pr_ref=pr,
        merge_sha="a" * 40,
        merged_at=datetime(2026, 11, 1, 10, tzinfo=UTC),
        **GITHUB,
    )


def proof(pr: str, run: str) -> EvidenceRecorded:
    return EvidenceRecorded(
        producer=factories.producer("tester"),
        actor=factories.agent("tester"),
        subject=factories.subject(run_id=run),  # another run: another partition
        sha256=hashlib.sha256(pr.encode()).hexdigest(),
        media_type="image/png",
        size_bytes=1000,
        kind=EvidenceKind.BROWSER_PROOF,
        proves=pr,
    )


def test_next_actions_is_a_pure_window_rule() -> None:
    base = {"merged_at": 1_000_000_000, "evidence": None}
    assert next_actions(base, now_s=1000 + 59, window_s=60) == []
    assert next_actions(base, now_s=1000 + 60, window_s=60) == ["detect"]
    assert next_actions({**base, "detected": True}, 5000, 60) == []
    assert next_actions({**base, "detected": True, "evidence": "e"}, 5000, 60) == ["close"]
    assert next_actions({**base, "evidence": "e"}, 5000, 60) == []  # proven in time
    assert next_actions({"evidence": "e"}, 5000, 60) == []  # proof before the merge is seen


def test_only_a_merged_pr_without_proof_or_gap_waits_for_the_timer() -> None:
    base = {"merged_at": 1_000_000_000, "evidence": None}
    assert awaits_window(base)
    assert not awaits_window({"merged_at": None, "evidence": None})  # merge not seen yet
    assert not awaits_window({**base, "detected": True})  # only evidence can close it
    assert not awaits_window({**base, "evidence": "e"})  # proven: final
    # the rule the timer skips the others by: no time passing makes them act
    for state in ({**base, "detected": True}, {**base, "evidence": "e"}, {"evidence": "e"}):
        assert next_actions(state, 1000, 60) == next_actions(state, 10**9, 60)


def test_gap_detected_then_closed_across_a_restart(
    settings: Settings, new_topic: TopicFactory, tmp_path: Path
) -> None:
    kafka = new_topic.kafka(settings.kafka, partitions=3)
    topics = kafka.topics
    processors = settings.processors.model_copy(
        update={"group_prefix": f"pc-{topics.events}", "proof_window_s": 0, "proof_tick_s": 0.2}
    )
    codec = EventCodec()
    emit = EventProducer(kafka, settings.producer)
    emit.emit_many([merged("o/r#1"), proof("o/r#2", "run-x"), merged("o/r#2")])

    consumer = Consumer({**kafka.client_config(), "group.id": "gap-reader"})
    consumer.assign([TopicPartition(topics.proof_gaps, 0, 0)])
    seen: list[tuple[str, str]] = []

    def read_gaps() -> None:
        for msg in consumer.consume(100, 0.2):
            if msg.error() is None:
                event = codec.decode(msg.value())
                seen.append((event.event_type, getattr(event, "pr_ref", "")))

    async def run_until(runtime: ProofClosureRuntime, want: set[tuple[str, str]]) -> None:
        engine = Engine([route_plane(kafka, processors)], codec, kafka, processors)
        engine.start()
        await runtime.app.start()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 90
            while not want <= set(seen) and loop.time() < deadline:
                await asyncio.sleep(0.2)  # the event loop must run for faust's agents
                read_gaps()
        finally:
            await runtime.app.stop()
            engine.stop()

    first = ProofClosureRuntime(codec, kafka, processors, datadir=tmp_path / "a")
    asyncio.run(run_until(first, {("proof.gap.detected", "o/r#1")}))
    assert ("proof.gap.detected", "o/r#1") in seen
    assert all(pr != "o/r#2" for _, pr in seen)  # proven: no gap

    # restart with empty local state: the table comes back from its changelog, so
    # the late proof closes the gap that the first instance detected
    emit.emit(proof("o/r#1", "run-late"))
    emit.close()
    second = ProofClosureRuntime(codec, kafka, processors, datadir=tmp_path / "b")
    asyncio.run(run_until(second, {("proof.gap.closed", "o/r#1")}))
    consumer.close()
    assert ("proof.gap.closed", "o/r#1") in seen
    assert seen.count(("proof.gap.detected", "o/r#1")) == 1  # not re-detected after restart


def test_the_by_pr_topic_is_replicated_as_configured(
    settings: Settings, new_topic: TopicFactory
) -> None:
    """The single node cannot hold two replicas: a topic_replication of 2 must reach
    the by-PR topic's creation and be refused as a configuration error (it was
    created with one replica whatever the setting said)."""
    kafka = new_topic.kafka(settings.kafka, partitions=1)
    topics = kafka.topics
    processors = settings.processors.model_copy(
        update={"group_prefix": f"replicas-{topics.events}", "topic_replication": 2}
    )
    plane = route_plane(kafka, processors)
    with pytest.raises(ConfigError, match=r"\.by-pr \(replication 2\)"):
        plane.open_store()
    admin = AdminClient(kafka.client_config())
    assert by_pr_topic(processors) not in admin.list_topics(timeout=10).topics
