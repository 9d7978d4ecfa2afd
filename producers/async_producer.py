"""The asyncio flavour of the event producer: the same contract as
:class:`~producers.producer.EventProducer` (see :mod:`producers.producer`), the
same steps (:mod:`producers.core`), with awaitables instead of blocking calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Self

from producers.core import POLL_S, ProducerBase
from producers.delivery import Delivery, PendingBatch
from schemas.errors import BrokerUnavailableError
from schemas.events import Event

__all__ = ["AsyncEventProducer"]

_log = logging.getLogger(__name__)


class AsyncEventProducer(ProducerBase):
    """asyncio producer with the same contract as :class:`EventProducer`.

    A daemon thread serves librdkafka's delivery reports (``poll``) and resolves
    each batch's future on the event loop with ``call_soon_threadsafe``, so
    ``await emit(...)`` never blocks the loop while waiting for the broker. Spool
    I/O (fsync) runs in a worker thread. Use ``async with`` (which also drains a
    non-empty spool) or call ``await close()``.
    """

    def _open(self) -> None:
        self._stop = threading.Event()
        self._poller = threading.Thread(
            target=self._poll_loop, name="proofstream-producer-poll", daemon=True
        )
        self._poller.start()

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._core.poll(POLL_S)

    async def emit(self, event: Event) -> Delivery:
        """Async :meth:`EventProducer.emit`: resolves once the broker acknowledged."""
        return (await self._emit([event], indexed=False))[0]

    async def emit_many(self, events: Iterable[Event]) -> list[Delivery]:
        """Async :meth:`EventProducer.emit_many`: all validated first, then all sent."""
        return await self._emit(list(events), indexed=True)

    async def _emit(self, events: Sequence[Event], indexed: bool) -> list[Delivery]:
        core = self._core
        prepared = core.prepare(events, indexed)
        if core.has_spooled():
            try:
                await self.drain_spool()
            except BrokerUnavailableError:
                # Still down: queue behind the spooled events to keep per-run order.
                return await asyncio.to_thread(core.spool_instead, prepared)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def on_complete() -> None:  # runs in the poll thread
            with contextlib.suppress(RuntimeError):  # the loop closed after a timeout
                loop.call_soon_threadsafe(_resolve, done)

        batch = core.enqueue(prepared, on_complete=on_complete)
        # On timeout settle() raises BrokerUnavailableError for the incomplete batch.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done, core.wait_budget_s)
        if core.spool is not None:  # settling may append to the spool: fsync off the loop
            return await asyncio.to_thread(core.settle, batch)
        return core.settle(batch)

    async def drain_spool(self) -> int:
        """Async :meth:`EventProducer.drain_spool` (runs in a worker thread)."""
        return await asyncio.to_thread(self._core.drain, _wait_for_poll_thread)

    async def flush(self, timeout_s: float | None = None) -> None:
        """Async :meth:`EventProducer.flush`."""
        await asyncio.to_thread(self._core.flush, timeout_s)
        await self.drain_spool()

    async def close(self) -> None:
        """Flush, then stop the poll thread. Idempotent; raises what ``flush`` raises."""
        if self._core.closed:
            return
        try:
            await self.flush()
        finally:
            self._core.closed = True
            self._stop.set()
            await asyncio.to_thread(self._poller.join)
            self._core.release()

    async def __aenter__(self) -> Self:
        if self._core.has_spooled():
            try:
                await self.drain_spool()
            except BrokerUnavailableError as exc:
                _log.warning("spool not drained yet: %s", exc)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


def _wait_for_poll_thread(batch: PendingBatch, timeout_s: float) -> bool:
    # The poll thread serves the reports; a worker thread just waits for the last one.
    return batch.done.wait(timeout_s)
