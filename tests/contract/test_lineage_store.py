"""``OpenLineageStore`` on the real openlineage-python file transport: the shared
store contract (the live store and a replay generation's store), the agent-run
mapping on a simulated workload, JSON-schema validation of every emitted event,
idempotent re-writes, the run → job state kept across batches and restarts, the
committed file length, the replay digest and the generations."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from schemas.envelope import TeamType
from schemas.errors import ConfigError
from schemas.events import Event, RunFinished, RunStarted
from sinks.base import Projection, Store
from sinks.generations import GenerationStatus
from sinks.lineage import OpenLineageSettings, make_plane
from sinks.lineage.events import lineage_digest
from sinks.lineage.facets import FACET_SCHEMA_BASE, FACET_SCHEMA_DIR, RUN_FACETS
from sinks.lineage.generations import LineageGenerations
from sinks.lineage.naming import agent_run_id
from sinks.lineage.projection import LineageProjection
from sinks.lineage.store import OpenLineageStore, live_events_file
from sinks.lineage.transports import read_events
from tests import factories
from tests.contract.lineage_support import (
    PROJECTION,
    TOPIC,
    decoded,
    emitted,
    evidence,
    open_store,
    source_ids,
    validate,
    workload_records,
    write,
)
from tests.contract.store_contract import StoreContract, records_of

# --- the shared store contract ---------------------------------------------------------


class _LineageContract(StoreContract):
    # The contract's run.started events share 7 run ids, and a run has one START;
    # evidence.recorded events map one-to-one to RUNNING events instead.
    def make_event(self, partition: int, offset: int) -> Event:
        return evidence(partition, offset)

    def make_projection(self) -> Projection[Any]:
        return LineageProjection()

    def events_path(self, tmp_path: Path) -> Path:
        raise NotImplementedError

    def make_store(self, tmp_path: Path) -> Store[Any]:
        self.path = self.events_path(tmp_path)
        return self.open(tmp_path)

    def open(self, tmp_path: Path) -> Store[Any]:
        raise NotImplementedError

    def stored_keys(self, store: Store[Any]) -> set[str]:
        return source_ids(list(read_events(self.path)))


class TestOpenLineageStoreContract(_LineageContract):
    """The live store."""

    def events_path(self, tmp_path: Path) -> Path:
        return OpenLineageSettings().resolve_file(tmp_path)

    def open(self, tmp_path: Path) -> Store[Any]:
        return open_store(tmp_path)


class TestLineageGenerationStoreContract(_LineageContract):
    """A replay generation's store: ``open_shadow`` on a building generation."""

    def events_path(self, tmp_path: Path) -> Path:
        return tmp_path / "openlineage" / "generations" / "g1" / "events.ndjson"

    def open(self, tmp_path: Path) -> Store[Any]:
        live = open_store(tmp_path)
        try:
            generations = LineageGenerations(
                live, OpenLineageSettings(), tmp_path, kafka_bootstrap="127.0.0.1:9092"
            )
            building = [
                g.number for g in generations.generations() if g.status is GenerationStatus.BUILDING
            ]
            number = building[0] if building else generations.allocate(PROJECTION.version)
            return generations.open_shadow(number)
        finally:
            live.close()


def test_every_facet_class_names_a_shipped_schema() -> None:
    # the schemas are package data of sinks.lineage: they must ship with the wheel
    shipped = {
        p.name for p in resources.files("sinks.lineage").joinpath("openlineage_facets").iterdir()
    }
    classes = set(RUN_FACETS.values())
    assert len(classes) == 6
    assert shipped == {f"{c.__name__}.json" for c in classes}
    for cls in classes:
        url = cls._get_schema()
        assert url == f"{FACET_SCHEMA_BASE}{cls.__name__}.json#/$defs/{cls.__name__}"
        doc = json.loads((FACET_SCHEMA_DIR / f"{cls.__name__}.json").read_text())
        assert doc["$id"] == url.split("#")[0] and cls.__name__ in doc["$defs"]


# --- the agent-run mapping on a simulated workload -------------------------------------


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[OpenLineageStore]:
    opened = open_store(tmp_path)
    yield opened
    opened.close()


