"""A producer that keeps emitting while faults happen, and remembers what it sent and
what the broker acknowledged (the only events the pipeline promises to keep)."""

from __future__ import annotations

import threading

from producers import EventProducer
from producers.settings import KafkaSettings, ProducerSettings
from schemas.errors import ProofstreamError
from tests.factories import tool_invoked
from tests.waiting import wait_until

RUNS = 48
"""Distinct run ids, hence keys: every partition gets traffic."""


class Load:
    """Emits ``chunk`` events every ``interval_s`` from a thread, through the producer
    library (``emit_many``: validated, idempotent, ``acks=all``), until :meth:`stop`."""

    def __init__(self, kafka: KafkaSettings, chunk: int = 25, interval_s: float = 0.05) -> None:
        self._producer = EventProducer(kafka, ProducerSettings(delivery_timeout_ms=60_000))
        self._chunk = chunk
        self._interval = interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.sent: set[str] = set()
        self.acked: set[str] = set()
        self.failures: list[str] = []
        self._n = 0
        self._thread = threading.Thread(target=self._run, name="fault-load", daemon=True)

    def start(self) -> Load:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop emitting, wait for the last chunk's acknowledgements, close."""
        self._stop.set()
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), "the load thread did not finish its last chunk"
        self._producer.close()

    def acked_count(self) -> int:
        with self._lock:
            return len(self.acked)

    def wait_acked(self, at_least: int, timeout: float = 120.0) -> None:
        """Block until ``at_least`` events were acknowledged in total."""
        wait_until(
            lambda: self.acked_count() >= at_least,
            timeout=timeout,
            interval=0.1,
            what=f"{at_least} acknowledged events (have {self.acked_count()}, "
            f"failures {self.failures[-3:]})",
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            events = [
                tool_invoked(run_id=f"run-{(self._n + i) % RUNS}", n=self._n + i)
                for i in range(self._chunk)
            ]
            self._n += self._chunk
            ids = {str(e.event_id) for e in events}
            with self._lock:
                self.sent |= ids
            try:
                deliveries = self._producer.emit_many(events)
            except ProofstreamError as exc:  # not acknowledged: may or may not be in the log
                with self._lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}"[:300])
            else:
                with self._lock:
                    self.acked |= {str(d.event_id) for d in deliveries if not d.spooled}
            self._stop.wait(self._interval)  # pacing, not synchronisation
