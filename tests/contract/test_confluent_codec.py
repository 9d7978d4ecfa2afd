"""ConfluentCodec against confluent-kafka's in-process ``mock://`` Schema Registry.

The adapter must carry exactly what the single-object codec carries: the same
Avro body for every event type, the same model back, the same evolution path
(v1 bytes resolved and upcast into v2), and failures translated into the
proofstream error tree with the raw bytes kept.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fastavro
import pytest

pytest.importorskip("confluent_kafka.schema_registry.avro", exc_type=ImportError)

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from proofstream.workload import simulate
from schemas import (
    MAGIC,
    ConfigError,
    Decision,
    DecodeError,
    Event,
    EventCodec,
    IncompatibleSchemaError,
    InvalidEventError,
    KnowledgeAssetUpdated,
    LineageDeclared,
    LineageRef,
    LineageRefKind,
    ProofClosed,
    ProofGapClosed,
    ProofGapDetected,
    ProposalDecided,
    ProposalSubmitted,
    RetryableError,
    SchemaError,
    load_catalog,
    to_record,
)
from schemas.confluent import CONFLUENT_MAGIC, ConfluentCodec, SubjectStrategy
from tests import factories

TOPIC = "fractalops.agent-actions"
CATALOG = load_catalog()
SINGLE = EventCodec(CATALOG)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _common() -> dict[str, Any]:
    return {
        "producer": factories.producer(),
        "actor": factories.agent(),
        "subject": factories.subject("run-7"),
    }


MERGED_AT = datetime(2026, 11, 2, 9, 30, 0, 123457, tzinfo=UTC)

# The event types the simulated workload does not emit, one each.
EXTRA_EVENTS: tuple[Event, ...] = (
    ProposalSubmitted(
        **_common(), proposal_id="p-1", title="Split the ledger", body_digest=_sha("b")
    ),
    ProposalDecided(**_common(), proposal_id="p-1", decision=Decision.ACCEPTED, reason="cheaper"),
    ProofClosed(**_common(), proves="fractalops/proofstream#12", evidence=[_sha("e1"), _sha("e2")]),
    KnowledgeAssetUpdated(**_common(), asset_ref="kb:runbook", digest=_sha("kb"), stale=True),
    LineageDeclared(
        **_common(),
        inputs=[LineageRef(kind=LineageRefKind.DATASET, name="warehouse.orders")],
        outputs=[LineageRef(kind=LineageRefKind.ROUTE, name="/dashboards/orders")],
    ),
    ProofGapDetected(
        **_common(),
        pr_ref="fractalops/proofstream#12",
        repository="fractalops/proofstream",
        merged_at=MERGED_AT,
        window_seconds=900,
    ),
    ProofGapClosed(
        **_common(),
        pr_ref="fractalops/proofstream#12",
        repository="fractalops/proofstream",
        merged_at=MERGED_AT,
        window_seconds=900,
        evidence_sha256=_sha("proof"),
    ),
)


def _one_of_each() -> dict[str, Event]:
    events: dict[str, Event] = {}
    for event in (*simulate(runs=6).events, *EXTRA_EVENTS):
        events.setdefault(event.event_type, event)
    return events


ONE_OF_EACH = _one_of_each()


@pytest.fixture
def codec() -> ConfluentCodec:
    # A fresh mock registry per test: MockSchemaRegistryClient keeps its store per instance.
    return ConfluentCodec("mock://proofstream-test")


def test_the_fixture_covers_every_event_type() -> None:
    assert set(ONE_OF_EACH) == set(CATALOG.event_types)


@pytest.mark.parametrize("event_type", sorted(ONE_OF_EACH))
def test_every_event_type_round_trips_with_the_single_object_body(
    codec: ConfluentCodec, event_type: str
) -> None:
    event = ONE_OF_EACH[event_type]
    raw = codec.encode(event, TOPIC)
    assert codec.decode(raw, TOPIC) == event
    assert codec.decode_record(raw, TOPIC) == SINGLE.decode_record(SINGLE.encode(event))
    # Same Avro body byte for byte: only the 5- vs 10-byte header differs.
    assert raw[5:] == SINGLE.encode(event)[10:]


def test_wire_format_is_magic_zero_and_the_registered_schema_id(codec: ConfluentCodec) -> None:
    event = factories.tool_invoked()
    raw = codec.encode(event, TOPIC)
    current = CATALOG.current("tool.invoked")
    registered = codec.client.get_latest_version(current.record_name)  # record-name strategy
    assert raw[:1] == CONFLUENT_MAGIC == b"\x00"
    assert int.from_bytes(raw[1:5], "big") == registered.schema_id
    assert json.loads(registered.schema.schema_str) == current.schema  # logical types kept
    # A second event type gets its own subject and id.
    other = codec.encode(factories.run_started(), TOPIC)
    assert other[1:5] != raw[1:5]
    assert sorted(codec.client.get_subjects()) == sorted(
        [current.record_name, CATALOG.current("run.started").record_name]
    )


def test_topic_record_strategy_registers_per_topic() -> None:
    codec = ConfluentCodec(subject_strategy=SubjectStrategy.TOPIC_RECORD)
    event = factories.run_started()
    raw = codec.encode(event, TOPIC)
    subject = f"{TOPIC}-{CATALOG.current('run.started').record_name}"
    assert codec.client.get_subjects() == [subject]
    assert codec.decode(raw) == event


def test_timestamps_and_uuids_are_exact() -> None:
    codec = ConfluentCodec()
    odd = datetime(2026, 3, 1, 12, 0, 0, 999999, tzinfo=timezone(timedelta(hours=-7)))
    event = factories.run_started().model_copy(update={"occurred_at": odd})
    decoded = codec.decode(codec.encode(event, TOPIC))
    assert decoded.occurred_at == odd
    assert decoded.event_id == event.event_id
    record = codec.decode_record(codec.encode(event, TOPIC))
    assert record["occurred_at"] == to_record(event)["occurred_at"]
    assert record["event_id"] == str(event.event_id)


def test_a_stock_confluent_consumer_reads_what_the_codec_writes(codec: ConfluentCodec) -> None:
    event = ONE_OF_EACH["pr.merged"]
    ctx = SerializationContext(TOPIC, MessageField.VALUE)
    data = AvroDeserializer(codec.client)(codec.encode(event, TOPIC), ctx)
    assert isinstance(data, dict)
    assert data["event_id"] == event.event_id  # logical types on: a uuid.UUID
    assert data["merged_at"] == event.merged_at  # type: ignore[attr-defined]
    assert data["occurred_at"] == event.occurred_at


def test_the_codec_reads_what_a_stock_confluent_producer_writes(codec: ConfluentCodec) -> None:
    # Another producer registers the same released schema (different JSON spacing)
    # and writes datetimes and UUIDs, not the raw ints and strings.
    event = ONE_OF_EACH["tool.invoked"]
    current = CATALOG.current("tool.invoked")
    serializer = AvroSerializer(codec.client, json.dumps(current.schema, indent=2, default=dict))
    ctx = SerializationContext(TOPIC, MessageField.VALUE)
    record = to_record(event) | {"occurred_at": event.occurred_at, "event_id": event.event_id}
    raw = serializer(record, ctx)
    assert raw is not None
    assert codec.decode(raw, TOPIC) == event


def test_v1_bytes_in_the_registry_are_upcast_to_the_current_v2() -> None:
    # An older producer registered v1 of lineage.declared (refs as 'kind:name'
    # strings) and wrote with it; a current reader must get typed LineageRefs.
    client = SchemaRegistryClient.new_client({"url": "mock://v1-and-v2"})
    v1 = CATALOG.versions("lineage.declared")[0]
    schema_id = client.register_schema(
        v1.record_name, Schema(json.dumps(v1.schema, default=dict), "AVRO")
    )
    record = to_record(EXTRA_EVENTS[4])
    record |= {"inputs": ["dataset:warehouse.orders"], "outputs": ["route:/dashboards/orders"]}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, v1.parsed_raw, record)
    raw = CONFLUENT_MAGIC + schema_id.to_bytes(4, "big") + body.getvalue()

    codec = ConfluentCodec(client=client)
    assert codec.decode(raw, TOPIC) == EXTRA_EVENTS[4]
    # The single-object codec reads the same body the same way.
    assert codec.decode_record(raw) == SINGLE.decode_record(
        MAGIC + v1.fingerprint + body.getvalue()
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "no 00 magic byte"),
        (b"\x00\x00\x00", "no 00 magic byte"),
        (b"\xc3\x01" + b"\x00" * 20, "no 00 magic byte"),
        (b"\x00\x00\x00\x03\xe7" + b"\x02", "Schema Not Found"),
    ],
    ids=["empty", "short", "single-object", "unknown-id"],
)
def test_bad_bytes_are_decode_errors_carrying_raw(
    codec: ConfluentCodec, raw: bytes, reason: str
) -> None:
    with pytest.raises(DecodeError, match=reason) as info:
        codec.decode(raw, TOPIC)
    assert info.value.raw == raw
    assert str(info.value).startswith(f"{TOPIC}: ")


def test_a_truncated_or_padded_body_is_a_decode_error(codec: ConfluentCodec) -> None:
    raw = codec.encode(factories.tool_invoked(), TOPIC)
    for bad in (raw[:-3], raw + b"\x00"):
        with pytest.raises(DecodeError) as info:
            codec.decode(bad)
        assert info.value.raw == bad


def test_a_writer_schema_not_released_in_the_repo_is_refused(codec: ConfluentCodec) -> None:
    foreign = {"type": "record", "name": "shop.Other", "fields": [{"name": "x", "type": "int"}]}
    raw = AvroSerializer(codec.client, json.dumps(foreign))(
        {"x": 1}, SerializationContext(TOPIC, MessageField.VALUE)
    )
    assert raw is not None
    with pytest.raises(DecodeError, match="not a released proofstream schema") as info:
        codec.decode(raw)
    assert info.value.raw == raw


def test_an_unknown_event_type_is_a_schema_error(codec: ConfluentCodec) -> None:
    event = factories.run_started()
    object.__setattr__(event, "event_type", "nope")  # bypass the frozen model on purpose
    with pytest.raises(SchemaError, match="nope"):
        codec.encode(event, TOPIC)


def test_the_event_size_cap_applies() -> None:
    codec = ConfluentCodec(max_event_bytes=64)
    with pytest.raises(InvalidEventError, match="exceeds the cap"):
        codec.encode(factories.tool_invoked(), TOPIC)


def test_without_auto_register_an_unregistered_schema_is_a_schema_error() -> None:
    codec = ConfluentCodec("mock://empty", auto_register=False)
    with pytest.raises(SchemaError, match="schema registry"):
        codec.encode(factories.run_started(), TOPIC)


def test_import_schemas_does_not_load_the_registry_client() -> None:
    # The base install has no registry extra: only building a codec may import it.
    probe = (
        "import sys, schemas; "
        "assert schemas.ConfluentCodec is not None; "
        "assert 'confluent_kafka.schema_registry' not in sys.modules, 'loaded'"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)


def test_an_unreachable_registry_is_retryable() -> None:
    codec = ConfluentCodec("http://127.0.0.1:9", conf={"max.retries": 0, "timeout": 2})
    with pytest.raises(RetryableError, match="unreachable"):
        codec.encode(factories.run_started(), TOPIC)
    with pytest.raises(RetryableError):  # not a DecodeError: the message is not at fault
        codec.decode(b"\x00\x00\x00\x00\x01\x02")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, ConfigError),
        (403, ConfigError),
        (409, IncompatibleSchemaError),
        (422, SchemaError),
        (429, RetryableError),
        (503, RetryableError),
    ],
)
def test_registry_refusals_map_onto_the_error_tree(
    status: int, error: type[Exception], monkeypatch: pytest.MonkeyPatch
) -> None:
    codec = ConfluentCodec()

    def refuse(*_: object, **__: object) -> None:
        raise SchemaRegistryError(status, -1, "refused")

    monkeypatch.setattr(codec.client, "register_schema_full_response", refuse)
    with pytest.raises(error) as info:
        codec.encode(factories.run_started(), TOPIC)
    assert type(info.value) is error
