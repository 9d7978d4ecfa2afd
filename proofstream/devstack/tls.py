"""A throwaway certificate authority and broker certificate for the local secure
broker, made with ``openssl`` (on every machine that has Java's keytool too).

Files (directory mode 0700, private keys and passwords 0600):

- ``ca.crt`` / ``ca.key``: a self-signed CA, valid 30 days; clients trust ``ca.crt``
  (``PROOFSTREAM_KAFKA__SSL_CA_LOCATION``);
- ``broker.crt`` / ``broker.key``: the broker's certificate for ``127.0.0.1`` and
  ``localhost`` (subjectAltName), usable for server and client authentication;
- ``broker.p12`` + ``keystore.password``: the same as a PKCS#12 keystore for the JVM.

Passwords go to openssl through files (``-passout file:``), never on a command line.
Idempotent: existing material is reused, so clients keep trusting the same CA.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import ConfigError

__all__ = ["BrokerTls", "make_broker_tls", "make_ca", "write_secret"]

_DAYS = "30"


@dataclass(frozen=True)
class BrokerTls:
    """Paths of the TLS material (see the module docstring)."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    broker_cert: Path
    broker_key: Path
    keystore: Path
    keystore_password_file: Path

    @property
    def keystore_password(self) -> str:
        return self.keystore_password_file.read_text().strip()


def write_secret(path: Path, value: str) -> None:
    """Write ``value`` to ``path`` readable by the owner only (created 0600, never
    world-readable even for an instant)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    path.chmod(0o600)


def make_ca(directory: Path, name: str = "proofstream dev CA") -> tuple[Path, Path]:
    """A self-signed CA in ``directory``: returns (``ca.crt``, ``ca.key``). Idempotent."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert, key = directory / "ca.crt", directory / "ca.key"
    if cert.exists() and key.exists():
        return cert, key
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", _DAYS,
        "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key


def make_broker_tls(directory: Path, host: str) -> BrokerTls:
    """The CA, a broker certificate for ``host`` (plus ``localhost``) and its PKCS#12
    keystore under ``directory``. Idempotent. Raises ``ConfigError`` when openssl is
    missing or fails."""
    ca_cert, ca_key = make_ca(directory)
    tls = BrokerTls(
        directory=directory,
        ca_cert=ca_cert,
        ca_key=ca_key,
        broker_cert=directory / "broker.crt",
        broker_key=directory / "broker.key",
        keystore=directory / "broker.p12",
        keystore_password_file=directory / "keystore.password",
    )
    if tls.keystore.exists() and tls.keystore_password_file.exists():
        return tls
    csr, ext = directory / "broker.csr", directory / "broker.ext"
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-sha256",
        "-keyout", str(tls.broker_key), "-out", str(csr), "-subj", f"/CN={host}",
    )  # fmt: skip
    tls.broker_key.chmod(0o600)
    san = f"IP:{host}" if host.replace(".", "").isdigit() else f"DNS:{host}"
    ext.write_text(
        f"subjectAltName={san},DNS:localhost\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-sha256", "-days", _DAYS, "-extfile", str(ext),
        "-out", str(tls.broker_cert),
    )  # fmt: skip
    write_secret(tls.keystore_password_file, secrets.token_hex(16))
    _openssl(
        "pkcs12", "-export", "-in", str(tls.broker_cert), "-inkey", str(tls.broker_key),
        "-certfile", str(ca_cert), "-name", "broker", "-out", str(tls.keystore),
        "-passout", f"file:{tls.keystore_password_file}",
    )  # fmt: skip
    tls.keystore.chmod(0o600)
    csr.unlink(missing_ok=True)
    return tls


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ConfigError(
            "openssl is not on PATH; the secure broker's certificates are made with it. "
            "Install it (Debian: apt-get install -y openssl) and run the command again."
        )
    proc = subprocess.run([openssl, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ConfigError(f"openssl {args[0]} failed: {proc.stderr.strip()[-500:]}")
