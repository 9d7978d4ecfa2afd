"""Chronicle as its users see it: the WORM artifact store, the claim check, and the
transparency log checked from its static files alone — tampered artifacts,
rewritten leaves, forged checkpoints and forks fail loudly — plus the
``proofstream evidence`` commands and their ``--json`` reports."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from proofstream.cli.evidence import app as evidence_app
from proofstream.evidence import record_evidence
from proofstream.settings import Settings
from schemas.errors import ConfigError
from schemas.events import Event
from sinks.evidence import ArtifactNotFoundError, LedgerIntegrityError, TamperedArtifactError
from sinks.evidence.artifacts import ArtifactStore
from sinks.evidence.ledger import CHECKPOINT
from sinks.evidence.projection import LedgerLeaf
from sinks.evidence.signing import Checkpoint, NoteKey, Signer
from sinks.evidence.tiles import decode_bundle, encode_bundle, tile_path
from sinks.evidence.verify import LogVerifier
from tests import factories
from tests import rfc9162_oracle as oracle
from tests.contract import evidence_support as ev
from tests.contract.store_contract import batch_for, records_of

# --- the artifact store --------------------------------------------------------------


def test_store_round_trip_is_write_once_and_read_only(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "chronicle")
    data = b"<html>browser proof</html>"
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    path = store.path_of(sha)
    assert path == tmp_path / "chronicle" / "sha256" / sha[:2] / sha[2:]
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert store.put(data) == sha  # idempotent no-op
    assert store.get(sha) == data
    assert store.verify(sha) == path
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]
    with pytest.raises(ArtifactNotFoundError):
        store.get(ev.digest(99))


def test_tampered_artifact_fails_loudly(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    sha = store.put(b"test report: 12 passed")
    path = store.path_of(sha)
    os.chmod(path, 0o644)  # the attacker makes it writable and flips a byte
    raw = bytearray(path.read_bytes())
    raw[0] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(TamperedArtifactError, match="TAMPERED ARTIFACT"):
        store.get(sha)
    with pytest.raises(TamperedArtifactError):
        store.verify(sha)
    with pytest.raises(TamperedArtifactError):  # and put refuses to paper over it
        store.put(b"test report: 12 passed")


def test_writable_artifact_is_flagged_even_with_the_right_bytes(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    sha = store.put(b"log")
    os.chmod(store.path_of(sha), 0o644)
    with pytest.raises(TamperedArtifactError):
        store.verify(sha)


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)


def test_record_evidence_stores_before_it_emits(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    recorder = Recorder()
    event = record_evidence(
        store,
        recorder,
        b"screenshot bytes",
        kind="screenshot",
        proves="fractalops/proofstream#12",
        media_type="image/png",
        source=factories.producer("tester"),
        actor=factories.agent("tester"),
        subject=factories.subject(),
    )
    assert recorder.events == [event]
    assert store.get(event.sha256) == b"screenshot bytes"
    assert event.size_bytes == len(b"screenshot bytes")


# --- the log, from its static files alone ----------------------------------------------


@pytest.fixture()
def log(tmp_path: Path) -> Path:
    """A live log with checkpoints at 5, 12 and 21 leaves, copied as a mirror would."""
    store = ev.open_live(tmp_path / "state")
    try:
        ev.fill(store, [5, 12, 21])
        directory = store.ledger.directory
    finally:
        store.close()
    return ev.copy_log(directory, tmp_path / "mirror")


def verifier(tmp_path: Path, log: Path) -> LogVerifier:
    return LogVerifier(log, ev.keys(tmp_path / "state").trusted)


def test_every_leaf_and_every_pair_of_checkpoints_verifies(tmp_path: Path, log: Path) -> None:
    check = verifier(tmp_path, log)
    sizes = list(check.history())
    assert sizes == [5, 12, 21]
    for size in sizes:
        cp = check.at(size).checkpoint
        for index in range(size):
            inclusion = check.prove_inclusion(index, cp)
            assert inclusion.leaf.sha256 == ev.digest(index)
        for later in sizes[sizes.index(size) :]:
            check.prove_consistency(cp, check.at(later).checkpoint)
    assert check.find(ev.digest(7), check.latest().checkpoint) == [7]
    assert check.audit_tiles(check.latest().checkpoint) == 21


def test_roots_and_proofs_agree_with_an_independent_rfc_9162_oracle(
    tmp_path: Path, log: Path
) -> None:
    check = verifier(tmp_path, log)
    entries = ev.leaves_of(log)
    for size in check.history():
        cp = check.at(size).checkpoint
        assert cp.root == oracle.mth(entries[:size])
        for index in range(size):
            inclusion = check.prove_inclusion(index, cp)
            assert list(inclusion.path) == oracle.path(index, entries[:size])
            assert oracle.verify_inclusion(
                index, size, oracle.leaf(entries[index]), list(inclusion.path), cp.root
            )
        consistency = check.prove_consistency(check.at(5).checkpoint, cp)
        assert list(consistency.path) == oracle.subproof(5, entries[:size])


def _rewrite_bundle(log: Path, index: int, leaf: LedgerLeaf) -> None:
    path = log / tile_path("entries", 0, 21)
    entries = decode_bundle(path.read_bytes())
    entries[index] = leaf.entry
    path.write_bytes(encode_bundle(entries))


def test_a_rewritten_leaf_fails_inclusion_and_the_deep_audit(tmp_path: Path, log: Path) -> None:
    forged = LedgerLeaf(str(ev.event_id(0, 3)), ev.digest(666), "test_report", "evil#1")
    _rewrite_bundle(log, 3, forged)
    check = verifier(tmp_path, log)
    cp = check.latest().checkpoint
    assert check.find(ev.digest(666), cp) == [3]  # the forged entry is there to be found
    with pytest.raises(LedgerIntegrityError, match="INCLUSION PROOF FAILED"):
        check.prove_inclusion(3, cp)
    with pytest.raises(LedgerIntegrityError, match="TAMPERED TILE"):
        check.audit_tiles(cp)


def test_a_rewritten_leaf_and_tile_still_fail_against_the_signed_root(
    tmp_path: Path, log: Path
) -> None:
    # the attacker also rewrites the leaf hash in the tile: the root no longer matches
    forged = LedgerLeaf(str(ev.event_id(0, 3)), ev.digest(666), "test_report", "evil#1")
    _rewrite_bundle(log, 3, forged)
    tile = log / tile_path(0, 0, 21)
    hashes = bytearray(tile.read_bytes())
    hashes[3 * 32 : 4 * 32] = hashlib.sha256(b"\x00" + forged.entry).digest()
    tile.write_bytes(bytes(hashes))
    check = verifier(tmp_path, log)
    with pytest.raises(LedgerIntegrityError, match="INCLUSION PROOF FAILED"):
        check.prove_inclusion(3, check.latest().checkpoint)


def _forge(log: Path, note: bytes) -> None:
    (log / CHECKPOINT).write_bytes(note)


def test_forged_checkpoints_fail(tmp_path: Path, log: Path) -> None:
    check = verifier(tmp_path, log)
    genuine = (log / CHECKPOINT).read_bytes()
    origin, size, root = genuine.decode().split("\n")[:3]
    other_root = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    _forge(log, genuine.replace(root.encode(), other_root.encode()))  # same signature
    with pytest.raises(LedgerIntegrityError, match="FORGED CHECKPOINT"):
        check.latest()
    # correctly signed, under the log's name, by another key: not trusted
    impostor = Signer(origin, Ed25519PrivateKey.generate())
    _forge(log, impostor.sign(Checkpoint(origin, int(size), bytes(32))))
    with pytest.raises(LedgerIntegrityError, match="FORGED CHECKPOINT"):
        check.latest()
    _forge(log, genuine.replace(b"\n\n", b"\n"))  # no signature block
    with pytest.raises(LedgerIntegrityError, match="FORGED CHECKPOINT"):
        check.latest()


def test_a_fork_is_caught_by_consistency(tmp_path: Path, log: Path) -> None:
    # the same key signs a second history that shares only the first 5 leaves
    fork_state = tmp_path / "state"
    seen = verifier(tmp_path, log).at(12).checkpoint
    keys = ev.keys(fork_state)
    leaves = [bytes.fromhex(entry.hex()) for entry in ev.leaves_of(log)[:5]]
    hashes = [hashlib.sha256(b"\x00" + e).digest() for e in leaves]
    forked = [*hashes, *(hashlib.sha256(b"\x00" + bytes([n])).digest() for n in range(9))]
    from sinks.evidence.tree import root_of

    fake = keys.signer.sign(Checkpoint(seen.origin, 14, root_of(forked)))
    check = verifier(tmp_path, log)
    with pytest.raises(LedgerIntegrityError, match="FORK"):
        check.prove_consistency(seen, check.parse(fake).checkpoint)
    smaller = keys.signer.sign(Checkpoint(seen.origin, 4, root_of(hashes[:4])))
    with pytest.raises(LedgerIntegrityError, match="FORK"):
        check.prove_consistency(seen, check.parse(smaller).checkpoint)


# --- the CLI ---------------------------------------------------------------------------


def _run(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(evidence_app, list(args), obj=settings)
    return result.exit_code, result.output


def _published(tmp_path: Path, sha: str | None = None, at: tuple[int, ...] = (1,)) -> Settings:
    """A live log recording ``sha`` at the leaves ``at`` (others: their own digest),
    with checkpoints at 3 and 7 leaves."""
    settings = Settings(state_dir=tmp_path)
    store = ev.open_live(tmp_path)
    try:
        events = [ev.evidence_event(0, o, sha if o in at else None) for o in range(7)]
        records = records_of(events)
        for part in (records[:3], records[3:]):
            ev.apply(store, batch_for(ev.PROJECTION, part))
            store.flush()
    finally:
        store.close()
    return settings


def test_cli_put_verify_and_audit(tmp_path: Path) -> None:
    artifact = tmp_path / "report.json"
    artifact.write_bytes(b'{"passed": 12}')
    code, out = _run(Settings(state_dir=tmp_path), "put", str(artifact))
    assert code == 0, out
    sha = out.strip()
    assert sha == hashlib.sha256(b'{"passed": 12}').hexdigest()
    settings = _published(tmp_path, sha)

    code, out = _run(settings, "verify", sha)
    assert code == 0, out
    assert "leaf       1" in out and "path[0]" in out and "verified 1 ledger entry" in out
    assert re.search(r"signed at 2026-\d\d-\d\dT\d\d:\d\d:\d\dZ", out), out  # ISO 8601 UTC
    code, out = _run(settings, "audit", "--from", "3", "--to", "7", "--deep")
    assert code == 0, out
    assert "consistent" in out and "7 leaves re-hashed" in out

    path = ArtifactStore(tmp_path / "chronicle").path_of(sha)
    os.chmod(path, 0o644)
    path.write_bytes(b'{"passed": 13}')
    code, out = _run(settings, "verify", sha)
    assert code == 1
    assert "VERIFICATION FAILED" in out and "TAMPERED" in out


def test_cli_verify_counts_every_entry_of_a_digest(tmp_path: Path) -> None:
    sha = hashlib.sha256(b"one report, recorded twice").hexdigest()
    settings = _published(tmp_path, sha, at=(1, 5))
    code, out = _run(settings, "verify", sha)
    assert code == 0, out
    assert "verified 2 ledger entries" in out
    assert "leaf       1" in out and "leaf       5" in out


def test_cli_verify_json_counts_entries_and_checks_a_copied_log(tmp_path: Path) -> None:
    settings = _published(tmp_path)
    mirror = ev.copy_log(tmp_path / "chronicle", tmp_path / "mirror")
    vkey = ev.keys(tmp_path).trusted.vkey
    code, out = _run(
        settings, "verify", ev.digest(2), "--log", str(mirror), "--vkey", vkey, "--json"
    )
    assert code == 0, out
    report = json.loads(out)
    assert report["verified"] is True and report["artifact"]["status"] == "not_stored"
    assert report["checkpoint"]["tree_size"] == 7 and report["checkpoint"]["signed_at"] is None
    assert (
        base64.b64decode(report["checkpoint"]["root_hash"]).hex()
        == report["checkpoint"]["root_hex"]
    )
    (entry,) = report["entries"]
    assert entry["leaf_index"] == 2 and len(entry["audit_path"]) == 3
    assert report["checkpoint"]["key"] == "+".join(vkey.split("+", 2)[:2])  # name+key id


def test_cli_verify_fails_on_a_rewritten_leaf(tmp_path: Path) -> None:
    settings = _published(tmp_path)
    bundle = tmp_path / "chronicle" / tile_path("entries", 0, 7)
    entries = decode_bundle(bundle.read_bytes())
    entries[1] = LedgerLeaf(str(ev.event_id(0, 1)), ev.digest(1), "test_report", "evil#1").entry
    bundle.write_bytes(encode_bundle(entries))
    code, out = _run(settings, "verify", ev.digest(1), "--json")
    assert code == 1
    report = json.loads(out[: out.rindex("}") + 1])
    assert report["verified"] is False and "INCLUSION PROOF FAILED" in report["error"]


def test_cli_audit_remembers_the_last_checkpoint_and_catches_a_fork(tmp_path: Path) -> None:
    settings = _published(tmp_path)
    seen = tmp_path / "auditor" / "seen.checkpoint"
    code, out = _run(settings, "audit", "--seen", str(seen))
    assert code == 0 and "first audit" in out, out
    store = ev.open_live(tmp_path)
    ev.fill(store, [9])
    store.close()
    code, out = _run(settings, "audit", "--seen", str(seen), "--json")
    assert code == 0, out
    report = json.loads(out)
    assert (report["prior"]["tree_size"], report["later"]["tree_size"]) == (7, 9)
    assert report["consistent"] is True and report["proof"]
    # the log now serves another history of the same size, signed by its own key
    keys = ev.keys(tmp_path)
    forked = keys.signer.sign(Checkpoint(keys.signer.note_key.name, 9, bytes(32)))
    (tmp_path / "chronicle" / CHECKPOINT).write_bytes(forked)
    code, out = _run(settings, "audit", "--seen", str(seen))
    assert code == 1 and "FORK" in out
    assert seen.read_bytes() != forked  # the auditor keeps what it last verified


def test_cli_info_names_what_to_serve_and_to_trust(tmp_path: Path) -> None:
    settings = _published(tmp_path)
    code, out = _run(settings, "info", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["log"] == str(tmp_path / "chronicle")
    assert NoteKey.parse(report["vkey"]) == ev.keys(tmp_path).trusted
    assert report["checkpoint"]["tree_size"] == 7


def test_cli_verify_of_an_unknown_digest_is_an_operational_error(tmp_path: Path) -> None:
    settings = _published(tmp_path)
    result = CliRunner().invoke(evidence_app, ["verify", ev.digest(99)], obj=settings)
    # main() turns a ConfigError into one line and exit code 2, not a failed verification
    assert isinstance(result.exception, ConfigError), result.output
    assert "not recorded in the log" in str(result.exception)
