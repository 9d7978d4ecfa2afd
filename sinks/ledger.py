"""The append-only Merkle ledger of Chronicle evidence, with signed tree heads.

**This is the only module that imports pymerkle** (GPL-3.0-or-later; DESIGN asks
to confine it behind the ``pipeline`` extra and to cross-check its proofs against
RFC 9162 in tests, which ``tests/contract/test_evidence_ledger.py`` does with an
independent verifier).

One SQLite file, ``<chronicle root>/ledger.db``, holds everything:

- ``leaf`` — pymerkle's ``SqliteTree`` table (append-only by its own triggers):
  leaf ``i`` (pymerkle counts from 1) stores the canonical entry bytes and
  their RFC 9162 leaf hash ``SHA-256(0x00 || entry)``; interior nodes are
  ``SHA-256(0x01 || left || right)``.
- ``ledger_entries`` — our index: RFC leaf index (from 0), ``event_id`` (unique:
  the idempotency key), ``sha256``, ``kind``, ``proves`` and the log coordinate.
  Rows are inserted in the **same SQLite transaction** as the leaves (pymerkle
  commits on the connection we share), so the index never disagrees with the
  tree after a crash.
- ``signed_heads`` — the heads log: ``SignedTreeHead`` rows, append-only.
- ``watermarks`` — per projection, written in the same transaction as the head
  that a ``checkpoint`` signs.

A leaf entry is the canonical JSON (sorted keys, no whitespace) of
``{"event_id", "kind", "proves", "sha256", "v": 1}``. Verification never trusts
the index: it re-reads the leaf's entry bytes, re-hashes them, checks they name
the digest asked about, and checks the inclusion proof against a **signed** head
whose Ed25519 signature is verified first.

A tree head is signed over ``b"proofstream.sth.v1\\0" || tree_size (u64 BE) ||
timestamp_us (u64 BE) || root (32 bytes)``; ``key_id`` is the SHA-256 of the raw
public key.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from pymerkle import (
    InclusionProof,
    InmemoryTree,
    InvalidChallenge,
    InvalidProof,
    SqliteTree,
    verify_consistency,
    verify_inclusion,
)

from schemas.errors import ConfigError, SinkUnavailableError
from sinks.base import LogPosition, Watermark
from sinks.chronicle import ChronicleSettings, LedgerIntegrityError, check_digest
from sinks.directories import live_dir

__all__ = [
    "ConsistencyCheck",
    "InclusionCheck",
    "Ledger",
    "LedgerEntry",
    "LedgerIndex",
    "LedgerLeaf",
    "SignedTreeHead",
    "key_id_of",
    "load_public_key",
    "load_signing_key",
    "verify_head",
]

_STH_DOMAIN = b"proofstream.sth.v1\x00"
_ENTRY_VERSION = 1
_IN_CHUNK = 500  # stays below SQLite's bound-parameter limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_entries(
    leaf_index    INTEGER PRIMARY KEY,
    event_id      TEXT NOT NULL UNIQUE,
    sha256        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    proves        TEXT NOT NULL,
    log_topic     TEXT,
    log_partition INTEGER,
    log_offset    INTEGER
);
CREATE INDEX IF NOT EXISTS ledger_entries_sha256 ON ledger_entries(sha256);
CREATE TABLE IF NOT EXISTS signed_heads(
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    tree_size  INTEGER NOT NULL,
    root       TEXT NOT NULL,
    timestamp  INTEGER NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS signed_heads_size ON signed_heads(tree_size);
CREATE TABLE IF NOT EXISTS watermarks(
    projection    TEXT NOT NULL,
    topic         TEXT NOT NULL,
    partition     INTEGER NOT NULL,
    log_offset    INTEGER NOT NULL,
    PRIMARY KEY (projection, topic, partition)
);
CREATE TRIGGER IF NOT EXISTS ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END;
CREATE TRIGGER IF NOT EXISTS signed_heads_no_update BEFORE UPDATE ON signed_heads
BEGIN SELECT RAISE(ABORT, 'signed_heads is append-only'); END;
CREATE TRIGGER IF NOT EXISTS signed_heads_no_delete BEFORE DELETE ON signed_heads
BEGIN SELECT RAISE(ABORT, 'signed_heads is append-only'); END;
"""


def _now_us() -> int:
    return time.time_ns() // 1000


