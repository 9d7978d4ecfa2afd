"""The evidence store on its real backend (tiles, checkpoints, SQLite index): the
shared store contract for the live store and for a generation store, and what is
particular to a transparency log — one checkpoint per flush that grew the tree,
idempotent appends, incremental tiles, crash and failure recovery, the facts join,
keys, and the pre-tlog migration (generations: ``test_evidence_generations.py``)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from schemas.errors import ConfigError
from schemas.events import Event
from sinks.base import Projection, Store
from sinks.directories import ConfinedStore
from sinks.evidence import ChronicleSettings, LedgerIntegrityError
from sinks.evidence.generations import EvidenceGenerations
from sinks.evidence.index import LedgerIndex
from sinks.evidence.ledger import CHECKPOINT, INDEX
from sinks.evidence.projection import EvidenceProjection
from sinks.evidence.signing import log_keys, open_checkpoint
from sinks.evidence.store import EvidenceStore
from sinks.evidence.tiles import tile_path
from sinks.evidence.tree import leaf_hash, root_of
from sinks.evidence.verify import LogVerifier
from tests.contract import evidence_support as ev
from tests.contract.store_contract import TOPIC, StoreContract, batch_for, records_of, run_started

FIXTURE = Path(__file__).parent.parent / "fixtures" / "evidence" / "legacy-v1"


class EvidenceContract(StoreContract):
    def make_projection(self) -> Projection[Any]:
        return EvidenceProjection()

    def make_event(self, partition: int, offset: int) -> Event:
        return ev.evidence_event(partition, offset)

    def stored_keys(self, store: Store[Any]) -> set[str]:
        if isinstance(store, ConfinedStore):  # a generation store, on its own thread
            ids: set[str] = store.run(self.stored_keys)
            return ids
        assert isinstance(store, EvidenceStore)
        return store.ledger.event_ids()


class TestLiveEvidenceStore(EvidenceContract):
    def make_store(self, tmp_path: Path) -> Store[Any]:
        return ev.open_live(tmp_path)


class TestGenerationEvidenceStore(EvidenceContract):
    """The same store class on a generation's directory, as replay opens it (staged)."""

    def make_store(self, tmp_path: Path) -> Store[Any]:
        live = ev.open_live(tmp_path)
        gens = EvidenceGenerations(live, ev.root_of(tmp_path), ev.keys(tmp_path))
        live.close()  # the shadow needs nothing of it but its name
        building = [g.number for g in gens.generations() if g.status.value == "building"]
        number = building[-1] if building else gens.allocate(1)
        return gens.open_shadow(number)


@pytest.fixture()
def store(tmp_path: Path) -> Any:
    opened = ev.open_live(tmp_path)
    yield opened
    opened.close()


def test_non_evidence_events_advance_the_watermark_only(store: EvidenceStore) -> None:
    projection = EvidenceProjection()
    batch = batch_for(projection, records_of([run_started(0, o) for o in range(5)]))
    assert batch.events == [] and batch.upto == {(TOPIC, 0): 4}  # decode drops them
    store.write(projection.project(batch), batch.upto)
    store.flush()
    assert store.ledger.size == 0
    assert store.watermark() == {(TOPIC, 0): 4}
    assert store.ledger.latest() is None
    assert not (ev.root_of(store.ledger.directory.parent) / CHECKPOINT).exists()


def test_same_event_is_appended_once_and_a_flush_without_news_signs_nothing(
    store: EvidenceStore,
) -> None:
    batch = ev.evidence_batch(4)
    leaves = EvidenceProjection().project(batch)
    store.write([*leaves, *leaves[1:3]], batch.upto)
    store.write(leaves, batch.upto)
    store.flush()
    assert store.ledger.size == 4
    assert [r.size for r in store.ledger.checkpoints()] == [4]
    store.write(leaves, {(TOPIC, 0): 9})
    store.flush()  # nothing new: the watermark moves, no new checkpoint
    assert [r.size for r in store.ledger.checkpoints()] == [4]
    assert store.watermark() == {(TOPIC, 0): 9}


def test_every_flush_publishes_a_signed_checkpoint_over_the_tiles(
    tmp_path: Path, store: EvidenceStore
) -> None:
    ev.fill(store, [5, 300, 301])
    root = store.ledger.directory
    key = ev.keys(tmp_path).trusted
    entries = ev.leaves_of(root)
    hashes = [leaf_hash(e) for e in entries]
    for record in store.ledger.checkpoints():
        history = open_checkpoint((root / "checkpoints" / str(record.size)).read_bytes(), key)
        assert history.root == root_of(hashes[: record.size]) == bytes.fromhex(record.root_hex)
    latest = open_checkpoint((root / CHECKPOINT).read_bytes(), key)
    assert (latest.origin, latest.size) == ("fractalops.io/chronicle", 301)
    # one full tile of leaves, its bundle, and the right edge at every level
    assert (root / tile_path(0, 0)).stat().st_size == 256 * 32
    assert (root / tile_path(0, 1, 45)).stat().st_size == 45 * 32
    assert (root / tile_path(1, 0, 1)).read_bytes() == root_of(hashes[:256])
    assert (root / tile_path("entries", 0)).is_file()
    # partial tiles of a tile that became full are gone (readers use the full one)
    assert not (root / f"{tile_path(0, 0)}.p").exists()
    assert (root / tile_path(0, 1, 44)).is_file()  # size 300's edge, still partial


