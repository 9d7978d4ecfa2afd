"""Pure mapping from an event to the Kafka record that carries it (no I/O).

The record layout is part of the wire contract that every consumer relies on:

* **key** = ``subject.run_id`` (UTF-8), else ``subject.project``. Kafka keeps the
  records of one key on one partition in the order they were acknowledged, so
  **all events of one run are read back in the order they were emitted** (the
  producer is idempotent, so retries never reorder them). Events without a run
  are ordered per project. Changing the key function breaks that ordering for
  in-flight runs: it is a versioned decision, not a tuning knob.
* **value** = the Avro single-object encoding from :class:`~schemas.codec.EventCodec`
  (written by :class:`~producers.serializer.EventSerializer`).
* **headers** (all UTF-8 strings), so routers and dead-letter tooling can act
  without decoding the value:

  ``event-type``          ``run.started``
  ``event-id``            the event's UUID (the idempotency key)
  ``schema-fingerprint``  16 lowercase hex digits: the 8-byte CRC-64-AVRO fingerprint
                          of the writer schema, the same bytes as in the value's header
  ``content-type``        :data:`CONTENT_TYPE`
  ``traceparent`` / ``tracestate``  W3C trace context of the producer's ``send`` span,
                          one per batch (or the caller's context when no SDK records
                          spans); added by the producer, not here
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import Event

__all__ = [
    "CONTENT_TYPE",
    "Header",
    "HeaderTemplate",
    "OutgoingRecord",
    "Row",
    "message_key",
]

CONTENT_TYPE = "application/vnd.apache.avro+single-object"
"""The ``content-type`` header of every event record."""

Header = tuple[str, bytes]


Row = tuple[bytes, bytes, str, str, tuple[Header, ...] | None]
"""A record as the producer keeps it while in flight: ``(key, value, event_id,
event_type, headers)``, where ``headers`` None means the ones
:class:`HeaderTemplate` makes for ``event_type`` and ``event_id`` (a spooled record
keeps the headers it was written with). Why not an :class:`OutgoingRecord`: a flat
tuple of bytes and strings leaves the garbage collector's tracking at its first
pass, while an object (or a tuple holding fresh tuples) stays tracked into the
oldest generation, and tens of thousands of those in flight cost a full
collection of the whole heap: more than encoding them."""


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One encoded event, ready to produce: what the spool stores, too."""

    key: bytes
    value: bytes
    headers: tuple[Header, ...]
    event_id: str
    event_type: str

    def row(self) -> Row:
        """This record as a :data:`Row` (with its own headers)."""
        return (self.key, self.value, self.event_id, self.event_type, self.headers)


def message_key(event: Event) -> bytes:
    """The partition key: ``subject.run_id``, else ``subject.project`` (see module doc)."""
    subject = event.subject
    return (subject.run_id if subject.run_id is not None else subject.project).encode()


@dataclass(frozen=True, slots=True)
class HeaderTemplate:
    """The headers of every record of one event type, in wire order. Only ``event-id``
    differs between records, so a record's headers are this template's shared
    tuples around one new one: nothing is formatted per record."""

    event_type: Header
    schema_fingerprint: Header
    content_type: Header

    @classmethod
    def of(cls, event_type: str, fingerprint: bytes) -> HeaderTemplate:
        """The template for ``event_type`` whose writer schema has ``fingerprint``
        (the 8 bytes after ``C3 01`` in the value)."""
        return cls(
            ("event-type", event_type.encode()),
            ("schema-fingerprint", fingerprint.hex().encode()),
            ("content-type", CONTENT_TYPE.encode()),
        )

    def headers(self, event_id: str) -> list[Header]:
        """The headers of the record of the event ``event_id``, as a new list."""
        return [
            self.event_type,
            ("event-id", event_id.encode()),
            self.schema_fingerprint,
            self.content_type,
        ]
