"""The event codec: Avro single-object encoding, decoded by fingerprint.

Wire format (Avro spec, "single-object encoding")::

    C3 01 | 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema | Avro body

Each event type has its own schema (sharing the named envelope types), so the
body is a plain record: no union branch, no payload dispatch. The reader looks
the writer schema up by fingerprint among every version kept in the repo and
resolves it into the current schema of that event type (running upcasters for
declared breaking changes): the read plans of :mod:`schemas.resolution`.

Two shapes of data cross this module:

* models (:class:`~schemas.events.Event`), for service authors: :meth:`EventCodec.encode`
  and :meth:`EventCodec.decode`;
* raw records (plain dicts: timestamps as int microseconds since the epoch, UUIDs
  as strings, enums as strings), for pipelines: :meth:`EventCodec.decode_record` is
  the fastest way from Kafka bytes to data; :meth:`EventCodec.encode_record` writes a
  record that already passed the model (``to_record``) or came from ``decode_record``.

Conversion between the two lives in :mod:`schemas.records` (``to_record`` and
``from_record`` are re-exported here, as part of this module's API).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from schemas.catalog import SchemaCatalog, load_catalog
from schemas.errors import DecodeError, EventError, InvalidEventError, SchemaError
from schemas.events import Event
from schemas.records import Record, from_record, to_record
from schemas.resolution import ReadPlan, read_plan, resolve
from schemas.rules import MAX_EVENT_BYTES

__all__ = [
    "HEADER_LEN",
    "MAGIC",
    "EventCodec",
    "from_record",
    "to_record",
]

MAGIC = b"\xc3\x01"
"""The two marker bytes of Avro single-object encoding."""

HEADER_LEN = len(MAGIC) + 8
"""The single-object header: the marker, then the writer schema's 8-byte fingerprint."""


