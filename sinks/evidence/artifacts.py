"""Chronicle's artifacts: the write-once, content-addressed store of evidence files.

Chronicle holds long-term evidence artifacts (browser proofs, test reports, logs)
and their provenance. It never holds UI state. An artifact's address is the
SHA-256 of its bytes; the ``evidence.recorded`` event carries only that digest
(claim check), and the transparency log (:mod:`sinks.evidence.ledger`) makes the
record of it tamper-evident and checkable by anyone.

Layout on disk (the embedded default, ``<state_dir>/chronicle``)::

    <root>/sha256/ab/cdef…      the artifact whose digest is abcdef…, mode 0444
    <root>/checkpoint, tile/…   the transparency log of generation 0 (sinks.evidence.tiles)
    <root>/ledger.db            the log's local index and watermark (sinks.evidence.index)

Artifacts are shared by every generation of the evidence plane; the signing key
lives outside the root (``ChronicleSettings.resolve_signing_key``), so the root
can be served as static files.

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
the digest as ``get`` does here. The log's tiles are write-once too and map onto
the same bucket unchanged; only the ``checkpoint`` object is overwritten.

Errors: :mod:`sinks.evidence.errors`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from pathlib import Path

from schemas.durable import fsync_dir
from sinks.evidence.errors import ArtifactNotFoundError, TamperedArtifactError, check_digest
from sinks.evidence.settings import ChronicleSettings

__all__ = ["ArtifactStore"]

_CHUNK = 1 << 20


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
            fsync_dir(final.parent.parent)
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
        fsync_dir(final.parent)
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
