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
    """Chronicle's configuration (``PROOFSTREAM_CHRONICLE__*``).

    - ``root``: the Chronicle directory; ``None`` means ``<state_dir>/chronicle``.
      It holds the artifacts (``sha256/ab/…``) and, for generation 0, the log
      (``checkpoint``, ``tile/…``); it is meant to be served as static files.
    - ``signing_key_file``: the Ed25519 key (PEM PKCS#8) that signs checkpoints.
      ``None`` means ``<state_dir>/keys/chronicle-signing.key``, generated on first
      use with mode 0600 — outside the served root. In production point it at a
      file in the secrets directory (mounted from OpenBao).
    - ``signing_key_passphrase``: the passphrase of an encrypted PEM key (a secret:
      read from the secrets directory, never logged); a key generated while it is
      set is encrypted with it.
    - ``public_key_file``: a PEM public key verifiers pin; without it they trust
      the public half of the signing key.
    - ``origin``: the checkpoint origin line and the signature's key name (C2SP
      ``tlog-checkpoint``); the URL prefix the log is served at, without scheme.
      It names the log for good: a store refuses to open under another origin.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    root: Path | None = None
    signing_key_file: Path | None = None
    signing_key_passphrase: SecretStr | None = None
    public_key_file: Path | None = None
    # a key name must hold no space and no '+' (C2SP signed-note), nor any control
    # character (a note is UTF-8 text without them)
    origin: str = Field(default=DEFAULT_ORIGIN, pattern=r"^[^\s+\x00-\x1f\x7f]+$")

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
