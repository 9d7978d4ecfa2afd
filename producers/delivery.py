"""What happened to produced records: a :class:`Delivery` per event for the caller,
and the :class:`PendingBatch` that librdkafka's delivery reports fill in.

A batch is the records of one ``emit`` or ``emit_many`` call, or of one spool
segment being re-sent. The batch object is the one delivery callback of all its
records. librdkafka's Python client hands a report no opaque per record, so the
batch finds the record by its value: every value is distinct (it holds the
event's id), its bytes are already in the report's message, and bytes cache
their hash, so the lookup costs one hash of the reported copy. (The same event
twice in one batch gives two equal records; each still gets one report.)
Nothing is allocated per record but its row and, once reported, its
:class:`Delivery`: no closure, no other object the garbage collector would keep
tracking.

Reports run in whichever thread serves librdkafka's queue (``poll``/``flush``):
the emitting thread for ``EventProducer`` (or another thread sharing it), the
poll thread for ``AsyncEventProducer``. A report writes only its own index; a
lock guards the count of reports, so the batch completes exactly once, when its
last report arrived.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message
from opentelemetry.trace import Span

from producers.records import Row
from schemas.events import Event

__all__ = ["Delivery", "PendingBatch"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where an event ended up: acknowledged at ``topic/partition@offset``, or
    ``spooled`` on local disk (no partition, no offset) until ``drain_spool``."""

    topic: str
    partition: int | None
    offset: int | None
    event_id: uuid.UUID
    spooled: bool = False


_RESENT = Delivery("", None, None, uuid.UUID(int=0))
"""Marks an acknowledged record of a batch that came from the spool, not from events."""


class PendingBatch:
    """The delivery outcomes of records produced together, to ``topic``.

    ``rows[i]`` (of ``events[i]``, when the batch came from events) is
    acknowledged once ``deliveries[i]`` is set, failed once ``errors`` has ``i``.
    Produce every record with ``on_delivery=batch``; call :meth:`refused` for one
    whose produce call raised. ``done`` is set when every record was reported;
    then ``on_complete`` runs, in the reporting thread. ``observe(event_type,
    seconds)`` gets librdkafka's produce-to-acknowledgement time of each
    acknowledged record. ``span`` is the batch's producer span, if it is traced.

    The :class:`Delivery` of a record is made when its report arrives, while the
    caller waits for the slower ones anyway, not after the last one.
    """

    __slots__ = (
        "_by_value",
        "_lock",
        "_observe",
        "_on_complete",
        "_pending",
        "_repeated",
        "deliveries",
        "done",
        "errors",
        "events",
        "rows",
        "span",
        "topic",
    )

    def __init__(
        self,
        topic: str,
        rows: Sequence[Row],
        events: Sequence[Event] | None,
        *,
        observe: Callable[[str, float], None],
        span: Span | None = None,
        on_complete: Callable[[], object] | None = None,
    ) -> None:
        size = len(rows)
        self.topic = topic
        self.rows = rows
        self.events = events
        self.deliveries: list[Delivery | None] = [None] * size
        self.errors: dict[int, KafkaError] = {}
        self.span = span
        self.done = threading.Event()
        # value -> index, built before anything is produced, so no report can miss it.
        self._by_value = {row[1]: index for index, row in enumerate(rows)}
        self._repeated: dict[bytes, deque[int]] = {}
        if len(self._by_value) != size:  # the same event more than once in the batch
            for index, row in enumerate(rows):
                if self._by_value[row[1]] != index:
                    self._repeated.setdefault(row[1], deque()).append(index)
        self._observe = observe
        self._on_complete = on_complete
        self._pending = size
        self._lock = threading.Lock()
        if size == 0:
            self._complete()

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        """librdkafka's ``on_delivery``: find the record by value, then :meth:`report`."""
        value = msg.value()
        assert isinstance(value, bytes)  # we produced bytes
        repeated = self._repeated.get(value) if self._repeated else None
        if repeated:
            try:
                index = repeated.popleft()
            except IndexError:  # another thread took the last twin
                index = self._by_value[value]
        else:
            index = self._by_value[value]
        self.report(index, err, msg)

    def refused(self, index: int, err: KafkaError) -> None:
        """Record ``index`` was refused at produce time (no report will come)."""
        value = self.rows[index][1]
        repeated = self._repeated.get(value)
        if repeated and index in repeated:
            repeated.remove(index)
        elif repeated:  # ``index`` is the mapped one: a twin takes its place
            self._by_value[value] = repeated.pop()
        self.report(index, err, None)

    def report(self, index: int, err: KafkaError | None, msg: Message | None) -> None:
        """The outcome of ``rows[index]`` (``msg`` is None for a local refusal)."""
        if err is None and msg is not None:
            events = self.events
            self.deliveries[index] = (
                Delivery(self.topic, msg.partition(), msg.offset(), events[index].event_id)
                if events is not None
                else _RESENT  # a spooled record: nobody waits for its Delivery
            )
            latency = msg.latency()
            if latency is not None:
                self._observe(self.rows[index][3], latency)
        else:
            self.errors[index] = err if err is not None else KafkaError(KafkaError._FAIL)
        with self._lock:
            self._pending -= 1
            last = self._pending == 0
        if last:
            self._complete()

    def _complete(self) -> None:
        self.done.set()
        if self._on_complete is not None:
            self._on_complete()
