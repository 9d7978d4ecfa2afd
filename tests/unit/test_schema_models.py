"""The hand-written models and the released ``.avsc`` files agree field for field.

``avro_shape_of`` derives the Avro record a model implies (names, types incl.
logical types, optionality as ``["null", T]``, defaults); the test compares it
with the current ``.avsc`` of each event type, docs aside."""

from __future__ import annotations

import json

# --- deriving the Avro shape of a model ---
import types
import typing
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import pytest
from annotated_types import Le
from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo

import schemas
from schemas.catalog import load_catalog
from schemas.envelope import Actor, Producer, Subject, Trace
from schemas.events import EVENT_TYPES, Event

EVENTS_NS = "fractalops.events"
ENVELOPE_NS = "fractalops.events.envelope"
_ENVELOPE_TYPES = {Producer, Actor, Subject, Trace}


def _namespace(cls: type) -> str:
    from schemas.envelope import ActorKind, TeamType

    return ENVELOPE_NS if cls in _ENVELOPE_TYPES or cls in (ActorKind, TeamType) else EVENTS_NS


def _doc(obj: Any) -> str:
    return " ".join((obj.__doc__ or "").split("\n\n")[0].split())


def _is_int32(info: FieldInfo) -> bool:
    return any(isinstance(m, Le) and m.le == 2**31 - 1 for m in info.metadata)


def _type_of(annotation: Any, info: FieldInfo, defined: set[str]) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_of(typing.get_args(annotation)[0], info, defined)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        assert len(args) == 1, annotation
        return ["null", _type_of(args[0], info, defined)]
    if origin is list:
        return {"type": "array", "items": _type_of(typing.get_args(annotation)[0], info, defined)}
    if origin is dict:
        return {"type": "map", "values": "string"}
    if annotation is str:
        return "string"
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "int" if _is_int32(info) else "long"
    if annotation is uuid.UUID:
        return {"type": "string", "logicalType": "uuid"}
    if annotation in (datetime, AwareDatetime):
        return {"type": "long", "logicalType": "timestamp-micros"}
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        full = f"{_namespace(annotation)}.{annotation.__name__}"
        if full in defined:
            return full
        defined.add(full)
        return {
            "type": "enum",
            "name": full,
            "doc": _doc(annotation),
            "symbols": [m.value for m in annotation],
        }
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        full = f"{_namespace(annotation)}.{annotation.__name__}"
        if full in defined:
            return full
        defined.add(full)
        return {
            "type": "record",
            "name": full,
            "doc": _doc(annotation),
            "fields": [_field(n, f, defined) for n, f in annotation.model_fields.items()],
        }
    raise AssertionError(f"no Avro mapping for {annotation!r}")


def _default(info: FieldInfo) -> tuple[bool, Any]:
    if info.default_factory is list:
        return True, []
    if info.default_factory is dict:
        return True, {}
    if info.default_factory is not None or info.is_required():
        return False, None
    default = info.default
    return True, default.value if isinstance(default, StrEnum) else default


def _field(name: str, info: FieldInfo, defined: set[str]) -> dict[str, Any]:
    annotation = info.annotation
    if info.metadata:
        annotation = typing.Annotated[annotation, *info.metadata]
    out: dict[str, Any] = {
        "name": name,
        "type": _type_of(annotation, info, defined),
        "doc": info.description,
    }
    has_default, default = _default(info)
    if has_default:
        out["default"] = default
    return out


def avro_shape_of(model: type[Event]) -> dict[str, Any]:
    """The Avro record schema (a JSON-able dict) that ``model`` implies."""
    defined: set[str] = set()
    fields = [_field(n, f, defined) for n, f in model.model_fields.items()]
    event_type = {
        "name": "event_type",
        "type": "string",
        "doc": "Dotted event type; selects the schema and the model.",
        "default": model.event_type,
    }
    fields.insert(1, event_type)
    return {
        "type": "record",
        "name": f"{EVENTS_NS}.{model.__name__}",
        "doc": _doc(model),
        "fields": fields,
    }


CATALOG = load_catalog()


def _without_docs(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_without_docs(s) for s in schema]
    if isinstance(schema, dict):
        return {k: _without_docs(v) for k, v in schema.items() if k != "doc"}
    return schema


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_model_matches_current_avsc(event_type: str) -> None:
    current = CATALOG.current(event_type)
    expected = _without_docs(avro_shape_of(EVENT_TYPES[event_type]))
    assert _without_docs(json.loads(json.dumps(dict(current.schema)))) == expected


def test_every_model_has_a_schema_and_every_schema_a_model() -> None:
    assert set(CATALOG.event_types) == set(EVENT_TYPES)


def _walk_fields(schema: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if isinstance(schema, list):
        for s in schema:
            out += _walk_fields(s)
    elif isinstance(schema, dict):
        for field in schema.get("fields", []):
            out.append(field)
            out += _walk_fields(field["type"])
        for key in ("items", "values"):
            out += _walk_fields(schema.get(key))
        if schema.get("type") in ("array", "map"):
            pass
    return out


@pytest.mark.parametrize(
    "sv", sorted(CATALOG.by_fingerprint.values(), key=lambda s: s.label), ids=lambda s: s.label
)
def test_every_field_is_documented_and_names_are_namespaced(sv: schemas.SchemaVersion) -> None:
    fields = _walk_fields(dict(sv.schema))
    assert fields
    assert all(isinstance(f.get("doc"), str) and f["doc"] for f in fields), sv.label
    assert sv.record_name.startswith("fractalops.events.")
    assert sv.path.stem == sv.record_name.rsplit(".", 1)[1]


def test_envelope_types_are_identical_in_every_schema() -> None:
    envelope = ("producer", "actor", "subject", "trace", "attributes", "event_id", "occurred_at")
    seen: dict[str, Any] = {}
    for sv in CATALOG.by_fingerprint.values():
        for field in sv.schema["fields"]:
            if field["name"] in envelope:
                assert seen.setdefault(field["name"], field) == field, (sv.label, field["name"])


def test_event_types_are_dotted_lowercase() -> None:
    for event_type in EVENT_TYPES:
        parts = event_type.split(".")
        assert len(parts) >= 2 and all(p.isalpha() and p.islower() for p in parts), event_type


def test_public_api_is_pinned() -> None:
    assert len(set(schemas.__all__)) == len(schemas.__all__)
    assert all(hasattr(schemas, name) for name in schemas.__all__)
    for name in ("EventCodec", "RunStarted", "event_from_json", "event_to_json", "load_catalog"):
        assert name in schemas.__all__
