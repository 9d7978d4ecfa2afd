"""``LineageProjection`` is pure: the same batch always gives the same lineage, it
never mutates its argument and keeps nothing between calls (the run → job state
lives in the store). The mapping per event type, the run ids, the dataset names,
the checkpoint events and the replay digest."""

from __future__ import annotations

import copy
import subprocess
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from proofstream.workload import simulate
from schemas.envelope import Subject
from schemas.events import (
    Event,
    LineageDeclared,
    LineageRef,
    LineageRefKind,
    ProofClosed,
    RunFinished,
    RunStarted,
)
from sinks.base import Batch, Input, LogPosition, LogRecord, Projection
from sinks.decode import Needs, decode
from sinks.lineage.events import checkpoint_event, lineage_digest, processor_start
from sinks.lineage.naming import (
    DatasetRef,
    agent_run_id,
    clickhouse_dataset,
    dataset_of,
    kafka_dataset,
    processor_run_id,
)
from sinks.lineage.projection import READS, LineageProjection
from tests import factories
from tests.contract import store_contract

PROJ = LineageProjection()


def batch_of(events: Sequence[Event], partitions: int = 1, start: int = 0) -> Batch:
    """``events`` through the codec and the one decode step, as the runtime does."""
    codec = store_contract.test_codec()
    records = [
        LogRecord(LogPosition("t", i % partitions, start + i), None, codec.encode(e))
        for i, e in enumerate(events)
    ]
    decoded = decode(codec, records, Needs.of([PROJ]))
    assert not decoded.rejected
    return decoded.batch_for(PROJ)


def workload(runs: int = 12) -> Batch:
    return batch_of(simulate(runs=runs).events, partitions=3)


def started(**changes: Any) -> RunStarted:
    return factories.run_started().model_copy(update=changes)


def test_is_a_projection_of_the_types_it_maps() -> None:
    assert isinstance(PROJ, Projection)
    assert (PROJ.name, PROJ.input) == ("lineage", Input.EVENTS)
    assert PROJ.reads == READS
    assert "tool.invoked" not in READS and "run.started" in READS
    batch = workload()
    assert batch.events and {e.event_type for e in batch.events} <= READS


def test_pure_deterministic_and_never_mutates_its_batch() -> None:
    batch = workload()
    records = copy.deepcopy([dict(e.record) for e in batch.events])
    one = PROJ.project(batch)
    two = LineageProjection().project(batch)
    assert one == two
    assert [dict(e.record) for e in batch.events] == records
    assert uuid.UUID(one.events[0].run_id).version == 5


def test_no_state_between_calls() -> None:
    # a run's later events name their own job candidate: which job the run keeps is
    # the store's state (first seen), so projecting a batch never depends on another
    whole = workload()
    later = Batch(upto=whole.upto, events=whole.events[40:])
    fresh = LineageProjection().project(later)
    PROJ.project(Batch(upto=whole.upto, events=whole.events[:40]))
    assert PROJ.project(later) == fresh


def test_run_events_and_their_facets() -> None:
    parent = started(event_id=uuid.uuid4(), parent_run_id="run-0")
    end = RunFinished(
        producer=factories.producer(),
        actor=factories.agent(),
        subject=factories.subject(),
        outcome="cancelled",
        duration_ms=12,
    )
    writes = PROJ.project(batch_of([parent, end]))
    start, finish = writes.events
    run = agent_run_id("fractalops", "run-1", 1)
    assert (start.key, start.event_type, start.run_id) == (f"{run}:START", "START", run)
    assert (finish.key, finish.event_type) == (f"{run}:END", "ABORT")
    assert start.parent_run_id == agent_run_id("fractalops", "run-0", 1)
    assert (start.job_namespace, start.job_name) == (
        "fractalops://fractalops",
        "agentsquad.fractalops/proofstream",
    )
    assert start.run_facets["fractalops_agent"] == {
        "actorKind": "agent",
        "actorId": "agent-planner",
        "role": "planner",
        "teamType": "agentsquad",
    }
    assert start.run_facets["fractalops_source"]["offset"] == 0
    assert finish.run_facets["fractalops_source"]["eventType"] == "run.finished"
    assert datetime.fromisoformat(start.event_time) == parent.occurred_at


def test_outcomes_map_to_terminal_states() -> None:
    expected = {
        "success": "COMPLETE",
        "failure": "FAIL",
        "error": "FAIL",
        "timeout": "FAIL",
        "cancelled": "ABORT",
    }
    for outcome, state in expected.items():
        end = RunFinished(
            producer=factories.producer(),
            actor=factories.agent(),
            subject=factories.subject(),
            outcome=outcome,
            duration_ms=1,
        )
        (event,) = PROJ.project(batch_of([end])).events
        assert event.event_type == state