def test_agent_runs_become_openlineage_runs(store: OpenLineageStore) -> None:
    records = workload_records()
    write(store, records)
    store.flush()
    events = emitted(store)
    for event in events:
        validate(event)
    runs = {e.event_id: e for e in decoded(records).events}
    starts = [
        e for e in events if e["eventType"] == "START" and e["job"]["namespace"] != "proofstream"
    ]
    ends = [e for e in events if e["eventType"] in ("COMPLETE", "FAIL", "ABORT")]
    assert len(starts) == 12 and len(ends) == 12
    first = starts[0]
    source = runs[first["run"]["facets"]["fractalops_source"]["eventId"]].record
    subject = source["subject"]
    assert first["run"]["runId"] == agent_run_id(
        subject["project"], subject["run_id"], subject["attempt"]
    )
    assert {k: first["job"][k] for k in ("namespace", "name")} == {
        "namespace": f"fractalops://{subject['project']}",
        "name": f"{source['actor']['team_type']}.{subject['repository']}",
    }
    assert first["run"]["facets"]["fractalops_agent"]["role"] == "planner"
    assert first["run"]["facets"]["fractalops_squad"]["generation"] == 1
    by_run: dict[str, set[str]] = {}
    for event in events:
        by_run.setdefault(event["run"]["runId"], set()).add(event["job"]["name"])
    assert all(len(names) == 1 for names in by_run.values())  # one job per run
    proofs = [e for e in events if "fractalops_proof" in e["run"].get("facets", {})]
    assert proofs and all(e["eventType"] == "RUNNING" for e in proofs)
    assert any("fractalops_delivery" in e["run"].get("facets", {}) for e in events)


def test_processor_checkpoint_is_running_never_complete(store: OpenLineageStore) -> None:
    records = workload_records()
    write(store, records[:50])
    store.flush()
    write(store, records[50:])
    store.flush()
    own = [e for e in emitted(store) if e["job"]["namespace"] == "proofstream"]
    assert [e["eventType"] for e in own] == ["START", "RUNNING", "RUNNING"]
    assert {e["job"]["name"] for e in own} == {"proofstream.lineage"}
    checkpoint = own[1]
    validate(checkpoint)
    assert checkpoint["job"]["facets"]["jobType"]["processingType"] == "STREAMING"
    assert [{"namespace": d["namespace"], "name": d["name"]} for d in checkpoint["inputs"]] == [
        {"namespace": "kafka://127.0.0.1:9092", "name": TOPIC}
    ]
    offsets = checkpoint["run"]["facets"]["proofstream_checkpoint"]["offsets"]
    assert offsets[0] == {"topic": TOPIC, "partition": 0, "fromOffset": 0, "toOffset": 48}
    # the next checkpoint starts right after what the previous one made durable
    later = own[2]["run"]["facets"]["proofstream_checkpoint"]["offsets"]
    assert later[0]["fromOffset"] == 49 and later[0]["toOffset"] == max(
        r.position.offset for r in records if r.position.partition == 0
    )


def test_rewriting_the_same_batch_emits_nothing_new(store: OpenLineageStore) -> None:
    records = workload_records()
    write(store, records)
    store.flush()
    before = emitted(store)
    write(store, records)
    write(store, records[10:40])
    store.flush()  # nothing advanced: no new checkpoint either
    assert emitted(store) == before


def test_state_survives_reopen_without_duplicates(tmp_path: Path) -> None:
    records = workload_records()
    first = open_store(tmp_path)
    write(first, records[:100])
    first.flush()
    first.close()
    second = open_store(tmp_path)
    try:
        write(second, records)  # a redelivery overlapping what was emitted
        second.flush()
        keys = [
            json.dumps({k: v for k, v in e.items() if k != "eventTime"}, sort_keys=True)
            for e in emitted(second)
        ]
        assert len(keys) == len(set(keys))
        assert source_ids(emitted(second)) == {e.event_id for e in decoded(records).events}
    finally:
        second.close()


def _run_event(cls: type[Event], offset: int, team: TeamType, repository: str) -> Event:
    extra: dict[str, Any] = (
        {"goal": "g"} if cls is RunStarted else {"outcome": "success", "duration_ms": 5}
    )
    return cls(
        event_id=uuid.UUID(int=offset + 1),
        occurred_at=datetime(2026, 11, 1, 12, 0, offset, tzinfo=UTC),
        producer=factories.producer(),
        actor=factories.agent(team=team),
        subject=factories.subject(run_id="run-j", project="p").model_copy(
            update={"repository": repository}
        ),
        **extra,
    )


def test_a_run_keeps_its_first_job_across_batches_and_restarts(tmp_path: Path) -> None:
    # the job a run was first seen with is state of the store, not of the projection
    started = records_of([_run_event(RunStarted, 0, TeamType.AGENTSQUAD, "o/first")])
    evidence_on_run = records_of([evidence(0, 1, run="run-j")], start=1)
    finished = records_of([_run_event(RunFinished, 2, TeamType.RESEARCH, "o/other")], start=2)
    live = open_store(tmp_path)
    write(live, started)
    write(live, evidence_on_run)  # same checkpoint: the job is pending, not committed
    live.flush()
    live.close()
    reopened = open_store(tmp_path)
    try:
        write(reopened, finished)  # after a restart: the job comes from state.db
        reopened.flush()
        jobs = {
            (e["eventType"], e["job"]["name"])
            for e in emitted(reopened)
            if e["job"]["namespace"] == "fractalops://p"
        }
    finally:
        reopened.close()
    assert jobs == {
        ("START", "agentsquad.o/first"),
        ("RUNNING", "agentsquad.o/first"),  # evidence's own candidate: agentsquad.fractalops/…
        ("COMPLETE", "agentsquad.o/first"),  # its own candidate was research.o/other
    }


