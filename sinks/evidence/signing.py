"""Ed25519 keys and C2SP signed notes: the log's checkpoints.

A checkpoint (https://c2sp.org/tlog-checkpoint) is a signed note
(https://c2sp.org/signed-note) whose text is three lines::

    fractalops.io/chronicle            origin: the log's name (and the key's)
    1234                               tree size, decimal
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2…  root hash, standard base64

    — fractalops.io/chronicle Az3grlgt…  key name, base64(key ID || Ed25519 signature)

The key ID is ``SHA-256(key name || 0x0A || 0x01 || public key)[:4]`` and the
signature covers the text (its final newline included, the blank line not). A
verifier is configured with a *verifier key* (``vkey``), the string Go's
``golang.org/x/mod/sumdb/note`` reads: ``<name>+<key ID hex>+base64(0x01 || public key)``.
Per the spec, signature lines from unknown keys are ignored, a known key whose
signature fails rejects the note, and a note with no verified known signature is
rejected.

The signing key is a PEM (PKCS#8) Ed25519 key, optionally encrypted with
``signing_key_passphrase``; a missing default key is generated once, mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from schemas.durable import fsync_dir
from schemas.errors import ConfigError
from sinks.evidence.errors import LedgerIntegrityError
from sinks.evidence.settings import ChronicleSettings

__all__ = [
    "Checkpoint",
    "LogKeys",
    "NoteKey",
    "Signer",
    "load_public_key",
    "load_signing_key",
    "log_keys",
    "open_checkpoint",
    "open_note",
]

_ED25519 = b"\x01"
_DASH = "\u2014 "
_MAX_SIGNATURES = 16


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class NoteKey:
    """A verifier key: a key name and an Ed25519 public key."""

    name: str
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        """``SHA-256(name || 0x0A || 0x01 || public key)[:4]`` (C2SP signed-note)."""
        return hashlib.sha256(
            self.name.encode() + b"\n" + _ED25519 + _raw(self.public_key)
        ).digest()[:4]

    @property
    def vkey(self) -> str:
        """The verifier key string Go's ``note.NewVerifier`` reads."""
        encoded = base64.b64encode(_ED25519 + _raw(self.public_key)).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, vkey: str) -> NoteKey:
        """Read a ``name+hash+base64`` verifier key; :class:`ConfigError` if malformed."""
        try:
            # base64 may hold '+' itself; the name and the hash never do
            name, key_hash, encoded = vkey.strip().split("+", 2)
            raw = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise ConfigError(f"not a verifier key (name+hash+base64): {vkey!r}") from exc
        if len(raw) != 33 or raw[:1] != _ED25519:
            raise ConfigError(f"verifier key {name!r} is not an Ed25519 note key")
        key = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        if key.key_id.hex() != key_hash.lower():
            raise ConfigError(f"verifier key {name!r}: hash {key_hash} does not match the key")
        return key


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: the log's origin, its size and its RFC 6962 root hash."""

    origin: str
    size: int
    root: bytes

    @property
    def text(self) -> bytes:
        """The note text (three newline-terminated lines). Pure."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n".encode()

    @classmethod
    def parse(cls, text: bytes) -> Checkpoint:
        """The checkpoint in a (verified) note text; extension lines are ignored."""
        lines = text.decode().split("\n")
        try:
            origin, size_line, root_line = lines[0], lines[1], lines[2]
            size = int(size_line)
            root = base64.b64decode(root_line, validate=True)
        except (IndexError, ValueError, binascii.Error) as exc:
            raise LedgerIntegrityError(f"MALFORMED CHECKPOINT: {exc}") from exc
        if not origin or size < 0 or str(size) != size_line or len(root) != 32:
            raise LedgerIntegrityError("MALFORMED CHECKPOINT: origin, size or root hash")
        return cls(origin, size, root)


class Signer:
    """Signs note texts with the log's key (the key name is the origin)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.note_key = NoteKey(name, private_key.public_key())

    def sign_note(self, text: bytes) -> bytes:
        """``text`` (newline-terminated lines) as a signed note. Ed25519 is
        deterministic: signing the same text again gives the same bytes."""
        if not text.endswith(b"\n") or b"\n\n" in text:
            raise ValueError("a note text is non-empty lines, each ending in a newline")
        signature = base64.b64encode(self.note_key.key_id + self._key.sign(text)).decode()
        return text + f"\n{_DASH}{self.note_key.name} {signature}\n".encode()

    def sign(self, checkpoint: Checkpoint) -> bytes:
        """The signed note of ``checkpoint``."""
        return self.sign_note(checkpoint.text)


