"""The secure tier's own SASL_SSL node (SCRAM-SHA-512, a local CA), on free loopback
ports in a temporary directory of its own, started once and always stopped.

Clients get every setting from ``PROOFSTREAM_*`` variables except the password,
which only exists as the file ``kafka__sasl_password`` in the secrets directory the
launcher wrote: that is the point of the tier.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from proofstream.devstack.secure import SecureClient, SecureKafkaLauncher
from proofstream.settings import BrokerSettings, Settings
from tests.ports import free_port


@dataclass(frozen=True)
class SecureBroker:
    client: SecureClient
    root: Path

    @property
    def password(self) -> str:
        return self.client.password_file.read_text().strip()

    def settings(self, secrets_dir: Path | None = None, **kafka: object) -> Settings:
        """Settings as ``main()`` builds them: the env part as init values, the password
        from ``secrets_dir`` (default: the launcher's)."""
        env = self.client.env()
        values = {
            "bootstrap_servers": env["PROOFSTREAM_KAFKA__BOOTSTRAP_SERVERS"],
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": env["PROOFSTREAM_KAFKA__SASL_MECHANISM"],
            "sasl_username": env["PROOFSTREAM_KAFKA__SASL_USERNAME"],
            "ssl_ca_location": env["PROOFSTREAM_KAFKA__SSL_CA_LOCATION"],
            **kafka,
        }
        return Settings(_secrets_dir=secrets_dir or self.client.secrets_dir, kafka=values)


@pytest.fixture(scope="session")
def secure_broker() -> Iterator[SecureBroker]:
    root = Path(tempfile.mkdtemp(prefix="proofstream-secure-"))
    broker = BrokerSettings(
        secure_port=free_port(),
        secure_controller_port=free_port(),
        jvm_options=("-XX:TieredStopAtLevel=1",),
    )
    launcher = SecureKafkaLauncher(broker, root / "state")
    try:
        status, started = launcher.up()
        assert started
        yield SecureBroker(status.client, root)
    finally:
        launcher.down()
        shutil.rmtree(root, ignore_errors=True)
