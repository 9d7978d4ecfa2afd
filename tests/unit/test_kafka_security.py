"""TLS material, the secure node's configuration, the TLS context for Python clients,
faust's credentials and the classification of authentication failures. No broker."""

from __future__ import annotations

import ssl
import subprocess
import time
from pathlib import Path

import faust
import pytest
from confluent_kafka import KafkaError
from pydantic import SecretStr

from processors.faust_config import faust_credentials
from producers.connection import AuthWatch, auth_failure, check_credentials
from producers.settings import KafkaSettings
from proofstream.devstack.secure import SecureKafkaLauncher
from proofstream.devstack.tls import make_broker_tls, make_ca, write_secret
from proofstream.settings import BrokerSettings
from schemas.errors import AuthenticationError


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_broker_tls_is_signed_by_the_ca_for_loopback_and_keeps_keys_private(
    tmp_path: Path,
) -> None:
    tls = make_broker_tls(tmp_path / "tls", "127.0.0.1")
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tls.ca_cert), str(tls.broker_cert)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    text = subprocess.run(
        ["openssl", "x509", "-in", str(tls.broker_cert), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "IP Address:127.0.0.1" in text
    assert "DNS:localhost" in text
    for secret in (tls.ca_key, tls.broker_key, tls.keystore, tls.keystore_password_file):
        assert _mode(secret) == 0o600, secret
    assert _mode(tls.directory) == 0o700
    # the keystore opens with its password, which is in a file, not on a command line
    listed = subprocess.run(
        ["openssl", "pkcs12", "-in", str(tls.keystore), "-nokeys", "-passin",
         f"file:{tls.keystore_password_file}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr


def test_tls_material_is_made_once(tmp_path: Path) -> None:
    first = make_broker_tls(tmp_path, "127.0.0.1")
    ca = first.ca_cert.read_bytes()
    again = make_broker_tls(tmp_path, "127.0.0.1")
    assert again.ca_cert.read_bytes() == ca  # clients keep trusting the same CA


def test_secure_node_status_and_client_settings_hold_no_password(tmp_path: Path) -> None:
    launcher = SecureKafkaLauncher(BrokerSettings(secure_port=29999), tmp_path)
    status = launcher.status()
    assert status.running is False
    assert launcher.down() is False
    env = status.client.env()
    assert env["PROOFSTREAM_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["PROOFSTREAM_KAFKA__SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["PROOFSTREAM_KAFKA__BOOTSTRAP_SERVERS"] == "127.0.0.1:29999"
    assert status.client.password_file.name == "kafka__sasl_password"
    assert Path(env["PROOFSTREAM_SECRETS_DIR"]) == status.client.password_file.parent
    assert not any("PASSWORD" in key for key in env)


def _sasl_ssl(tmp_path: Path, **extra: object) -> KafkaSettings:
    ca, _ = make_ca(tmp_path / "ca")
    return KafkaSettings(
        bootstrap_servers="127.0.0.1:1",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password=SecretStr("hunter2"),
        ssl_ca_location=ca,
        **extra,  # type: ignore[arg-type]
    )


def test_ssl_context_verifies_the_broker_with_the_configured_ca(tmp_path: Path) -> None:
    assert KafkaSettings().ssl_context() is None
    context = _sasl_ssl(tmp_path).ssl_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert any("proofstream dev CA" in str(c.get("subject")) for c in context.get_ca_certs())


def test_faust_gets_sasl_over_tls_for_sasl_ssl_and_tls_for_ssl(tmp_path: Path) -> None:
    sasl = faust_credentials(_sasl_ssl(tmp_path))
    assert isinstance(sasl, faust.SASLCredentials)
    assert sasl.protocol.value == "SASL_SSL"  # not SASL_PLAINTEXT: TLS is not dropped
    assert sasl.ssl_context is not None
    assert sasl.password == "hunter2"
    assert "hunter2" not in repr(sasl)
    ssl_only = faust_credentials(
        KafkaSettings(security_protocol="SSL", ssl_ca_location=tmp_path / "ca" / "ca.crt")
    )
    assert isinstance(ssl_only, faust.SSLCredentials)
    assert faust_credentials(KafkaSettings()) is None


def test_refusals_are_told_apart_from_outages() -> None:
    def kind(code: int, text: str) -> str | None:
        return auth_failure(KafkaError(code, text))

    assert kind(KafkaError._AUTHENTICATION, "SASL authentication error") == "sasl"
    assert kind(KafkaError._SSL, "SSL handshake failed") == "tls"
    assert kind(KafkaError._TRANSPORT, "x: error:0A000086:certificate verify failed") == "tls"
    assert kind(KafkaError._TRANSPORT, "Connection refused") is None
    assert kind(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down") is None


def test_the_refusal_message_names_the_cause_in_one_line_without_the_password(
    tmp_path: Path,
) -> None:
    watch = AuthWatch(_sasl_ssl(tmp_path))
    watch.on_error(KafkaError(KafkaError._TRANSPORT, "Connection refused"))
    assert watch.failure is None
    watch.on_error(
        KafkaError(
            KafkaError._AUTHENTICATION,
            "sasl_ssl://127.0.0.1:1/bootstrap: SASL authentication error: Authentication "
            "failed (after 311ms in state AUTH_REQ)",
        )
    )
    with pytest.raises(AuthenticationError) as caught:
        watch.raise_if_failed()
    message = str(caught.value)
    assert "refused the credentials of 'svc' (SCRAM-SHA-512)" in message
    assert "kafka__sasl_password" in message
    assert "hunter2" not in message
    assert "\n" not in message
    assert "sasl_ssl://" not in message and "after 311ms" not in message


def test_check_credentials_is_free_for_plaintext() -> None:
    started = time.monotonic()
    check_credentials(KafkaSettings(bootstrap_servers="127.0.0.1:1"), timeout_s=30)
    assert time.monotonic() - started < 0.5


def test_check_credentials_lets_an_unreachable_cluster_be_the_callers_business(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    check_credentials(_sasl_ssl(tmp_path), timeout_s=1.0)  # nothing listens on port 1
    assert time.monotonic() - started < 5


def test_secrets_written_by_the_launcher_are_private(tmp_path: Path) -> None:
    write_secret(tmp_path / "s" / "kafka__sasl_password", "x")
    assert _mode(tmp_path / "s") == 0o700
    assert _mode(tmp_path / "s" / "kafka__sasl_password") == 0o600
