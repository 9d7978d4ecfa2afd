"""Avro object containers made of our records' bodies, for ClickHouse's Avro reader.

An Avro object container is a header (magic, the writer schema, a sync marker)
followed by blocks: a record count, a byte size, the *concatenated datums* and
the sync marker again. A single-object record is ``C3 01`` + fingerprint +
datum, so the bodies of a batch's records of one writer schema, concatenated,
already are a block's data. Each datum is followed by the record's log
coordinates, encoded as three trailing fields that the container's schema
declares after the event's own (:data:`LOG_FIELDS`): an Avro record is its
fields' encodings back to back, so appending fields is appending their bytes.

Everything is encoded by fastavro (headers, the appended fields, the block's
count and size); nothing here decodes an event. Pure.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import fastavro

from sinks.base import Encoded

__all__ = ["LOG_FIELDS", "Container", "block_of", "container_schema"]

LOG_FIELDS: Final = (
    {"name": "__log_topic", "type": "string"},
    {"name": "__log_partition", "type": "int"},
    {"name": "__log_offset", "type": "long"},
)
_TAIL = fastavro.parse_schema(
    {"type": "record", "name": "LogTail", "namespace": "proofstream.facts", "fields": LOG_FIELDS}
)
_LONG = fastavro.parse_schema("long")


def container_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The writer ``schema`` of an event type with :data:`LOG_FIELDS` appended. Pure."""
    extended = copy.deepcopy(dict(schema))
    extended["fields"] = [*extended["fields"], *LOG_FIELDS]
    return extended


@dataclass(frozen=True, slots=True)
class Container:
    """The cached header of one writer schema's containers and its sync marker."""

    header: bytes
    sync: bytes

    @classmethod
    def of(cls, schema: Mapping[str, Any]) -> Container:
        """Header and sync marker for ``schema`` (the sync marker derives from the
        schema, so the same records always give the same bytes). Pure."""
        extended = container_schema(schema)
        sync = hashlib.sha256(json.dumps(extended, sort_keys=True).encode()).digest()[:16]
        buf = io.BytesIO()
        fastavro.writer(buf, fastavro.parse_schema(extended), [], sync_marker=sync)
        return cls(buf.getvalue(), sync)


def block_of(container: Container, records: Sequence[Encoded]) -> bytes:
    """A whole container file holding ``records`` (bodies of one writer schema) in
    one block, each followed by its log coordinates. Pure."""
    data = io.BytesIO()
    write = fastavro.schemaless_writer
    for record in records:
        pos = record.position
        data.write(record.body)
        write(data, _TAIL, {"__log_topic": pos.topic, "__log_partition": pos.partition,
                            "__log_offset": pos.offset})  # fmt: skip
    payload = data.getvalue()
    out = io.BytesIO()
    out.write(container.header)
    write(out, _LONG, len(records))
    write(out, _LONG, len(payload))
    out.write(payload)
    out.write(container.sync)
    return out.getvalue()
