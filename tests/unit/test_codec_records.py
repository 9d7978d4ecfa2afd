"""``to_record``'s per-class plans are exact: same record, same bytes as the generic walk.

The oracle below is the original generic ``to_record`` (a recursive walk over
``model_fields``), kept here verbatim so the fast path can never drift from it.
Events are generated from each event type's current Avro schema, so a new field
or a new event type is covered without touching this file.
"""

from __future__ import annotations

import io
import string
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, reject, settings
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


# --- events generated from the Avro schemas ---------------------------------------

_HEX = st.text("0123456789abcdef", min_size=64, max_size=64)
_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
) | st.text(string.ascii_letters + "-/#.:", min_size=1, max_size=24)
_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7))])
_TIMES = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=_ZONES
)


def _named_types(avro: Any, into: dict[str, Any]) -> dict[str, Any]:
    """Every named type defined inside ``avro``, by full name (for later references)."""
    if isinstance(avro, list):
        for branch in avro:
            _named_types(branch, into)
    elif isinstance(avro, Mapping):
        if avro.get("type") in ("record", "enum", "fixed"):
            into[avro["name"]] = avro
        for value in avro.values():
            if isinstance(value, list | Mapping):
                _named_types(value, into)
    return into


def _for_field(name: str, avro: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    # Field-aware leaves, so the model's rules (digests, bot logins) accept most examples.
    if name in {"input_digest", "output_digest", "body_digest", "digest"} or "sha256" in name:
        return _for_type(avro, _HEX, named)
    if name == "evidence":
        return st.lists(_HEX, max_size=3)
    if name == "delivery_identity":
        return st.sampled_from(["fractalops-agents[bot]", "octocat"])
    return _for_type(avro, _TEXT, named)


def _for_type(
    avro: Any, strings: st.SearchStrategy[str], named: dict[str, Any]
) -> st.SearchStrategy[Any]:
    if isinstance(avro, list):  # a union
        return st.one_of(*(_for_type(branch, strings, named) for branch in avro))
    if isinstance(avro, str) and avro in named:
        return _for_type(named[avro], strings, named)
    if isinstance(avro, str):
        return {
            "null": st.none(),
            "string": strings,
            "int": st.integers(0, 2**31 - 1),
            "long": st.integers(0, 2**63 - 1),
            "boolean": st.booleans(),
        }[avro]
    logical = avro.get("logicalType")
    if logical == "uuid":
        return st.uuids()
    if logical == "timestamp-micros":
        return _TIMES
    kind = avro["type"]
    if kind == "enum":
        return st.sampled_from(avro["symbols"])
    if kind == "map":
        return st.dictionaries(_TEXT, _for_type(avro["values"], _TEXT, named), max_size=3)
    if kind == "array":
        return st.lists(_for_type(avro["items"], strings, named), max_size=3)
    if kind == "record":
        return st.fixed_dictionaries(
            {f["name"]: _for_field(f["name"], f["type"], named) for f in avro["fields"]}
        )
    return _for_type(kind, strings, named)


def _event_strategy(event_type: str) -> st.SearchStrategy[dict[str, Any]]:
    schema = CODEC.catalog.current(event_type).schema
    named = _named_types(schema, {})
    return st.fixed_dictionaries(
        {
            f["name"]: _for_field(f["name"], f["type"], named)
            for f in schema["fields"]
            if f["name"] != "event_type"
        }
    )


def _build(event_type: str, data: dict[str, Any]) -> Event:
    try:
        return EVENT_TYPES[event_type](**data)
    except InvalidEventError:
        reject()  # a generated value broke a seed rule: not an event


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_record_and_bytes_equal_the_generic_walk(event_type: str, data: st.DataObject) -> None:
    event = _build(event_type, data.draw(_event_strategy(event_type)))
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