def open_checkpoint(note: bytes, key: NoteKey, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint note against ``key`` and return its checkpoint.

    Raises :class:`LedgerIntegrityError` starting ``FORGED CHECKPOINT`` when the
    note is malformed, carries no valid signature by ``key``, or names another
    origin than ``origin`` (default: the key's name).
    """
    checkpoint = Checkpoint.parse(open_note(note, key))
    expected = key.name if origin is None else origin
    if checkpoint.origin != expected:
        raise LedgerIntegrityError(
            f"FORGED CHECKPOINT: origin {checkpoint.origin!r} is not the log {expected!r}"
        )
    return checkpoint


def open_note(note: bytes, key: NoteKey) -> bytes:
    """Verify a signed note against ``key`` (C2SP signed-note rules, module
    docstring) and return its text; :class:`LedgerIntegrityError` if it does not."""
    try:
        decoded = note.decode()
    except UnicodeDecodeError as exc:
        raise LedgerIntegrityError("FORGED CHECKPOINT: the note is not UTF-8") from exc
    if any(ord(c) < 0x20 and c != "\n" for c in decoded) or not decoded.endswith("\n"):
        raise LedgerIntegrityError("FORGED CHECKPOINT: control characters or no final newline")
    split = decoded.rfind("\n\n")
    if split < 0:
        raise LedgerIntegrityError("FORGED CHECKPOINT: no signature block")
    text, block = decoded[: split + 1].encode(), decoded[split + 2 :]
    lines = block.removesuffix("\n").split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise LedgerIntegrityError(f"FORGED CHECKPOINT: more than {_MAX_SIGNATURES} signatures")
    verified = False
    for line in lines:
        name, signature = _signature_line(line)
        if name != key.name or signature[:4] != key.key_id:
            continue  # another key's signature (a witness, a rotated key): ignored
        try:
            key.public_key.verify(signature[4:], text)
        except InvalidSignature as exc:
            raise LedgerIntegrityError(
                f"FORGED CHECKPOINT: the signature by {key.name} does not verify"
            ) from exc
        verified = True
    if not verified:
        raise LedgerIntegrityError(
            f"FORGED CHECKPOINT: not signed by the trusted key {key.name}+{key.key_id.hex()}"
        )
    return text


def _signature_line(line: str) -> tuple[str, bytes]:
    if not line.startswith(_DASH) or line.count(" ") != 2:
        raise LedgerIntegrityError(f"FORGED CHECKPOINT: malformed signature line {line!r}")
    name, encoded = line[len(_DASH) :].split(" ")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise LedgerIntegrityError("FORGED CHECKPOINT: signature is not base64") from exc
    if not name or len(signature) < 5:
        raise LedgerIntegrityError(f"FORGED CHECKPOINT: malformed signature line {line!r}")
    return name, signature


# --- keys --------------------------------------------------------------------------------


def load_signing_key(
    path: Path, *, create: bool = False, passphrase: bytes | None = None
) -> Ed25519PrivateKey:
    """Load the PEM (PKCS#8) Ed25519 key at ``path`` (decrypted with ``passphrase``).

    With ``create``, a missing key is generated once (``O_EXCL``, mode 0600,
    encrypted when a passphrase is given) and must then stay private: a generated
    key readable by group or others raises :class:`ConfigError`. A key mounted from
    a secrets directory is taken as is.
    """
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
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
            fsync_dir(path.parent)
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"signing key {path} is readable by others: chmod 600 it")
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
    except FileNotFoundError:
        raise ConfigError(f"no Chronicle signing key at {path}") from None
    except (ValueError, TypeError) as exc:  # TypeError: passphrase missing or not needed
        raise ConfigError(f"cannot load the signing key {path}: {exc}") from exc
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


def _move_legacy_key(legacy: Path, target: Path) -> None:
    """Stores created before the transparency log generated their key inside the
    Chronicle root, which is now served as static files: move it out, once."""
    if not legacy.is_file():
        return
    if target.exists():
        if target.read_bytes() != legacy.read_bytes():
            raise ConfigError(
                f"two different Chronicle signing keys: {legacy} and {target}; keep one"
            )
        legacy.unlink()
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(legacy, target)
    except OSError:  # another filesystem: copy privately, then remove
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(legacy.read_bytes())
            out.flush()
            os.fsync(out.fileno())
        legacy.unlink()
    fsync_dir(target.parent)
    fsync_dir(legacy.parent)


@dataclass(frozen=True, slots=True)
class LogKeys:
    """What a log writer needs: the signer, and the key its checkpoints are
    verified with (pinned by ``public_key_file``, else the signer's own)."""

    signer: Signer
    trusted: NoteKey


def log_keys(settings: ChronicleSettings, state_dir: Path, *, create: bool = True) -> LogKeys:
    """The log's keys as ``settings`` configure them. A generated default key is
    created on first use (unless ``create`` is False: :class:`ConfigError` then);
    a legacy key inside the Chronicle root is moved out first."""
    path = settings.resolve_signing_key(state_dir)
    default = settings.signing_key_file is None
    if default:
        _move_legacy_key(settings.legacy_signing_key(state_dir), path)
    secret = settings.signing_key_passphrase
    passphrase = secret.get_secret_value().encode() if secret else None
    key = load_signing_key(path, create=create and default, passphrase=passphrase)
    signer = Signer(settings.origin, key)
    pinned = settings.public_key_file
    trusted = NoteKey(settings.origin, load_public_key(pinned)) if pinned else signer.note_key
    return LogKeys(signer, trusted)
