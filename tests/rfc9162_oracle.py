"""An RFC 9162 oracle written from the RFC's text, for cross-checking the log's own
tree code. It imports nothing from ``sinks``: recursive where the RFC is recursive,
step by step where the RFC gives steps (§2.1.1 MTH, §2.1.3.1 PATH, §2.1.3.2
inclusion verification, §2.1.4.1 SUBPROOF)."""

from __future__ import annotations

import hashlib


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _k(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def mth(d: list[bytes]) -> bytes:
    """§2.1.1 Merkle Tree Hash over the raw entries."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return leaf(d[0])
    k = _k(len(d))
    return node(mth(d[:k]), mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    """§2.1.3.1 PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool = True) -> list[bytes]:
    """§2.1.4.1 SUBPROOF(m, D[n], b); PROOF(m, D[n]) is ``subproof(m, d, True)``."""
    if m == len(d):
        return [] if b else [mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: list[bytes], root: bytes
) -> bool:
    """§2.1.3.2, step by step."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
