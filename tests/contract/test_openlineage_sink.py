"""``OpenLineageSink`` on the real openlineage-python file transport: the shared sink
contract, the agent-run mapping on a simulated workload, JSON-schema validation of
every emitted event, idempotent re-writes and the replay digest.

openlineage-python 1.54 does not ship the spec's ``OpenLineage.json``, so
``RUN_EVENT_SCHEMA`` below is the spec's ``RunEvent`` structure (required fields,
formats, the eventType enum, the ``_producer``/``_schemaURL`` of every facet);
our custom facets are validated against the schemas we ship in
``sinks/openlineage_facets/``.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from proofstream.workload import simulate
from schemas.errors import ConfigError
from sinks.base import LoggedEvent, LogPosition, Sink
from sinks.lineage import (
    LineageProjection,
    agent_run_id,
    clickhouse_dataset,
    kafka_dataset,
    lineage_digest,
)
from sinks.openlineage import (
    FACET_SCHEMA_DIR,
    OpenLineageSettings,
    OpenLineageSink,
    read_events,
)
from tests.contract import sink_contract
from tests.contract.sink_contract import SinkContract
from tests.contract.test_evidence_ledger import Clock, evidence_batch

_FACET = {
    "type": "object",
    "required": ["_producer", "_schemaURL"],
    "properties": {
        "_producer": {"type": "string", "format": "uri"},
        "_schemaURL": {"type": "string", "format": "uri"},
    },
}
_DATASET = {
    "type": "object",
    "required": ["namespace", "name"],
    "properties": {
        "namespace": {"type": "string", "minLength": 1},
        "name": {"type": "string", "minLength": 1},
        "facets": {"type": "object", "additionalProperties": _FACET},
    },
}
RUN_EVENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
    "properties": {
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string", "format": "uri"},
        "schemaURL": {"type": "string", "format": "uri"},
        "eventType": {
            "enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"],
        },
        "run": {
            "type": "object",
            "required": ["runId"],
            "properties": {
                "runId": {"type": "string", "format": "uuid"},
                "facets": {"type": "object", "additionalProperties": _FACET},
            },
        },
        "job": {
            "type": "object",
            "required": ["namespace", "name"],
            "properties": {
                "namespace": {"type": "string", "minLength": 1},
                "name": {"type": "string", "minLength": 1},
                "facets": {"type": "object", "additionalProperties": _FACET},
            },
        },
        "inputs": {"type": "array", "items": _DATASET},
        "outputs": {"type": "array", "items": _DATASET},
    },
}
_CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER


@functools.cache
def facet_validators() -> dict[str, jsonschema.Draft202012Validator]:
    """Facet key → validator of our shipped schema (OL's RunFacet base resolved
    to the ``_producer``/``_schemaURL`` structure above, offline)."""
    registry = Registry().with_resource(
        "https://openlineage.io/spec/2-0-2/OpenLineage.json",
        Resource.from_contents(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$defs": {"RunFacet": _FACET},
            }
        ),
    )
    found = {}
    for path in sorted(FACET_SCHEMA_DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        registry = registry.with_resource(doc["$id"], Resource.from_contents(doc))
        (key,) = doc["properties"]
        found[key] = doc
    return {
        key: jsonschema.Draft202012Validator(doc, registry=registry, format_checker=_CHECKER)
        for key, doc in found.items()
    }


def validate(event: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(RUN_EVENT_SCHEMA, format_checker=_CHECKER).validate(event)
    for key, facet in event["run"].get("facets", {}).items():
        if key in facet_validators():
            facet_validators()[key].validate({key: facet})
            name = Path(facet_validators()[key].schema["$id"]).stem
            assert facet["_schemaURL"].endswith(f"{name}.json#/$defs/{name}")


def open_sink(tmp_path: Path, name: str = "lineage") -> OpenLineageSink:
    return OpenLineageSink.open(
        OpenLineageSettings(), tmp_path, name=name, kafka_bootstrap="127.0.0.1:9092", clock=Clock()
    )


def emitted(sink: OpenLineageSink) -> list[dict[str, Any]]:
    assert sink.events_file is not None
    return list(read_events(sink.events_file))


@functools.cache
def workload_batch() -> tuple[LoggedEvent, ...]:
    codec = sink_contract.test_codec()
    out = []
    for offset, event in enumerate(simulate(runs=12).events):
        record = codec.decode_record(codec.encode(event))
        out.append(
            LoggedEvent(
                LogPosition("fractalops.agent-actions.v1", offset % 3, offset),
                event.event_type,
                record["event_id"],
                record,
            )
        )
    return tuple(out)


@pytest.fixture()
def sink(tmp_path: Path) -> Iterator[OpenLineageSink]:
    opened = open_sink(tmp_path)
    yield opened
    opened.close()


class TestOpenLineageSinkContract(SinkContract):
    @pytest.fixture(autouse=True)
    def _one_run_event_per_offset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # The contract's run.started events share 7 run ids, and a run has one START;
        # evidence.recorded events map one-to-one to RUNNING events instead.
        monkeypatch.setattr(sink_contract, "make_batch", evidence_batch)

    def make_sink(self, tmp_path: Path) -> Sink:
        return open_sink(tmp_path)

    def stored_ids(self, sink: Sink) -> set[str]:
        assert isinstance(sink, OpenLineageSink)
        return {
            e["run"]["facets"]["fractalops_source"]["eventId"]
            for e in emitted(sink)
            if "fractalops_source" in e["run"].get("facets", {})
        }


def test_agent_runs_become_openlineage_runs(sink: OpenLineageSink) -> None:
    batch = list(workload_batch())
    sink.write(batch)
    sink.flush()
    events = emitted(sink)
    for event in events:
        validate(event)
    runs = {e["event_id"]: e for e in (item.record for item in batch)}
    starts = [
        e for e in events if e["eventType"] == "START" and e["job"]["namespace"] != "proofstream"
    ]
    ends = [e for e in events if e["eventType"] in ("COMPLETE", "FAIL", "ABORT")]
    assert len(starts) == 12 and len(ends) == 12
    first = starts[0]
    source = runs[first["run"]["facets"]["fractalops_source"]["eventId"]]
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


def test_processor_checkpoint_is_running_never_complete(sink: OpenLineageSink) -> None:
    batch = list(workload_batch())
    sink.write(batch[:50])
    sink.flush()
    sink.write(batch[50:])
    sink.flush()
    own = [e for e in emitted(sink) if e["job"]["namespace"] == "proofstream"]
    assert [e["eventType"] for e in own] == ["START", "RUNNING", "RUNNING"]
    assert {e["job"]["name"] for e in own} == {"proofstream.lineage"}
    checkpoint = own[1]
    validate(checkpoint)
    assert checkpoint["job"]["facets"]["jobType"]["processingType"] == "STREAMING"
    assert [{"namespace": d["namespace"], "name": d["name"]} for d in checkpoint["inputs"]] == [
        {"namespace": "kafka://127.0.0.1:9092", "name": "fractalops.agent-actions.v1"}
    ]
    offsets = checkpoint["run"]["facets"]["proofstream_checkpoint"]["offsets"]
    assert offsets[0] == {
        "topic": "fractalops.agent-actions.v1",
        "partition": 0,
        "fromOffset": 0,
        "toOffset": 48,
    }


def test_rewriting_the_same_batch_emits_nothing_new(sink: OpenLineageSink) -> None:
    batch = list(workload_batch())
    sink.write(batch)
    sink.flush()
    before = emitted(sink)
    sink.write(batch)
    sink.write(batch[10:40])
    sink.flush()  # same offsets: the same checkpoint key, not re-emitted
    assert emitted(sink) == before


def test_state_survives_reopen_without_duplicates(tmp_path: Path) -> None:
    batch = list(workload_batch())
    first = open_sink(tmp_path)
    first.write(batch[:100])
    first.flush()
    first.close()
    second = open_sink(tmp_path)
    try:
        second.write(batch)  # a redelivery overlapping what was emitted
        second.flush()
        keys = [
            json.dumps({k: v for k, v in e.items() if k != "eventTime"}, sort_keys=True)
            for e in emitted(second)
        ]
        assert len(keys) == len(set(keys))
    finally:
        second.close()


def test_replay_digest_ignores_batching_and_checkpoints(tmp_path: Path) -> None:
    batch = list(workload_batch())
    live = open_sink(tmp_path / "live")
    for start in range(0, len(batch), 37):
        live.write(batch[start : start + 37])
        live.flush()
    replayed = open_sink(tmp_path / "replay")
    replayed.write(batch)
    replayed.flush()
    try:
        assert live.digest() == replayed.digest()
        assert emitted(live) != emitted(replayed)  # checkpoints differ, lineage does not
        shorter = lineage_digest(emitted(replayed)[:-5], exclude_namespace="proofstream")
        assert shorter != replayed.digest()
    finally:
        live.close()
        replayed.close()


def test_projection_is_pure_and_deterministic() -> None:
    batch = list(workload_batch())
    one = LineageProjection().project(batch)
    two = LineageProjection().project(batch)
    assert one == two
    assert uuid.UUID(one[0].run_id).version == 5


def test_dataset_naming() -> None:
    assert kafka_dataset("b1:9092,b2:9092", "t") == kafka_dataset("b1:9092", "t")
    assert kafka_dataset("b1:9092", "t").namespace == "kafka://b1:9092"
    table = clickhouse_dataset("ch.example.org", 8123, "proofstream", "evidence")
    assert (table.namespace, table.name) == (
        "clickhouse://ch.example.org:8123",
        "proofstream.evidence",
    )


def test_http_transport_when_url_is_set(tmp_path: Path) -> None:
    from openlineage.client.transport.http import HttpTransport

    sink = OpenLineageSink.open(OpenLineageSettings(url="http://127.0.0.1:5000"), tmp_path)
    try:
        assert isinstance(sink._transport, HttpTransport)
        assert sink.events_file is None
    finally:
        sink.close()
    with pytest.raises(ConfigError):
        OpenLineageSink.open(OpenLineageSettings(url="ftp://x"), tmp_path)
