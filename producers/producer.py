"""The event producer: the one way services put agent-action events into Kafka.

Contract (DESIGN §Processing guarantees):

* **Nothing invalid is sent.** ``emit``/``emit_many`` encode every event before
  producing any; a model that does not fit its schema, or is larger than
  ``max_event_bytes`` encoded, raises :class:`InvalidEventError` naming the field
  (``events[3].<field>`` in a batch, ``events[3]`` for the event as a whole) and
  nothing of the batch leaves the process.
* **Nothing acknowledged is lost.** librdkafka runs with ``enable.idempotence=true``
  and ``acks=all``; ``emit`` returns a :class:`Delivery` only after the broker
  acknowledged the record (with its partition and offset). Retries inside
  librdkafka never duplicate or reorder records of one producer session.
* **Every failure is typed.** No acknowledgement within ``delivery_timeout_ms``
  (broker down, no leader) raises :class:`BrokerUnavailableError` (retryable); a
  record the broker refuses for good (too large, not authorized) raises
  :class:`DeliveryError` (permanent). librdkafka's errors are translated in
  :mod:`producers.errors`. Refused credentials or an untrusted broker certificate
  raise :class:`~schemas.errors.AuthenticationError` at the first refusal (about a
  second), with the records purged: never a wait for the delivery timeout.
  A failed ``emit_many`` may still have delivered some of its events; sending the
  whole batch again is safe because every consumer deduplicates by ``event_id``.
* **Ordering.** The key is ``subject.run_id`` (else ``subject.project``); see
  :mod:`producers.records`.

Optional spool (``ProducerSettings.spool_dir``): events that could not be
delivered for a *retryable* reason are appended to a bounded, fsync'd on-disk
spool and ``emit`` returns ``Delivery(spooled=True)`` (no partition, no offset)
instead of raising. Trade-offs, accepted on purpose:

* a spooled event is durable **on this machine's disk only** until it is drained;
  losing the disk loses it;
* ``drain_spool()`` runs on construction, in ``flush()``, and before every emit
  while the spool is not empty; new events are spooled *behind* the spooled ones
  when the drain fails, so per-run order holds across spool and live traffic;
* a segment is deleted only after every record in it was acknowledged, so a crash
  (or a failure) in the middle of a drain re-sends some records: **duplicates are
  possible, and consumers deduplicate by** ``event_id``;
* when the spool is full (``spool_max_bytes``) ``emit`` raises
  :class:`BrokerUnavailableError` as if there were no spool.

Telemetry (OpenTelemetry API only; the application installs the SDK): one
``PRODUCER`` span ``send <topic>`` per ``emit``/``emit_many`` call, following the
messaging semantic conventions for batches, whose context goes into the
``traceparent``/``tracestate`` headers of its records and which links to the
trace contexts its events carry; an event without ``trace`` gets the caller's
current trace context in its envelope, so replayed work links back to the
original trace. Metrics: counters ``proofstream.producer.events.emitted`` and
``proofstream.producer.events.failed`` and the histogram
``proofstream.producer.delivery.latency`` (ms). See :mod:`producers.telemetry`.

Where the parts live: the encode step is :mod:`producers.serializer`, the steps
every emit runs (shared by this module's :class:`EventProducer` and
:class:`~producers.async_producer.AsyncEventProducer`) are :mod:`producers.core`,
delivery reports land in :mod:`producers.delivery`, the spool is
:mod:`producers.spool`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Self

from producers.core import POLL_S, ProducerBase
from producers.delivery import Delivery, PendingBatch
from schemas.errors import BrokerUnavailableError
from schemas.events import Event

__all__ = ["EventProducer"]

_log = logging.getLogger(__name__)


class EventProducer(ProducerBase):
    """Synchronous producer of agent-action events; see the module docstring for
    the contract. Build one per process from settings, share it between threads,
    ``close()`` it (or use ``with``) on shutdown.

    Delivery reports are served by the calling thread while it waits, so no
    background thread exists. The constructor drains a non-empty spool; if the
    broker is still unreachable the spool stays and is drained later.
    """

    def _open(self) -> None:
        if self._core.has_spooled():
            try:
                self._core.drain(self._wait)
            except BrokerUnavailableError as exc:
                _log.warning("spool not drained yet: %s", exc)

    def emit(self, event: Event) -> Delivery:
        """Validate, encode and send one event; return once the broker acknowledged it
        (or it was spooled). Raises InvalidEventError (nothing sent),
        BrokerUnavailableError (retryable) or DeliveryError (permanent)."""
        return self._emit([event], indexed=False)[0]

    def emit_many(self, events: Iterable[Event]) -> list[Delivery]:
        """Send a batch: validate and encode *all* events first (InvalidEventError names
        ``events[i].field``, nothing sent), produce them all, then wait for every
        acknowledgement. Deliveries come back in input order. Errors as :meth:`emit`."""
        return self._emit(list(events), indexed=True)

    def _emit(self, events: Sequence[Event], indexed: bool) -> list[Delivery]:
        core = self._core
        prepared = core.prepare(events, indexed)
        if core.has_spooled():
            try:
                core.drain(self._wait)
            except BrokerUnavailableError:
                # Still down: queue behind the spooled events to keep per-run order.
                return core.spool_instead(prepared)
        batch = core.enqueue(prepared)
        self._wait(batch, core.wait_budget_s)
        return core.settle(batch)

    def _wait(self, batch: PendingBatch, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not batch.done.is_set() and time.monotonic() < deadline:
            self._core.poll(POLL_S)
        return batch.done.is_set()

    def drain_spool(self) -> int:
        """Re-send spooled events in order; return how many. Idempotent (an empty spool
        is a no-op). Raises BrokerUnavailableError while the broker is unreachable."""
        return self._core.drain(self._wait)

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every produced record was reported, then drain the spool.
        Raises BrokerUnavailableError if records are still pending at the timeout."""
        self._core.flush(timeout_s)
        self.drain_spool()

    def close(self) -> None:
        """Flush, then refuse further emits and release the client when nothing is
        pending. Idempotent; raises what ``flush`` raises (the producer is closed anyway)."""
        if self._core.closed:
            return
        try:
            self.flush()
        finally:
            self._core.closed = True
            self._core.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