def test_flush_writes_only_the_tiles_that_changed(store: EvidenceStore) -> None:
    ev.fill(store, [256 * 3 + 10])
    root = store.ledger.directory
    full = root / tile_path(0, 0)
    before = full.stat().st_mtime_ns
    os.chmod(full, 0o444)  # a rewrite of an immutable tile would fail loudly
    ev.fill(store, [256 * 3 + 20])
    assert full.stat().st_mtime_ns == before
    assert (root / tile_path(0, 3, 20)).is_file()


def test_a_crash_between_index_and_tiles_is_finished_on_open(tmp_path: Path) -> None:
    store = ev.open_live(tmp_path)
    ev.fill(store, [3])
    # step 1 of a flush done (leaves in the index), the process dies before the tiles
    batch = ev.evidence_batch(4, start=3)
    ledger = store.ledger
    ledger._db.write([ledger._db.sequence_sql(EvidenceProjection().project(batch), 3)])
    store.close()
    reopened = ev.open_live(tmp_path)
    try:
        assert reopened.ledger.size == 7
        assert [r.size for r in reopened.ledger.checkpoints()] == [3, 7]
        assert reopened.watermark() == {(TOPIC, 0): 2}  # the batch is read again, not lost
        ev.apply(reopened, batch)
        reopened.flush()
        assert reopened.ledger.size == 7 and reopened.watermark() == {(TOPIC, 0): 6}
    finally:
        reopened.close()


def test_a_failed_flush_is_retryable_and_the_retry_finishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sinks.evidence.tiles as tiles
    from schemas.errors import SinkUnavailableError

    store = ev.open_live(tmp_path)
    try:
        ev.fill(store, [250])
        real = tiles.atomic_write
        calls = {"n": 0}

        def disk_full(path: Path, data: bytes, mode: int = 0o644) -> None:
            calls["n"] += 1
            if calls["n"] == 2:  # the first tile goes out, the second does not
                raise OSError(28, "No space left on device")
            real(path, data, mode)

        monkeypatch.setattr(tiles, "atomic_write", disk_full)
        ev.apply(store, ev.evidence_batch(20, start=250))  # completes tile 0 on the way
        with pytest.raises(SinkUnavailableError, match="No space left"):
            store.flush()
        assert store.watermark() == {(TOPIC, 0): 249}  # nothing recorded past the failure
        store.flush()  # the retry finishes the work
        assert store.watermark() == {(TOPIC, 0): 269}
        assert [r.size for r in store.ledger.checkpoints()] == [250, 270]
        directory = store.ledger.directory
    finally:
        store.close()
    hashes = [leaf_hash(e) for e in ev.leaves_of(directory)]
    assert len(hashes) == 270
    reopened = ev.open_live(tmp_path)  # tiles rebuild the published root
    try:
        assert reopened.ledger.root() == root_of(hashes)
    finally:
        reopened.close()


