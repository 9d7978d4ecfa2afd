"""Chronicle: the write-once, content-addressed store of evidence artifacts.

Chronicle holds long-term evidence artifacts (browser proofs, test reports, logs)
and their provenance. It never holds UI state. An artifact's address is the
SHA-256 of its bytes; the ``evidence.recorded`` event carries only that digest
(claim check), and the Merkle ledger (:mod:`sinks.ledger`) makes the record of it
tamper-evident.

Layout on disk (the embedded default, ``<state_dir>/chronicle``)::

    <root>/sha256/ab/cdef…      the artifact whose digest is abcdef…, mode 0444
    <root>/ledger.db            the Merkle ledger (SQLite), see sinks.ledger
    <root>/signing.key          the Ed25519 key that signs tree heads, mode 0600

Contract of :class:`ArtifactStore`:

- ``put(data)`` is **idempotent** and **write-once**: it writes to a temporary file
  in the target directory, fsyncs it, makes it read-only, links it into place
  (``link`` fails if the name exists, where ``rename`` would silently replace it)
  and fsyncs the directory. Putting the same bytes again is a no-op that returns
  the same digest; a *different* file found at the address raises
  :class:`TamperedArtifactError` and is left alone.
- ``get(sha256)`` re-hashes the bytes it reads and raises
  :class:`TamperedArtifactError` when they do not match their address, and
  :class:`ArtifactNotFoundError` when nothing is stored there.

Scale-out: S3 Object Lock (not implemented here; no S3 client is a dependency).
The same contract maps onto an S3 bucket created with Object Lock enabled
(``ObjectLockEnabledForBucket=true``, which also turns on versioning) and a
default retention rule in **COMPLIANCE** mode (``ObjectLockConfiguration``:
``{"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode":
"COMPLIANCE", "Days": <retention_days>}}}``; COMPLIANCE, unlike GOVERNANCE, cannot
be shortened or bypassed by any principal, root included). Objects are keyed
``sha256/ab/cdef…`` exactly as on disk and uploaded with ``PutObject`` carrying
``ChecksumAlgorithm=SHA256`` and ``x-amz-checksum-sha256`` = base64 of the digest,
so S3 itself rejects a body that does not hash to its key, plus
``If-None-Match: *`` so an existing key is never overwritten. Reads re-verify
the digest as ``get`` does here.

Errors (all :class:`~schemas.errors.PermanentError`: retrying cannot fix them)::

    ChronicleError
    ├── ArtifactNotFoundError   no artifact at that address
    ├── TamperedArtifactError   bytes do not hash to their address
    └── LedgerIntegrityError    a proof, a signature or a ledger row does not verify
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from schemas.errors import ConfigError, PermanentError

__all__ = [
    "ArtifactNotFoundError",
    "ArtifactStore",
    "ChronicleError",
    "ChronicleSettings",
    "LedgerIntegrityError",
    "TamperedArtifactError",
    "check_digest",
]

_DIGEST = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


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
    """The ledger does not prove what it should: a failed inclusion or consistency
    proof, a bad tree-head signature, or a ledger row that disagrees with its leaf."""


class ChronicleSettings(BaseModel):
    """Where Chronicle lives and which key signs its tree heads.

    ``root=None`` means ``<state_dir>/chronicle``. ``signing_key_file=None`` means
    ``<root>/signing.key``, generated on first use with mode 0600; point it at a
    file in the secrets directory (a PEM PKCS#8 Ed25519 key mounted from OpenBao)
    in production. ``public_key_file`` pins the key verifiers trust; without it
    they trust the public half of the signing key.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    root: Path | None = None
    signing_key_file: Path | None = None
    public_key_file: Path | None = None

    def resolve_root(self, state_dir: Path) -> Path:
        """The Chronicle directory: ``root`` as given, else ``<state_dir>/chronicle``."""
        return (self.root or Path(state_dir) / "chronicle").resolve()

    def resolve_signing_key(self, state_dir: Path) -> Path:
        """The signing key file: as configured, else ``<root>/signing.key``."""
        return self.signing_key_file or self.resolve_root(state_dir) / "signing.key"


def check_digest(sha256: str) -> str:
    """``sha256`` if it is 64 lowercase hex characters; else :class:`ConfigError`. Pure."""
    if not _DIGEST.fullmatch(sha256):
        raise ConfigError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256


class ArtifactStore:
    """The content-addressed, write-once artifact store on a local directory.

    Safe for concurrent writers of the same bytes: each writes its own temporary
    file and only the first ``link`` wins; the others find identical bytes.
    """

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    @classmethod
    def open(cls, settings: ChronicleSettings, state_dir: Path) -> ArtifactStore:
        """The store that ``settings`` describe (under ``state_dir`` by default)."""
        return cls(settings.resolve_root(state_dir))

    @property
    def root(self) -> Path:
        return self._root

    def path_of(self, sha256: str) -> Path:
        """Where the artifact ``sha256`` lives (whether or not it exists)."""
        check_digest(sha256)
        return self._root / "sha256" / sha256[:2] / sha256[2:]

    def exists(self, sha256: str) -> bool:
        """True if something is stored at ``sha256`` (its bytes are not checked)."""
        return self.path_of(sha256).is_file()

    def put(self, data: bytes) -> str:
        """Store ``data`` durably and return its SHA-256 hex digest.

        Idempotent: identical bytes already stored are a no-op. Raises
        :class:`TamperedArtifactError` if a different file occupies the address.
        """
        sha256 = hashlib.sha256(data).hexdigest()
        final = self.path_of(sha256)
        if final.exists():
            self._verify_file(sha256, final)
            return sha256
        created = not final.parent.exists()
        final.parent.mkdir(parents=True, exist_ok=True)
        if created:
            _fsync_dir(final.parent.parent)
        tmp = final.parent / f".tmp-{final.name[:8]}-{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o444)
            try:
                os.link(tmp, final)
            except FileExistsError:
                # A concurrent writer won the race; what it wrote must be our bytes.
                self._verify_file(sha256, final)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(final.parent)
        return sha256

    def get(self, sha256: str) -> bytes:
        """The bytes stored at ``sha256``, after re-verifying their digest.

        Raises :class:`ArtifactNotFoundError` or :class:`TamperedArtifactError`.
        """
        path = self.path_of(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ArtifactNotFoundError(sha256) from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise TamperedArtifactError(sha256, actual, path)
        return data

    def verify(self, sha256: str) -> Path:
        """Re-hash the artifact in chunks and check it is read-only; return its path.

        Raises :class:`ArtifactNotFoundError` or :class:`TamperedArtifactError`
        (also when the file became writable: write-once means mode 0444).
        """
        path = self.path_of(sha256)
        if not path.is_file():
            raise ArtifactNotFoundError(sha256)
        self._verify_file(sha256, path)
        if path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise TamperedArtifactError(sha256, "<writable file>", path)
        return path

    def _verify_file(self, sha256: str, path: Path) -> None:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        actual = digest.hexdigest()
        if actual != sha256:
            raise TamperedArtifactError(sha256, actual, path)


def _fsync_dir(path: Path) -> None:
    # The new directory entry is durable only once its directory is fsynced.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
