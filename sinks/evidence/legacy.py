"""Reading the ledger format that came before the transparency log, to migrate it once.

Until the tlog rewrite, ``ledger.db`` held the leaves in pymerkle's ``leaf`` table
(``id`` from 1, ``entry``, ``hash``) and tree heads in our own format in
``signed_heads``: Ed25519 over ``b"proofstream.sth.v1\\0" || tree_size (u64 BE) ||
timestamp_us (u64 BE) || root (32 bytes)``, ``key_id`` = SHA-256 of the raw public
key. The index (``ledger_entries``) and ``watermarks`` tables are unchanged.

:func:`read_legacy` reads that data with plain SQLite (pymerkle is no longer a
dependency) and checks it before anything is migrated: contiguous leaves, each
leaf's stored hash, each index row against its leaf, and every head's signature
(the ledger checks every head's root against the tiles it writes from the
leaves). A store whose old history does not verify is refused, never laundered
into fresh checkpoints.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sinks.evidence.errors import LedgerIntegrityError
from sinks.evidence.index import LedgerDb
from sinks.evidence.tree import leaf_hash

__all__ = ["LegacyLog", "needs_migration", "read_legacy"]

_STH_DOMAIN = b"proofstream.sth.v1\x00"


@dataclass(frozen=True, slots=True)
class LegacyLog:
    """The verified content of a legacy ledger: leaf entries in order, and the signed
    heads as ``(tree_size, root hex, timestamp_us)``, by size, one per size."""

    entries: list[bytes]
    heads: list[tuple[int, str, int]]


def needs_migration(db: LedgerDb) -> bool:
    """A ``ledger.db`` written before the transparency log, not migrated yet."""
    return db.has_table("leaf") and db.meta("format") is None


def _signed_message(tree_size: int, root: bytes, timestamp: int) -> bytes:
    return _STH_DOMAIN + struct.pack(">QQ", tree_size, timestamp) + root


def read_legacy(db: LedgerDb, public_key: Ed25519PublicKey) -> LegacyLog:
    """The legacy leaves and heads, verified (module docstring); raises
    :class:`LedgerIntegrityError` naming the first thing that does not verify."""
    rows = db.query("SELECT id, entry, hash FROM leaf ORDER BY id")
    entries: list[bytes] = []
    for expected, (leaf_id, entry, stored) in enumerate(rows, start=1):
        if leaf_id != expected:
            raise LedgerIntegrityError(f"REWRITTEN LEDGER: legacy leaf ids skip {expected}")
        if leaf_hash(bytes(entry)) != bytes(stored):
            raise LedgerIntegrityError(f"REWRITTEN LEDGER ENTRY: legacy leaf {leaf_id - 1}")
        entries.append(bytes(entry))
    indexed = db.sequenced(0)
    if len(indexed) != len(entries):
        raise LedgerIntegrityError(
            f"REWRITTEN LEDGER: {len(indexed)} index rows for {len(entries)} legacy leaves"
        )
    for position, (leaf, entry) in enumerate(zip(indexed, entries, strict=True)):
        if leaf.entry != entry:
            raise LedgerIntegrityError(
                f"REWRITTEN LEDGER ENTRY: leaf {position} disagrees with its index row"
            )
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = hashlib.sha256(raw).hexdigest()
    heads: dict[int, tuple[int, str, int]] = {}
    sql = "SELECT tree_size, root, timestamp, key_id, signature FROM signed_heads ORDER BY seq"
    for size, root_hex, timestamp, signer, signature in db.query(sql):
        root = bytes.fromhex(root_hex)
        try:
            if signer != key_id:
                raise InvalidSignature
            public_key.verify(bytes.fromhex(signature), _signed_message(size, root, timestamp))
        except (InvalidSignature, ValueError) as exc:
            raise LedgerIntegrityError(
                f"FORGED TREE HEAD: legacy head of size {size} does not verify"
            ) from exc
        if not 0 < size <= len(entries):
            raise LedgerIntegrityError(f"REWRITTEN LEDGER: legacy head of size {size} is too big")
        heads.setdefault(int(size), (int(size), str(root_hex), int(timestamp)))
    return LegacyLog(entries, [heads[size] for size in sorted(heads)])
