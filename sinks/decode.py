"""The one decode step, shared by the live engine and replay.

Records off the log become the parts of a :class:`~sinks.base.Batch` each
projection asks for, and the records no projection may apply become
:class:`Rejection` values (the runtime dead-letters them with their original
bytes). Per record, cheapest check first:

1. a tombstone, bytes that are not single-object Avro, over the size cap, or of an
   unknown writer fingerprint are rejected (:meth:`EventCodec.header`);
2. the seed rulebook screens the still-encoded body
   (:func:`schemas.rules.needs_check`): a record it cannot clear is decoded into
   its model, whose validators are the rules the producer runs; a violation is
   rejected and names the field and the rule;
3. the body is decoded in Python only when a projection that reads decoded events
   reads its type (:class:`Needs`), once for all of them.

Everything here is pure: the same records always give the same result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from schemas.codec import HEADER_LEN, EventCodec
from schemas.errors import DecodeError, EventError
from schemas.rules import needs_check
from sinks.base import Batch, Encoded, Input, LoggedEvent, LogRecord, Projection, Watermark

__all__ = ["Decoded", "Needs", "Rejection", "decode"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that no projection may apply: the original record, the error type
    (``DecodeError``, ``InvalidEventError``) and the reason, naming the field and
    the rule where there is one."""

    record: LogRecord
    error: str
    reason: str


@dataclass(frozen=True, slots=True)
class Needs:
    """What a set of projections reads of a batch: the event types to decode in
    Python (``None``: every type) and whether any reads still-encoded records (raw
    records are always kept)."""

    decode: frozenset[str] | None = frozenset()
    encoded: bool = False

    @classmethod
    def of(cls, projections: Iterable[Projection[object]]) -> Needs:
        """The union of what ``projections`` read. Pure."""
        types: set[str] | None = set()
        encoded = False
        for projection in projections:
            if projection.input is Input.EVENTS:
                if projection.reads is None or types is None:
                    types = None
                else:
                    types |= projection.reads
            elif projection.input is Input.ENCODED:
                encoded = True
        return cls(None if types is None else frozenset(types), encoded)

    def decodes(self, event_type: str) -> bool:
        return self.decode is None or event_type in self.decode


@dataclass(frozen=True, slots=True)
class Decoded:
    """One decoded batch: the records as read, every part any projection needs (in
    log order), and the records no projection may apply."""

    upto: Watermark
    records: Sequence[LogRecord] = ()
    events: Sequence[LoggedEvent] = ()
    encoded: Sequence[Encoded] = ()
    rejected: Sequence[Rejection] = ()
    _by_reads: dict[tuple[Input, frozenset[str] | None], Batch] = field(
        default_factory=dict, compare=False, repr=False
    )

    def batch_for(self, projection: Projection[object]) -> Batch:
        """The part of this batch ``projection`` reads (filtered to its types, log
        order kept). Projections that read the same thing share one ``Batch``."""
        key = (projection.input, projection.reads)
        batch = self._by_reads.get(key)
        if batch is None:
            batch = self._by_reads[key] = _select(self, projection.input, projection.reads)
        return batch


def _select(decoded: Decoded, input_: Input, reads: frozenset[str] | None) -> Batch:
    if input_ is Input.RAW:
        return Batch(upto=decoded.upto, raw=decoded.records)
    if input_ is Input.ENCODED:
        encoded = decoded.encoded
        if reads is not None:
            encoded = [e for e in encoded if e.event_type in reads]
        return Batch(upto=decoded.upto, encoded=encoded)
    events = decoded.events
    if reads is not None:
        events = [e for e in events if e.event_type in reads]
    return Batch(upto=decoded.upto, events=events)


def decode(codec: EventCodec, records: Sequence[LogRecord], needs: Needs) -> Decoded:
    """Classify, screen and decode ``records`` for ``needs`` (module docstring). Pure.

    Never raises for bad input: every record ends up applied or rejected.
    """
    upto: Watermark = {}
    events: list[LoggedEvent] = []
    encoded: list[Encoded] = []
    rejected: list[Rejection] = []
    header = codec.header
    decode_record = codec.decode_record
    for record in records:
        pos = record.position
        key = (pos.topic, pos.partition)
        if pos.offset > upto.get(key, -1):
            upto[key] = pos.offset
        value = record.value
        if value is None:
            rejected.append(Rejection(record, "DecodeError", "tombstone: no value"))
            continue
        try:
            fingerprint, event_type = header(value)
            body = value[HEADER_LEN:]
            data = None
            if needs_check(event_type, body):
                # the model's validators: the producer's rulebook, on this side too
                data = codec.decode_checked(value)
            if needs.decodes(event_type):
                data = data if data is not None else decode_record(value)
                if data.get("event_type") != event_type:  # the schema decides, as in SQL
                    raise DecodeError(
                        f"event_type {data.get('event_type')!r} is not its schema's", value
                    )
                events.append(LoggedEvent(pos, event_type, data["event_id"], data))
        except DecodeError as exc:
            rejected.append(Rejection(record, _error_name(exc), exc.reason))
            continue
        if needs.encoded:
            encoded.append(Encoded(pos, event_type, fingerprint, body))
    return Decoded(upto=upto, records=records, events=events, encoded=encoded, rejected=rejected)


def _error_name(exc: DecodeError) -> str:
    # a record that decodes but breaks a rule: name the rule's error, not the
    # decoding failure, so the DLQ says what was wrong with it
    cause = exc.__cause__
    return type(cause).__name__ if isinstance(cause, EventError) else type(exc).__name__
