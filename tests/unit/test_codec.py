"""EventCodec: single-object encoding, round trips, evolution, caps, JSON helpers."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fastavro
import pytest

from schemas import (
    MAGIC,
    Actor,
    ActorKind,
    DecodeError,
    EventCodec,
    EvidenceKind,
    EvidenceRecorded,
    InvalidEventError,
    LineageDeclared,
    LineageRef,
    LineageRefKind,
    Outcome,
    Producer,
    PullRequestMerged,
    RunStarted,
    SchemaError,
    Subject,
    TeamType,
    ToolInvoked,
    Trace,
    avro_fingerprint,
    event_from_json,
    event_to_json,
    load_catalog,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "schemas"
CODEC = EventCodec()

PRODUCER = Producer(
    service="planner", version="1.4.0", workload_id="spiffe://fractalops/ns/agents/sa/planner"
)
AGENT = Actor(kind=ActorKind.AGENT, id="agent-7", role="planner", team_type=TeamType.AGENTSQUAD)
SUBJECT = Subject(project="fractalops", repository="fractalops/proofstream", run_id="run-42")


def _tool(**over: Any) -> ToolInvoked:
    fields: dict[str, Any] = {
        "producer": PRODUCER,
        "actor": AGENT,
        "subject": SUBJECT,
        "mcp_server": "github",
        "tool": "create_pull_request",
        "input_digest": "a" * 64,
        "output_digest": "b" * 64,
        "duration_ms": 812,
        "outcome": Outcome.SUCCESS,
        "trace": Trace(traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        "attributes": {"k": "v"},
    }
    fields.update(over)
    return ToolInvoked(**fields)


def test_fingerprint_matches_the_avro_spec_vector() -> None:
    # Avro spec: CRC-64-AVRO of "int" is 0x7275D51A3F395C8F, sent little-endian.
    assert avro_fingerprint({"type": "int"}) == (0x7275D51A3F395C8F).to_bytes(8, "little")  # type: ignore[arg-type]


def test_encoding_is_single_object_with_the_current_fingerprint() -> None:
    raw = CODEC.encode(_tool())
    assert raw[:2] == MAGIC == b"\xc3\x01"
    assert raw[2:10] == CODEC.fingerprint("tool.invoked")
    current = CODEC.catalog.current("tool.invoked")
    assert current.version == 2
    body = fastavro.schemaless_reader(io.BytesIO(raw[10:]), current.parsed, None)
    assert body["tool"] == "create_pull_request"
    assert body["event_type"] == "tool.invoked"


def test_model_round_trip_is_equal() -> None:
    event = _tool(causation_id=uuid.uuid4(), occurred_at=datetime(2025, 1, 2, 3, 4, 5, 678901, UTC))
    assert CODEC.decode(CODEC.encode(event)) == event


def test_non_utc_timestamps_survive_as_the_same_instant() -> None:
    at = datetime(2025, 6, 1, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=2)))
    decoded = CODEC.decode(CODEC.encode(_tool(occurred_at=at)))
    assert decoded.occurred_at == at
    assert decoded.occurred_at.utcoffset() == timedelta(0)


def test_decode_record_is_raw_and_matches_the_model() -> None:
    event = _tool()
    record = CODEC.decode_record(CODEC.encode(event))
    assert record["event_id"] == str(event.event_id)
    assert isinstance(record["occurred_at"], int)
    assert record["actor"] == {
        "kind": "agent",
        "id": "agent-7",
        "role": "planner",
        "team_type": "agentsquad",
    }
    assert record["retries"] == 0


@pytest.mark.parametrize(
    "event",
    [
        RunStarted(producer=PRODUCER, actor=AGENT, subject=SUBJECT, goal="ship #12"),
        EvidenceRecorded(
            producer=PRODUCER,
            actor=AGENT,
            subject=SUBJECT,
            sha256="c" * 64,
            media_type="image/png",
            size_bytes=12345,
            kind=EvidenceKind.BROWSER_PROOF,
            proves="fractalops/proofstream#12",
        ),
        LineageDeclared(
            producer=PRODUCER,
            actor=AGENT,
            subject=SUBJECT,
            inputs=[LineageRef(kind=LineageRefKind.DATASET, name="warehouse.orders")],
        ),
        PullRequestMerged(
            producer=PRODUCER,
            actor=AGENT,
            subject=SUBJECT,
            pr_ref="fractalops/proofstream#12",
            merge_sha="abc123",
            merged_at=datetime(2025, 1, 1, tzinfo=UTC),
            github_app_installation_id=42,
            delivery_identity="fractalops-agents[bot]",
        ),
    ],
    ids=lambda e: e.event_type,
)
def test_every_shape_round_trips(event: Any) -> None:
    assert CODEC.decode(CODEC.encode(event)) == event
    assert CODEC.decode(CODEC.encode_record(CODEC.decode_record(CODEC.encode(event)))) == event


def test_compatible_v1_bytes_are_read_into_v2_with_defaults() -> None:
    raw = (FIXTURES / "tool_invoked_v1.bin").read_bytes()
    assert raw[2:10] == CODEC.catalog.versions("tool.invoked")[0].fingerprint
    expected = json.loads((FIXTURES / "tool_invoked_v1.expected.json").read_text())
    assert CODEC.decode_record(raw) == expected
    assert expected["retries"] == 0
    assert CODEC.decode(raw).retries == 0  # type: ignore[attr-defined]


def test_breaking_v1_bytes_are_upcast_to_v2() -> None:
    raw = (FIXTURES / "lineage_declared_v1.bin").read_bytes()
    assert raw[2:10] == CODEC.catalog.versions("lineage.declared")[0].fingerprint
    expected = json.loads((FIXTURES / "lineage_declared_v1.expected.json").read_text())
    assert CODEC.decode_record(raw) == expected
    event = CODEC.decode(raw)
    assert isinstance(event, LineageDeclared)
    assert event.inputs[0] == LineageRef(kind=LineageRefKind.DATASET, name="warehouse.orders")
    assert event.outputs[1] == LineageRef(kind=LineageRefKind.ROUTE, name="/dashboards/orders")


def test_upcaster_failure_is_a_decode_error_with_raw() -> None:
    v1 = CODEC.catalog.versions("lineage.declared")[0]
    record = CODEC.decode_record((FIXTURES / "tool_invoked_v1.bin").read_bytes())
    record.update(event_type="lineage.declared", inputs=["not-a-ref"], outputs=[])
    for key in ("mcp_server", "tool", "input_digest", "output_digest", "duration_ms"):
        record.pop(key)
    buf = io.BytesIO()
    buf.write(MAGIC + v1.fingerprint)
    fastavro.schemaless_writer(buf, v1.parsed_raw, record)
    with pytest.raises(DecodeError) as info:
        CODEC.decode_record(buf.getvalue())
    assert info.value.raw == buf.getvalue()
    assert "not-a-ref" in info.value.reason


def test_event_size_cap_is_enforced_and_configurable() -> None:
    event = _tool(attributes={f"k{i}": "x" * 1000 for i in range(32)})
    assert len(CODEC.encode(event)) > 32_000
    small = EventCodec(CODEC.catalog, max_event_bytes=16 * 1024)
    with pytest.raises(InvalidEventError) as info:
        small.encode(event)
    assert info.value.field == "<event>"
    assert "16384" in info.value.reason


def test_input_cap_rejects_before_decoding() -> None:
    raw = CODEC.encode(_tool())
    tiny = EventCodec(CODEC.catalog, max_input_bytes=len(raw) - 1)
    with pytest.raises(DecodeError) as info:
        tiny.decode(raw)
    assert info.value.raw == raw


def test_unknown_event_type_in_a_record_is_named() -> None:
    with pytest.raises(InvalidEventError) as info:
        CODEC.encode_record({"event_type": "nope"})
    assert info.value.field == "event_type"
    with pytest.raises(SchemaError):
        CODEC.fingerprint("nope")


def test_record_that_does_not_fit_the_schema_is_invalid() -> None:
    record = CODEC.decode_record(CODEC.encode(_tool()))
    record["duration_ms"] = "slow"
    with pytest.raises(InvalidEventError):
        CODEC.encode_record(record)


def test_trailing_bytes_are_rejected() -> None:
    raw = CODEC.encode(_tool()) + b"\x00"
    with pytest.raises(DecodeError, match="trailing"):
        CODEC.decode_record(raw)


def test_decoded_record_breaking_a_seed_rule_is_a_decode_error() -> None:
    record = CODEC.decode_record(CODEC.encode(_tool()))
    record["producer"]["workload_id"] = "10.1.2.3"
    raw = CODEC.encode_record(record)  # the raw path runs no seed rule...
    with pytest.raises(DecodeError) as info:
        CODEC.decode(raw)  # ...but decoding into a model does
    assert "producer.workload_id" in info.value.reason
    assert info.value.raw == raw


def test_json_round_trip() -> None:
    event = _tool()
    obj = event_to_json(event)
    assert obj["event_type"] == "tool.invoked"
    assert obj["occurred_at"].endswith("Z")
    assert event_from_json(json.loads(json.dumps(obj))) == event


def test_json_errors_name_the_dotted_field() -> None:
    obj = event_to_json(_tool())
    obj["subject"] = {**obj["subject"], "attempt": 0}
    with pytest.raises(InvalidEventError) as info:
        event_from_json(obj)
    assert info.value.field == "subject.attempt"
    obj = event_to_json(_tool())
    obj["outcome"] = "exploded"
    with pytest.raises(InvalidEventError) as info:
        event_from_json(obj)
    assert info.value.field == "outcome"
    with pytest.raises(InvalidEventError) as info:
        event_from_json({"event_type": "run.exploded"})
    assert info.value.field == "event_type"


def test_catalog_is_loadable_from_another_root(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    src = CODEC.catalog.versions("run.started")[0].path
    (tmp_path / "v1" / src.name).write_bytes(src.read_bytes())
    catalog = load_catalog(tmp_path)
    assert catalog.event_types == ("run.started",)
    codec = EventCodec(catalog)
    event = RunStarted(producer=PRODUCER, actor=AGENT, subject=SUBJECT, goal="g")
    assert codec.decode(codec.encode(event)) == event
    with pytest.raises(SchemaError):
        codec.encode(_tool())
    with pytest.raises(DecodeError, match="fingerprint"):
        codec.decode(CODEC.encode(_tool()))
