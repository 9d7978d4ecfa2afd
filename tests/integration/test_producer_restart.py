"""The never-lose contract across a broker outage: the broker is stopped in the middle
of two event streams (one producer with a spool, one without) and started again.

Every acknowledged event is in the topic exactly once; every unacknowledged one
either raised BrokerUnavailableError or sat in the spool until it was drained.
"""

from __future__ import annotations

import collections
import threading
import uuid
from pathlib import Path

import pytest

from producers import EventProducer, ProducerSettings
from proofstream.devstack.kafka import KafkaLauncher
from proofstream.settings import Settings
from schemas.errors import BrokerUnavailableError
from tests.integration.test_producer import event_id_of, started
from tests.kafka_reading import consume_all
from tests.waiting import wait_until


class Stream:
    """Emits events one by one in a thread and books what happened to each."""

    def __init__(self, producer: EventProducer, name: str) -> None:
        self.producer = producer
        self.acked: list[uuid.UUID] = []
        self.spooled: list[uuid.UUID] = []
        self.failed: list[uuid.UUID] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._n = 0

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                event = started(f"run-{self._n % 5}", goal=f"step {self._n}")
                self._n += 1
                try:
                    delivery = self.producer.emit(event)
                except BrokerUnavailableError:
                    self.failed.append(event.event_id)
                    continue
                (self.spooled if delivery.spooled else self.acked).append(event.event_id)
        except BaseException as exc:  # surfaced by the test, not lost in the thread
            self.errors.append(exc)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive()
        assert not self.errors, self.errors


def test_broker_outage_mid_stream(settings: Settings, topic: str, tmp_path: Path) -> None:
    launcher = KafkaLauncher(settings.broker, settings.state_dir)
    if not launcher.status().running:
        pytest.fail("this test restarts the broker `proofstream kafka up` started", pytrace=False)
    short = ProducerSettings(delivery_timeout_ms=3000, linger_ms=1)
    spooling = EventProducer(
        settings.kafka, short.model_copy(update={"spool_dir": tmp_path / "spool"}), topic=topic
    )
    plain = EventProducer(settings.kafka, short, topic=topic)
    with_spool, without_spool = Stream(spooling, "with-spool"), Stream(plain, "without-spool")
    streams = (with_spool, without_spool)
    for stream in streams:
        stream.start()
    try:
        wait_until(lambda: all(len(s.acked) >= 50 for s in streams), what="50 acks each")
        assert launcher.down()
        wait_until(
            lambda: len(with_spool.spooled) >= 2 and len(without_spool.failed) >= 2,
            timeout=60,
            what="emits during the outage to spool / fail",
        )
    finally:
        _, started_again = launcher.up()  # other tests need the broker: always bring it back
    assert started_again
    acked_before = [len(s.acked) for s in streams]
    wait_until(
        lambda: all(len(s.acked) >= n + 50 for s, n in zip(streams, acked_before, strict=True)),
        timeout=120,
        what="50 more acks each after the restart",
    )
    for stream in streams:
        stream.stop()
    spooling.close()  # flush() drains whatever is still spooled
    plain.close()
    assert not list((tmp_path / "spool").glob("*.seg"))

    everything = [e for s in streams for e in (*s.acked, *s.spooled, *s.failed)]
    expected_min = sum(len(s.acked) + len(s.spooled) for s in streams)
    counts = collections.Counter(
        event_id_of(m) for m in consume_all(settings, topic, expected_min, timeout=120)
    )
    for event_id in (*with_spool.acked, *without_spool.acked):
        assert counts[str(event_id)] == 1, f"acknowledged {event_id} seen {counts[str(event_id)]}x"
    for event_id in with_spool.spooled:
        assert counts[str(event_id)] >= 1, f"spooled {event_id} never drained"  # dedup by id
    assert not with_spool.failed  # with a spool, an outage never surfaces as an error
    assert without_spool.failed
    # Nothing arrived that nobody emitted.
    assert set(counts) <= {str(e) for e in everything}
