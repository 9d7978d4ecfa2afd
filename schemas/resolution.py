"""Read plans: how a body written with any released schema becomes a current record.

The reader of single-object bytes knows the writer schema (by its fingerprint)
and wants a record of the *current* schema of that event type. :func:`read_plan`
works out, once per released schema version, how to get there: plain Avro schema
resolution across compatible versions, and at each declared breaking change an
upcaster (:data:`~schemas.upcast.UPCASTERS`) followed by resolution of its output
into the last version before the next break. :class:`~schemas.codec.EventCodec`
builds every plan when it is constructed and runs them on decode.

Building a plan is pure and does not fail for a catalog that loaded. Running a
step (:func:`resolve`) raises whatever fastavro or the upcaster raises for a
record that does not fit; the codec turns that into a ``DecodeError``.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from schemas.catalog import SchemaCatalog, SchemaVersion
from schemas.records import Record
from schemas.upcast import UPCASTERS, Upcaster

__all__ = ["ReadPlan", "Step", "read_plan", "resolve"]


def _timestamp_fields(schema: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        f["name"]
        for f in schema["fields"]
        if isinstance(f["type"], dict) and f["type"].get("logicalType") == "timestamp-micros"
    )


@dataclass(frozen=True, slots=True)
class Step:
    """One declared breaking change on the way to the current schema: run
    ``upcaster``, whose output has schema ``shape``, then resolve it into ``target``."""

    upcaster: Upcaster
    shape: SchemaVersion  # the version the upcaster's output has
    target: SchemaVersion  # the version to resolve into before the next step


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """How to read a body written with ``writer`` into a record of ``current``:
    decode it with ``reader`` (plain resolution up to the first break), then run
    ``steps`` in order. ``timestamp_fields`` of ``current`` feed ``from_record``."""

    writer: SchemaVersion
    reader: Any  # parsed raw reader schema, or None when writer is the reader
    steps: tuple[Step, ...]
    current: SchemaVersion
    timestamp_fields: tuple[str, ...]


def read_plan(catalog: SchemaCatalog, writer: SchemaVersion) -> ReadPlan:
    """The plan for bodies written with ``writer``, a version in ``catalog``. Pure."""
    history = catalog.versions(writer.event_type)
    current = history[-1]
    later = history[history.index(writer) :]
    # Cut the history into segments at declared breaking steps.
    segments: list[list[SchemaVersion]] = [[later[0]]]
    upcasters: list[Upcaster] = []
    for prev, nxt in itertools.pairwise(later):
        up = UPCASTERS.get((prev.event_type, prev.version))
        if up is not None and up.to_version == nxt.version:
            upcasters.append(up)
            segments.append([nxt])
        else:
            segments[-1].append(nxt)
    first_target = segments[0][-1]
    steps = tuple(
        Step(upcaster=up, shape=seg[0], target=seg[-1])
        for up, seg in zip(upcasters, segments[1:], strict=True)
    )
    return ReadPlan(
        writer=writer,
        reader=None if first_target is writer else first_target.parsed_raw,
        steps=steps,
        current=current,
        timestamp_fields=_timestamp_fields(current.schema),
    )


def resolve(record: Record, writer: SchemaVersion, reader: SchemaVersion) -> Record:
    """``record`` (of schema ``writer``) as a record of schema ``reader``, by Avro
    schema resolution through a round trip to bytes. Raises what fastavro raises
    for a record that does not fit ``writer`` or resolve into ``reader``."""
    if writer is reader:
        return record
    buf = io.BytesIO()
    schemaless_writer(buf, writer.parsed_raw, record)
    buf.seek(0)
    resolved = schemaless_reader(buf, writer.parsed_raw, reader.parsed_raw)
    if not isinstance(resolved, dict):
        raise TypeError(f"{reader.label}: resolved body is not a record")
    return resolved