def test_uncommitted_lines_are_cut_when_the_store_reopens(tmp_path: Path) -> None:
    records = workload_records()
    first = open_store(tmp_path)
    write(first, records[:60])
    first.flush()
    path = first.events_file
    first.close()
    assert path is not None
    committed = path.read_bytes()
    with path.open("ab") as handle:  # a flush that wrote its lines, then crashed
        handle.write(b'{"eventType": "RUNNING"}\n{"eventType": "RUN')
    assert len(list(read_events(path))) == len(committed.splitlines()) + 1  # torn tail skipped
    second = open_store(tmp_path)
    try:
        assert path.read_bytes() == committed
        write(second, records)
        second.flush()
        assert source_ids(emitted(second)) == {e.event_id for e in decoded(records).events}
    finally:
        second.close()


def test_close_without_flush_drops_the_staged_events(tmp_path: Path) -> None:
    records = workload_records()
    first = open_store(tmp_path)
    write(first, records[:60])
    first.close()  # no flush: nothing was committed, so nothing may reach the file
    second = open_store(tmp_path)
    try:
        assert emitted(second) == []
        write(second, records[:60])  # the redelivery emits them, once
        second.flush()
        assert source_ids(emitted(second)) == {e.event_id for e in decoded(records[:60]).events}
    finally:
        second.close()


def test_replay_digest_ignores_batching_and_checkpoints(tmp_path: Path) -> None:
    records = workload_records()
    live = open_store(tmp_path / "live")
    for start in range(0, len(records), 37):
        write(live, records[start : start + 37])
        live.flush()
    replayed = open_store(tmp_path / "replay")
    write(replayed, records)
    replayed.flush()
    try:
        one = lineage_digest(emitted(live), exclude_namespace="proofstream")
        two = lineage_digest(emitted(replayed), exclude_namespace="proofstream")
        assert one == two
        assert emitted(live) != emitted(replayed)  # checkpoints differ, lineage does not
        shorter = lineage_digest(emitted(replayed)[:-5], exclude_namespace="proofstream")
        assert shorter != two
    finally:
        live.close()
        replayed.close()


def test_generation_digest_and_swap(tmp_path: Path) -> None:
    records = workload_records()
    live = open_store(tmp_path)
    for start in range(0, len(records), 50):
        write(live, records[start : start + 50])
        live.flush()
    settings = OpenLineageSettings()
    generations = LineageGenerations(live, settings, tmp_path, kafka_bootstrap="127.0.0.1:9092")
    assert live_events_file(settings, tmp_path) == settings.resolve_file(tmp_path)
    number = generations.allocate(PROJECTION.version)
    shadow = generations.open_shadow(number)
    batch = decoded(records)
    shadow.write(PROJECTION.project(batch), batch.upto)
    shadow.flush()
    covered = {key: (0, last) for key, last in batch.upto.items()}
    shadow_digest = generations.digest(number, covered)
    assert shadow_digest.value == generations.digest("live", covered).value
    assert shadow_digest.rows["events"] == len(
        [e for e in emitted(live) if e["job"]["namespace"] != "proofstream"]
    )
    assert all(d.equal for d in generations.diff(number, covered))
    shadow.close()
    generations.finish(number, covered, shadow_digest, {})
    generations.swap(number)
    live.close()
    swapped = open_store(tmp_path)
    try:
        assert (
            swapped.events_file == tmp_path.resolve() / "openlineage/generations/g1/events.ndjson"
        )
        assert swapped.watermark() == batch.upto
    finally:
        swapped.close()


def test_the_plane_and_its_http_transport(tmp_path: Path) -> None:
    from openlineage.client.transport.http import HttpTransport

    plane = make_plane(OpenLineageSettings(), tmp_path, "127.0.0.1:9092")
    assert plane.name == plane.projection.name == "lineage"
    assert plane.rebuildable
    opened = plane.open_store()
    try:
        assert isinstance(opened, OpenLineageStore)
        assert plane.generations is not None
        assert isinstance(plane.generations(opened), LineageGenerations)
    finally:
        opened.close()
    http = make_plane(OpenLineageSettings(url="http://127.0.0.1:5000"), tmp_path, "b:9092")
    assert not http.rebuildable  # an HTTP backend cannot be read back or swapped
    store = http.open_store()
    try:
        assert isinstance(store, OpenLineageStore)
        assert isinstance(store._transport, HttpTransport)
        assert store.events_file is None
    finally:
        store.close()
    with pytest.raises(ConfigError):
        OpenLineageStore.open(OpenLineageSettings(url="ftp://x"), tmp_path)