# --- leaves --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerLeaf:
    """What one ``evidence.recorded`` event appends: its identity and what it proves."""

    event_id: str
    sha256: str
    kind: str
    proves: str
    position: LogPosition | None = None

    @property
    def entry(self) -> bytes:
        """The canonical bytes stored in (and hashed into) the leaf. Pure."""
        return orjson.dumps(
            {
                "event_id": self.event_id,
                "kind": self.kind,
                "proves": self.proves,
                "sha256": self.sha256,
                "v": _ENTRY_VERSION,
            },
            option=orjson.OPT_SORT_KEYS,
        )

    @classmethod
    def from_entry(cls, entry: bytes) -> LedgerLeaf:
        """Parse leaf bytes back; raises :class:`LedgerIntegrityError` if malformed."""
        try:
            data = orjson.loads(entry)
            leaf = cls(
                event_id=str(data["event_id"]),
                sha256=str(data["sha256"]),
                kind=str(data["kind"]),
                proves=str(data["proves"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise LedgerIntegrityError(f"ledger leaf is not a valid entry: {exc}") from exc
        if leaf.entry != entry:
            raise LedgerIntegrityError("ledger leaf is not in canonical form")
        return leaf


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """A row of the ledger index: where a leaf sits (``leaf_index`` from 0)."""

    leaf_index: int
    event_id: str
    sha256: str
    kind: str
    proves: str


# --- signed tree heads ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """A tree size and root, timestamped and signed with Ed25519 (hex fields)."""

    tree_size: int
    root_hex: str
    timestamp: int
    key_id: str
    signature: str

    def signed_message(self) -> bytes:
        """The exact bytes the signature covers (see the module docstring). Pure."""
        return signed_message(self.tree_size, self.root_hex, self.timestamp)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root": self.root_hex,
            "timestamp": self.timestamp,
            "key_id": self.key_id,
            "signature": self.signature,
        }


def signed_message(tree_size: int, root_hex: str, timestamp: int) -> bytes:
    """The bytes a tree head signature covers. Pure."""
    root = bytes.fromhex(root_hex)
    if len(root) != 32:
        raise LedgerIntegrityError(f"tree head root is not 32 bytes: {root_hex!r}")
    return _STH_DOMAIN + struct.pack(">QQ", tree_size, timestamp) + root


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the raw 32-byte public key. Pure."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def verify_head(head: SignedTreeHead, public_key: Ed25519PublicKey) -> None:
    """Check ``head``'s key id and Ed25519 signature; raise :class:`LedgerIntegrityError`."""
    if head.key_id != key_id_of(public_key):
        raise LedgerIntegrityError(
            f"FORGED TREE HEAD: size {head.tree_size} was signed by key {head.key_id[:16]}…, "
            f"not the trusted key {key_id_of(public_key)[:16]}…"
        )
    try:
        public_key.verify(bytes.fromhex(head.signature), head.signed_message())
    except (InvalidSignature, ValueError) as exc:
        raise LedgerIntegrityError(
            f"FORGED TREE HEAD: bad signature on size {head.tree_size} root {head.root_hex}"
        ) from exc


def load_signing_key(path: Path, *, create: bool = False) -> Ed25519PrivateKey:
    """Load the PEM (PKCS#8) Ed25519 key at ``path``.

    With ``create``, a missing key is generated once (``O_EXCL``, mode 0600) and
    must then stay private: a generated key readable by group or others raises
    :class:`ConfigError`. A key mounted from a secrets directory is taken as is.
    """
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: load theirs
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
                out.flush()
                os.fsync(out.fileno())
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"signing key {path} is readable by others: chmod 600 it")
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigError(f"no Chronicle signing key at {path}") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not a PEM private key: {exc}") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 key")
    return loaded


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Load a PEM (SubjectPublicKeyInfo) Ed25519 public key; :class:`ConfigError` if not."""
    try:
        loaded = serialization.load_pem_public_key(path.read_bytes())
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(f"cannot load the Chronicle public key {path}: {exc}") from exc
    if not isinstance(loaded, Ed25519PublicKey):
        raise ConfigError(f"{path} is not an Ed25519 public key")
    return loaded


# --- proof results -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InclusionCheck:
    """A verified inclusion: the leaf, its RFC 9162 audit path (bottom-up, hex,
    the leaf hash excluded) and the signed head it was checked against."""

    entry: LedgerEntry
    leaf_hash: str
    audit_path: tuple[str, ...]
    head: SignedTreeHead


@dataclass(frozen=True, slots=True)
class ConsistencyCheck:
    """A verified consistency between two signed heads (pymerkle's proof path, hex)."""

    prior: SignedTreeHead
    later: SignedTreeHead
    path: tuple[str, ...]


# --- the ledger ----------------------------------------------------------------------


class Ledger:
    """The Merkle ledger on ``<root>/ledger.db`` (see the module docstring).

    Not thread-safe beyond what pymerkle's tree lock serializes; one writer per
    file (the evidence sink), any number of readers through :class:`LedgerIndex`.
    Raises :class:`SinkUnavailableError` when SQLite is busy or unreachable and
    :class:`LedgerIntegrityError` when the stored tree is inconsistent.
    """

    def __init__(
        self,
        path: Path,
        signing_key: Ed25519PrivateKey,
        *,
        trusted_key: Ed25519PublicKey | None = None,
        clock: Callable[[], int] = _now_us,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._key = signing_key
        self._trusted = trusted_key or signing_key.public_key()
        self._key_id = key_id_of(signing_key.public_key())
        self._clock = clock
        try:
            self._tree: SqliteTree | None = SqliteTree(str(path))
        except ValueError as exc:  # pymerkle: leaf ids are not contiguous
            raise LedgerIntegrityError(f"{path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise SinkUnavailableError("evidence", f"cannot open {path}: {exc}") from exc
        try:
            self._con.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self.close()
            raise SinkUnavailableError("evidence", f"cannot prepare {path}: {exc}") from exc

    @classmethod
    def open(
        cls,
        settings: ChronicleSettings,
        state_dir: Path,
        *,
        clock: Callable[[], int] | None = None,
        create_key: bool = True,
    ) -> Ledger:
        """Open ``<root>/ledger.db`` of the live generation (``<root>`` itself, or the
        generation a replay swapped in: :func:`sinks.directories.live_dir`);
        generates the signing key (always in ``<root>``) on first use unless
        ``create_key`` is False (verifiers: a missing key is a :class:`ConfigError`)."""
        root = settings.resolve_root(state_dir)
        key = load_signing_key(
            settings.resolve_signing_key(state_dir),
            create=create_key and settings.signing_key_file is None,
        )
        trusted = load_public_key(settings.public_key_file) if settings.public_key_file else None
        ledger = live_dir(root) / "ledger.db"
        return cls(ledger, key, trusted_key=trusted, clock=clock or _now_us)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The key heads are verified with (pinned, or the signing key's public half)."""
        return self._trusted

    @property
    def _tree_open(self) -> SqliteTree:
        if self._tree is None:
            raise SinkUnavailableError("evidence", "ledger is closed", retry_after=0.0)
        return self._tree

    @property
    def _con(self) -> sqlite3.Connection:
        con: sqlite3.Connection = self._tree_open.con
        return con

    def _cursor(self) -> sqlite3.Cursor:
        # pymerkle sets a one-column row factory on the connection; ours reads tuples.
        cur = self._con.cursor()
        cur.row_factory = None
        return cur

    # -- writing ---------------------------------------------------------------------

    def append(self, leaves: Sequence[LedgerLeaf]) -> int:
        """Append the leaves whose ``event_id`` is not in the ledger yet; return how many.

        Idempotent on ``event_id`` (also within ``leaves``). Index rows and leaves
        commit in one transaction. Durable on return (SQLite commit).
        """
        tree = self._tree_open
        with tree.lock:
            known = self._known_ids([leaf.event_id for leaf in leaves])
            fresh: list[LedgerLeaf] = []
            for leaf in leaves:
                if leaf.event_id not in known:
                    known.add(leaf.event_id)
                    fresh.append(leaf)
            if not fresh:
                return 0
            size = tree.get_size()
            rows = [
                (
                    size + i,
                    leaf.event_id,
                    leaf.sha256,
                    leaf.kind,
                    leaf.proves,
                    *(
                        (leaf.position.topic, leaf.position.partition, leaf.position.offset)
                        if leaf.position
                        else (None, None, None)
                    ),
                )
                for i, leaf in enumerate(fresh)
            ]
            try:
                self._cursor().executemany(
                    "INSERT INTO ledger_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
                # pymerkle commits the connection we share: index rows and leaves
                # land in one transaction, or (on error) neither does.
                new_size = tree.append_entries([leaf.entry for leaf in fresh])
            except sqlite3.OperationalError as exc:
                self._con.rollback()
                raise SinkUnavailableError("evidence", f"ledger append failed: {exc}") from exc
            except BaseException:
                self._con.rollback()
                raise
            if new_size != size + len(fresh):
                raise LedgerIntegrityError(
                    f"ledger size {new_size} after appending {len(fresh)} leaves to {size}"
                )
            return len(fresh)

    def _known_ids(self, ids: Sequence[str]) -> set[str]:
        cur = self._cursor()
        found: set[str] = set()
        unique = sorted(set(ids))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            cur.execute(f"SELECT event_id FROM ledger_entries WHERE event_id IN ({marks})", chunk)
            found.update(row[0] for row in cur.fetchall())
        return found

    def checkpoint(self, projection: str, marks: Mapping[tuple[str, int], int]) -> SignedTreeHead:
        """Sign a head for the current tree (unless the latest head already covers it)
        and advance ``projection``'s watermark to ``marks``, in one transaction.

        Returns the latest signed head. Watermarks never move backwards. Raises
        :class:`SinkUnavailableError` when SQLite fails (nothing is recorded).
        """
        tree = self._tree_open
        with tree.lock:
            size = tree.get_size()
            latest = self.latest_head()
            head = latest
            if size and (latest is None or latest.tree_size != size):
                head = self._sign(size, tree.get_root(size).hex())
            cur = self._cursor()
            try:
                if head is not None and head is not latest:
                    cur.execute(
                        "INSERT INTO signed_heads(tree_size, root, timestamp, key_id, signature)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (
                            head.tree_size,
                            head.root_hex,
                            head.timestamp,
                            head.key_id,
                            head.signature,
                        ),
                    )
                cur.executemany(
                    "INSERT INTO watermarks VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(projection, topic, partition) DO UPDATE"
                    " SET log_offset = max(log_offset, excluded.log_offset)",
                    [(projection, t, p, o) for (t, p), o in sorted(marks.items())],
                )
                self._con.commit()
            except sqlite3.Error as exc:
                self._con.rollback()
                raise SinkUnavailableError("evidence", f"ledger checkpoint failed: {exc}") from exc
            if head is None:
                head = self._sign(0, tree.get_root(0).hex())  # empty tree: never stored
            return head

    def _sign(self, size: int, root_hex: str) -> SignedTreeHead:
        timestamp = self._clock()
        signature = self._key.sign(signed_message(size, root_hex, timestamp))
        return SignedTreeHead(size, root_hex, timestamp, self._key_id, signature.hex())

    # -- reading ---------------------------------------------------------------------

    def size(self) -> int:
        """Number of leaves."""
        return int(self._tree_open.get_size())

    def root(self, size: int | None = None) -> str:
        """RFC 9162 root (hex) of the first ``size`` leaves (all by default); the
        ledger digest a replay compares. ``SHA-256()`` of nothing for size 0."""
        return bytes(self._tree_open.get_root(size)).hex()

    def watermark(self, projection: str) -> Watermark:
        """Last checkpointed offset per ``(topic, partition)`` of ``projection``."""
        cur = self._cursor()
        cur.execute(
            "SELECT topic, partition, log_offset FROM watermarks WHERE projection = ?",
            (projection,),
        )
        return {(str(t), int(p)): int(o) for t, p, o in cur.fetchall()}

    def heads(self) -> list[SignedTreeHead]:
        """Every signed head, oldest first."""
        cur = self._cursor()
        cur.execute(
            "SELECT tree_size, root, timestamp, key_id, signature FROM signed_heads ORDER BY seq"
        )
        return [SignedTreeHead(int(s), r, int(t), k, g) for s, r, t, k, g in cur.fetchall()]

    def latest_head(self) -> SignedTreeHead | None:
        """The newest signed head, or None before the first checkpoint."""
        cur = self._cursor()
        cur.execute(
            "SELECT tree_size, root, timestamp, key_id, signature FROM signed_heads"
            " ORDER BY seq DESC LIMIT 1"
        )
        row = cur.fetchone()
        return SignedTreeHead(int(row[0]), row[1], int(row[2]), row[3], row[4]) if row else None

    def head_at(self, tree_size: int) -> SignedTreeHead:
        """The newest signed head of exactly ``tree_size``; :class:`LedgerIntegrityError`
        if no head of that size was ever signed."""
        for head in reversed(self.heads()):
            if head.tree_size == tree_size:
                return head
        raise LedgerIntegrityError(f"no signed tree head of size {tree_size}")

    def entries(self, sha256: str) -> list[LedgerEntry]:
        """Every index row recording artifact ``sha256``, in leaf order."""
        check_digest(sha256)
        return self._entries("sha256", sha256)

    def entry_for_event(self, event_id: str) -> LedgerEntry | None:
        """The index row of ``evidence.recorded`` event ``event_id``, if appended."""
        found = self._entries("event_id", event_id)
        return found[0] if found else None

    def event_ids(self) -> set[str]:
        """Every ``event_id`` in the ledger index."""
        cur = self._cursor()
        cur.execute("SELECT event_id FROM ledger_entries")
        return {row[0] for row in cur.fetchall()}

    def _entries(self, column: str, value: str) -> list[LedgerEntry]:
        cur = self._cursor()
        cur.execute(
            "SELECT leaf_index, event_id, sha256, kind, proves FROM ledger_entries"
            f" WHERE {column} = ? ORDER BY leaf_index",
            (value,),
        )
        return [LedgerEntry(int(i), e, s, k, p) for i, e, s, k, p in cur.fetchall()]

    def leaf_entry(self, leaf_index: int) -> bytes:
        """The raw entry bytes stored in leaf ``leaf_index`` (from 0)."""
        entry = self._tree_open.get_entry(leaf_index + 1)
        if not isinstance(entry, bytes):
            raise LedgerIntegrityError(f"ledger has no leaf {leaf_index}")
        return entry

    # -- verifying -------------------------------------------------------------------

    def prove_inclusion(
        self, entry: LedgerEntry, head: SignedTreeHead | None = None
    ) -> InclusionCheck:
        """Verify that ``entry`` is in the tree of ``head`` (the latest by default).

        Checks, in order: the head's signature; that the head's size covers the
        leaf; that the leaf's stored bytes say what the index row says; the
        pymerkle inclusion proof from the re-hashed leaf to the signed root.
        Raises :class:`LedgerIntegrityError` naming what failed.
        """
        head = head or self.latest_head()
        if head is None:
            raise LedgerIntegrityError("the ledger has no signed tree head yet")
        verify_head(head, self._trusted)
        if not 0 <= entry.leaf_index < head.tree_size:
            raise LedgerIntegrityError(
                f"leaf {entry.leaf_index} is not covered by the head of size {head.tree_size}"
            )
        if head.tree_size > self.size():
            raise LedgerIntegrityError(
                f"signed head has {head.tree_size} leaves, the ledger only {self.size()}"
            )
        data = self.leaf_entry(entry.leaf_index)
        leaf = LedgerLeaf.from_entry(data)
        if (leaf.event_id, leaf.sha256, leaf.kind, leaf.proves) != (
            entry.event_id,
            entry.sha256,
            entry.kind,
            entry.proves,
        ):
            raise LedgerIntegrityError(
                f"REWRITTEN LEDGER ENTRY: leaf {entry.leaf_index} records {leaf.sha256} for "
                f"{leaf.event_id}, the index says {entry.sha256} for {entry.event_id}"
            )
        tree = self._tree_open
        leaf_hash = tree.hash_buff(data)
        try:
            proof: InclusionProof = tree.prove_inclusion(entry.leaf_index + 1, head.tree_size)
            verify_inclusion(
                leaf_hash,
                bytes.fromhex(head.root_hex),
                proof,
                index=entry.leaf_index + 1,
                size=head.tree_size,
                algorithm="sha256",
            )
        except (InvalidProof, InvalidChallenge) as exc:
            raise LedgerIntegrityError(
                f"INCLUSION PROOF FAILED for leaf {entry.leaf_index} ({entry.sha256}) against "
                f"the signed head of size {head.tree_size}: {exc}"
            ) from exc
        return InclusionCheck(
            entry=entry,
            leaf_hash=leaf_hash.hex(),
            audit_path=tuple(bytes(d).hex() for d in proof.path[1:]),
            head=head,
        )

    def prove_consistency(self, prior: SignedTreeHead, later: SignedTreeHead) -> ConsistencyCheck:
        """Verify both heads' signatures and that ``later``'s tree extends ``prior``'s.

        Raises :class:`LedgerIntegrityError` (forged head, rewritten history, or
        sizes that cannot be compared).
        """
        verify_head(prior, self._trusted)
        verify_head(later, self._trusted)
        if prior.tree_size > later.tree_size:
            raise LedgerIntegrityError(
                f"prior head ({prior.tree_size}) is larger than the later one ({later.tree_size})"
            )
        try:
            proof = self._tree_open.prove_consistency(prior.tree_size, later.tree_size)
            verify_consistency(
                bytes.fromhex(prior.root_hex),
                bytes.fromhex(later.root_hex),
                proof,
                prior_size=prior.tree_size,
                later_size=later.tree_size,
                algorithm="sha256",
            )
        except (InvalidProof, InvalidChallenge) as exc:
            raise LedgerIntegrityError(
                f"CONSISTENCY PROOF FAILED between signed heads {prior.tree_size} and "
                f"{later.tree_size}: {exc}"
            ) from exc
        return ConsistencyCheck(prior, later, tuple(bytes(d).hex() for d in proof.path))

    def audit_leaves(self) -> int:
        """Re-hash every stored entry and rebuild the root independently of the
        stored hashes; check it against the latest signed head. Returns the leaf
        count. Raises :class:`LedgerIntegrityError` on the first mismatch."""
        cur = self._cursor()
        cur.execute("SELECT id, entry, hash FROM leaf ORDER BY id")
        rebuilt = InmemoryTree(algorithm="sha256")
        count = 0
        for leaf_id, entry, stored in _iter_rows(cur):
            if rebuilt.hash_buff(entry) != stored:
                raise LedgerIntegrityError(
                    f"REWRITTEN LEDGER ENTRY: leaf {leaf_id - 1} does not hash to its stored hash"
                )
            rebuilt.append_entry(entry)
            count += 1
        head = self.latest_head()
        if head is not None:
            verify_head(head, self._trusted)
            if head.tree_size > count or rebuilt.get_root(head.tree_size).hex() != head.root_hex:
                raise LedgerIntegrityError(
                    f"REWRITTEN LEDGER: the leaves do not rebuild the signed root of size "
                    f"{head.tree_size}"
                )
        return count

    def close(self) -> None:
        """Close the SQLite connection. Idempotent."""
        tree, self._tree = self._tree, None
        if tree is not None:
            tree.close()


def _iter_rows(cur: sqlite3.Cursor) -> Iterator[tuple[int, bytes, bytes]]:
    while rows := cur.fetchmany(4096):
        for leaf_id, entry, stored in rows:
            yield int(leaf_id), bytes(entry), bytes(stored)


class LedgerIndex:
    """Read-only view of the ledger index for joins (no pymerkle, no key needed).

    Opens ``ledger.db`` read-only; safe next to a running evidence sink.
    """

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ConfigError(f"no Chronicle ledger at {path}")
        self._con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def ledger_columns(self, sha256: str) -> tuple[int, int | None, str | None] | None:
        """``(leaf_index, tree_size, root)`` for the first leaf recording ``sha256``:
        the leaf and the **first** signed head that covers it (stable forever, so a
        fact row can carry it). ``tree_size``/``root`` are None until a head covers
        the leaf; None when the digest is not in the ledger."""
        check_digest(sha256)
        row = self._con.execute(
            "SELECT min(leaf_index) FROM ledger_entries WHERE sha256 = ?", (sha256,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return (int(row[0]), *self._first_head(int(row[0])))

    def rows(self, since_leaf: int = 0) -> Iterable[dict[str, Any]]:
        """Rows of the proposed ClickHouse ``ledger_entries`` table, from leaf
        ``since_leaf``: one per evidence event with its leaf and first covering
        head (None until signed). Join ``evidence`` facts on ``event_id``."""
        heads = self._con.execute(
            "SELECT tree_size, min(seq), root FROM signed_heads GROUP BY tree_size"
            " ORDER BY tree_size"
        ).fetchall()
        cursor = self._con.execute(
            "SELECT leaf_index, event_id, sha256 FROM ledger_entries WHERE leaf_index >= ?"
            " ORDER BY leaf_index",
            (since_leaf,),
        )
        position = 0
        for leaf_index, event_id, sha256 in cursor:
            while position < len(heads) and heads[position][0] <= leaf_index:
                position += 1
            size, root = (
                (heads[position][0], heads[position][2])
                if position < len(heads)
                else (
                    None,
                    None,
                )
            )
            yield {
                "event_id": event_id,
                "sha256": sha256,
                "leaf_index": int(leaf_index),
                "tree_size": size,
                "ledger_root": root,
            }

    def _first_head(self, leaf_index: int) -> tuple[int | None, str | None]:
        row = self._con.execute(
            "SELECT tree_size, root FROM signed_heads WHERE tree_size > ?"
            " ORDER BY tree_size, seq LIMIT 1",
            (leaf_index,),
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else (None, None)

    def close(self) -> None:
        """Close the read-only connection. Idempotent."""
        self._con.close()