def _nullable_records(parsed: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Top-level fields typed ``["null", <record>]``, with the record's full name."""
    named = parsed.get("__named_schemas", {})
    tagged = []
    for field in parsed["fields"]:
        branches = field["type"]
        if not isinstance(branches, list) or len(branches) != 2 or branches[0] != "null":
            continue
        branch = branches[1]
        if isinstance(branch, str):  # a reference to a named type defined earlier
            branch = named.get(branch)
        if isinstance(branch, dict) and branch.get("type") == "record":
            tagged.append((str(field["name"]), str(branch["name"])))
    return tuple(tagged)


def _name_branches(record: Record, tagged: tuple[tuple[str, str], ...]) -> None:
    """Write the branch of each nullable-record field in fastavro's tuple notation.

    Without a named branch fastavro picks one by validating the whole nested record
    against the union (~10% of encoding an event). Named, the record is written like
    any non-union nested record: same bytes, and a record that does not fit still
    fails (naming the field). Values already in tuple notation are left alone.
    """
    for name, branch in tagged:
        value = record.get(name)
        if isinstance(value, dict):
            record[name] = (branch, value)


class EventCodec:
    """Encodes events to single-object Avro bytes and decodes them back.

    Build once (loading the catalog reads the ``.avsc`` files) and share it:
    it holds no mutable state, so it is safe across threads. ``max_event_bytes``
    caps an encoded event (a seed rule: no blobs in events); ``max_input_bytes``
    caps what ``decode`` will even look at. Both default to the one event limit,
    :data:`schemas.rules.MAX_EVENT_BYTES`, and count the same bytes (the whole
    single-object encoding), so a consumer refuses every event a producer would
    have refused for its size.
    """

    __slots__ = ("_catalog", "_current", "_max_event", "_max_input", "_plans")

    def __init__(
        self,
        catalog: SchemaCatalog | None = None,
        *,
        max_event_bytes: int = MAX_EVENT_BYTES,
        max_input_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self._catalog = catalog if catalog is not None else load_catalog()
        self._max_event = max_event_bytes
        self._max_input = max_input_bytes
        # event type -> (single-object header, parsed raw schema, nullable-record fields)
        self._current: Mapping[str, tuple[bytes, Any, tuple[tuple[str, str], ...]]] = (
            MappingProxyType(
                {
                    et: (MAGIC + sv.fingerprint, sv.parsed_raw, _nullable_records(sv.parsed_raw))
                    for et in self._catalog.event_types
                    for sv in (self._catalog.current(et),)
                }
            )
        )
        self._plans: Mapping[bytes, ReadPlan] = MappingProxyType(
            {fp: read_plan(self._catalog, sv) for fp, sv in self._catalog.by_fingerprint.items()}
        )

    @property
    def catalog(self) -> SchemaCatalog:
        """The schemas this codec reads and writes."""
        return self._catalog

    @property
    def max_event_bytes(self) -> int:
        """The cap on an encoded event (the whole single-object encoding)."""
        return self._max_event

    def fingerprint(self, event_type: str) -> bytes:
        """The 8-byte fingerprint of the current schema of ``event_type``.

        Raises :class:`SchemaError` for an unknown event type.
        """
        return self._catalog.current(event_type).fingerprint

    def upcasts(self, fingerprint: bytes) -> bool:
        """Whether records of writer ``fingerprint`` need an upcaster (a declared
        breaking change) to reach the current schema: plain Avro schema resolution,
        which any Avro reader does, is not enough for them. Unknown: ``False``."""
        plan = self._plans.get(fingerprint)
        return plan is not None and bool(plan.steps)

    def encode(self, event: Event) -> bytes:
        """Serialize a validated event with the current schema of its type. Pure.

        Raises :class:`InvalidEventError` (field ``<event>``) when the encoded event
        exceeds ``max_event_bytes``, and :class:`SchemaError` for an event type
        that has no schema.
        """
        try:
            header, schema, tagged = self._current[event.event_type]
        except KeyError:
            raise SchemaError(f"no schema for event type {event.event_type!r}") from None
        record = to_record(event)
        _name_branches(record, tagged)
        return self._write(header, schema, record)

    def encode_record(self, record: Mapping[str, Any], *, owned: bool = False) -> bytes:
        """Serialize a raw record (from ``to_record`` or ``decode_record``). Pure.

        No seed rule runs here: service authors call :meth:`encode` with a model.
        Raises :class:`InvalidEventError` when the record does not fit the schema
        or exceeds ``max_event_bytes``.

        The caller's record is left untouched unless ``owned`` is true: then it must
        be a ``dict`` the caller hands over (a fresh ``to_record`` result), and its
        nullable record fields may be rewritten in place, which saves a copy.
        """
        event_type = record.get("event_type")
        try:
            header, schema, tagged = self._current[event_type]  # type: ignore[index]
        except (KeyError, TypeError):
            raise InvalidEventError("event_type", f"unknown event type {event_type!r}") from None
        if owned:
            _name_branches(record, tagged)  # type: ignore[arg-type]
        else:
            for name, _ in tagged:
                if isinstance(record.get(name), dict):
                    record = dict(record)  # a shallow copy: the caller's record stays untouched
                    _name_branches(record, tagged)
                    break
        return self._write(header, schema, record)

    def _write(self, header: bytes, schema: Any, record: Mapping[str, Any]) -> bytes:
        # A fresh buffer per call: a buffer kept on the codec would make it unsafe to
        # share across threads, and BytesIO() costs well under a microsecond.
        # ``schema`` is fastavro-parsed once in the catalog, so fastavro's own
        # parse_schema call is its cheap already-parsed check.
        buf = io.BytesIO()
        buf.write(header)
        try:
            schemaless_writer(buf, schema, record)
        except Exception as exc:  # fastavro raises ValueError, TypeError, KeyError, ...
            raise InvalidEventError("<event>", f"does not fit its schema: {exc}") from exc
        data = buf.getvalue()
        if len(data) > self._max_event:
            raise InvalidEventError(
                "<event>", f"encoded size {len(data)} B exceeds the cap of {self._max_event} B"
            )
        return data

    def header(self, raw: bytes) -> tuple[bytes, str]:
        """The writer fingerprint and event type of single-object bytes, without
        decoding the body: the cheap check every record passes on the hot path.

        Raises :class:`DecodeError` (carrying ``raw``) for input that is not bytes,
        is over the input cap, lacks the ``C3 01`` marker or names a fingerprint
        of no released schema.
        """
        writer = self._header(raw)[0].writer
        return writer.fingerprint, writer.event_type

    def _header(self, raw: bytes) -> tuple[ReadPlan, bytes]:
        # Checks are ordered by cost: the exact-type test is the common case, the
        # union isinstance and the copy only run for bytearray/memoryview input.
        if type(raw) is not bytes:
            if not isinstance(raw, bytes | bytearray | memoryview):
                raise DecodeError(f"expected bytes, got {type(raw).__name__}", b"")
            raw = bytes(raw)
        size = len(raw)
        if size > self._max_input:
            raise DecodeError(f"{size} B exceeds the input cap of {self._max_input} B", raw)
        if size < HEADER_LEN or not raw.startswith(MAGIC):
            raise DecodeError("not Avro single-object encoding (no C3 01 header)", raw)
        plan = self._plans.get(raw[2:HEADER_LEN])
        if plan is None:
            raise DecodeError(f"unknown schema fingerprint {raw[2:HEADER_LEN].hex()}", raw)
        return plan, raw

    def decode_record(self, raw: bytes) -> Record:
        """Decode bytes into a raw record of the current schema: the fastest path.

        Timestamps are int microseconds since the epoch (UTC), UUIDs and enums are
        strings. Seed rules are not re-checked (use :meth:`decode` for that).
        Never raises anything but :class:`DecodeError`, which carries ``raw``.
        """
        return self._read(raw)[0]

    def decode_checked(self, raw: bytes) -> Record:
        """Like :meth:`decode_record`, after validating the record against its model
        (every seed rule the producer runs). The consumer's path for records its
        screen could not clear. Never raises anything but :class:`DecodeError`,
        whose ``__cause__`` is the :class:`InvalidEventError` naming the field."""
        record, plan = self._read(raw)
        try:
            from_record(record, plan.timestamp_fields)
        except EventError as exc:
            raise DecodeError(
                f"{plan.writer.label}: decoded record is invalid: {exc}", raw
            ) from exc
        return record

    def decode(self, raw: bytes) -> Event:
        """Decode bytes into the event model of the current schema, re-validated.

        Never raises anything but :class:`DecodeError`, which carries ``raw``.
        """
        record, plan = self._read(raw)
        try:
            return from_record(record, plan.timestamp_fields)
        except EventError as exc:
            raise DecodeError(
                f"{plan.writer.label}: decoded record is invalid: {exc}", raw
            ) from exc

    def _read(self, raw: bytes) -> tuple[Record, ReadPlan]:
        plan, raw = self._header(raw)
        size = len(raw)
        buf = io.BytesIO(raw)  # shares raw's buffer: no copy
        buf.seek(HEADER_LEN)
        try:
            # The parsed writer schema, and reader None when the writer is current:
            # fastavro then skips both parsing and schema resolution.
            record = schemaless_reader(buf, plan.writer.parsed_raw, plan.reader)
            if buf.tell() != size:
                raise ValueError(f"{size - buf.tell()} trailing bytes after the record")
            if not isinstance(record, dict):
                raise TypeError("body is not a record")
            for step in plan.steps:
                record = resolve(step.upcaster.function(record), step.shape, step.target)
        except DecodeError:
            raise
        except Exception as exc:  # fastavro signals bad bytes with many exception types
            raise DecodeError(f"{plan.writer.label}: undecodable body: {exc!r}", raw) from exc
        return record, plan
