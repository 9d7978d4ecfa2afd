"""The transparency log's pure core against published vectors and an independent oracle.

- RFC 6962 / Certificate Transparency vectors (vendored from transparency-dev/merkle,
  ``tests/fixtures/tlog_vectors/rfc6962_ct.json``): hashes, roots, subtree hashes,
  inclusion and consistency proofs — generated equal, verified, and every tampered
  variant of cmd/proofgen's kinds rejected.
- An RFC 9162 oracle written from the RFC's recursive definitions
  (``tests/rfc9162_oracle.py``, which imports nothing from ``sinks``) cross-checks
  every proof of every small tree.
- Go's signed-note known answers (``signed_note.json``, from golang.org/x/mod).
- The tile layout (C2SP tlog-tiles paths, bundles) and the incremental writer.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sinks.base import Batch, Input, LoggedEvent, LogPosition
from sinks.evidence import LedgerIntegrityError
from sinks.evidence.projection import EvidenceProjection, LedgerLeaf
from sinks.evidence.signing import Checkpoint, NoteKey, Signer, open_checkpoint, open_note
from sinks.evidence.tiles import TileReader, TileWriter, decode_bundle, encode_bundle, tile_path
from sinks.evidence.tree import (
    EMPTY_ROOT,
    LeafHashes,
    consistency_path,
    inclusion_path,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from tests import rfc9162_oracle as oracle

VECTORS = Path(__file__).parent.parent / "fixtures" / "tlog_vectors"
CT = json.loads((VECTORS / "rfc6962_ct.json").read_text())
NOTE = json.loads((VECTORS / "signed_note.json").read_text())
LEAVES = [bytes.fromhex(x) for x in CT["leaves"]]
HASHES = [leaf_hash(x) for x in LEAVES]
ROOTS = [bytes.fromhex(x) for x in CT["roots"]]
SOME = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")

# --- vectors -----------------------------------------------------------------------------


def test_hasher_vectors() -> None:
    h = CT["hasher"]
    assert EMPTY_ROOT.hex() == h["empty_root"]
    assert leaf_hash(b"").hex() == h["empty_leaf_hash"]
    assert leaf_hash(b"L123456").hex() == h["leaf_hash_of_L123456"]
    assert node_hash(b"N123", b"N456").hex() == h["node_hash_of_N123_N456"]


def test_roots_and_subtree_hashes_match_the_vectors() -> None:
    for size, root in enumerate(ROOTS):
        assert root_of(HASHES[:size]) == root == oracle.mth(LEAVES[:size])
    for level, nodes in enumerate(CT["node_hashes"]):
        for index, node in enumerate(nodes):
            assert LeafHashes(HASHES).subtree(level, index).hex() == node


def _inclusion_mutants(i: int, n: int, path: list[bytes], root: bytes) -> list[tuple]:
    """Wrong index, size, leaf or root, garbage around the path, flipped bits, a
    missing or inserted component (cmd/proofgen's kinds)."""
    leaf = HASHES[i]
    out = [
        (i - 1, n, leaf, path, root), (i + 1, n, leaf, path, root), (i ^ 2, n, leaf, path, root),
        (i, n * 2, leaf, path, root), (i, n // 2, leaf, path, root),
        (i, n, b"WrongLeaf", path, root), (i, n, leaf, path, EMPTY_ROOT),
        (i, n, leaf, path, SOME), (i, n, leaf, [*path, b""], root),
        (i, n, leaf, [*path, root], root), (i, n, leaf, [b"", *path], root),
        (i, n, leaf, [root, *path], root),
    ]  # fmt: skip
    for k in range(len(path)):
        flipped = [bytes([p[0] ^ 8]) + p[1:] if j == k else p for j, p in enumerate(path)]
        out.append((i, n, leaf, flipped, root))
    if path:
        out.append((i, n, leaf, path[:-1], root))
    if len(path) > 1:
        out.append((i, n, leaf, [path[0], SOME, *path[1:]], root))
    return out


@pytest.mark.parametrize(
    "case", CT["inclusion"], ids=lambda c: f"{c['leaf_index']}in{c['tree_size']}"
)
def test_inclusion_vectors(case: dict) -> None:
    i, n = case["leaf_index"], case["tree_size"]
    expected = [bytes.fromhex(p) for p in case["proof"]]
    assert inclusion_path(LeafHashes(HASHES[:n]), i, n) == expected == oracle.path(i, LEAVES[:n])
    assert verify_inclusion(HASHES[i], i, n, expected, ROOTS[n])
    for mutant in _inclusion_mutants(i, n, expected, ROOTS[n]):
        assert not verify_inclusion(mutant[2], mutant[0], mutant[1], mutant[3], mutant[4]), mutant


def _consistency_mutants(m: int, n: int, r1: bytes, r2: bytes, p: list[bytes]) -> list[tuple]:
    out = [
        (m - 1, n, r1, r2, p), (m + 1, n, r1, r2, p), (m ^ 2, n, r1, r2, p),
        (m, n * 2, r1, r2, p), (m, n // 2, r1, r2, p),
        (m, n, b"WrongRoot", r2, p), (m, n, r1, b"WrongRoot", p), (m, n, r2, r1, p),
        (m, n, r1, r2, []), (m, n, r1, r2, [*p, b""]), (m, n, r1, r2, [*p, r1]),
        (m, n, r1, r2, [*p, r2]), (m, n, r1, r2, [b"", *p]), (m, n, r1, r2, [r1, *p]),
        (m, n, r1, r2, [r2, *p]), (m, n, r1, r2, [p[0], *p]), (m, n, r1, r2, p[:-1]),
    ]  # fmt: skip
    for k in range(len(p)):
        out.append(
            (m, n, r1, r2, [bytes([x[0] ^ 16]) + x[1:] if j == k else x for j, x in enumerate(p)])
        )
    return out


@pytest.mark.parametrize("case", CT["consistency"], ids=lambda c: f"{c['size1']}to{c['size2']}")
def test_consistency_vectors(case: dict) -> None:
    m, n = case["size1"], case["size2"]
    expected = [bytes.fromhex(p) for p in case["proof"]]
    assert consistency_path(LeafHashes(HASHES[:n]), m, n) == expected
    assert expected == oracle.subproof(m, LEAVES[:n], True)
    assert verify_consistency(m, n, ROOTS[m], ROOTS[n], expected)
    if expected:
        for mutant in _consistency_mutants(m, n, ROOTS[m], ROOTS[n], expected):
            assert not verify_consistency(*mutant), mutant


def test_consistency_edge_cases() -> None:
    r1, r2 = b"1" * 32, b"2" * 32
    assert verify_consistency(1, 1, r2, r2, [])  # equal sizes, equal roots
    assert not verify_consistency(1, 1, r1, r2, [])  # equal sizes, other roots: a fork
    assert not verify_consistency(1, 1, r2, r2, [EMPTY_ROOT])  # equal sizes need no proof
    assert not verify_consistency(2, 1, r1, r2, [])  # the log shrank
    assert not verify_consistency(0, 1, EMPTY_ROOT, r2, [])  # the empty tree proves nothing
    assert not verify_consistency(1, 2, r1, r2, [])  # an empty proof proves nothing


def test_every_proof_of_small_trees_agrees_with_the_oracle() -> None:
    data = [f"entry {i}".encode() for i in range(70)]
    hashes = [leaf_hash(d) for d in data]
    for n in range(1, 70):
        source, root = LeafHashes(hashes[:n]), oracle.mth(data[:n])
        assert root_of(hashes[:n]) == root
        for i in range(n):
            path = inclusion_path(source, i, n)
            assert path == oracle.path(i, data[:n])
            assert verify_inclusion(hashes[i], i, n, path, root)
            assert oracle.verify_inclusion(i, n, hashes[i], path, root)
            assert not verify_inclusion(hashes[i - 1], i, n, path, root) or n == 1
        for m in range(1, n + 1):
            proof = consistency_path(source, m, n)
            assert proof == oracle.subproof(m, data[:n], True)
            assert verify_consistency(m, n, oracle.mth(data[:m]), root, proof)


# --- tiles -------------------------------------------------------------------------------


def test_tile_paths_follow_c2sp() -> None:
    assert tile_path(0, 0) == "tile/0/000"
    assert tile_path(2, 1234067) == "tile/2/x001/x234/067"
    assert tile_path(1, 1000, 17) == "tile/1/x001/000.p/17"
    assert tile_path("entries", 5, 112) == "tile/entries/005.p/112"


def test_bundles_round_trip_and_refuse_truncation() -> None:
    entries = [b"", b"a", b"x" * 300]
    data = encode_bundle(entries)
    assert data[:7] == b"\x00\x00\x00\x01a\x01\x2c"  # uint16 big-endian lengths
    assert decode_bundle(data) == entries
    with pytest.raises(LedgerIntegrityError, match="TAMPERED ENTRY BUNDLE"):
        decode_bundle(data[:-1])
    with pytest.raises(LedgerIntegrityError):
        encode_bundle([b"x" * 65536])


def test_the_tile_writer_builds_the_rfc_tree_incrementally(tmp_path: Path) -> None:
    rng = random.Random(7)
    data = [f"leaf {i}".encode() for i in range(256 * 256 + 300)]
    hashes = [leaf_hash(d) for d in data]
    writer, size, sizes = TileWriter(tmp_path), 0, []
    while size < len(data):
        step = rng.choice([1, 3, 97, 255, 256, 4000])
        writer.append(data[size : size + step])
        size = min(len(data), size + step)
        sizes.append(size)
        if size in (sizes[0], 256, 65536) or rng.random() < 0.05:
            assert writer.root() == root_of(hashes[:size])
    reopened = TileWriter(tmp_path, size)  # the right edge read back from the partials
    assert reopened.root() == root_of(hashes)
    reader, oracle = TileReader(tmp_path, size), LeafHashes(hashes)
    for level, index in [(0, 5), (3, 9), (8, 3), (9, 1), (16, 0), (12, 15)]:
        assert reader.subtree(level, index) == oracle.subtree(level, index)
    assert [e for _, e in reader.entries(65530, 65540)] == data[65530:65540]
    assert (tmp_path / tile_path(2, 0, 1)).read_bytes() == root_of(hashes[:65536])


# --- signed notes and checkpoints -----------------------------------------------------------


def _go_signer() -> Signer:
    name, _, encoded = NOTE["signer_key"].removeprefix("PRIVATE+KEY+").split("+", 2)
    seed = base64.b64decode(encoded)[1:]
    return Signer(name, Ed25519PrivateKey.from_private_bytes(seed))


def test_signed_notes_match_go_known_answers() -> None:
    signer = _go_signer()
    assert signer.note_key.vkey == NOTE["verifier_key"]
    text = NOTE["text"].encode()
    note = signer.sign_note(text)
    assert note == text + b"\n" + NOTE["signature_line"].encode()
    key = NoteKey.parse(NOTE["verifier_key"])
    with_witness = note + NOTE["other_signature_line"].encode()
    assert open_note(with_witness, key) == text  # another key's line is ignored
    only_other = text + b"\n" + NOTE["other_signature_line"].encode()
    with pytest.raises(LedgerIntegrityError, match="not signed by the trusted key"):
        open_note(only_other, key)
    with pytest.raises(LedgerIntegrityError, match="does not verify"):
        open_note(note.replace(b"cryptography", b"Cryptography"), key)
    with pytest.raises(LedgerIntegrityError, match="control characters"):
        open_note(note.replace(b"answer", b"ans\x07wer"), key)


def test_verifier_keys_round_trip_even_with_plus_in_base64() -> None:
    for seed in range(64):
        key = Signer("example.com/log", Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))
        assert NoteKey.parse(key.note_key.vkey) == key.note_key
    assert any("+" in k.split("+", 2)[2] for k in [
        Signer("n", Ed25519PrivateKey.from_private_bytes(bytes([s]) * 32)).note_key.vkey
        for s in range(64)
    ])  # fmt: skip


def test_checkpoints_are_three_lines_and_name_their_log() -> None:
    signer = Signer("example.com/log", Ed25519PrivateKey.from_private_bytes(bytes(32)))
    cp = Checkpoint("example.com/log", 20852163, bytes(range(32)))
    note = signer.sign(cp)
    assert note.startswith(
        b"example.com/log\n20852163\n" + base64.b64encode(bytes(range(32))) + b"\n\n"
    )
    assert open_checkpoint(note, signer.note_key) == cp
    other = Signer("example.com/other", Ed25519PrivateKey.from_private_bytes(bytes(32)))
    with pytest.raises(LedgerIntegrityError, match="origin"):
        open_checkpoint(
            other.sign(Checkpoint("example.com/other", 1, bytes(32))),
            other.note_key,
            "example.com/log",
        )
    with pytest.raises(LedgerIntegrityError, match="MALFORMED"):
        Checkpoint.parse(b"example.com/log\n007\n" + base64.b64encode(bytes(32)) + b"\n")


# --- the projection ------------------------------------------------------------------------


def test_projection_is_pure_and_keeps_log_coordinates() -> None:
    projection = EvidenceProjection()
    assert (projection.name, projection.input, projection.reads) == (
        "evidence", Input.EVENTS, frozenset({"evidence.recorded"}))  # fmt: skip
    record = {"sha256": "ab" * 32, "kind": "test_report", "proves": "o/r#1"}
    events = [
        LoggedEvent(LogPosition("t", 2, 40 + i), "evidence.recorded", f"e{i}", record)
        for i in range(3)
    ]
    batch = Batch(upto={("t", 2): 42}, events=events)
    leaves = projection.project(batch)
    assert projection.project(batch) == leaves and batch.events == events
    assert [leaf.position for leaf in leaves] == [e.position for e in events]
    assert LedgerLeaf.from_entry(leaves[0].entry) == LedgerLeaf(
        "e0", "ab" * 32, "test_report", "o/r#1"
    )
    assert leaves[0].entry == (
        b'{"event_id":"e0","kind":"test_report","proves":"o/r#1","sha256":"'
        + b"ab" * 32
        + b'","v":1}'
    )
    with pytest.raises(LedgerIntegrityError, match="canonical"):
        LedgerLeaf.from_entry(leaves[0].entry.replace(b",", b", ", 1))
