"""An authenticated single-node broker: ``proofstream kafka up --secure``.

Clients connect to one **SASL_SSL** listener (``127.0.0.1:29092`` by default):
TLS with a certificate from a local CA (:mod:`proofstream.devstack.tls`), then
SCRAM-SHA-512. The users are created when the storage is formatted
(``kafka-storage format --add-scram``): ``admin`` (the broker's own inter-broker
identity, used by the launcher to probe readiness) and ``proofstream`` (clients).
The controller listener speaks TLS with client certificates required (``SSL``,
mutual): only a holder of a certificate from the same CA reaches the quorum.

Everything lives under ``<state_dir>/kafka-secure`` (mode 0700):
``tls/`` (CA, broker certificate, keystore), ``admin.password``,
``client-secrets/kafka__sasl_password`` (a secrets directory for
``PROOFSTREAM_SECRETS_DIR``), ``client.env`` (the non-secret client settings) and
the node itself. Passwords are generated once and kept, files are 0600.

The broker authenticates but does not authorize (no ACL authorizer): any
authenticated user may do anything. See SECURITY.md.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from proofstream.devstack.jars import KafkaJars, find_java
from proofstream.devstack.kafka import SINGLE_NODE, check_ports_free, wait_for_brokers
from proofstream.devstack.node import KafkaNode, NodeSpec, new_cluster_id
from proofstream.devstack.tls import BrokerTls, make_broker_tls, write_secret
from proofstream.settings import BrokerSettings
from schemas.errors import BrokerUnavailableError

__all__ = ["ADMIN_USER", "CLIENT_USER", "MECHANISM", "SecureClient", "SecureKafkaLauncher"]

ADMIN_USER = "admin"
CLIENT_USER = "proofstream"
MECHANISM = "SCRAM-SHA-512"
PASSWORD_FILE = "kafka__sasl_password"  # noqa: S105 - a file name, not a password
"""The client password's file name in the secrets directory (``<section>__<field>``)."""


@dataclass(frozen=True)
class SecureClient:
    """What a client needs to connect: every value but the password, and where the
    password file is. ``env()`` is safe to print, log or hand to a child process."""

    bootstrap: str
    ca_location: Path
    username: str
    secrets_dir: Path

    @property
    def password_file(self) -> Path:
        return self.secrets_dir / PASSWORD_FILE

    def env(self) -> dict[str, str]:
        return {
            "PROOFSTREAM_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
            "PROOFSTREAM_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
            "PROOFSTREAM_KAFKA__SASL_MECHANISM": MECHANISM,
            "PROOFSTREAM_KAFKA__SASL_USERNAME": self.username,
            "PROOFSTREAM_KAFKA__SSL_CA_LOCATION": str(self.ca_location),
            "PROOFSTREAM_SECRETS_DIR": str(self.secrets_dir),
        }

    def as_dict(self) -> dict[str, object]:
        return {"env": self.env(), "password_file": str(self.password_file)}


@dataclass(frozen=True)
class SecureStatus:
    running: bool
    pid: int | None
    version: str
    state_dir: Path
    log_file: Path
    client: SecureClient

    @property
    def bootstrap(self) -> str:
        return self.client.bootstrap

    def as_dict(self) -> dict[str, object]:
        return {
            "mode": "secure",
            "running": self.running,
            "pid": self.pid,
            "bootstrap": self.bootstrap,
            "version": self.version,
            "state_dir": str(self.state_dir),
            "log_file": str(self.log_file),
            "client": self.client.as_dict(),
        }


