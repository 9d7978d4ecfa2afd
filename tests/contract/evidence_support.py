"""Shared helpers of the evidence-plane tests: real ``evidence.recorded`` events at
the contract's positions, a deterministic clock, stores on a temporary state dir,
and a ledger built from the demo workload's evidence through the runtime's decode."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from itertools import zip_longest
from pathlib import Path

from proofstream.workload import simulate
from schemas.envelope import TeamType
from schemas.events import Event, EvidenceKind, EvidenceRecorded
from sinks.base import Batch
from sinks.evidence import ChronicleSettings
from sinks.evidence.ledger import CHECKPOINT, HISTORY
from sinks.evidence.projection import EvidenceProjection, LedgerLeaf
from sinks.evidence.signing import LogKeys, log_keys
from sinks.evidence.store import EvidenceStore
from tests import factories
from tests.contract.store_contract import batch_for, event_id, records_of

PROJECTION = EvidenceProjection()


def digest(n: int) -> str:
    """The artifact digest the event at offset ``n`` records."""
    return hashlib.sha256(f"artifact-{n}".encode()).hexdigest()


def evidence_event(partition: int, offset: int, sha256: str | None = None) -> Event:
    """A real ``evidence.recorded`` event at a contract position (same event ids as
    the contract's own events)."""
    return EvidenceRecorded(
        event_id=event_id(partition, offset),
        occurred_at=datetime(2026, 11, 1, 12, 0, offset % 60, tzinfo=UTC),
        producer=factories.producer("tester"),
        actor=factories.agent("tester", team=TeamType.AGENTSQUAD),
        subject=factories.subject(run_id=f"run-{offset % 7}", project="p"),
        sha256=sha256 or digest(offset),
        media_type="application/json",
        size_bytes=100 + offset,
        kind=EvidenceKind.TEST_REPORT,
        proves=f"fractalops/proofstream#{offset}",
    )


def evidence_batch(count: int, partition: int = 0, start: int = 0) -> Batch:
    """``count`` evidence events from ``start``, through the runtime's decode step."""
    events = [evidence_event(partition, o) for o in range(start, start + count)]
    return batch_for(PROJECTION, records_of(events, partition, start))


class Clock:
    """A deterministic microsecond clock for checkpoint records."""

    def __init__(self) -> None:
        self.now = 1_790_000_000_000_000

    def __call__(self) -> int:
        self.now += 1_000_000
        return self.now


def settings() -> ChronicleSettings:
    return ChronicleSettings()


def keys(state: Path) -> LogKeys:
    return log_keys(settings(), state)


def open_live(state: Path) -> EvidenceStore:
    """The live store under ``state`` (generating the key on first use)."""
    return EvidenceStore.open_live(settings(), state, clock=Clock())


def root_of(state: Path) -> Path:
    return settings().resolve_root(state)


def apply(store: EvidenceStore, batch: Batch) -> None:
    store.write(PROJECTION.project(batch), batch.upto)


def fill(store: EvidenceStore, sizes: Sequence[int]) -> None:
    """Append evidence events so that a checkpoint is published at each of ``sizes``."""
    done = store.ledger.size
    for size in sizes:
        apply(store, evidence_batch(size - done, start=done))
        store.flush()
        done = size


def leaves_of(directory: Path) -> list[bytes]:
    """The published entries, in leaf order, read from the bundles."""
    from sinks.evidence.tiles import TileReader

    size = int((directory / CHECKPOINT).read_bytes().split(b"\n")[1])
    return [entry for _, entry in TileReader(directory, size).entries()]


def copy_log(source: Path, target: Path) -> Path:
    """Only the log's static files, as a mirror would copy them (no index, no key)."""
    target.mkdir(parents=True)
    shutil.copy2(source / CHECKPOINT, target / CHECKPOINT)
    shutil.copytree(source / HISTORY, target / HISTORY)
    shutil.copytree(source / "tile", target / "tile")
    return target


def demo_batches(runs: int = 60, batch_records: int = 250) -> Iterator[Batch]:
    """The demo workload (``proofstream.workload.simulate``) encoded as the producer
    encodes it and decoded as the runtime does, three partitions interleaved, in
    batches of ``batch_records`` records: what the evidence plane gets live."""
    events = simulate(runs=runs).events
    records = []
    for partition in range(3):
        part = events[partition::3]
        records.append(records_of(part, partition))
    interleaved = [r for group in zip_longest(*records) for r in group if r is not None]
    for start in range(0, len(interleaved), batch_records):
        yield batch_for(PROJECTION, interleaved[start : start + batch_records])


def demo_leaves(runs: int = 60) -> list[LedgerLeaf]:
    return [leaf for batch in demo_batches(runs) for leaf in PROJECTION.project(batch)]
