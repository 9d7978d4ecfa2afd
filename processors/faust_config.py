"""How the faust side of the worker reaches Kafka (faust speaks aiokafka, not librdkafka)."""

from __future__ import annotations

from typing import Any

import faust

from producers.settings import KafkaSettings

__all__ = ["faust_broker_url", "faust_credentials"]


def faust_broker_url(kafka: KafkaSettings) -> str:
    """``kafka://host:port;host:port`` from the librdkafka bootstrap list. Pure."""
    hosts = [h.strip() for h in kafka.bootstrap_servers.split(",") if h.strip()]
    return ";".join(f"kafka://{h}" for h in hosts)


def faust_credentials(kafka: KafkaSettings) -> Any:
    """faust's credentials from the Kafka settings: SASL (over TLS for SASL_SSL), TLS
    alone for SSL, ``None`` for PLAINTEXT."""
    context = kafka.ssl_context()  # None unless SSL or SASL_SSL
    if kafka.sasl_mechanism in (None, "OAUTHBEARER") or kafka.sasl_username is None:
        return None if context is None else faust.SSLCredentials(context)
    password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=password,
        mechanism=kafka.sasl_mechanism,
        ssl_context=context,
    )
