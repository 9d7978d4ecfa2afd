"""Pure mapping from an event to the Kafka record that carries it (no I/O).

The record layout is part of the wire contract that every consumer relies on:

* **key** = ``subject.run_id`` (UTF-8), else ``subject.project``. Kafka keeps the
  records of one key on one partition in the order they were acknowledged, so
  **all events of one run are read back in the order they were emitted** (the
  producer is idempotent, so retries never reorder them). Events without a run
  are ordered per project. Changing the key function breaks that ordering for
  in-flight runs: it is a versioned decision, not a tuning knob.
* **value** = the Avro single-object encoding from :class:`~schemas.codec.EventCodec`.
* **headers** (all UTF-8 strings), so routers and dead-letter tooling can act
  without decoding the value:

  ``event-type``          ``run.started``
  ``event-id``            the event's UUID (the idempotency key)
  ``schema-fingerprint``  16 lowercase hex digits: the 8-byte CRC-64-AVRO fingerprint
                          of the writer schema, the same bytes as in the value's header
  ``content-type``        :data:`CONTENT_TYPE`
  ``traceparent`` / ``tracestate``  W3C trace context of the producer span, when one
                          is recording (added by the producer, not here)
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.codec import EventCodec
from schemas.errors import InvalidEventError, SchemaError
from schemas.events import Event

__all__ = [
    "CONTENT_TYPE",
    "Header",
    "OutgoingRecord",
    "encode_event",
    "message_key",
]

CONTENT_TYPE = "application/vnd.apache.avro+single-object"
"""The ``content-type`` header of every event record."""

Header = tuple[str, bytes]


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One encoded event, ready to produce: what the spool stores, too."""

    key: bytes
    value: bytes
    headers: tuple[Header, ...]
    event_id: str
    event_type: str


def message_key(event: Event) -> bytes:
    """The partition key: ``subject.run_id``, else ``subject.project`` (see module doc)."""
    subject = event.subject
    return (subject.run_id if subject.run_id is not None else subject.project).encode()


def encode_event(
    event: object, codec: EventCodec, max_event_bytes: int, field_prefix: str = ""
) -> OutgoingRecord:
    """Encode one event into its record. Pure.

    Raises :class:`InvalidEventError` when ``event`` is not an :class:`Event`, does
    not fit its schema, or its encoded size exceeds ``max_event_bytes``; the field
    is prefixed with ``field_prefix`` (``events[3]``) so a batch names the culprit.
    """

    def named(field: str) -> str:
        if not field_prefix:
            return field
        return field_prefix if field == "<event>" else f"{field_prefix}.{field}"

    if not isinstance(event, Event):
        raise InvalidEventError(named("<event>"), f"expected an Event, got {type(event).__name__}")
    try:
        value = codec.encode(event)
        fingerprint = codec.fingerprint(event.event_type)
    except InvalidEventError as exc:
        raise InvalidEventError(named(exc.field), exc.reason) from exc
    except SchemaError as exc:  # a model whose event type has no schema in the repo
        raise InvalidEventError(named("event_type"), str(exc)) from exc
    if len(value) > max_event_bytes:
        raise InvalidEventError(
            named("<event>"),
            f"encoded size {len(value)} B exceeds max_event_bytes={max_event_bytes}",
        )
    event_id = str(event.event_id)
    headers: tuple[Header, ...] = (
        ("event-type", event.event_type.encode()),
        ("event-id", event_id.encode()),
        ("schema-fingerprint", fingerprint.hex().encode()),
        ("content-type", CONTENT_TYPE.encode()),
    )
    return OutgoingRecord(
        key=message_key(event),
        value=value,
        headers=headers,
        event_id=event_id,
        event_type=event.event_type,
    )