def test_partial_tiles_and_history_a_crash_lost_are_rewritten_on_open(tmp_path: Path) -> None:
    # partial tiles and history copies are not fsync'd: a power cut may lose or tear them
    store = ev.open_live(tmp_path)
    ev.fill(store, [300, 70_000 // 200])
    root = store.ledger.directory
    store.close()
    partial, bundle = root / tile_path(0, 1, 94), root / tile_path("entries", 1, 94)
    upper, history = root / tile_path(1, 0, 1), root / "checkpoints" / "300"
    expected = {p: p.read_bytes() for p in (partial, bundle, upper, history)}
    partial.write_bytes(partial.read_bytes()[:40])  # torn
    bundle.unlink()
    upper.unlink()
    history.unlink()
    reopened = ev.open_live(tmp_path)
    try:
        assert {p: p.read_bytes() for p in expected} == expected
        ev.fill(reopened, [360])  # and the log goes on from the repaired edge
        check = LogVerifier(root, ev.keys(tmp_path).trusted)
        check.prove_consistency(check.at(300).checkpoint, check.latest().checkpoint)
        assert check.audit_tiles(check.latest().checkpoint) == 360
    finally:
        reopened.close()


def test_the_right_edge_is_never_rebuilt_over_an_altered_full_tile(tmp_path: Path) -> None:
    # repairing the edge reads the full tiles; one that was altered makes the rebuilt
    # root differ from the signed one, and the store refuses to open (the verifiers
    # catch an altered full tile in any case: test_evidence_log)
    store = ev.open_live(tmp_path)
    ev.fill(store, [300])
    root = store.ledger.directory
    store.close()
    full = root / tile_path(0, 0)
    raw = bytearray(full.read_bytes())
    raw[5] ^= 1
    full.write_bytes(bytes(raw))
    (root / tile_path(1, 0, 1)).unlink()  # the edge must be rebuilt from it
    with pytest.raises(LedgerIntegrityError, match="TAMPERED TILE"):
        ev.open_live(tmp_path)


def test_ledger_index_columns_for_the_facts_join(store: EvidenceStore) -> None:
    ev.fill(store, [3])
    ev.apply(store, ev.evidence_batch(2, start=3))
    store.flush()
    index = LedgerIndex(store.ledger.directory / INDEX)
    try:
        first_root = store.ledger.checkpoints()[0].root_hex
        assert index.ledger_columns(ev.digest(1)) == (1, 3, first_root)
        assert index.ledger_columns(ev.digest(4)) == (4, 5, store.ledger.root(5).hex())
        assert index.ledger_columns(ev.digest(77)) is None
        rows = list(index.rows())
        assert [r["leaf_index"] for r in rows] == [0, 1, 2, 3, 4]
        assert [r["tree_size"] for r in rows] == [3, 3, 3, 5, 5]
        assert rows[4]["ledger_root"] == store.ledger.root(5).hex()
        assert rows[0]["event_id"] == str(ev.event_id(0, 0))
        assert [r["leaf_index"] for r in index.rows(since_leaf=3)] == [3, 4]
    finally:
        index.close()


def test_the_signing_key_stays_out_of_the_served_root(tmp_path: Path) -> None:
    ev.open_live(tmp_path).close()
    key = ChronicleSettings().resolve_signing_key(tmp_path)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not (ev.root_of(tmp_path) / "signing.key").exists()
    assert ev.root_of(tmp_path) not in key.parents


def test_an_encrypted_key_needs_its_passphrase(tmp_path: Path) -> None:
    from pydantic import SecretStr

    secret = ChronicleSettings(signing_key_passphrase=SecretStr("correct horse"))
    first = log_keys(secret, tmp_path)
    assert b"ENCRYPTED" in secret.resolve_signing_key(tmp_path).read_bytes()
    assert log_keys(secret, tmp_path).trusted == first.trusted
    with pytest.raises(ConfigError, match="cannot load the signing key"):
        log_keys(ChronicleSettings(), tmp_path)


def test_a_log_refuses_another_origin(tmp_path: Path) -> None:
    ev.open_live(tmp_path).close()
    other = ChronicleSettings(origin="example.com/other")
    with pytest.raises(ConfigError, match="is the log"):
        EvidenceStore.open_live(other, tmp_path)


def test_a_legacy_ledger_is_migrated_once_with_its_heads(tmp_path: Path) -> None:
    root = ev.root_of(tmp_path)
    root.mkdir(parents=True)
    shutil.copy(FIXTURE / "ledger.db", root / INDEX)
    shutil.copy(FIXTURE / "test-only-signing.key", root / "signing.key")  # the old default place
    os.chmod(root / "signing.key", 0o600)
    legacy = sqlite3.connect(root / INDEX)
    heads = legacy.execute("SELECT tree_size, root, timestamp FROM signed_heads").fetchall()
    legacy.close()
    store = ev.open_live(tmp_path)
    try:
        ledger = store.ledger
        assert not (root / "signing.key").exists()  # moved out of the served root
        assert ledger.size == 23  # the legacy tail no head covered is published too
        records = ledger.checkpoints()
        assert [(r.size, r.root_hex, r.signed_at_us) for r in records[:3]] == heads
        assert records[-1].size == 23
        assert store.watermark() == {("events", 0): 6, ("events", 1): 6, ("events", 2): 6}
        check = LogVerifier(root, ev.keys(tmp_path).trusted)  # the old heads, re-published
        for size in (5, 12, 21):
            old = check.at(size).checkpoint
            check.prove_consistency(old, check.latest().checkpoint)
            assert [check.prove_inclusion(i, old).leaf.sha256 for i in range(size)] == [
                hashlib.sha256(f"artifact-{i}".encode()).hexdigest() for i in range(size)
            ]
        ev.fill(store, [30])  # and it goes on growing
    finally:
        store.close()
    again = ev.open_live(tmp_path)  # migrated once: nothing happens the second time
    try:
        assert [r.size for r in again.ledger.checkpoints()] == [5, 12, 21, 23, 30]
    finally:
        again.close()


def test_a_tampered_legacy_ledger_is_not_migrated(tmp_path: Path) -> None:
    root = ev.root_of(tmp_path)
    root.mkdir(parents=True)
    shutil.copy(FIXTURE / "ledger.db", root / INDEX)
    shutil.copy(FIXTURE / "test-only-signing.key", root / "signing.key")
    os.chmod(root / "signing.key", 0o600)
    con = sqlite3.connect(root / INDEX)
    with con:
        con.execute("DROP TRIGGER leaf_no_update")
        con.execute("UPDATE leaf SET entry = CAST('{}' AS BLOB) WHERE id = 2")
    con.close()
    with pytest.raises(LedgerIntegrityError, match="REWRITTEN LEDGER ENTRY"):
        ev.open_live(tmp_path)
