"""An aspect's JSON exactly as DataHub Lite stores it, without re-reading its schema.

Lite stores ``json.dumps(pre_json_transform(aspect.to_obj()))``. ``to_obj()`` walks
the aspect's Avro schema at every call: it validates the whole aspect, then
converts it field by field, decoding every field's default from the schema again
(avrogen's ``AvroJsonConverter``); DataHub's ``pre_json_transform`` then walks the
result once more (drops nulls, renames ``com.linkedin.pegasus2avro.*`` union keys).
The store validates every aspect it writes with ``mcp.validate()`` anyway, and that
double walk was most of the catalog's cost per aspect, so :func:`aspect_json`
converts with a converter **compiled once per schema** that does both in one pass:
the same text for a valid aspect, without the validation. Values that are their own
JSON when valid (strings, numbers, booleans, enum symbols, nullable ones, lists of
them) are passed through without a call.

Scope: records, arrays, maps, enums, primitives, and unions of ``null`` with one
other type or of records (what DataHub aspects are made of). Anything else (a union
of several non-record types, a record with a ``fieldDiscriminator``) is converted by
avrogen's and DataHub's own functions. ``tests/unit/test_catalog_aspect_json.py``
checks the text against DataHub's for every aspect the catalog writes and every
aspect class DataHub defines.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from json.encoder import (  # type: ignore[attr-defined]
    c_make_encoder,
    encode_basestring_ascii,
)
from typing import Any, Final

from avro import schema as avro_schema
from avrogen.avrojson import get_global_json_converter
from avrogen.dict_wrapper import DictWrapper
from datahub.emitter.serialization_helper import pre_json_transform

__all__ = ["aspect_json"]

Convert = Callable[[Any], Any]

_compiled: dict[str, Convert] = {}
"""Converter per aspect schema full name, complete; filled on first use (the schemas
are immutable, generated code: a cache, not state)."""
_records: dict[int, tuple[Any, Convert]] = {}
"""Converter per record schema object (kept alive beside it), registered before its
fields are compiled (recursive schemas); only read and written under :data:`_lock`."""
_lock = threading.Lock()

_MISSING: Final = object()
_FROM: Final = "com.linkedin.pegasus2avro."
_TO: Final = "com.linkedin."
_DISCRIMINATOR: Final = "fieldDiscriminator"


def aspect_json(aspect: DictWrapper) -> str:
    """``json.dumps(pre_json_transform(aspect.to_obj()))`` for a valid ``aspect``. An
    invalid one may convert to anything or raise: validate what you write."""
    schema = type(aspect).RECORD_SCHEMA
    convert = _compiled.get(schema.fullname)
    if convert is None:
        with _lock:
            convert = _compiled[schema.fullname] = _compile(schema, within_array=False)
    return _dumps(convert(aspect))


def _json_encoder() -> Callable[[Any], str]:
    """``json.dumps`` with its default settings. ``json.dumps`` builds its C encoder
    (the same arguments every time) at each call, which costs twice the encoding of a
    small aspect: this builds it once. Without circular-reference bookkeeping (an
    aspect is a tree: a cycle fails on recursion depth instead of ``ValueError``)."""
    if c_make_encoder is None:  # pragma: no cover - CPython always has _json
        return json.dumps
    default = json.JSONEncoder().default
    encode = c_make_encoder(
        None, default, encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    return lambda obj: "".join(encode(obj, 0))


_dumps: Final = _json_encoder()


def _generic(schema: Any, within_array: bool) -> Convert:
    """avrogen's and DataHub's own conversion of one value (for what is not compiled).
    ``pre_json_transform`` of a part is that part of the whole's: it only looks down."""
    converter = get_global_json_converter()
    return lambda value: pre_json_transform(
        converter._generic_to_json(value, schema, was_within_array=within_array)  # type: ignore[no-untyped-call]
    )


def _renamed(name: str) -> str:
    """A union member's key as ``pre_json_transform`` writes it."""
    return name.replace(_FROM, _TO, 1) if name.startswith(_FROM) else name


