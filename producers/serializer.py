"""The encode step: an event model in, the bytes of its Kafka record out. Pure.

:class:`EventSerializer` has confluent-kafka's serializer shape, a callable
``(obj, ctx) -> bytes`` (``confluent_kafka.serialization.Serializer``), so the same
object that encodes for :class:`~producers.EventProducer` also plugs into a
``SerializingProducer`` as its ``value.serializer``. The producer calls its batch
form, :meth:`EventSerializer.rows`, which also builds each record's key and
headers (:mod:`producers.records`).

Contract, for every method:

* **Only valid events are encoded.** The input must be an :class:`Event`
  (pydantic and the seed rules validated it at construction); anything else,
  an event type without a schema in the repo, a model that does not fit its
  schema, or an encoded size over ``max_event_bytes`` raises
  :class:`InvalidEventError` naming the field (``events[3].<field>`` in a batch,
  with the batch index in place of ``<event>``).
* **The trace copy.** Given a ``trace``, an event that carries none gets it in the
  envelope of its record; the model itself is never changed (it is frozen).
* The bytes are exactly :meth:`EventCodec.encode` of the event (with the trace
  copied in): Avro single-object encoding of the current schema of its type,
  capped at the smaller of ``max_event_bytes`` and the codec's cap.
* Thread-safe: a serializer holds its codec and a cache of per-type plans (the
  compiled writer, the header template), pure values: two threads filling one
  store equal ones.

The per-event work is the codec's ``to_record``, then the body: written by a
writer compiled from the schema (:mod:`producers.avro_writer`, about twice as
fast as fastavro's interpreter, proven to write the same bytes), or by the codec
(fastavro) for any record that writer leaves to it; plus a key and one header.
Everything else (the writer, the constant headers, the trace record) is
prepared once per event type or per batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka.serialization import SerializationContext, Serializer

from producers.avro_writer import FALLBACK_ERRORS, RecordWriter, compile_writer
from producers.records import Header, HeaderTemplate, OutgoingRecord, Row
from schemas.codec import MAGIC, EventCodec
from schemas.envelope import Trace
from schemas.errors import InvalidEventError, SchemaError
from schemas.events import Event
from schemas.records import to_record
from schemas.rules import MAX_EVENT_BYTES

__all__ = ["EventSerializer", "encode_event"]


def _prefixed(exc: InvalidEventError, prefix: str) -> InvalidEventError:
    """``exc`` with its field under ``prefix`` (``events[3]``); ``<event>`` becomes the prefix."""
    field = prefix if exc.field == "<event>" else f"{prefix}.{exc.field}"
    return InvalidEventError(field, exc.reason)


@dataclass(frozen=True, slots=True)
class _TypePlan:
    """What encoding one event type needs, built on its first event."""

    writer: RecordWriter | None
    headers: HeaderTemplate


class EventSerializer(Serializer):
    """Encodes events into their Kafka records; see the module docstring.

    ``codec`` defaults to a new :class:`EventCodec` with the same size cap;
    ``max_event_bytes`` caps the encoded value (the producer passes its settings').
    ``compiled=False`` leaves every body to the codec: for a serializer built
    to encode a handful of events, compiling writers would cost more.
    """

    __slots__ = ("_codec", "_compiled", "_max_event_bytes", "_plans")

    def __init__(
        self,
        codec: EventCodec | None = None,
        *,
        max_event_bytes: int = MAX_EVENT_BYTES,
        compiled: bool = True,
    ) -> None:
        self._codec = codec if codec is not None else EventCodec(max_event_bytes=max_event_bytes)
        self._max_event_bytes = min(max_event_bytes, self._codec.max_event_bytes)
        self._compiled = compiled
        self._plans: dict[str, _TypePlan] = {}

    @property
    def codec(self) -> EventCodec:
        """The codec that writes the values."""
        return self._codec

    def __call__(self, obj: object, ctx: SerializationContext | None = None) -> bytes:
        """The value of ``obj``'s record; ``ctx`` is unused (any topic, key or value
        field gets the same bytes). Raises :class:`InvalidEventError`."""
        return self.record(obj).value

    def record(self, event: object, *, trace: Trace | None = None) -> OutgoingRecord:
        """The record of one event (key, value, headers). Raises
        :class:`InvalidEventError` naming the field, ``<event>`` for the event as a whole."""
        return self.outgoing(self._row(event, _trace_record(trace)))

    def rows(
        self, events: Iterable[object], *, trace: Trace | None = None, indexed: bool = True
    ) -> list[Row]:
        """The records of a batch as rows (:data:`~producers.records.Row`), in input
        order, or :class:`InvalidEventError` for the first event that cannot be
        encoded (its field prefixed with ``events[i]`` when ``indexed``): all or nothing."""
        trace_record = _trace_record(trace)
        encode = self._row
        out: list[Row] = []
        append = out.append
        try:
            for event in events:
                append(encode(event, trace_record))
        except InvalidEventError as exc:
            if not indexed:
                raise
            raise _prefixed(exc, f"events[{len(out)}]") from exc
        return out

    def _row(self, event: object, trace_record: dict[str, str] | None) -> Row:
        if not isinstance(event, Event):
            raise InvalidEventError("<event>", f"expected an Event, got {type(event).__name__}")
        record = to_record(event)
        if trace_record is not None and record["trace"] is None:
            record["trace"] = trace_record  # read-only for the writer: one dict per batch
        event_type = event.event_type
        plan = self._plans.get(event_type) or self._plan(event_type)
        value = None
        if plan is not None and plan.writer is not None:
            try:
                value = plan.writer(record)
            except FALLBACK_ERRORS:
                value = None  # the codec writes it, or names what is wrong
        if value is None:
            # Unknown event types and records that do not fit their schema raise
            # InvalidEventError here, naming the field.
            value = self._codec.encode_record(record, owned=True)
        if len(value) > self._max_event_bytes:
            raise InvalidEventError(
                "<event>",
                f"encoded size {len(value)} B exceeds max_event_bytes={self._max_event_bytes}",
            )
        subject = event.subject
        key = (subject.run_id if subject.run_id is not None else subject.project).encode()
        return (key, value, record["event_id"], event_type, None)

    def _plan(self, event_type: str) -> _TypePlan | None:
        """Build (once) the plan of ``event_type``; None when it has no schema."""
        try:
            version = self._codec.catalog.current(event_type)
        except SchemaError:
            return None
        writer = None
        if self._compiled:
            writer = compile_writer(version.parsed_raw, MAGIC + version.fingerprint)
        plan = _TypePlan(writer, HeaderTemplate.of(event_type, version.fingerprint))
        return self._plans.setdefault(event_type, plan)

    def headers(self, row: Row) -> list[Header]:
        """The headers of a row's record, as a new list (what librdkafka takes)."""
        _, _, event_id, event_type, stored = row
        if stored is not None:
            return list(stored)
        return self._plans[event_type].headers.headers(event_id)

    def outgoing(self, row: Row) -> OutgoingRecord:
        """A row's record as an :class:`OutgoingRecord` (what the spool stores)."""
        key, value, event_id, event_type, _ = row
        return OutgoingRecord(key, value, tuple(self.headers(row)), event_id, event_type)


def _trace_record(trace: Trace | None) -> dict[str, str] | None:
    """The envelope's ``trace`` field as ``to_record`` writes it."""
    if trace is None:
        return None
    return {"traceparent": trace.traceparent, "tracestate": trace.tracestate}


def encode_event(
    event: object, codec: EventCodec, max_event_bytes: int, field_prefix: str = ""
) -> OutgoingRecord:
    """Encode one event into its record. Pure.

    Raises :class:`InvalidEventError` when ``event`` is not an :class:`Event`, does
    not fit its schema, or its encoded size exceeds ``max_event_bytes``; the field
    is prefixed with ``field_prefix`` (``events[3]``) so a batch names the culprit.
    For many events, build one :class:`EventSerializer` and call its ``rows``.
    """
    try:
        serializer = EventSerializer(codec, max_event_bytes=max_event_bytes, compiled=False)
        return serializer.record(event)
    except InvalidEventError as exc:
        if not field_prefix:
            raise
        raise _prefixed(exc, field_prefix) from exc
