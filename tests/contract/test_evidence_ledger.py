"""Chronicle on its real backends: the on-disk artifact store, the pymerkle SQLite
ledger with Ed25519 signed heads, the evidence sink (shared contract) and the CLI.

pymerkle's proofs are cross-checked against an independent RFC 9162 verifier
written here (leaf = SHA-256(0x00||d), node = SHA-256(0x01||l||r), inclusion per
RFC 9162 §2.1.3.2), which imports nothing from pymerkle or from ``sinks.ledger``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from proofstream.cli import app
from proofstream.evidence import record_evidence
from proofstream.settings import Settings
from schemas.envelope import TeamType
from schemas.events import Event, EvidenceKind, EvidenceRecorded
from sinks.base import LoggedEvent, LogPosition, Sink
from sinks.chronicle import (
    ArtifactNotFoundError,
    ArtifactStore,
    ChronicleSettings,
    LedgerIntegrityError,
    TamperedArtifactError,
)
from sinks.evidence import EvidenceProjection, EvidenceSink
from sinks.ledger import Ledger, LedgerIndex, LedgerLeaf, load_signing_key
from tests import factories
from tests.contract import sink_contract
from tests.contract.sink_contract import SinkContract

# --- the independent RFC 9162 oracle ---------------------------------------------------


def rfc_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def rfc_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def rfc_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 Merkle Tree Hash over the raw entries."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return rfc_leaf(leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return rfc_node(rfc_mth(leaves[:k]), rfc_mth(leaves[k:]))


def rfc_verify_inclusion(
    leaf_index: int, tree_size: int, leaf_hash: bytes, path: list[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2, step by step."""
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = rfc_node(p, r)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = rfc_node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def test_oracle_matches_rfc_examples() -> None:
    # The oracle itself: a 7-leaf tree proves every leaf, and rejects a wrong index.
    leaves = [bytes([i]) for i in range(7)]
    root = rfc_mth(leaves)

    def path_for(index: int, items: list[bytes]) -> list[bytes]:
        if len(items) <= 1:
            return []
        k = 1
        while k * 2 < len(items):
            k *= 2
        if index < k:
            return [*path_for(index, items[:k]), rfc_mth(items[k:])]
        return [*path_for(index - k, items[k:]), rfc_mth(items[:k])]

    for i in range(7):
        assert rfc_verify_inclusion(i, 7, rfc_leaf(leaves[i]), path_for(i, leaves), root)
    assert not rfc_verify_inclusion(1, 7, rfc_leaf(leaves[0]), path_for(0, leaves), root)


# --- helpers ---------------------------------------------------------------------------


def digest(n: int) -> str:
    return hashlib.sha256(f"artifact-{n}".encode()).hexdigest()


def evidence_batch(
    count: int, topic: str = "events", partition: int = 0, start: int = 0
) -> list[LoggedEvent]:
    """Like ``sink_contract.make_batch`` (same positions and event ids), but real
    ``evidence.recorded`` events: the only type the evidence sink stores."""
    codec = sink_contract.test_codec()
    batch = []
    for offset in range(start, start + count):
        event = EvidenceRecorded(
            event_id=uuid.UUID(int=(partition << 64) + offset + 1),
            occurred_at=datetime(2026, 11, 1, 12, 0, offset % 60, tzinfo=UTC),
            producer=factories.producer("tester"),
            actor=factories.agent("tester", team=TeamType.AGENTSQUAD),
            subject=factories.subject(run_id=f"run-{offset % 7}", project="p"),
            sha256=digest(offset),
            media_type="application/json",
            size_bytes=100 + offset,
            kind=EvidenceKind.TEST_REPORT,
            proves=f"fractalops/proofstream#{offset}",
        )
        record = codec.decode_record(codec.encode(event))
        batch.append(
            LoggedEvent(
                LogPosition(topic, partition, offset), event.event_type, record["event_id"], record
            )
        )
    return batch


class Clock:
    """A deterministic microsecond clock for signed heads."""

    def __init__(self) -> None:
        self.now = 1_790_000_000_000_000

    def __call__(self) -> int:
        self.now += 1_000_000
        return self.now


def open_sink(tmp_path: Path) -> EvidenceSink:
    return EvidenceSink.open(ChronicleSettings(), tmp_path, clock=Clock())


@pytest.fixture()
def sink(tmp_path: Path) -> Iterator[EvidenceSink]:
    opened = open_sink(tmp_path)
    yield opened
    opened.close()


def leaves_of(ledger: Ledger) -> list[bytes]:
    return [ledger.leaf_entry(i) for i in range(ledger.size())]


# --- the shared sink contract ----------------------------------------------------------


