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

    events: str = Field(
        default="fractalops.agent-actions.v1",
        description="The event log, the system of record (created with retention.ms=-1).",
    )
    dlq: str = Field(
        default="fractalops.agent-actions.dlq.v1",
        description="Dead letters: records that fail to decode or that a plane's store refuses "
        "(retention.ms=-1).",
    )
    proof_gaps: str = Field(
        default="fractalops.proof-gaps.v1",
        description="Where the proof-gap detector emits proof.gap.detected and proof.gap.closed.",
    )


class KafkaSettings(BaseModel):
    """How to reach the Kafka cluster, including its security settings.

    Secrets are ``SecretStr``: their values never appear in ``repr``, logs or
    ``--json`` output, only in the dict handed to librdkafka.
    """

    model_config = ConfigDict(frozen=True)

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Kafka brokers, comma-separated host:port."
    )
    client_id: str = Field(
        default="proofstream",
        description="librdkafka client.id; also messaging.client.id in producer telemetry.",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="How clients talk to the brokers."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = (
        Field(
            default=None,
            description="SASL mechanism for the SASL_* protocols; unset: none is configured.",
        )
    )
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(
        default=None,
        description="SASL password of sasl_username; read from the file `kafka__sasl_password` "
        "in the secrets directory.",
    )
    ssl_ca_location: Path | None = Field(
        default=None,
        description="CA certificate (PEM) the brokers' certificates are checked against; unset: "
        "the clients' default CAs.",
    )
    ssl_certificate_location: Path | None = Field(
        default=None, description="Client certificate (PEM) for mutual TLS."
    )
    ssl_key_location: Path | None = Field(
        default=None, description="Private key (PEM) of the client certificate."
    )
    ssl_key_password: SecretStr | None = Field(
        default=None,
        description="Passphrase of ssl_key_location; read from the file `kafka__ssl_key_password` "
        "in the secrets directory.",
    )
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

    compression: Literal["zstd", "lz4", "none"] = Field(
        default="zstd", description="Compression of produced record batches."
    )
    linger_ms: int = Field(
        default=5, ge=0, le=1000, description="Milliseconds librdkafka waits to fill a batch."
    )
    delivery_timeout_ms: int = Field(
        default=30_000,
        ge=1_000,
        description="Milliseconds librdkafka may take to deliver an event "
        "(delivery.timeout.ms; request.timeout.ms is capped by it).",
    )
    max_event_bytes: int = Field(
        default=MAX_EVENT_BYTES,
        ge=1024,
        le=MAX_EVENT_BYTES,
        description="Encoded size cap per event in bytes: the rulebook's one limit, which "
        "consumers apply too. It may be set lower (a stricter budget for this service), "
        "never higher.",
    )
    spool_dir: Path | None = Field(
        default=None,
        description="On-disk spool for events that could not be delivered for a retryable "
        "reason; unset: no spool, emit raises instead.",
    )
    spool_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Bytes the spool may hold; when full, emit raises as if there were no spool.",
    )
    spool_segment_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Bytes per spool segment. A segment is deleted only when all its records "
        "are re-sent: smaller segments mean fewer duplicates after a drain that fails half-way.",
    )
