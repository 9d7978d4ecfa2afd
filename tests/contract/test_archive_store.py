"""The archive store on the contract suite, and its pending tail on disk.

The archive's stored keys are log positions (``partition:offset``): it keeps every
record byte for byte, decodable or not. Its pending tail is appended block by
block between seals; a crash in the middle of an append leaves a torn last block,
which a reopen drops (those records were never flushed, so never acknowledged).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sinks.archive.projection import ArchiveProjection
from sinks.archive.reader import read_archive, read_manifest, verify_archive
from sinks.archive.store import ArchiveStore, _read_pending
from sinks.base import Batch, Projection, Store
from tests.contract.store_contract import TOPIC, StoreContract


def _keys(store: ArchiveStore) -> set[str]:
    """Positions in sealed segments and in the pending files, read back from disk."""
    root = store.root
    covered = {(s.topic, s.partition): (0, s.last_offset) for s in read_manifest(root)}
    keys = {
        f"{r.position.partition}:{r.position.offset}"
        for chunk in read_archive(root, covered)
        for r in chunk
    }
    for path in (root / "pending").glob("*.avro"):
        partition = int(path.stem.rpartition("-")[2])
        keys |= {f"{partition}:{int(r['offset'])}" for r in _read_pending(path)}
    return keys


class TestArchiveStoreContract(StoreContract):
    def make_projection(self) -> Projection[Any]:
        return ArchiveProjection()

    def make_store(self, tmp_path: Path) -> Store[Any]:
        return ArchiveStore(tmp_path / "archive", seal_records=1000)

    def stored_keys(self, store: Store[Any]) -> set[str]:
        assert isinstance(store, ArchiveStore)
        return _keys(store)

    def expected_keys(self, batch: Batch) -> set[str]:
        return {f"{r.position.partition}:{r.position.offset}" for r in batch.raw}

    def test_watermark_covers_records_the_plane_does_not_read(self, store: Store[Any]) -> None:
        pytest.skip("the archive reads every record: its watermark is the data it holds")


class ArchiveHarness(TestArchiveStoreContract):
    """The contract's batch helpers, without collecting its tests twice."""

    __test__ = False


def _write(store: ArchiveStore, count: int, start: int) -> None:
    harness = ArchiveHarness()
    harness.apply(store, harness.batch(count, start=start))
    store.flush()


def test_later_flushes_append_to_the_pending_file(tmp_path: Path) -> None:
    store = ArchiveStore(tmp_path / "archive", seal_records=1000)
    pending = tmp_path / "archive" / "pending" / f"{TOPIC}-0.avro"
    _write(store, 10, 0)
    first = pending.read_bytes()
    _write(store, 5, 10)
    second = pending.read_bytes()
    # appended, not rewritten: the first flush's bytes are a prefix of the file
    assert second[: len(first)] == first and len(second) > len(first)
    assert [int(r["offset"]) for r in _read_pending(pending)] == list(range(15))
    store.close()
    reopened = ArchiveStore(tmp_path / "archive", seal_records=1000)
    try:
        assert reopened.watermark() == {(TOPIC, 0): 14}
    finally:
        reopened.close()


def test_a_torn_append_is_dropped_on_reopen_and_the_tail_rewritten(tmp_path: Path) -> None:
    store = ArchiveStore(tmp_path / "archive", seal_records=1000)
    pending = tmp_path / "archive" / "pending" / f"{TOPIC}-0.avro"
    _write(store, 10, 0)
    whole = len(pending.read_bytes())
    _write(store, 5, 10)
    store.close()
    # a crash in the middle of the second append: half its block reached the disk
    data = pending.read_bytes()
    pending.write_bytes(data[: whole + (len(data) - whole) // 2])

    reopened = ArchiveStore(tmp_path / "archive", seal_records=1000)
    try:
        assert reopened.watermark() == {(TOPIC, 0): 9}
        _write(reopened, 8, 10)  # the source redelivers what was never acknowledged
        assert [int(r["offset"]) for r in _read_pending(pending)] == list(range(18))
        reopened.seal()
        assert verify_archive(tmp_path / "archive") == []
        assert _keys(reopened) == {f"0:{o}" for o in range(18)}
        assert not pending.exists()
    finally:
        reopened.close()


def test_sealing_after_appends_keeps_every_record_once(tmp_path: Path) -> None:
    store = ArchiveStore(tmp_path / "archive", seal_records=12)
    for start in range(0, 30, 6):
        _write(store, 6, start)
    store.seal()
    try:
        assert verify_archive(tmp_path / "archive") == []
        assert _keys(store) == {f"0:{o}" for o in range(30)}
        assert store.watermark() == {(TOPIC, 0): 29}
    finally:
        store.close()
