"""Each evidence artifact's mark: its inclusion proof, checked against the current
signed checkpoint when the page is made.

Reads only what ``proofstream evidence verify`` reads: the log's static files
(``checkpoint``, ``tile/…``) under the live generation of the Chronicle root,
with the one trusted key (the pinned ``public_key_file``, else the public half
of the signing key, which lives outside the served root). ``ledger.db`` is used
only to find a leaf fast; the leaf found is trusted only after its entry, re-hashed
from its bundle, proves into the signed root *and* records this event and digest.
Without the index the entry bundles are scanned once.

Nothing here raises for a log that does not verify: that is what the mark says.
Marks (:class:`~proofstream.pages.model.MarkState`):

- ``verified`` — the checkpoint's signature, the leaf's inclusion proof and (when
  the artifact is stored here) the artifact's own bytes all verify;
- ``failed`` — one of them does not (``INCLUSION PROOF FAILED``, ``FORGED
  CHECKPOINT``, ``TAMPERED ARTIFACT``, a leaf recording another event);
- ``missing`` — no log, or the log does not record the event;
- ``pending`` — sequenced after the current checkpoint (the next covers it).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from proofstream.pages.chain import EvidenceRef
from proofstream.pages.model import CheckpointView, InclusionView, Mark, MarkState
from proofstream.settings import Settings
from schemas.errors import ConfigError, SinkUnavailableError
from sinks.directories import live_dir
from sinks.evidence import (
    ArtifactNotFoundError,
    ChronicleError,
    LedgerIntegrityError,
    TamperedArtifactError,
)
from sinks.evidence.artifacts import ArtifactStore
from sinks.evidence.index import LedgerIndex
from sinks.evidence.ledger import CHECKPOINT, INDEX
from sinks.evidence.projection import LedgerLeaf
from sinks.evidence.signing import NoteKey, load_public_key, log_keys
from sinks.evidence.tiles import TileReader
from sinks.evidence.verify import LogVerifier, SignedCheckpoint

__all__ = ["LogMarks", "check_evidence", "trusted_key"]


@dataclass(frozen=True, slots=True)
class LogMarks:
    """The marks of some evidence events (by event id), the checkpoint they were
    checked against, and why none could be checked (None when the log opened)."""

    marks: dict[str, Mark]
    checkpoint: CheckpointView | None
    log_error: str | None


def trusted_key(settings: Settings) -> NoteKey:
    """The key checkpoints must verify with: the pinned ``public_key_file``, else the
    public half of the log's signing key (never created here). Raises
    :class:`ConfigError` when there is neither."""
    chronicle = settings.chronicle
    if chronicle.public_key_file:
        return NoteKey(chronicle.origin, load_public_key(chronicle.public_key_file))
    return log_keys(chronicle, settings.state_dir, create=False).trusted


def _view(signed: SignedCheckpoint, key: NoteKey) -> CheckpointView:
    cp = signed.checkpoint
    return CheckpointView(
        origin=cp.origin,
        size=cp.size,
        root_hex=cp.root.hex(),
        root_b64=base64.b64encode(cp.root).decode(),
        key=f"{key.name}+{key.key_id.hex()}",
        note=signed.note.decode("utf-8", errors="replace"),
    )


def _leaves_from_index(directory: Path, event_ids: Sequence[str]) -> dict[str, list[int]] | None:
    """Leaf indexes of ``event_ids`` from ``ledger.db``; None when there is none."""
    try:
        index = LedgerIndex(directory / INDEX)
    except (ConfigError, SinkUnavailableError):
        return None
    try:
        marks = ", ".join("?" for _ in event_ids)
        rows = index.query(
            f"SELECT event_id, leaf_index FROM ledger_entries WHERE event_id IN ({marks})"
            " ORDER BY leaf_index",
            list(event_ids),
        )
    except SinkUnavailableError:
        return None
    finally:
        index.close()
    found: dict[str, list[int]] = {}
    for event_id, leaf in rows:
        found.setdefault(str(event_id), []).append(int(leaf))
    return found


def _leaves_from_bundles(directory: Path, size: int, event_ids: set[str]) -> dict[str, list[int]]:
    """Leaf indexes of ``event_ids`` by reading every entry the checkpoint covers."""
    found: dict[str, list[int]] = {}
    for index, entry in TileReader(directory, size).entries():
        try:
            leaf = LedgerLeaf.from_entry(entry)
        except LedgerIntegrityError:
            continue  # proven wrong below if it was one of ours
        if leaf.event_id in event_ids:
            found.setdefault(leaf.event_id, []).append(index)
    return found


def _artifact(store: ArtifactStore, sha256: str) -> tuple[str, str | None]:
    """``(status, failure)`` of the stored artifact: re-hashed when present."""
    try:
        store.verify(sha256)
    except ArtifactNotFoundError:
        return "not_stored", None
    except TamperedArtifactError as exc:
        return "tampered", str(exc)
    except ChronicleError as exc:  # a malformed digest in the event
        return "not_stored", str(exc)
    return "verified", None


def _mark(
    verifier: LogVerifier,
    signed: SignedCheckpoint,
    ref: EvidenceRef,
    leaves: list[int],
    store: ArtifactStore,
) -> Mark:
    cp = signed.checkpoint
    covered = [i for i in leaves if i < cp.size]
    if not leaves:
        return Mark(MarkState.MISSING, f"not recorded in the log (checkpoint size {cp.size})")
    if not covered:
        return Mark(
            MarkState.PENDING,
            f"leaf {leaves[0]} is after the checkpoint of size {cp.size}: the next one covers it",
        )
    proofs = []
    try:
        for index in covered:
            check = verifier.prove_inclusion(index, cp)
            if check.leaf.event_id != ref.event_id or check.leaf.sha256 != ref.sha256:
                raise LedgerIntegrityError(
                    f"WRONG LEAF: leaf {index} records event {check.leaf.event_id} "
                    f"sha256:{check.leaf.sha256}, not this evidence"
                )
            proofs.append(
                InclusionView(
                    leaf_index=index,
                    leaf_hash=check.leaf_hash.hex(),
                    audit_path=tuple(node.hex() for node in check.path),
                    entry=check.leaf.entry.decode(),
                )
            )
    except LedgerIntegrityError as exc:
        return Mark(MarkState.FAILED, str(exc))
    status, failure = _artifact(store, ref.sha256)
    if failure and status == "tampered":
        return Mark(MarkState.FAILED, failure, tuple(proofs), status)
    where = ", ".join(str(p.leaf_index) for p in proofs)
    return Mark(
        MarkState.VERIFIED,
        f"leaf {where} proves into the signed root of size {cp.size}",
        tuple(proofs),
        status,
    )


def check_evidence(settings: Settings, refs: Sequence[EvidenceRef]) -> LogMarks:
    """The mark of every evidence event in ``refs`` against the log's current
    signed checkpoint (module docstring). Reads files only; never raises for a log
    that does not verify (the marks say so)."""
    root = settings.chronicle.resolve_root(settings.state_dir)
    try:
        directory = live_dir(root)
    except ConfigError as exc:
        return _all(refs, MarkState.MISSING, str(exc))
    if not (directory / CHECKPOINT).is_file():
        return _all(refs, MarkState.MISSING, f"no transparency log under {directory}")
    try:
        key = trusted_key(settings)
    except (ConfigError, ValueError, OSError) as exc:
        return _all(refs, MarkState.MISSING, f"no trusted verifier key: {exc}")
    verifier = LogVerifier(directory, key, settings.chronicle.origin)
    try:
        signed = verifier.latest()
    except (LedgerIntegrityError, ConfigError) as exc:
        return _all(refs, MarkState.FAILED, str(exc))
    view = _view(signed, key)
    ids = [r.event_id for r in refs]
    leaves = _leaves_from_index(directory, ids) if ids else {}
    if leaves is None:
        try:
            leaves = _leaves_from_bundles(directory, signed.checkpoint.size, set(ids))
        except LedgerIntegrityError as exc:
            marks = _all(refs, MarkState.FAILED, str(exc)).marks
            return LogMarks(marks, view, None)
    store = ArtifactStore.open(settings.chronicle, settings.state_dir)
    marks = {
        r.event_id: _mark(verifier, signed, r, leaves.get(r.event_id, []), store) for r in refs
    }
    return LogMarks(marks, view, None)


def _all(refs: Sequence[EvidenceRef], state: MarkState, reason: str) -> LogMarks:
    marks = {r.event_id: Mark(state, reason) for r in refs}
    return LogMarks(marks, None, reason)
