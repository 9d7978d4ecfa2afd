"""The librdkafka configuration of the event producer. Pure."""

from __future__ import annotations

from producers.settings import ClientConfig, KafkaSettings, ProducerSettings

__all__ = ["producer_config"]

# Headroom for headers and the record batch framing above the largest event.
_FRAMING_BYTES = 64 * 1024


def producer_config(kafka: KafkaSettings, producer: ProducerSettings) -> ClientConfig:
    """The librdkafka configuration of the event producer. Pure.

    Idempotence and ``acks=all`` are fixed: they are the never-lose contract, not
    settings. Security settings come from :meth:`KafkaSettings.client_config`.
    """
    return {
        **kafka.client_config(),
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": producer.compression,
        "linger.ms": producer.linger_ms,
        "delivery.timeout.ms": producer.delivery_timeout_ms,
        # request.timeout.ms must not outlive the delivery timeout, or a request
        # to a dead broker holds its records past the deadline the caller was promised.
        "request.timeout.ms": min(30_000, producer.delivery_timeout_ms),
        "message.max.bytes": max(1_000_000, producer.max_event_bytes + _FRAMING_BYTES),
    }
