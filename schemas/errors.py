"""The one error tree of proofstream.

Every error the project raises on purpose derives from :class:`ProofstreamError`.
Library errors (librdkafka, fastavro, clickhouse-connect, ...) are translated at
the boundary that calls the library, with ``raise ... from exc``, so callers never
need to import a client library to handle a failure::

    ProofstreamError
    ├── ConfigError                 settings that cannot work (missing tool, bad DSN)
    │   └── AuthenticationError     Kafka refused our credentials, or we refused its certificate
    ├── EventError                  an event that must not be accepted
    │   ├── InvalidEventError       fails the model or a seed rule; names the field
    │   └── DecodeError             bytes that are not a valid event; carries the raw bytes
    ├── SchemaError                 the schema registry in the repo is inconsistent
    │   └── IncompatibleSchemaError a new version breaks readers of an older one
    ├── RetryableError              transient: retrying the same call may succeed
    │   ├── BrokerUnavailableError  Kafka could not be reached in time
    │   └── SinkUnavailableError    a projection store is down or slow
    └── PermanentError              retrying the same call will fail the same way
        ├── DeliveryError           the broker refused a record (too large, not authorized)
        └── InvalidQueryError       a query the direct query path refuses or cannot run

``RetryableError`` and ``PermanentError`` are the split a runtime needs: pause and
retry with backoff on the first, send to the DLQ or fail loudly on the second.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BrokerUnavailableError",
    "ConfigError",
    "DecodeError",
    "DeliveryError",
    "EventError",
    "IncompatibleSchemaError",
    "InvalidEventError",
    "InvalidQueryError",
    "PermanentError",
    "ProofstreamError",
    "RetryableError",
    "SchemaError",
    "SinkUnavailableError",
]


class ProofstreamError(Exception):
    """Root of every error proofstream raises on purpose."""


class ConfigError(ProofstreamError):
    """The configuration or the environment cannot work; the message says what to do."""


class AuthenticationError(ConfigError):
    """The server refused our credentials (SASL) or we refused its TLS certificate.

    Retrying with the same settings fails the same way, so clients raise this at the
    first refusal instead of retrying until a timeout. The message names the user,
    mechanism and CA file, never a secret."""


class EventError(ProofstreamError):
    """An event that must not be accepted into, or read from, the log."""


class InvalidEventError(EventError):
    """An event fails validation.

    ``field`` is the dotted path of the offending field (``subject.run_id``), or
    ``"<event>"`` when the event as a whole is at fault (its total size).
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class DecodeError(EventError):
    """Bytes that cannot be decoded into an event. ``raw`` keeps the original bytes
    so the dead-letter path can store them unchanged."""

    def __init__(self, reason: str, raw: bytes) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


class SchemaError(ProofstreamError):
    """The schemas kept in the repo are inconsistent (a released file changed, a
    fingerprint collides, a version is missing)."""


class IncompatibleSchemaError(SchemaError):
    """A schema version cannot read data written with an earlier one.

    ``field`` names the offending field (or ``"<schema>"``)."""

    def __init__(self, schema: str, field: str, reason: str) -> None:
        super().__init__(f"{schema}: {field}: {reason}")
        self.schema = schema
        self.field = field
        self.reason = reason


class RetryableError(ProofstreamError):
    """A transient failure: the same call may succeed later."""


class BrokerUnavailableError(RetryableError):
    """Kafka could not be reached, or did not acknowledge, within the timeout."""


class SinkUnavailableError(RetryableError):
    """A projection store is unavailable or too slow. ``retry_after`` is the
    suggested pause in seconds before the runtime retries the same batch."""

    def __init__(self, sink: str, reason: str, retry_after: float = 1.0) -> None:
        super().__init__(f"{sink}: {reason}")
        self.sink = sink
        self.retry_after = retry_after


class PermanentError(ProofstreamError):
    """A failure that retrying the same call cannot fix."""


class DeliveryError(PermanentError):
    """The broker refused a record for good (too large, not authorized, ...)."""


class InvalidQueryError(PermanentError):
    """A query the direct query path refuses (not read-only, several statements) or
    the store rejects (syntax, unknown table). ``query`` is the SQL as given."""

    def __init__(self, query: str, reason: str) -> None:
        super().__init__(reason)
        self.query = query
        self.reason = reason