class SecureKafkaLauncher:
    """Makes the TLS material and passwords (once), formats with the SCRAM users,
    starts, probes and stops the secure node. Idempotent like ``KafkaLauncher``."""

    def __init__(self, broker: BrokerSettings, state_dir: Path) -> None:
        self._cfg = broker
        self.home = state_dir.resolve() / "kafka-secure"
        self._jars = KafkaJars(broker)
        self._tls_dir = self.home / "tls"
        self._admin_password_file = self.home / "admin.password"
        self.client = SecureClient(
            bootstrap=broker.secure_bootstrap,
            ca_location=self._tls_dir / "ca.crt",
            username=CLIENT_USER,
            secrets_dir=self.home / "client-secrets",
        )

    def status(self) -> SecureStatus:
        pid = self._node_for(None).pid()
        return SecureStatus(
            running=pid is not None,
            pid=pid,
            version=self._cfg.kafka_version,
            state_dir=self.home,
            log_file=self.home / "broker.log",
            client=self.client,
        )

    def up(self) -> tuple[SecureStatus, bool]:
        """Start the secure node unless it runs; wait until the admin user gets
        metadata over SASL_SSL. Returns the status and whether this call started it.
        Raises ``ConfigError`` (Java, Maven or openssl missing, a port taken) and
        ``BrokerUnavailableError`` (not ready in time; what was started is stopped)."""
        if self.status().running:
            self._wait_ready(None)
            return self.status(), False
        java = find_java()
        check_ports_free(self._cfg.host, (self._cfg.secure_port, self._cfg.secure_controller_port))
        self._jars.fetch()
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.home.chmod(0o700)
        tls = make_broker_tls(self._tls_dir, self._cfg.host)
        _ensure_password(self._admin_password_file)
        _ensure_password(self.client.password_file)
        (self.home / "client.env").write_text(
            "".join(f"export {k}={v}\n" for k, v in self.client.env().items())
        )
        node = self._node_for(tls)
        node.prepare(java, self._jars.classpath(), new_cluster_id())
        proc = node.start(java, self._jars.classpath())
        try:
            self._wait_ready(proc)
        except BrokerUnavailableError:
            node.stop()
            raise
        return self.status(), True

    def down(self) -> bool:
        """Stop the secure node this state dir started. Never signals anything else."""
        return self._node_for(None).stop()

    def admin_config(self) -> dict[str, str | int | float | bool]:
        """librdkafka settings of the ``admin`` user (the launcher's own probe)."""
        return {
            "bootstrap.servers": self.client.bootstrap,
            "security.protocol": "sasl_ssl",
            "sasl.mechanism": MECHANISM,
            "sasl.username": ADMIN_USER,
            "sasl.password": self._admin_password_file.read_text().strip(),
            "ssl.ca.location": str(self.client.ca_location),
        }

    def _wait_ready(self, proc: subprocess.Popen[bytes] | None) -> None:
        node = self._node_for(None)
        wait_for_brokers(
            self.admin_config(),
            expected=1,
            timeout_s=self._cfg.ready_timeout_s,
            processes=[proc] if proc is not None else [],
            log_tail=node.log_tail,
        )

    def _node_for(self, tls: BrokerTls | None) -> KafkaNode:
        """The node; its full configuration only when ``tls`` is known (``up``), since
        status and down need nothing but the home directory."""
        data = self.home / "data"
        properties: dict[str, str] = {}
        format_args: list[str] = []
        if tls is not None:
            properties = self._properties(tls, data)
            admin = self._admin_password_file.read_text().strip()
            client = self.client.password_file.read_text().strip()
            format_args = [
                "--add-scram",
                f"{MECHANISM}=[name={ADMIN_USER},password={admin}]",
                "--add-scram",
                f"{MECHANISM}=[name={CLIENT_USER},password={client}]",
            ]
        return KafkaNode(
            NodeSpec(
                node_id=1,
                home=self.home,
                heap=self._cfg.heap,
                properties=properties,
                log_dirs=(data,),
                format_args=format_args,
                jvm_options=self._cfg.jvm_options,
            )
        )

    def _properties(self, tls: BrokerTls, data: Path) -> dict[str, str]:
        host, port, ctl = self._cfg.host, self._cfg.secure_port, self._cfg.secure_controller_port
        keystore_password = tls.keystore_password
        admin = self._admin_password_file.read_text().strip()
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN_USER}" password="{admin}";'
        )
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{host}:{ctl}",
            "listeners": f"SASL_SSL://{host}:{port},CONTROLLER://{host}:{ctl}",
            "advertised.listeners": f"SASL_SSL://{host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(tls.keystore),
            "ssl.keystore.password": keystore_password,
            "ssl.key.password": keystore_password,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls.ca_cert),
            "ssl.endpoint.identification.algorithm": "https",
            # the quorum only talks to holders of a certificate from our CA
            "listener.name.controller.ssl.client.auth": "required",
            "log.dirs": str(data),
            **SINGLE_NODE,
        }


def _ensure_password(path: Path) -> None:
    """Generate a password into ``path`` (0600) unless one is kept there already."""
    if not path.exists():
        write_secret(path, secrets.token_hex(24))
