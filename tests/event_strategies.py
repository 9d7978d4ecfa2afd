"""Hypothesis strategies for valid events, generated from each type's current Avro schema.

A new field or a new event type is covered without touching the tests that use
them. Leaves are field-aware (digests, bot logins) so that most examples pass the
models' rules; :func:`build_event` rejects the examples that do not.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import reject
from hypothesis import strategies as st

from schemas import EVENT_TYPES, InvalidEventError, load_catalog
from schemas.events import Event

__all__ = ["CATALOG", "build_event", "event_data"]

CATALOG = load_catalog()

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


def event_data(event_type: str) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for the model of ``event_type`` (every field but ``event_type``)."""
    schema = CATALOG.current(event_type).schema
    named = _named_types(schema, {})
    return st.fixed_dictionaries(
        {
            f["name"]: _for_field(f["name"], f["type"], named)
            for f in schema["fields"]
            if f["name"] != "event_type"
        }
    )


def build_event(event_type: str, data: dict[str, Any]) -> Event:
    """The model built from ``data``; rejects the example when a rule refuses it."""
    try:
        return EVENT_TYPES[event_type](**data)
    except InvalidEventError:
        reject()  # a generated value broke a seed rule: not an event
