"""Verifying a log from its static files alone: checkpoints, tiles and entry bundles.

What ``proofstream evidence verify`` and ``audit`` run, on the live directory or
on any copy of it (a mirror, a download). Nothing here reads ``ledger.db`` or
needs the signing key: only the log's files and the verifier key. Every check
starts from a checkpoint whose signature verifies; a tile or an entry is trusted
only as far as a proof built from it reproduces that checkpoint's root.

Failures raise :class:`~sinks.evidence.errors.LedgerIntegrityError` whose message
starts with what failed (``FORGED CHECKPOINT``, ``INCLUSION PROOF FAILED``,
``FORK``, ``TAMPERED TILE``, …).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import ConfigError
from sinks.evidence.errors import LedgerIntegrityError, check_digest
from sinks.evidence.ledger import CHECKPOINT, HISTORY
from sinks.evidence.projection import LedgerLeaf
from sinks.evidence.signing import Checkpoint, NoteKey, open_checkpoint
from sinks.evidence.tiles import WIDTH, TileReader, tile_path
from sinks.evidence.tree import (
    consistency_path,
    inclusion_path,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

__all__ = ["ConsistencyCheck", "InclusionCheck", "LogVerifier", "SignedCheckpoint"]


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint whose signature verified, and the note it came in."""

    checkpoint: Checkpoint
    note: bytes


@dataclass(frozen=True, slots=True)
class InclusionCheck:
    """A verified inclusion: the leaf at ``index``, its leaf hash, its RFC 9162
    audit path (bottom-up) and the checkpoint it was checked against."""

    index: int
    leaf: LedgerLeaf
    leaf_hash: bytes
    path: tuple[bytes, ...]
    checkpoint: Checkpoint


@dataclass(frozen=True, slots=True)
class ConsistencyCheck:
    """A verified consistency proof between two checkpoints."""

    prior: Checkpoint
    later: Checkpoint
    path: tuple[bytes, ...]


class LogVerifier:
    """Checks the log served from ``directory`` with the verifier key ``key``."""

    def __init__(self, directory: Path, key: NoteKey, origin: str | None = None) -> None:
        self._dir = Path(directory)
        self._key = key
        self._origin = origin or key.name

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def key(self) -> NoteKey:
        """The one key this verifier trusts."""
        return self._key

    def _open(self, path: Path) -> SignedCheckpoint:
        try:
            note = path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"no checkpoint at {path}") from None
        return SignedCheckpoint(open_checkpoint(note, self._key, self._origin), note)

    def latest(self) -> SignedCheckpoint:
        """The log's current checkpoint (``checkpoint``), signature verified."""
        return self._open(self._dir / CHECKPOINT)

    def at(self, size: int) -> SignedCheckpoint:
        """The checkpoint the log published for ``size`` leaves, signature verified."""
        signed = self._open(self._dir / HISTORY / str(size))
        if signed.checkpoint.size != size:
            raise LedgerIntegrityError(f"FORGED CHECKPOINT: {HISTORY}/{size} is of another size")
        return signed

    def parse(self, note: bytes) -> SignedCheckpoint:
        """A checkpoint note from elsewhere (a witness, an auditor's record), verified."""
        return SignedCheckpoint(open_checkpoint(note, self._key, self._origin), note)

    def find(self, sha256: str, checkpoint: Checkpoint) -> list[int]:
        """Leaf indexes whose entry records artifact ``sha256``, by scanning the entry
        bundles the checkpoint covers (no index needed; entries are not trusted yet)."""
        needle = f'"sha256":"{check_digest(sha256)}"'.encode()
        reader = TileReader(self._dir, checkpoint.size)
        return [index for index, entry in reader.entries() if needle in entry]

    def prove_inclusion(self, index: int, checkpoint: Checkpoint) -> InclusionCheck:
        """Check that leaf ``index``'s entry is in the tree ``checkpoint`` commits to:
        re-hash the entry from its bundle, build its audit path from the tiles and
        verify the path against the signed root."""
        if not 0 <= index < checkpoint.size:
            raise LedgerIntegrityError(
                f"leaf {index} is not covered by the checkpoint of size {checkpoint.size}"
            )
        reader = TileReader(self._dir, checkpoint.size)
        entry = next(reader.entries(index, index + 1))[1]
        leaf = LedgerLeaf.from_entry(entry)
        hashed = leaf_hash(entry)
        path = inclusion_path(reader, index, checkpoint.size)
        if not verify_inclusion(hashed, index, checkpoint.size, path, checkpoint.root):
            raise LedgerIntegrityError(
                f"INCLUSION PROOF FAILED for leaf {index} ({leaf.sha256}) against the "
                f"checkpoint of size {checkpoint.size}: the entry or a tile was altered"
            )
        return InclusionCheck(index, leaf, hashed, tuple(path), checkpoint)

    def prove_consistency(self, prior: Checkpoint, later: Checkpoint) -> ConsistencyCheck:
        """Check that ``later`` extends ``prior`` (append-only, no fork), from the tiles
        of ``later``'s tree."""
        if prior.size > later.size:
            raise LedgerIntegrityError(
                f"FORK: the log went back from size {prior.size} to {later.size}"
            )
        if prior.size in {later.size, 0}:
            if prior.size == later.size and prior.root != later.root:
                raise LedgerIntegrityError(
                    f"FORK: two checkpoints of size {prior.size} with different roots"
                )
            return ConsistencyCheck(prior, later, ())
        path = consistency_path(TileReader(self._dir, later.size), prior.size, later.size)
        if not verify_consistency(prior.size, later.size, prior.root, later.root, path):
            raise LedgerIntegrityError(
                f"FORK: the checkpoint of size {later.size} does not extend the one of size "
                f"{prior.size} (consistency proof failed)"
            )
        return ConsistencyCheck(prior, later, tuple(path))

    def audit_tiles(self, checkpoint: Checkpoint) -> int:
        """Re-hash every entry, rebuild every tile level from them and compare with
        the stored tiles, then the root with ``checkpoint``'s. Returns the leaf count."""
        reader = TileReader(self._dir, checkpoint.size)
        level = [leaf_hash(entry) for _, entry in reader.entries()]
        if len(level) != checkpoint.size:
            raise LedgerIntegrityError(f"TAMPERED ENTRY BUNDLE: {len(level)} entries")
        depth = 0
        while level:
            stored = b"".join(
                reader.hashes(depth, n) for n in range((len(level) + WIDTH - 1) // WIDTH)
            )
            if stored != b"".join(level):
                bad = next(i for i, h in enumerate(level) if stored[i * 32 : i * 32 + 32] != h)
                raise LedgerIntegrityError(
                    f"TAMPERED TILE: {tile_path(depth, bad // WIDTH)} hash {bad % WIDTH} does "
                    "not match the entries below it"
                )
            full = len(level) // WIDTH
            level = [root_of(level[n * WIDTH : (n + 1) * WIDTH]) for n in range(full)]
            depth += 1
        if reader.root() != checkpoint.root:
            raise LedgerIntegrityError(
                f"TAMPERED TILE: the tiles do not rebuild the root of size {checkpoint.size}"
            )
        return checkpoint.size

    def history(self) -> Iterator[int]:
        """The sizes of every checkpoint the log keeps in ``checkpoints/``, ascending."""
        folder = self._dir / HISTORY
        names = (p.name for p in folder.iterdir()) if folder.is_dir() else iter(())
        yield from sorted(int(n) for n in names if n.isdigit())