def _compile(schema: Any, *, within_array: bool) -> Convert:
    kind = schema.type
    if kind in ("record", "error"):
        return _record(schema)
    if kind == "array":
        return _array(_compile(schema.items, within_array=True))
    if kind == "map":
        return _map(_compile(schema.values, within_array=False))
    if kind in ("union", "error_union"):
        return _union(schema, within_array)
    if kind in ("bytes", "fixed"):
        return _primitive  # DataHub writes bytes decoded
    return _same  # enums and the other primitives are their own JSON


def _same(value: Any) -> Any:
    """A value that is its own JSON (a valid string, number, boolean or enum symbol)."""
    return value


def _primitive(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _array(items: Convert) -> Convert:
    if items is _same:
        return _same  # the list itself: the output is only ever dumped
    return lambda value: [items(item) for item in value]


def _map(values: Convert) -> Convert:
    def convert(value: Any) -> Any:
        out = value if values is _same else {key: values(item) for key, item in value.items()}
        if len(out) == 1 or _DISCRIMINATOR in out:
            return pre_json_transform(out)  # its key rules, on the rare maps they touch
        return out

    return convert


def _record(schema: Any) -> Convert:
    known = _records.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    if any(field.name == _DISCRIMINATOR for field in schema.fields):
        return _generic(schema, within_array=False)  # a union with aliases (Cost)
    fields: list[tuple[str, Convert | None, Callable[[], Any]]] = []

    def convert(value: Any) -> Any:
        data = value._inner_dict if isinstance(value, DictWrapper) else value
        out = {}
        for name, field, default in fields:
            item = data.get(name, _MISSING)
            if item is _MISSING:
                item = default()
            if item is None:
                continue  # avrogen leaves it out or writes null, which DataHub drops
            out[name] = item if field is None else field(item)
        return out

    def default_of(field: Any) -> Callable[[], Any]:
        if not field.has_default:
            return lambda: None
        converter = get_global_json_converter()
        return lambda: converter.from_json_object(field.default, field.type)  # type: ignore[no-untyped-call]

    _records[id(schema)] = (schema, convert)  # before the fields: they may lead back here
    for field in schema.fields:
        compiled = _compile(field.type, within_array=False)
        fields.append((field.name, None if compiled is _same else compiled, default_of(field)))
    return convert


def _union(schema: Any, within_array: bool) -> Convert:
    candidates = schema.schemas
    others = [s for s in candidates if s.type != "null"]
    has_null = len(others) < len(candidates)
    enums = any(isinstance(s, avro_schema.EnumSchema) for s in candidates)
    # avrogen writes a union's value bare when the union is unambiguous (and not an
    # array item), else as {type name: value}
    bare = not within_array and ((len(candidates) == 2 and has_null) if enums else len(others) <= 1)
    single = _compile(others[0], within_array=False) if len(others) == 1 else None
    if bare and single is _same:
        return _same  # a valid value (or None) is its own JSON
    fallback = _generic(schema, within_array)
    # reversed: the first candidate of a name wins, as in avrogen
    named = [s for s in reversed(candidates) if isinstance(s, avro_schema.RecordSchema)]
    records = {s.fullname: _record(s) for s in named}
    single_name = _renamed(_type_name(others[0])) if len(others) == 1 else ""

    def convert(value: Any) -> Any:
        if value is None and has_null:
            return None
        if isinstance(value, DictWrapper):
            name = type(value).RECORD_SCHEMA.fullname
            record = records.get(name)
            if record is None:
                return fallback(value)
            out = record(value)
            return out if bare else {_renamed(name.lstrip(".")): out}
        if single is None:
            return fallback(value)  # several non-null types: avrogen guesses by validating
        out = single(value)
        return out if bare else {single_name: out}

    return convert


def _type_name(schema: Any) -> str:
    if isinstance(schema, avro_schema.NamedSchema):
        return str(schema.fullname).lstrip(".")
    return str(schema.type)
