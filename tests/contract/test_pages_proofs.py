"""The pages' marks against a real Chronicle log (tiles, signed checkpoints, index):
green only when the signed root proves the leaf and the leaf records this event."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from proofstream.pages.chain import EvidenceRef
from proofstream.pages.model import MarkState
from proofstream.pages.proofs import check_evidence
from proofstream.settings import Settings
from sinks.evidence.artifacts import ArtifactStore
from sinks.evidence.ledger import CHECKPOINT, INDEX
from sinks.evidence.projection import LedgerLeaf
from sinks.evidence.tiles import decode_bundle, encode_bundle, tile_path
from sinks.evidence.tree import leaf_hash, verify_inclusion
from tests.contract import evidence_support as ev


@pytest.fixture()
def state(tmp_path: Path) -> Path:
    """A state dir whose live log holds 7 evidence leaves under a signed checkpoint."""
    store = ev.open_live(tmp_path)
    try:
        ev.fill(store, [7])
    finally:
        store.close()
    return tmp_path


def _settings(state: Path) -> Settings:
    return Settings(state_dir=state)


def _ref(offset: int) -> EvidenceRef:
    return EvidenceRef(str(ev.event_id(0, offset)), ev.digest(offset))


def test_a_recorded_artifact_is_verified_with_a_proof_that_checks(state: Path) -> None:
    checked = check_evidence(_settings(state), [_ref(2)])
    mark = checked.marks[str(ev.event_id(0, 2))]
    assert mark.state is MarkState.VERIFIED and mark.ok, mark.reason
    assert checked.checkpoint is not None and checked.checkpoint.size == 7
    (proof,) = mark.inclusion
    assert proof.leaf_index == 2
    # the proof shown is a real RFC 9162 proof into the signed root
    root = bytes.fromhex(checked.checkpoint.root_hex)
    path = [bytes.fromhex(node) for node in proof.audit_path]
    assert leaf_hash(proof.entry.encode()).hex() == proof.leaf_hash
    assert verify_inclusion(bytes.fromhex(proof.leaf_hash), 2, 7, path, root)
    assert base64.b64decode(checked.checkpoint.root_b64) == root


def test_an_unrecorded_event_is_missing_and_a_wrong_digest_fails(state: Path) -> None:
    stranger = EvidenceRef(str(ev.event_id(5, 99)), ev.digest(99))
    liar = EvidenceRef(str(ev.event_id(0, 3)), ev.digest(4))  # the event, another digest
    marks = check_evidence(_settings(state), [stranger, liar]).marks
    assert marks[stranger.event_id].state is MarkState.MISSING
    assert marks[liar.event_id].state is MarkState.FAILED
    assert "WRONG LEAF" in marks[liar.event_id].reason


def test_a_rewritten_entry_turns_the_mark_red(state: Path) -> None:
    bundle = ev.root_of(state) / tile_path("entries", 0, 7)
    entries = decode_bundle(bundle.read_bytes())
    entries[3] = LedgerLeaf(str(ev.event_id(0, 3)), ev.digest(3), "test_report", "evil#1").entry
    bundle.write_bytes(encode_bundle(entries))
    marks = check_evidence(_settings(state), [_ref(3), _ref(5)]).marks
    assert marks[_ref(3).event_id].state is MarkState.FAILED
    assert "INCLUSION PROOF FAILED" in marks[_ref(3).event_id].reason
    assert marks[_ref(5).event_id].state is MarkState.VERIFIED  # other leaves still prove


def test_a_forged_checkpoint_fails_every_mark(state: Path) -> None:
    checkpoint = ev.root_of(state) / CHECKPOINT
    genuine = checkpoint.read_bytes()
    root = genuine.decode().split("\n")[2]
    other = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    checkpoint.write_bytes(genuine.replace(root.encode(), other.encode()))
    checked = check_evidence(_settings(state), [_ref(1), _ref(2)])
    assert {m.state for m in checked.marks.values()} == {MarkState.FAILED}
    assert checked.log_error is not None and "FORGED CHECKPOINT" in checked.log_error
    assert checked.checkpoint is None


def test_without_the_index_the_bundles_are_scanned(state: Path) -> None:
    (ev.root_of(state) / INDEX).unlink()
    for suffix in ("-wal", "-shm"):
        (ev.root_of(state) / f"{INDEX}{suffix}").unlink(missing_ok=True)
    mark = check_evidence(_settings(state), [_ref(6)]).marks[_ref(6).event_id]
    assert mark.state is MarkState.VERIFIED and mark.inclusion[0].leaf_index == 6


def test_a_tampered_stored_artifact_fails_even_with_a_good_proof(tmp_path: Path) -> None:
    data = b"screenshot bytes"
    sha = ArtifactStore.open(ev.settings(), tmp_path).put(data)
    store = ev.open_live(tmp_path)
    try:
        ev.apply(store, ev.batch_for(ev.PROJECTION, ev.records_of([ev.evidence_event(0, 0, sha)])))
        store.flush()
    finally:
        store.close()
    ref = EvidenceRef(str(ev.event_id(0, 0)), sha)
    assert check_evidence(_settings(tmp_path), [ref]).marks[ref.event_id].artifact == "verified"
    path = ArtifactStore.open(ev.settings(), tmp_path).path_of(sha)
    os.chmod(path, 0o644)
    path.write_bytes(b"another picture")
    os.chmod(path, 0o444)
    mark = check_evidence(_settings(tmp_path), [ref]).marks[ref.event_id]
    assert mark.state is MarkState.FAILED and "TAMPERED ARTIFACT" in mark.reason


def test_no_log_at_all_is_missing_not_an_error(tmp_path: Path) -> None:
    checked = check_evidence(_settings(tmp_path), [_ref(0)])
    assert checked.marks[_ref(0).event_id].state is MarkState.MISSING
    assert checked.checkpoint is None and "no transparency log" in (checked.log_error or "")
