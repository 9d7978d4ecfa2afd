"""``to_record``'s per-class plans are exact: same record, same bytes as the generic walk.

The oracle below is the original generic ``to_record`` (a recursive walk over
``model_fields``), kept here verbatim so the fast path can never drift from it.
Events are generated from each event type's current Avro schema
(``tests.event_strategies``), so a new field or a new event type is covered
without touching this file.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from schemas import (
    EVENT_TYPES,
    EventCodec,
    InvalidEventError,
    LineageDeclared,
    LineageRef,
    LineageRefKind,
    Producer,
    ToolInvoked,
    to_record,
)
from schemas.events import Event
from tests import factories
from tests.event_strategies import build_event, event_data

CODEC = EventCodec()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _oracle_value(value: Any) -> Any:
    if isinstance(value, str | int | float | dict | None):
        return value
    if isinstance(value, BaseModel):
        return {name: _oracle_value(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, datetime):
        return (value - _EPOCH) // timedelta(microseconds=1)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return [_oracle_value(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"no Avro form for {type(value).__name__}")


def oracle_record(event: Event) -> dict[str, Any]:
    """The original, generic ``to_record``."""
    record = _oracle_value(event)
    record["event_type"] = event.event_type
    return record  # type: ignore[no-any-return]


def _shape(value: Any) -> Any:
    """Value, Python type and key order, recursively: equality that sees all three."""
    if isinstance(value, dict):
        return (dict, [(k, _shape(v)) for k, v in value.items()])
    if isinstance(value, list):
        return (list, [_shape(v) for v in value])
    return (type(value), value)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_record_and_bytes_equal_the_generic_walk(event_type: str, data: st.DataObject) -> None:
    event = build_event(event_type, data.draw(event_data(event_type)))
    expected = oracle_record(event)
    record = to_record(event)
    assert _shape(record) == _shape(expected)

    current = CODEC.catalog.current(event_type)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, current.parsed_raw, expected)
    wire = b"\xc3\x01" + current.fingerprint + body.getvalue()
    assert CODEC.encode(event) == wire
    assert CODEC.encode_record(expected) == wire
    assert _shape(expected) == _shape(oracle_record(event))  # the caller's record is untouched
    assert CODEC.decode(wire) == event


def test_factories_encode_like_the_generic_walk() -> None:
    for event in (factories.run_started(), factories.tool_invoked(n=3)):
        assert _shape(to_record(event)) == _shape(oracle_record(event))
        assert CODEC.encode(event) == CODEC.encode_record(oracle_record(event))


def test_a_nested_record_that_does_not_fit_is_invalid_and_named() -> None:
    record = oracle_record(factories.tool_invoked())
    record["trace"] = {"tracestate": "x"}  # no traceparent
    with pytest.raises(InvalidEventError, match="traceparent"):
        CODEC.encode_record(record)
    record["trace"] = {"traceparent": 5}
    with pytest.raises(InvalidEventError, match="traceparent"):
        CODEC.encode_record(record)


def test_record_shares_no_mutable_container_with_the_event() -> None:
    event = LineageDeclared(
        producer=factories.producer(),
        actor=factories.agent(),
        subject=factories.subject(),
        attributes={"k": "v"},
        inputs=[LineageRef(kind=LineageRefKind.DATASET, name="warehouse.orders")],
    )
    record = to_record(event)
    record["attributes"]["k"] = "changed"
    record["producer"]["service"] = "changed"
    record["inputs"][0]["name"] = "changed"
    assert event.attributes == {"k": "v"}
    assert event.producer.service == "planner"
    assert event.inputs[0].name == "warehouse.orders"


class _LabelledProducer(Producer):
    label: uuid.UUID


class _AuditedToolInvoked(ToolInvoked):
    audited_at: datetime


def test_subclasses_outside_the_plans_take_the_generic_walk() -> None:
    base = factories.tool_invoked()
    fields = {name: getattr(base, name) for name in type(base).model_fields}
    fields["producer"] = _LabelledProducer(
        service="s", version="1", workload_id="spiffe://x/y", label=uuid.uuid4()
    )
    event = _AuditedToolInvoked(**fields, audited_at=datetime(2025, 1, 1, tzinfo=UTC))
    assert _shape(to_record(event)) == _shape(oracle_record(event))
    nested = base.model_copy(update={"producer": fields["producer"]})
    assert _shape(to_record(nested)) == _shape(oracle_record(nested))
