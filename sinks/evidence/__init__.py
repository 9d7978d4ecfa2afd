"""The evidence plane: Chronicle's artifacts and their transparency log.

``evidence.recorded`` events (an artifact's digest, what it proves) become leaves
of an append-only Merkle log published the way the Go checksum database and
Sigstore's Rekor v2 publish theirs — C2SP signed-note checkpoints and
``tlog-tiles`` static files — so any standard verifier, witness or mirror can
check it. The modules, from the pure core out:

- :mod:`~sinks.evidence.settings` — ``ChronicleSettings`` (pydantic only);
- :mod:`~sinks.evidence.errors` — the Chronicle error tree;
- :mod:`~sinks.evidence.artifacts` — the write-once, content-addressed artifact store;
- :mod:`~sinks.evidence.projection` — ``EvidenceProjection`` (pure) and ``LedgerLeaf``;
- :mod:`~sinks.evidence.tree` — RFC 6962/9162 hashing and proofs (ours, pure);
- :mod:`~sinks.evidence.tiles` — the tile layout: reading and writing tiles and bundles;
- :mod:`~sinks.evidence.signing` — Ed25519 keys, signed notes, checkpoints;
- :mod:`~sinks.evidence.index` — the local SQLite index (joins, watermark);
- :mod:`~sinks.evidence.legacy` — reading the pre-tlog ledger, to migrate it once;
- :mod:`~sinks.evidence.ledger` — one log in one directory: tiles + checkpoints + index;
- :mod:`~sinks.evidence.store` — ``EvidenceStore``, live and shadow;
- :mod:`~sinks.evidence.generations` — shadow logs and a swap that keeps history valid;
- :mod:`~sinks.evidence.verify` — checking a log from its static files alone.

This package is light: importing it loads pydantic only; ``make_plane`` imports
the store (``cryptography``) when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sinks.evidence.errors import (
    ArtifactNotFoundError,
    ChronicleError,
    LedgerIntegrityError,
    TamperedArtifactError,
    check_digest,
)
from sinks.evidence.settings import ChronicleSettings

if TYPE_CHECKING:
    from sinks.plane import Plane

__all__ = [
    "ArtifactNotFoundError",
    "ChronicleError",
    "ChronicleSettings",
    "LedgerIntegrityError",
    "TamperedArtifactError",
    "check_digest",
    "make_plane",
]


def make_plane(settings: ChronicleSettings, state_dir: Path) -> Plane[Any]:
    """The evidence plane: its pure projection, its live store (the generation the
    ``current`` pointer names under the Chronicle root; opened on the calling
    thread, which must be the one that uses it) and its generations."""
    from sinks.evidence.generations import EvidenceGenerations
    from sinks.evidence.projection import EvidenceProjection
    from sinks.evidence.signing import log_keys
    from sinks.evidence.store import EvidenceStore
    from sinks.plane import Plane

    def open_store() -> EvidenceStore:
        return EvidenceStore.open_live(settings, state_dir)

    def generations(store: Any) -> EvidenceGenerations:
        if not isinstance(store, EvidenceStore):
            raise TypeError(f"the evidence plane's generations need its store, not {store!r}")
        keys = log_keys(settings, state_dir)
        return EvidenceGenerations(store, settings.resolve_root(state_dir), keys)

    return Plane("evidence", EvidenceProjection(), open_store, generations)
