"""The event model: Avro schemas, the Python models built on them, and the codec."""

from schemas.errors import (
    BrokerUnavailableError,
    ConfigError,
    DecodeError,
    DeliveryError,
    EventError,
    IncompatibleSchemaError,
    InvalidEventError,
    PermanentError,
    ProofstreamError,
    RetryableError,
    SchemaError,
    SinkUnavailableError,
)

__all__ = [
    "BrokerUnavailableError",
    "ConfigError",
    "DecodeError",
    "DeliveryError",
    "EventError",
    "IncompatibleSchemaError",
    "InvalidEventError",
    "PermanentError",
    "ProofstreamError",
    "RetryableError",
    "SchemaError",
    "SinkUnavailableError",
]
