"""Typed settings for everything that talks to Kafka.

These are plain pydantic models. The one ``Settings`` object that reads the
environment and the secrets directory is built in ``proofstream.cli.main()`` and
hands these parts down; nothing here reads ``os.environ``.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from schemas.rules import MAX_EVENT_BYTES

__all__ = ["ClientConfig", "KafkaSettings", "ProducerSettings", "TopicSettings"]

# librdkafka properties (str, int, float, bool) plus the "logger" object
ClientConfig = dict[str, Any]
"""librdkafka properties, in the shape confluent-kafka's clients accept."""


class TopicSettings(BaseModel):
    """Names of the project's topics. Versioned names: a breaking change is a new topic."""

    model_config = ConfigDict(frozen=True)

    events: str = "fractalops.agent-actions.v1"
    dlq: str = "fractalops.agent-actions.dlq.v1"
    proof_gaps: str = "fractalops.proof-gaps.v1"


class KafkaSettings(BaseModel):
    """How to reach the Kafka cluster, including its security settings.

    Secrets are ``SecretStr``: their values never appear in ``repr``, logs or
    ``--json`` output, only in the dict handed to librdkafka.
    """

    model_config = ConfigDict(frozen=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "proofstream"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: Path | None = None
    ssl_certificate_location: Path | None = None
    ssl_key_location: Path | None = None
    ssl_key_password: SecretStr | None = None
    topics: TopicSettings = Field(default_factory=TopicSettings)

    def client_config(self) -> ClientConfig:
        """The librdkafka properties shared by producers, consumers and admin clients.

        Pure: builds a new dict on every call, reveals secrets only inside it.
        """
        conf: ClientConfig = {
            # librdkafka's own log lines (a coordinator still loading, a broker going
            # away) go through Python logging at the configured level, never raw to
            # the terminal
            "logger": logging.getLogger("librdkafka"),
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol.lower(),
        }
        if self.sasl_mechanism is not None:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username is not None:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_ca_location is not None:
            conf["ssl.ca.location"] = str(self.ssl_ca_location)
        if self.ssl_certificate_location is not None:
            conf["ssl.certificate.location"] = str(self.ssl_certificate_location)
        if self.ssl_key_location is not None:
            conf["ssl.key.location"] = str(self.ssl_key_location)
        if self.ssl_key_password is not None:
            conf["ssl.key.password"] = self.ssl_key_password.get_secret_value()
        return conf

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for Python clients (aiokafka under faust), equivalent to the
        librdkafka ``ssl.*`` settings: ``None`` unless the protocol is ``SSL`` or
        ``SASL_SSL``; trusts ``ssl_ca_location`` (else the system CAs), verifies the
        host name, and presents the client certificate when one is configured.

        Reads the certificate files: call it where the client is built. Raises
        ``OSError``/``ssl.SSLError`` for unreadable or invalid files.
        """
        if self.security_protocol not in ("SSL", "SASL_SSL"):
            return None
        ca = str(self.ssl_ca_location) if self.ssl_ca_location is not None else None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
        if self.ssl_certificate_location is not None:
            key_password = self.ssl_key_password
            context.load_cert_chain(
                str(self.ssl_certificate_location),
                str(self.ssl_key_location) if self.ssl_key_location is not None else None,
                key_password.get_secret_value() if key_password is not None else None,
            )
        return context


class ProducerSettings(BaseModel):
    """Tuning of the event producer. Idempotence and ``acks=all`` are not settings:
    they are the contract."""

    model_config = ConfigDict(frozen=True)

    compression: Literal["zstd", "lz4", "none"] = "zstd"
    linger_ms: int = Field(default=5, ge=0, le=1000)
    delivery_timeout_ms: int = Field(default=30_000, ge=1_000)
    max_event_bytes: int = Field(default=MAX_EVENT_BYTES, ge=1024, le=MAX_EVENT_BYTES)
    """Encoded size cap per event: the rulebook's one limit, which consumers apply
    too. It may be set lower (a stricter budget for this service), never higher."""
    spool_dir: Path | None = None
    spool_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    spool_segment_bytes: int = Field(default=1024 * 1024, ge=1024)
    """A spool segment is deleted only when all its records are re-sent: smaller
    segments mean fewer duplicates after a drain that fails half-way."""
