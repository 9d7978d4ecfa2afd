"""Replay of the file-based planes (identity, catalog, evidence, lineage) on the real broker.

Per plane: a simulated workload is projected live through the engine's checkpoint
(fed from a confluent consumer, partitions interleaved in an order a rebuild would
not read them in); then ``proofstream replay verify`` must find live == fold(log),
``rebuild --swap`` must make the new generation the one the plane's store opens,
and ``gc`` must drop the old ones but never the live one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from processors.checkpoint import Checkpoint
from processors.dlq import DeadLetter
from producers.producer import EventProducer
from proofstream.cli import app
from proofstream.planes import plane
from proofstream.settings import Settings
from proofstream.workload import simulate
from replay.plan import plan_rebuild
from replay.source import read_kafka, replay_consumer
from schemas.codec import EventCodec
from schemas.errors import ConfigError
from sinks.base import LogRecord, Store
from sinks.decode import Needs, decode
from sinks.directories import GENERATIONS_DIR, REGISTRY, live_dir
from tests.conftest import TopicFactory

pytest.importorskip("pyoxigraph")
pytest.importorskip("datahub")
pytest.importorskip("cryptography")
pytest.importorskip("openlineage")

PLANES = ("identity", "catalog", "evidence", "lineage")


class _NoDLQ:
    def publish(self, letters: Sequence[DeadLetter]) -> None:
        assert not letters, letters


class _NoCommit:
    def commit(self, upto: Mapping[tuple[str, int], int]) -> None:
        return None


def open_store(name: str, settings: Settings) -> Store[Any]:
    return plane(name, settings, EventCodec()).open_store()


@pytest.fixture()
def plane_settings(settings: Settings, new_topic: TopicFactory, tmp_path: Path) -> Settings:
    topics = settings.kafka.topics.model_copy(update={"events": new_topic(partitions=3)})
    kafka = settings.kafka.model_copy(update={"topics": topics})
    # a port no worker listens on: the replay commands open the stores directly
    processors = settings.processors.model_copy(update={"web_port": 1})
    return settings.model_copy(
        update={"kafka": kafka, "state_dir": tmp_path / "state", "processors": processors}
    )


def _records(settings: Settings) -> list[LogRecord]:
    """Every record of the topic, partitions interleaved last-partition first: a live
    order that a rebuild (reading partitions side by side) does not reproduce."""
    consumer = replay_consumer(settings.kafka, "test")
    try:
        covered = plan_rebuild(settings.kafka).covered
        records = [r for chunk in read_kafka(consumer, covered) for r in chunk]
    finally:
        consumer.close()
    return sorted(records, key=lambda r: (-r.position.partition, r.position.offset))


def _project_live(name: str, settings: Settings, records: Sequence[LogRecord]) -> None:
    """The engine's checkpoint, batch by batch, with the store opened, used and closed
    on one thread of its own (SQLite thread affinity), as the engine's lane does."""
    codec = EventCodec()
    chosen = plane(name, settings, codec)
    needs = Needs.of([chosen.projection])

    def run() -> None:
        store = chosen.open_store()
        try:
            checkpoint = Checkpoint(chosen.projection, store, _NoDLQ(), _NoCommit())
            for start in range(0, len(records), 40):
                checkpoint.run(decode(codec, records[start : start + 40], needs))
        finally:
            store.close()

    with ThreadPoolExecutor(1) as executor:
        executor.submit(run).result()


def _invoke(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), obj=settings)
    return result.exit_code, result.output


def _base(name: str, settings: Settings) -> Path:
    state = settings.state_dir.resolve()
    return {
        "identity": state / "rdf",
        "catalog": state / "datahub",
        "evidence": state / "chronicle",
        "lineage": state / "openlineage",
    }[name]


@pytest.mark.parametrize("name", PLANES)
def test_verify_swap_reopen_gc(name: str, plane_settings: Settings) -> None:
    with EventProducer(plane_settings.kafka) as producer:
        producer.emit_many(simulate(runs=12).events)
    records = _records(plane_settings)
    _project_live(name, plane_settings, records)
    covered = plan_rebuild(plane_settings.kafka).covered
    highs = {key: last for key, (_, last) in covered.items()}

    code, out = _invoke(plane_settings, "replay", "verify", name)
    assert code == 0, out
    assert "equal" in out and "not comparable" not in out

    code, out = _invoke(plane_settings, "replay", "rebuild", name, "--swap")
    assert code == 0, out
    assert "equal" in out and "swapped: generation 2 is live" in out, out
    base = _base(name, plane_settings)
    assert live_dir(base) == base / GENERATIONS_DIR / "g2"

    # a fresh open follows the pointer: the swapped-in store, with live's watermark
    with ThreadPoolExecutor(1) as executor:
        sink = executor.submit(open_store, name, plane_settings).result()
        try:
            marks = executor.submit(sink.watermark).result()
        finally:
            executor.submit(sink.close).result()
    assert {k: v for k, v in marks.items() if k in highs} == highs

    code, out = _invoke(plane_settings, "replay", "verify", name)
    assert code == 0 and "equal" in out, out

    code, out = _invoke(plane_settings, "replay", "gc", name)
    assert code == 0, out
    assert "dropped generation 0" in out and "dropped generation 1" in out, out
    assert "dropped generation 2" not in out
    assert not (base / GENERATIONS_DIR / "g1").exists()
    assert (base / GENERATIONS_DIR / "g2").is_dir()
    assert (base / GENERATIONS_DIR / REGISTRY).is_file()
    code, out = _invoke(plane_settings, "replay", "generations", name)
    assert code == 0 and "live" in out and "dropped" in out, out


def test_identity_live_behind_the_log_is_not_comparable(plane_settings: Settings) -> None:
    """Triples carry no offsets: a live graph that applied only part of the range is
    reported as not comparable (exit 1), not as a digest mismatch."""
    with EventProducer(plane_settings.kafka) as producer:
        producer.emit_many(simulate(runs=4).events)
    records = sorted(_records(plane_settings), key=lambda r: r.position)
    _project_live("identity", plane_settings, [r for r in records if r.position.partition != 0])

    code, out = _invoke(plane_settings, "replay", "verify", "identity")
    assert code == 1, out
    assert "not comparable" in out and "live watermark" in out, out
    # no per-triple diff of stores that cover different positions: it would be noise
    assert "sample keys" not in out, out


def test_evidence_swap_refuses_to_rewrite_signed_history(plane_settings: Settings) -> None:
    """A ledger whose signed heads the rebuilt tree does not extend is never swapped."""
    with EventProducer(plane_settings.kafka) as producer:
        producer.emit_many(simulate(runs=4).events)
    _project_live("evidence", plane_settings, _records(plane_settings))
    from sinks.evidence.projection import LedgerLeaf  # after the importorskip
    from sinks.evidence.store import EvidenceStore

    # a leaf the log does not hold, published under a signed checkpoint of live's
    with ThreadPoolExecutor(1) as executor:

        def tamper() -> None:
            sink = open_store("evidence", plane_settings)
            assert isinstance(sink, EvidenceStore)
            try:
                leaf = LedgerLeaf("not-in-the-log", "0" * 64, "log", "nothing")
                sink.ledger.commit([leaf], {})
            finally:
                sink.close()

        executor.submit(tamper).result()

    result = CliRunner().invoke(
        app, ["replay", "rebuild", "evidence", "--swap"], obj=plane_settings
    )
    assert isinstance(result.exception, ConfigError), result.output
    assert "rewrite signed evidence history" in str(result.exception)
    assert live_dir(_base("evidence", plane_settings)) == _base("evidence", plane_settings)
