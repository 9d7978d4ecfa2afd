"""``ChronicleSettings``: where Chronicle lives, which key signs its checkpoints, and
the log's origin. Pydantic only: ``proofstream.settings`` imports this module on the
producer side, so nothing heavier may be imported here.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["DEFAULT_ORIGIN", "ChronicleSettings"]

DEFAULT_ORIGIN = "fractalops.io/chronicle"


class ChronicleSettings(BaseModel):
    """Chronicle's configuration (``PROOFSTREAM_CHRONICLE__*``): where the store and its
    log live, the key that signs checkpoints, and the log's origin. Each field's
    description says what it holds (docs/configuration.md lists them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    root: Path | None = Field(
        default=None,
        description="The Chronicle directory: the artifacts (sha256/ab/...) and, for "
        "generation 0, the log (checkpoint, tile/...); meant to be served as static files. "
        "Unset: under the state dir.",
    )
    signing_key_file: Path | None = Field(
        default=None,
        description="The Ed25519 key (PEM PKCS#8) that signs checkpoints. Unset: under the "
        "state dir, generated on first use with mode 0600, outside the served root. In "
        "production point it at a file in the secrets directory.",
    )
    signing_key_passphrase: SecretStr | None = Field(
        default=None,
        description="Passphrase of an encrypted PEM signing key; a key generated while it is "
        "set is encrypted with it. Read from the file `chronicle__signing_key_passphrase` in "
        "the secrets directory.",
    )
    public_key_file: Path | None = Field(
        default=None,
        description="A PEM public key verifiers pin; unset: they trust the public half of the "
        "signing key.",
    )
    # a key name must hold no space and no '+' (C2SP signed-note), nor any control
    # character (a note is UTF-8 text without them)
    origin: str = Field(
        default=DEFAULT_ORIGIN,
        pattern=r"^[^\s+\x00-\x1f\x7f]+$",
        description="The checkpoint origin line and the signature's key name (C2SP "
        "tlog-checkpoint): the URL prefix the log is served at, without scheme; no space or "
        "'+'. It names the log for good: a store refuses to open under another origin.",
    )

    def resolve_root(self, state_dir: Path) -> Path:
        """The Chronicle directory: ``root`` as given, else ``<state_dir>/chronicle``."""
        return (self.root or Path(state_dir) / "chronicle").resolve()

    def resolve_signing_key(self, state_dir: Path) -> Path:
        """The signing key file: as configured, else ``<state_dir>/keys/chronicle-signing.key``."""
        return self.signing_key_file or Path(state_dir).resolve() / "keys" / "chronicle-signing.key"

    def legacy_signing_key(self, state_dir: Path) -> Path:
        """Where stores created before the transparency log kept their generated key
        (``<root>/signing.key``, inside the served root); moved out on first open."""
        return self.resolve_root(state_dir) / "signing.key"