def test_running_events_proof_delivery_and_datasets() -> None:
    closed = ProofClosed(
        producer=factories.producer(),
        actor=factories.agent(),
        subject=factories.subject(),
        proves="o/r#1",
        evidence=["ab" * 32, "cd" * 32],
    )
    declared = LineageDeclared(
        producer=factories.producer(),
        actor=factories.agent(),
        subject=factories.subject(project="p"),
        inputs=[
            LineageRef(kind=LineageRefKind.DATASET, name="kafka://b1:9092/topic-a"),
            LineageRef(kind=LineageRefKind.API, name="GET /v1/things"),
        ],
        outputs=[LineageRef(kind=LineageRefKind.DATASET, name="warehouse.facts")],
    )
    proof, lineage = PROJ.project(batch_of([closed, declared])).events
    assert proof.key == f"{proof.run_id}:{closed.event_id}" and proof.event_type == "RUNNING"
    assert proof.run_facets["fractalops_proof"] == {
        "proves": "o/r#1",
        "closed": True,
        "evidence": [{"sha256": "ab" * 32}, {"sha256": "cd" * 32}],
    }
    assert lineage.inputs == (DatasetRef("kafka://b1:9092", "topic-a"),)  # the API ref is not
    assert lineage.outputs == (DatasetRef("fractalops://p", "warehouse.facts"),)
    deliveries = [
        e.run_facets["fractalops_delivery"]
        for e in PROJ.project(workload()).events
        if "fractalops_delivery" in e.run_facets
    ]
    assert {d["action"] for d in deliveries} == {"opened", "reviewed", "merged"}
    assert all(d.get("commitSha") for d in deliveries if d["refKind"] == "pull_request")


def test_events_without_a_run_are_skipped_and_first_offsets_kept() -> None:
    no_run = started(subject=Subject(project="p"))
    writes = PROJ.project(batch_of([no_run, factories.run_started()], partitions=1, start=7))
    assert [e.event_type for e in writes.events] == ["START"]
    assert writes.first == {("t", 0): 7}  # the lowest offset read, whatever it mapped to
    whole = workload()
    firsts = PROJ.project(whole).first
    for (topic, partition), offset in firsts.items():
        assert offset == min(
            e.position.offset
            for e in whole.events
            if (e.position.topic, e.position.partition) == (topic, partition)
        )


def test_dataset_naming_and_run_ids() -> None:
    assert kafka_dataset("b1:9092,b2:9092", "t") == kafka_dataset("b1:9092", "t")
    assert kafka_dataset("b1:9092", "t").namespace == "kafka://b1:9092"
    table = clickhouse_dataset("ch.example.org", 8123, "proofstream", "evidence")
    assert (table.namespace, table.name) == (
        "clickhouse://ch.example.org:8123",
        "proofstream.evidence",
    )
    assert dataset_of("s3://bucket/a/b", "p") == DatasetRef("s3://bucket", "a/b")
    assert dataset_of("plain", "p") == DatasetRef("fractalops://p", "plain")
    # fixed namespace: these ids are in every emitted event, and so in replay digests
    assert agent_run_id("p", "run-1", 1) == agent_run_id("p", "run-1", 1)
    assert agent_run_id("p", "run-1", 2) != agent_run_id("p", "run-1", 1)
    assert uuid.UUID(processor_run_id("proofstream.lineage")).version == 5


def test_checkpoint_events_and_digest() -> None:
    at = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1_000_000)
    inputs = [kafka_dataset("b:9092", "t")]
    one = checkpoint_event("ns", "job", {("t", 0): (0, 9)}, inputs=inputs, event_time_us=at)
    assert one == checkpoint_event("ns", "job", {("t", 0): (0, 9)}, inputs=inputs, event_time_us=at)
    assert (
        one.key
        != checkpoint_event("ns", "job", {("t", 0): (10, 19)}, inputs=inputs, event_time_us=at).key
    )
    assert one.run_facets["proofstream_checkpoint"]["offsets"] == [
        {"topic": "t", "partition": 0, "fromOffset": 0, "toOffset": 9}
    ]
    start = processor_start("ns", "job", inputs, at)
    assert start.run_id == one.run_id and start.key.endswith(":START")
    events = [
        {"eventTime": "a", "job": {"namespace": "x"}, "run": {"runId": "1"}},
        {"eventTime": "b", "job": {"namespace": "ns"}, "run": {"runId": "2"}},
    ]
    later = [{**events[0], "eventTime": "c"}]
    assert lineage_digest(events, exclude_namespace="ns") == lineage_digest(
        later, exclude_namespace="ns"
    )  # times and the excluded namespace do not count
    assert lineage_digest(events, exclude_namespace=None) != lineage_digest(
        later, exclude_namespace=None
    )


def test_the_package_is_light() -> None:
    # proofstream.settings imports the settings model on every install: it must not
    # pull openlineage-python (nor does listing the plane)
    code = (
        "import sys, proofstream.settings, sinks.lineage\n"
        "from pathlib import Path\n"
        "sinks.lineage.make_plane(sinks.lineage.OpenLineageSettings(), Path('.'), 'b:9092')\n"
        "assert 'openlineage' not in sys.modules, 'openlineage imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
