"""Model <-> raw record conversion: the data the codec writes and decodes into.

A *raw record* is a plain dict shaped like the Avro record of its event type:
timestamps as int microseconds since the epoch (UTC), UUIDs as strings, enums as
strings, nested models as dicts, plus ``event_type``. Pipelines work on raw
records (:meth:`~schemas.codec.EventCodec.decode_record` returns one); the codec
writes them (:meth:`~schemas.codec.EventCodec.encode_record`).

* :func:`to_record` runs on every encode (``EventCodec.encode``, the producer's
  serializer, the Confluent codec), so it is built for speed: per-class plans,
  made once at import from the immutable catalog of event classes, rewrite only
  the fields whose Python value is not already its Avro form. Pure; it takes a
  validated event and does not fail for one (a value with no Avro form, which no
  event model allows, raises ``TypeError``).
* :func:`from_record` runs on ``EventCodec.decode`` and ``decode_checked``: it
  rebuilds and re-validates the model. Raises :class:`InvalidEventError`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from types import MappingProxyType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel, NaiveDatetime

from schemas.events import EVENT_TYPES, Event
from schemas.jsonio import event_from_json

__all__ = ["Record", "from_record", "to_record"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Record = dict[str, Any]


def _micros(value: datetime) -> int:
    # Exact integer arithmetic: float timestamps can be off by one microsecond.
    return (value - _EPOCH) // _MICROSECOND


def _to_avro(value: Any) -> Any:
    # The generic walk: exact for any model, but slow (an isinstance ladder per value).
    # ``to_record`` uses it only for what the per-class plans below do not cover.
    if isinstance(value, str | int | float | dict | None):  # also bool, StrEnum, attributes
        return value
    if isinstance(value, BaseModel):
        return {name: _to_avro(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, datetime):
        return _micros(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return [_to_avro(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"no Avro form for {type(value).__name__}")


# Per-class record plans. ``to_record`` starts from a shallow copy of the model's
# ``__dict__`` (pydantic keeps exactly the field values there, in field order) and
# then rewrites only the fields whose Python value is not already its Avro form.
# Each converter produces exactly what ``_to_avro`` would for that value.

Convert = Callable[[Any], Any]

_PLAIN_LEAVES: tuple[type, ...] = (str, int, float, bool, type(None))
_DATETIMES: tuple[Any, ...] = (datetime, AwareDatetime, NaiveDatetime)


def _uuid_str(value: Any) -> Any:
    return None if value is None else str(value)


def _micros_or_none(value: Any) -> Any:
    return None if value is None else _micros(value)


def _copy_dict(value: Any) -> Any:
    # attributes: a copy, so mutating the record never reaches the frozen model
    return None if value is None else dict(value)


def _flat_model(cls: type[BaseModel]) -> Convert:
    # A model whose fields are all plain: its __dict__ already is its Avro record.
    # Any other class (a subclass with more fields) takes the generic walk.
    def convert(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is cls:
            return dict(value.__dict__)
        return _to_avro(value)

    return convert


def _flat_models(cls: type[BaseModel]) -> Convert:
    one = _flat_model(cls)

    def convert(value: Any) -> Any:
        return None if value is None else [one(item) for item in value]

    return convert


def _copy_list(value: Any) -> Any:
    return None if value is None else list(value)


def _leaves(annotation: Any) -> tuple[Any, ...]:
    """The non-None alternatives of ``annotation``, with ``Annotated`` stripped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _leaves(get_args(annotation)[0])
    if origin is Union or origin is UnionType:
        return tuple(leaf for arg in get_args(annotation) for leaf in _leaves(arg))
    return () if annotation is type(None) else (annotation,)


def _is_plain(annotation: Any) -> bool:
    """True when a value of this type is its own Avro form (``_to_avro`` returns it)."""
    return all(
        isinstance(leaf, type)
        and issubclass(leaf, _PLAIN_LEAVES)  # str/int enums included: to_record keeps them
        and get_origin(leaf) is None
        for leaf in _leaves(annotation)
    )


def _plain_model(annotation: Any) -> type[BaseModel] | None:
    leaves = _leaves(annotation)
    if len(leaves) != 1 or not isinstance(leaves[0], type) or not issubclass(leaves[0], BaseModel):
        return None
    cls = leaves[0]
    if cls.model_computed_fields or not all(
        _is_plain(f.annotation) for f in cls.model_fields.values()
    ):
        return None
    return cls


def _converter(annotation: Any) -> Convert | None:
    """How to turn a field's value into its Avro form; None when it already is."""
    if _is_plain(annotation):
        return None
    leaves = _leaves(annotation)
    if len(leaves) != 1:
        return _to_avro  # a union of several non-null types: the exact generic walk
    if leaves[0] is uuid.UUID:
        return _uuid_str
    if leaves[0] in _DATETIMES:
        return _micros_or_none
    return _container_converter(leaves[0])


def _container_converter(leaf: Any) -> Convert:
    model = _plain_model(leaf)
    if model is not None:
        return _flat_model(model)
    origin, args = get_origin(leaf), get_args(leaf)
    if origin is dict and all(_is_plain(a) for a in args):
        return _copy_dict
    if origin is list and args:
        if _is_plain(args[0]):
            return _copy_list
        if (item := _plain_model(args[0])) is not None:
            return _flat_models(item)
    return _to_avro  # anything else: the exact generic walk, for this field only


@dataclass(frozen=True, slots=True)
class _RecordPlan:
    """The fields of one model class to rewrite after copying its ``__dict__``."""

    conversions: tuple[tuple[str, Convert], ...]


def _record_plan(cls: type[Event]) -> _RecordPlan:
    return _RecordPlan(
        conversions=tuple(
            (name, convert)
            for name, field in cls.model_fields.items()
            if (convert := _converter(field.annotation)) is not None
        )
    )


_RECORD_PLANS: Mapping[type[Event], _RecordPlan] = MappingProxyType(
    {cls: _record_plan(cls) for cls in EVENT_TYPES.values()}
)
"""Immutable, built once at import from the (immutable) catalog of event classes."""


def to_record(event: Event) -> Record:
    """The raw record of a (validated) event: what ``encode_record`` writes. Pure.

    Timestamps become int microseconds since the epoch, UUIDs strings; enums stay
    members of their ``StrEnum`` (equal to their string value); nested models become
    dicts; the class constant ``event_type`` is added last. The record shares no
    mutable container with the event.
    """
    plan = _RECORD_PLANS.get(type(event))
    if plan is None:  # a class outside EVENT_TYPES: the generic walk
        record = _to_avro(event)
    else:
        values = event.__dict__
        record = dict(values)
        for name, convert in plan.conversions:
            record[name] = convert(values[name])
    record["event_type"] = event.event_type
    return record  # type: ignore[no-any-return]


def from_record(record: Mapping[str, Any], timestamp_fields: tuple[str, ...] = ()) -> Event:
    """Build the model of a raw record; ``timestamp_fields`` are int microseconds.

    Raises :class:`InvalidEventError` naming the field when the record breaks the
    model or a seed rule, or names ``event_type`` when the type is unknown.
    """

    data = dict(record)
    for name in timestamp_fields:
        value = data.get(name)
        if isinstance(value, int):
            data[name] = _EPOCH + value * _MICROSECOND
    return event_from_json(data)
