"""RFC 6962 / RFC 9162 Merkle tree hashing and proofs, owned by this project.

Everything here is pure and works over a :class:`HashSource`: anything that can
return the hash of a *perfect, aligned* subtree (``2**level`` leaves starting at
``index * 2**level``). The tile store is one (a tile holds 256 such hashes); a
list of leaf hashes is another (:class:`LeafHashes`, for tests and small trees).

Definitions (RFC 6962 §2.1, RFC 9162 §2.1)::

    leaf hash  = SHA-256(0x00 || entry)
    node hash  = SHA-256(0x01 || left || right)
    MTH({})    = SHA-256()                      the empty tree
    MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])) k = largest power of two < n

Proof generation follows RFC 9162 §2.1.3.1 (``PATH``) and §2.1.4.1
(``SUBPROOF``); verification follows §2.1.3.2 and §2.1.4.2 step by step. Both are
checked against the published RFC 6962 / CT vectors (vendored in
``tests/fixtures/tlog_vectors``) and against Go's ``golang.org/x/mod/sumdb/tlog``
and ``transparency-dev/merkle`` on real ledgers (``tests/tlog_verifier``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

__all__ = [
    "EMPTY_ROOT",
    "HashSource",
    "LeafHashes",
    "consistency_path",
    "inclusion_path",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH of the empty tree."""


def leaf_hash(entry: bytes) -> bytes:
    """``SHA-256(0x00 || entry)``. Pure."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``. Pure."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class HashSource(Protocol):
    """Hashes of perfect aligned subtrees of one tree."""

    def subtree(self, level: int, index: int) -> bytes:
        """MTH of leaves ``[index * 2**level, (index + 1) * 2**level)``; the range
        lies inside the tree. Raises whatever the source raises for missing data."""
        ...


class LeafHashes:
    """A :class:`HashSource` over a list of leaf hashes (subtrees hashed on demand)."""

    def __init__(self, hashes: Sequence[bytes]) -> None:
        self._hashes = hashes

    def subtree(self, level: int, index: int) -> bytes:
        start = index << level
        return root_of(self._hashes[start : start + (1 << level)])


def root_of(hashes: Sequence[bytes]) -> bytes:
    """MTH of a sequence of *leaf hashes* (not entries), iteratively. Pure."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        # pairing left to right and carrying an odd last node up unchanged builds
        # exactly the RFC tree (its right edge is the only unbalanced part)
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(source: HashSource, start: int, end: int) -> bytes:
    """MTH of leaves ``[start, end)`` (``start < end``), from the largest perfect
    subtrees the source holds. Pure given the source."""
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        return source.subtree(n.bit_length() - 1, start // n)
    k = _split(n)
    return node_hash(range_hash(source, start, start + k), range_hash(source, start + k, end))


def inclusion_path(source: HashSource, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 ``PATH(index, D[0:size])``, bottom-up. Raises ValueError
    when ``index`` is not in the tree."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(range_hash(source, start + k, end))
            end = start + k
        else:
            path.append(range_hash(source, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_path(source: HashSource, old_size: int, new_size: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 ``PROOF(old_size, D[0:new_size])``. Empty for equal sizes;
    raises ValueError unless ``0 < old_size <= new_size``."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    proof: list[bytes] = []
    start, end, m, whole = 0, new_size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(range_hash(source, start + k, end))
            end = start + k
        else:
            proof.append(range_hash(source, start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        proof.append(range_hash(source, start, end))
    proof.reverse()
    return proof


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: whether ``path`` proves ``leaf`` (a leaf hash) at ``index``
    in the tree of ``size`` leaves whose root is ``root``. Pure."""
    if not 0 <= index < size or len(leaf) != 32 or any(len(p) != 32 for p in path):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: whether ``proof`` shows the tree ``(new_size, new_root)``
    extends ``(old_size, old_root)``. Equal sizes need an empty proof and equal
    roots; a proof from the empty tree proves nothing and is refused. Pure."""
    if any(len(p) != 32 for p in proof) or len(old_root) != 32 or len(new_root) != 32:
        return False
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
