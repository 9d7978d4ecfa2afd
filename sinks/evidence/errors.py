"""The Chronicle errors. All are :class:`~schemas.errors.PermanentError`: retrying
cannot fix them::

    ChronicleError
    ├── ArtifactNotFoundError   no artifact at that address
    ├── TamperedArtifactError   bytes do not hash to their address
    └── LedgerIntegrityError    a proof, a signature, a tile or an index row does not verify

A store that cannot reach its files raises ``SinkUnavailableError`` instead
(retryable); settings that cannot work raise ``ConfigError``.
"""

from __future__ import annotations

import re
from pathlib import Path

from schemas.errors import ConfigError, PermanentError

__all__ = [
    "ArtifactNotFoundError",
    "ChronicleError",
    "LedgerIntegrityError",
    "TamperedArtifactError",
    "check_digest",
]

_DIGEST = re.compile(r"[0-9a-f]{64}")


class ChronicleError(PermanentError):
    """Root of the Chronicle errors (see the module docstring for the tree)."""


class ArtifactNotFoundError(ChronicleError):
    """No artifact is stored at ``sha256``."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"no artifact sha256:{sha256} in Chronicle")
        self.sha256 = sha256


class TamperedArtifactError(ChronicleError):
    """The bytes stored at ``sha256`` hash to ``actual``: the file was altered or
    replaced after it was written. Nothing is repaired automatically."""

    def __init__(self, sha256: str, actual: str, path: Path) -> None:
        super().__init__(
            f"TAMPERED ARTIFACT: {path} should hash to sha256:{sha256} but hashes to "
            f"sha256:{actual}"
        )
        self.sha256 = sha256
        self.actual = actual
        self.path = path


class LedgerIntegrityError(ChronicleError):
    """The log does not prove what it should: a forged checkpoint, a failed
    inclusion or consistency proof (a fork), a tile or entry that does not hash to
    what the checkpoint commits to, or an index row that disagrees with its leaf.
    The message starts with what failed, in capitals."""


def check_digest(sha256: str) -> str:
    """``sha256`` if it is 64 lowercase hex characters; else :class:`ConfigError`. Pure."""
    if not _DIGEST.fullmatch(sha256):
        raise ConfigError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256
