"""What the lineage contract tests share: the spec's ``RunEvent`` structure and our
shipped facet schemas to validate against, a clock, and the workload as the
runtime sees it (encoded by the codec, through the one decode step).

openlineage-python 1.54 does not ship the spec's ``OpenLineage.json``, so
``RUN_EVENT_SCHEMA`` below is the spec's ``RunEvent`` structure (required fields,
formats, the eventType enum, the ``_producer``/``_schemaURL`` of every facet);
our custom facets are validated against the schemas we ship in
``sinks/lineage/openlineage_facets/``.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

from proofstream.workload import simulate
from schemas.envelope import TeamType
from schemas.events import Event, EvidenceKind, EvidenceRecorded
from sinks.base import Batch, LogPosition, LogRecord
from sinks.decode import Needs, decode
from sinks.lineage import OpenLineageSettings
from sinks.lineage.facets import FACET_SCHEMA_DIR
from sinks.lineage.projection import LineageProjection
from sinks.lineage.store import OpenLineageStore
from sinks.lineage.transports import read_events
from tests import factories
from tests.contract import store_contract
from tests.contract.store_contract import event_id

TOPIC = "fractalops.agent-actions.v1"
PROJECTION = LineageProjection()

_FACET = {
    "type": "object",
    "required": ["_producer", "_schemaURL"],
    "properties": {
        "_producer": {"type": "string", "format": "uri"},
        "_schemaURL": {"type": "string", "format": "uri"},
    },
}
_NAMED = {  # a job, or a dataset: namespace + name + facets
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
        "job": _NAMED,
        "inputs": {"type": "array", "items": _NAMED},
        "outputs": {"type": "array", "items": _NAMED},
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


def clock() -> Callable[[], int]:
    """A deterministic microsecond clock for the checkpoint events: one second a tick."""
    return itertools.count(1_790_000_000_000_000, 1_000_000).__next__


def open_store(tmp_path: Path, settings: OpenLineageSettings | None = None) -> OpenLineageStore:
    return OpenLineageStore.open(
        settings or OpenLineageSettings(), tmp_path, kafka_bootstrap="127.0.0.1:9092", clock=clock()
    )


def emitted(store: OpenLineageStore) -> list[dict[str, Any]]:
    assert store.events_file is not None
    return list(read_events(store.events_file))


def evidence(partition: int, offset: int, run: str | None = None) -> Event:
    """A real ``evidence.recorded`` event: one RUNNING lineage event each."""
    return EvidenceRecorded(
        event_id=event_id(partition, offset),
        occurred_at=datetime(2026, 11, 1, 12, 0, offset % 60, tzinfo=UTC),
        producer=factories.producer("tester"),
        actor=factories.agent("tester", team=TeamType.AGENTSQUAD),
        subject=factories.subject(run_id=run or f"run-{offset % 7}", project="p"),
        sha256=hashlib.sha256(f"{partition}/{offset}".encode()).hexdigest(),
        media_type="application/json",
        size_bytes=offset,
        kind=EvidenceKind.TEST_REPORT,
        proves=f"o/r#{offset}",
    )


def decoded(records: Sequence[LogRecord]) -> Batch:
    """The projection's part of ``records``, through the one decode step."""
    result = decode(store_contract.test_codec(), records, Needs.of([PROJECTION]))
    assert not result.rejected
    return result.batch_for(PROJECTION)


@functools.cache
def workload_records() -> tuple[LogRecord, ...]:
    codec = store_contract.test_codec()
    return tuple(
        LogRecord(LogPosition(TOPIC, offset % 3, offset), None, codec.encode(event))
        for offset, event in enumerate(simulate(runs=12).events)
    )


def write(store: OpenLineageStore, records: Sequence[LogRecord]) -> None:
    batch = decoded(records)
    store.write(PROJECTION.project(batch), batch.upto)


def source_ids(events: list[dict[str, Any]]) -> set[str]:
    return {
        e["run"]["facets"]["fractalops_source"]["eventId"]
        for e in events
        if "fractalops_source" in e["run"].get("facets", {})
    }
