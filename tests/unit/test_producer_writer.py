"""The producer's compiled Avro writer writes exactly fastavro's bytes, and leaves
to fastavro (through the codec) every record it cannot write exactly.

Events are generated from each event type's current schema
(``tests.event_strategies``), so a new field or event type is covered here
without touching this file.
"""

from __future__ import annotations

import io
from enum import StrEnum
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers import EventSerializer
from producers.avro_writer import FALLBACK_ERRORS, compile_writer, zigzag_varint
from schemas import EVENT_TYPES, EventCodec, InvalidEventError, RunStarted, to_record
from schemas.codec import MAGIC
from schemas.envelope import Trace
from tests import factories
from tests.event_strategies import build_event, event_data

CODEC = EventCodec()
SERIALIZER = EventSerializer(CODEC)
TRACES = st.none() | st.builds(
    Trace,
    traceparent=st.just("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    tracestate=st.sampled_from(["", "vendor=ü"]),
)


def fastavro_bytes(event_type: str, record: dict[str, Any]) -> bytes:
    """The oracle: header + fastavro's own writer on the parsed schema."""
    version = CODEC.catalog.current(event_type)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, version.parsed_raw, record)
    return MAGIC + version.fingerprint + buf.getvalue()


def writer_for(event_type: str) -> Any:
    version = CODEC.catalog.current(event_type)
    writer = compile_writer(version.parsed_raw, MAGIC + version.fingerprint)
    assert writer is not None, f"{event_type}: every released schema gets a writer"
    return writer


WRITERS = {event_type: writer_for(event_type) for event_type in EVENT_TYPES}


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_writer_writes_fastavros_bytes(event_type: str, data: st.DataObject) -> None:
    event = build_event(event_type, data.draw(event_data(event_type)))
    trace = data.draw(TRACES)
    record = to_record(event)
    expected = fastavro_bytes(event_type, dict(record))
    # The compiled writer takes every valid event itself: no fallback on the common path.
    assert WRITERS[event_type](record) == expected
    # ... and the serializer's value is the codec's, with the caller's trace copied in.
    copied = (
        event
        if event.trace is not None or trace is None
        else event.model_copy(update={"trace": trace})
    )
    assert SERIALIZER.record(event, trace=trace).value == CODEC.encode(copied)


@pytest.mark.parametrize(
    "n", [0, 1, -1, 63, 64, -64, -65, 4095, 4096, 2**31, -(2**31), 2**63 - 1, -(2**63)]
)
def test_zigzag_varint_is_avros_long(n: int) -> None:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, "long", n)
    assert zigzag_varint(n) == buf.getvalue()


class Mood(StrEnum):
    CALM = "calm"


def odd(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    subject = dict(record["subject"])
    for name in ("attempt", "run_id"):
        if name in changes:
            subject[name] = changes.pop(name)
    return {**record, **changes, "subject": subject}


@pytest.mark.parametrize(
    "changes",
    [
        {"goal": Mood.CALM},  # a str subclass: fastavro writes it, the writer does not
        {"attempt": True},  # a bool where a long goes
        {"attempt": 2**63},  # beyond 64 bits
        {"goal": 5},  # not a string at all
        {"run_id": b"run-1"},  # bytes in a nullable string
        {"trace": ("fractalops.events.envelope.Trace", {"traceparent": "t", "tracestate": ""})},
        {"attributes": [("k", "v")]},  # not a dict where a map goes
    ],
)
def test_odd_values_are_left_to_fastavro(changes: dict[str, Any]) -> None:
    record = odd(to_record(factories.run_started()), **changes)
    with pytest.raises(FALLBACK_ERRORS):
        WRITERS["run.started"](record)
    try:
        expected: bytes | type[Exception] = fastavro_bytes("run.started", dict(record))
    except Exception:
        expected = InvalidEventError
    if expected is InvalidEventError:
        with pytest.raises(InvalidEventError):
            CODEC.encode_record(record)
    else:
        assert CODEC.encode_record(record) == expected


def test_missing_field_is_left_to_fastavro() -> None:
    record = to_record(factories.run_started())
    del record["goal"]
    with pytest.raises(KeyError):
        WRITERS["run.started"](record)


def test_invalid_model_is_refused_like_the_codec_does() -> None:
    valid = factories.run_started()
    # model_construct skips validation: only the encode step can catch it.
    broken = RunStarted.model_construct(**{**dict(valid), "goal": 5})
    with pytest.raises(InvalidEventError) as info:
        SERIALIZER.rows([valid, broken])
    assert info.value.field == "events[1]"
    assert "does not fit its schema" in info.value.reason


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "record", "name": "D", "fields": [{"name": "x", "type": "double"}]},
        {
            "type": "record",
            "name": "U",
            "fields": [{"name": "x", "type": ["null", "string", "long"]}],
        },
        {
            "type": "record",
            "name": "F",
            "fields": [{"name": "x", "type": {"type": "fixed", "name": "f", "size": 2}}],
        },
    ],
)
def test_unsupported_schemas_get_no_writer(schema: dict[str, Any]) -> None:
    assert compile_writer(schema, b"") is None
