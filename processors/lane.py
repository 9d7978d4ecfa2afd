"""A lane: one plane in the engine, with its own thread, queue, store and checkpoint.

The engine (``processors.engine``) builds one ``Lane`` per plane and hands every
decoded batch to each of them; a lane applies the part of it its plane has not
applied yet. Contract:

- **Threads**: ``start``, ``request_stop`` and ``join`` are called once each, from
  the host's thread (through ``Engine.start``/``Engine.stop``); ``submit`` from the
  engine's consumer thread. The store and the checkpoint are only touched on the
  lane's own thread, which opens the store, runs the checkpoint per batch and
  closes the store.
  ``status`` and ``starts`` are written by the lane's thread and read by the others
  (``/status``, the engine's lag and partition assignment) without a lock: each
  status field is replaced whole (the watermark by a new dict) and ``starts`` only
  loses keys, one ``pop`` at a time, so a reader sees an old or a new value.
- **Positions**: ``starts`` holds, per partition, the first offset the store does
  not hold yet (its watermark + 1, read when the store opens); records before it
  are dropped (``after``) until the partition is past it. Applying a batch again is
  therefore harmless: what the store holds is skipped, and the store's writes are
  idempotent anyway.
- **Backpressure**: the queue is bounded (``lane_queue``): ``submit`` blocks while
  it is full, so a slow plane holds the consumer back instead of piling batches up;
  it gives up (returns False) once the engine halts.
- **Failure**: a store that does not open makes ``start`` raise. After that, a lane
  never dies silently: a checkpoint that gives up (``RetryableError``: stopping, or
  the store/Kafka never came back) leaves the batch uncommitted, to be read again
  after a restart; any other error is logged; either way ``status.health`` says
  why, the store is closed and the thread ends. A lane that ends before it was
  asked to stop sets ``failure`` and halts the engine: the other lanes finish their
  batch, and the worker exits non-zero (``processors.worker``) for its supervisor to
  restart it, where every plane resumes after its store's watermark. Draining
  nothing more while the others waited on it would stall every plane for good.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from processors.checkpoint import Checkpoint, CheckpointResult, Committer, RetryPolicy
from processors.dlq import DeadLetterPublisher
from processors.settings import ProcessorSettings
from processors.telemetry import CheckpointTelemetry
from schemas.errors import BrokerUnavailableError, ProofstreamError, RetryableError
from sinks.base import LogPosition, Watermark, advance
from sinks.decode import Decoded
from sinks.plane import Plane

__all__ = ["POLL_S", "Lane", "PlaneStatus", "after"]

log = logging.getLogger(__name__)

_STOP = object()
POLL_S = 0.5
"""How long a blocking wait (a full queue here, ``consume`` in the engine) runs
before it looks at the halt flag again."""


@dataclass(slots=True)
class PlaneStatus:
    """What ``/status`` reports of one plane."""

    name: str
    group: str
    health: str = "starting"
    watermark: Watermark = field(default_factory=dict)
    dead_letters: int = 0
    batches: int = 0
    applied: int = 0
    last: CheckpointResult | None = None


def after(decoded: Decoded, starts: Mapping[tuple[str, int], int]) -> Decoded:
    """The part of ``decoded`` at or after ``starts`` per partition (records before a
    plane's resume position are already in its store). Pure."""

    def keep(pos: LogPosition) -> bool:
        return pos.offset >= starts.get((pos.topic, pos.partition), 0)

    records = [r for r in decoded.records if keep(r.position)]
    upto: Watermark = {}
    for r in records:
        key = (r.position.topic, r.position.partition)
        upto[key] = max(upto.get(key, -1), r.position.offset)
    return Decoded(
        upto=upto,
        records=records,
        events=[e for e in decoded.events if keep(e.position)],
        encoded=[e for e in decoded.encoded if keep(e.position)],
        rejected=[x for x in decoded.rejected if keep(x.record.position)],
    )


class Lane:
    """One plane in the engine: its thread, its queue, its store and checkpoint."""

    def __init__(  # noqa: PLR0917 - built in one place, by the engine
        self,
        plane: Plane[Any],
        dlq: DeadLetterPublisher,
        open_committer: Callable[[str], Committer],
        settings: ProcessorSettings,
        halt: threading.Event,
        telemetry: CheckpointTelemetry | None = None,
    ) -> None:
        self.plane = plane
        self.status = PlaneStatus(
            plane.name, f"{settings.group_prefix}.{plane.group or plane.name}"
        )
        self._dlq = dlq
        self._open_committer = open_committer
        self._settings = settings
        self._halt = halt
        self._queue: queue.Queue[object] = queue.Queue(maxsize=settings.lane_queue)
        self._opened = threading.Event()
        self._error: BaseException | None = None
        self.failure: str | None = None
        """Why the thread ended before it was asked to stop (None while it runs, and
        after an orderly stop); set once, by the lane's thread."""
        self._thread = threading.Thread(target=self._main, name=f"lane-{plane.name}", daemon=True)
        self.starts: dict[tuple[str, int], int] = {}
        self.telemetry = telemetry or CheckpointTelemetry(plane.name)

    def start(self, timeout_s: float = 120.0) -> None:
        """Start the thread and wait until the store is open and its watermark read.
        Raises what opening the store raised."""
        self._thread.start()
        if not self._opened.wait(timeout_s):
            raise BrokerUnavailableError(f"{self.plane.name}: store did not open in {timeout_s}s")
        if self._error is not None:
            raise self._error

    def submit(self, decoded: Decoded) -> bool:
        """Queue a batch (blocks while the queue is full); False once halting."""
        while not self._halt.is_set():
            try:
                self._queue.put(decoded, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def request_stop(self) -> None:
        """Ask the thread to finish its current batch (or abandon it, uncommitted),
        close the store and end; returns at once (:meth:`join` waits)."""
        with contextlib.suppress(queue.Full):  # halt is set: it stops after this batch anyway
            # (the _STOP only wakes a thread waiting on an empty queue sooner)
            self._queue.put_nowait(_STOP)

    def join(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the thread to end. A thread still running then
        (a store or a client that does not answer) is a daemon: it is abandoned with
        its batch uncommitted, to be applied again after a restart."""
        self._thread.join(max(0.0, timeout_s))

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def _main(self) -> None:
        try:
            store = self.plane.open_store()
        except BaseException as exc:  # reported to start(), which raises it
            self._error = exc
            self._opened.set()
            return
        try:
            marks = store.watermark()
            self.status.watermark = dict(marks)
            self.starts = {key: offset + 1 for key, offset in marks.items()}
            committer = self._open_committer(self.status.group)
            checkpoint = Checkpoint(
                self.plane.projection,
                store,
                self._dlq,
                committer,
                retry=RetryPolicy(self._settings.retry_initial_s, self._settings.retry_max_s),
                stopping=self._halt.is_set,
                telemetry=self.telemetry,
            )
            self.status.health = "ok"
            self._opened.set()
            self._loop(checkpoint)
        except BaseException as exc:  # a lane must never die silently
            self.status.health = f"failed: {exc}"
            log.exception("lane %s failed", self.plane.name)
            self._fail(f"{type(exc).__name__}: {exc}")
            self._opened.set()
        finally:
            try:
                store.close()
            except ProofstreamError as exc:
                log.warning("closing %s: %s", self.plane.name, exc)

    def _loop(self, checkpoint: Checkpoint) -> None:
        while True:
            try:
                item = self._queue.get(timeout=POLL_S)
            except queue.Empty:
                item = None
            # halted (stopping, or another lane failed): the batches still queued stay
            # uncommitted and are read again after the restart. A blocking get would
            # wait for ever when the queue was full as the stop was asked (no _STOP)
            if item is _STOP or self._halt.is_set():
                return
            if item is None:
                continue
            assert isinstance(item, Decoded)
            decoded = item
            if self.starts:
                decoded = after(item, self.starts)
                for key, high in item.upto.items():
                    if high >= self.starts.get(key, 0):
                        self.starts.pop(key, None)  # this partition is past its resume point
            if not decoded.records:
                continue
            try:
                result = checkpoint.run(decoded)
            except RetryableError as exc:
                # not committed: stopping, or the store/Kafka never came back
                self.status.health = f"unavailable: {exc}"
                log.warning(
                    "%s: batch not applied (read again after restart): %s", self.plane.name, exc
                )
                if not self._halt.is_set():  # gave up while running, not asked to stop
                    self._fail(f"{type(exc).__name__}: {exc}")
                return
            self.status.health = "ok"
            self.status.last = result
            self.status.batches += 1
            self.status.applied += result.applied
            self.status.dead_letters += result.dead
            self.status.watermark = advance(self.status.watermark, result.upto)

    def _fail(self, why: str) -> None:
        self.failure = why
        self._halt.set()  # the consumer and the other lanes stop after their batch