class TestEvidenceSinkContract(SinkContract):
    @pytest.fixture(autouse=True)
    def _evidence_events(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # The contract's batches are run.started events, which are not evidence;
        # run it on evidence.recorded events at the same positions and ids.
        monkeypatch.setattr(sink_contract, "make_batch", evidence_batch)

    def make_sink(self, tmp_path: Path) -> Sink:
        return open_sink(tmp_path)

    def stored_ids(self, sink: Sink) -> set[str]:
        assert isinstance(sink, EvidenceSink)
        return sink.ledger.event_ids()


def test_non_evidence_events_advance_the_watermark_only(sink: EvidenceSink) -> None:
    sink.write(sink_contract.make_batch(5))  # run.started
    sink.flush()
    assert sink.ledger.size() == 0
    assert sink.watermark() == {("events", 0): 4}
    assert sink.ledger.latest_head() is None


def test_projection_is_pure_and_keeps_log_coordinates() -> None:
    batch = evidence_batch(3, partition=2, start=40)
    leaves = EvidenceProjection().project(batch)
    assert [leaf.position for leaf in leaves] == [item.position for item in batch]
    assert leaves[0].sha256 == digest(40) and leaves[0].kind == "test_report"
    assert LedgerLeaf.from_entry(leaves[0].entry) == replace(leaves[0], position=None)


# --- the artifact store ----------------------------------------------------------------


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
        store.get(digest(99))


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


# --- the ledger ------------------------------------------------------------------------


def test_inclusion_proofs_match_the_rfc_9162_oracle(sink: EvidenceSink) -> None:
    for start in (0, 5, 12):  # three checkpoints: heads of size 5, 12, 21
        sink.write(evidence_batch({0: 5, 5: 7, 12: 9}[start], start=start))
        sink.flush()
    ledger = sink.ledger
    entries = leaves_of(ledger)
    assert len(entries) == 21
    for head in ledger.heads():
        assert bytes.fromhex(head.root_hex) == rfc_mth(entries[: head.tree_size])
        for index in range(head.tree_size):
            entry = ledger.entries(digest(index))[0]
            check = ledger.prove_inclusion(entry, head)
            assert check.leaf_hash == rfc_leaf(entries[index]).hex()
            assert rfc_verify_inclusion(
                index,
                head.tree_size,
                rfc_leaf(entries[index]),
                [bytes.fromhex(p) for p in check.audit_path],
                bytes.fromhex(head.root_hex),
            ), (index, head.tree_size)
    assert ledger.root(21) == rfc_mth(entries).hex()


def test_same_event_is_appended_once(sink: EvidenceSink) -> None:
    batch = evidence_batch(4)
    sink.write(batch + batch[1:3])
    sink.write(batch)
    sink.flush()
    assert sink.ledger.size() == 4
    assert len(sink.ledger.heads()) == 1
    sink.flush()  # nothing new: no new head
    assert len(sink.ledger.heads()) == 1


def test_consistency_between_heads(sink: EvidenceSink) -> None:
    sink.write(evidence_batch(3))
    sink.flush()
    sink.write(evidence_batch(10, start=3))
    sink.flush()
    first, second = sink.ledger.heads()
    check = sink.ledger.prove_consistency(first, second)
    assert (check.prior.tree_size, check.later.tree_size) == (3, 13)
    assert sink.ledger.audit_leaves() == 13


def _tamper(db: Path, sql: str, *args: object) -> None:
    # An attacker with write access to the file: pymerkle's and our append-only
    # triggers are only a guard against accidents, so they drop them first.
    con = sqlite3.connect(db)
    with con:
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            con.execute(f"DROP TRIGGER {name}")
        con.execute(sql, args)
    con.close()


@pytest.mark.parametrize("rehash", [False, True])
def test_rewritten_ledger_entry_fails_inclusion(tmp_path: Path, rehash: bool) -> None:
    sink = open_sink(tmp_path)
    sink.write(evidence_batch(6))
    sink.flush()
    db = sink.ledger.path
    sink.close()
    forged = LedgerLeaf(
        event_id=str(uuid.UUID(int=3)), sha256=digest(666), kind="test_report", proves="x#1"
    ).entry
    if rehash:  # rewrite the entry and its stored hash consistently
        _tamper(db, "UPDATE leaf SET entry = ?, hash = ? WHERE id = 3", forged, rfc_leaf(forged))
        _tamper(db, "UPDATE ledger_entries SET sha256 = ? WHERE leaf_index = 2", digest(666))
    else:
        _tamper(db, "UPDATE leaf SET entry = ? WHERE id = 3", forged)
    reopened = open_sink(tmp_path)
    try:
        ledger = reopened.ledger
        target = digest(666) if rehash else digest(2)
        with pytest.raises(LedgerIntegrityError, match=r"REWRITTEN|INCLUSION PROOF FAILED"):
            ledger.prove_inclusion(ledger.entries(target)[0])
        with pytest.raises(LedgerIntegrityError):
            ledger.audit_leaves()
    finally:
        reopened.close()


def test_forged_heads_fail(tmp_path: Path, sink: EvidenceSink) -> None:
    sink.write(evidence_batch(4))
    sink.flush()
    ledger = sink.ledger
    head = ledger.latest_head()
    assert head is not None
    entry = ledger.entries(digest(1))[0]
    bad_signature = replace(
        head, signature=("00" if head.signature[:2] != "00" else "11") + head.signature[2:]
    )
    with pytest.raises(LedgerIntegrityError, match="FORGED TREE HEAD"):
        ledger.prove_inclusion(entry, bad_signature)
    wrong_root = replace(head, root_hex=hashlib.sha256(b"other").hexdigest())
    with pytest.raises(LedgerIntegrityError, match="FORGED TREE HEAD"):
        ledger.prove_inclusion(entry, wrong_root)
    # Correctly signed, but by another key: still not trusted.
    other = load_signing_key(tmp_path / "other.key", create=True)
    from sinks.ledger import key_id_of, signed_message

    forged = replace(
        head,
        root_hex=wrong_root.root_hex,
        key_id=key_id_of(other.public_key()),
        signature=other.sign(
            signed_message(head.tree_size, wrong_root.root_hex, head.timestamp)
        ).hex(),
    )
    with pytest.raises(LedgerIntegrityError, match="FORGED TREE HEAD"):
        ledger.prove_inclusion(entry, forged)
    with pytest.raises(LedgerIntegrityError, match="FORGED TREE HEAD"):
        ledger.prove_consistency(head, forged)


def test_signing_key_is_private_and_reused(tmp_path: Path) -> None:
    first = load_signing_key(tmp_path / "k" / "signing.key", create=True)
    assert stat.S_IMODE((tmp_path / "k" / "signing.key").stat().st_mode) == 0o600
    again = load_signing_key(tmp_path / "k" / "signing.key", create=True)
    assert first.public_key() == again.public_key()


def test_ledger_index_columns_for_the_facts_join(sink: EvidenceSink) -> None:
    sink.write(evidence_batch(3))
    sink.flush()
    sink.write(evidence_batch(2, start=3))
    index = LedgerIndex(sink.ledger.path)
    try:
        first_root = sink.ledger.heads()[0].root_hex
        assert index.ledger_columns(digest(1)) == (1, 3, first_root)
        assert index.ledger_columns(digest(4)) == (4, None, None)  # not signed yet
        assert index.ledger_columns(digest(77)) is None
        sink.flush()
        rows = list(index.rows())
        assert [r["leaf_index"] for r in rows] == [0, 1, 2, 3, 4]
        assert [r["tree_size"] for r in rows] == [3, 3, 3, 5, 5]
        assert rows[4]["ledger_root"] == sink.ledger.root(5)
        assert rows[0]["event_id"] == str(uuid.UUID(int=1))
    finally:
        index.close()


# --- the CLI ---------------------------------------------------------------------------


def test_cli_put_verify_audit(tmp_path: Path) -> None:
    runner = CliRunner()
    settings = Settings(state_dir=tmp_path)
    artifact = tmp_path / "report.json"
    artifact.write_bytes(b'{"passed": 12}')
    put = runner.invoke(app, ["evidence", "put", str(artifact)], obj=settings)
    assert put.exit_code == 0, put.output
    sha = put.output.strip()
    assert sha == hashlib.sha256(b'{"passed": 12}').hexdigest()

    sink = open_sink(tmp_path)
    batch = evidence_batch(3)
    record = {**batch[1].record, "sha256": sha}
    sink.write([batch[0], replace(batch[1], record=record), batch[2]])
    sink.flush()
    sink.write(evidence_batch(4, start=3))
    sink.flush()
    sink.close()

    ok = runner.invoke(app, ["evidence", "verify", sha], obj=settings)
    assert ok.exit_code == 0, ok.output
    assert "leaf      1" in ok.output and "path[0]" in ok.output and "verified" in ok.output
    audit = runner.invoke(
        app, ["evidence", "audit", "--from", "3", "--to", "7", "--deep"], obj=settings
    )
    assert audit.exit_code == 0, audit.output
    assert "consistent" in audit.output

    path = ArtifactStore(tmp_path / "chronicle").path_of(sha)
    os.chmod(path, 0o644)
    path.write_bytes(b'{"passed": 13}')
    bad = runner.invoke(app, ["evidence", "verify", sha], obj=settings)
    assert bad.exit_code == 1
    assert "VERIFICATION FAILED" in bad.output and "TAMPERED" in bad.output


def test_cli_verify_fails_on_a_rewritten_leaf(tmp_path: Path) -> None:
    sink = open_sink(tmp_path)
    sink.write(evidence_batch(5))
    sink.flush()
    db = sink.ledger.path
    sink.close()
    forged = LedgerLeaf(str(uuid.UUID(int=2)), digest(1), "test_report", "evil#1").entry
    _tamper(db, "UPDATE leaf SET entry = ?, hash = ? WHERE id = 2", forged, rfc_leaf(forged))
    _tamper(db, "UPDATE ledger_entries SET proves = 'evil#1' WHERE leaf_index = 1")
    result = CliRunner().invoke(
        app, ["evidence", "verify", digest(1)], obj=Settings(state_dir=tmp_path)
    )
    assert result.exit_code == 1
    assert "INCLUSION PROOF FAILED" in result.output
