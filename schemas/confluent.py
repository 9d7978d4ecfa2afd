"""An optional codec for the Confluent wire format, through a Schema Registry.

The default wire format is Avro single-object encoding (:mod:`schemas.codec`),
which needs no registry server. Shops that run a Confluent Schema Registry can
use :class:`ConfluentCodec` instead (install the ``registry`` extra)::

    00 | 4-byte big-endian schema id | Avro body

Writing goes through confluent-kafka's own ``AvroSerializer``, one per event
type (each event type has its own schema), so the schema is registered, or
looked up, under the subject the chosen :class:`SubjectStrategy` names, exactly
as every other Confluent client would. The registered schema is the released
``.avsc`` of the current version, logical types included.

Reading fetches the writer schema by id (the client caches it), maps it by its
CRC-64-AVRO fingerprint to a schema version released in ``schemas/avro``, and
decodes the body with :class:`~schemas.codec.EventCodec`'s resolution: the same
Avro schema resolution and upcasters as single-object decoding, so an event
decodes to the same model whichever wire format carried it. A writer schema that
is not a released proofstream schema is refused: the repo, not the registry, is
the source of truth for the event model.

Failures are translated at this boundary, with ``raise ... from exc``:

* bytes that are not a valid event → :class:`DecodeError` (carries ``raw``);
* an event that does not fit its schema or the size cap → :class:`InvalidEventError`;
* the registry unreachable, or answering 5xx → :class:`RetryableError`;
* the registry refusing the credentials (401/403) → :class:`ConfigError`;
* the registry refusing the schema (409: incompatible with the subject's
  compatibility setting) → :class:`IncompatibleSchemaError`; any other refusal
  (the schema not registered while ``auto_register`` is off) → :class:`SchemaError`.

``confluent_kafka.schema_registry`` (and its httpx, attrs, authlib, ...) is
imported when a codec is built, never at ``import schemas``: the base install
does not carry the extra.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from schemas.catalog import SchemaCatalog, SchemaVersion, avro_fingerprint, load_catalog
from schemas.codec import HEADER_LEN, MAGIC, EventCodec
from schemas.errors import (
    ConfigError,
    DecodeError,
    IncompatibleSchemaError,
    InvalidEventError,
    ProofstreamError,
    RetryableError,
    SchemaError,
)
from schemas.events import Event
from schemas.records import Record, to_record
from schemas.rules import MAX_EVENT_BYTES

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

__all__ = ["CONFLUENT_MAGIC", "ConfluentCodec", "SubjectStrategy"]

CONFLUENT_MAGIC = b"\x00"
"""The first byte of the Confluent wire format (followed by the 4-byte schema id)."""

_CONFLUENT_HEADER_LEN = 5
"""The magic byte and the 4-byte schema id."""


class SubjectStrategy(StrEnum):
    """Which registry subject an event type's schema is registered under.

    Confluent's default, the topic name alone, does not fit: one proofstream topic
    carries many event types, each with its own schema.
    """

    RECORD = "record"
    """``fractalops.events.RunStarted``: one subject per event type, across topics."""
    TOPIC_RECORD = "topic_record"
    """``<topic>-fractalops.events.RunStarted``: per topic and event type."""


class ConfluentCodec:
    """Encode and decode events in the Confluent wire format through a Schema Registry.

    ``registry_url`` is the registry's base URL; ``mock://<name>`` selects
    confluent-kafka's in-process mock registry (tests). ``conf`` adds client
    settings (``basic.auth.user.info``, TLS, ...) to the URL; ``client`` injects an
    existing client instead (two codecs then share one registry, which a mock
    registry needs). With ``auto_register`` the serializer registers the current
    schema of each event type on first use; without it the schema must already be
    registered under its subject (registration done by CI, not by services).

    ``max_event_bytes`` caps an encoded event (a seed rule); ``max_input_bytes``
    caps what ``decode`` will look at. Safe to share across threads: the
    serializers are built once in ``__init__`` and never change; the schema-id
    cache only ever gains entries, and two threads filling the same id store the
    same value (a registry never reuses an id for another schema).
    """

    __slots__ = (
        "_catalog",
        "_client",
        "_codec",
        "_ctx",
        "_max_event",
        "_max_input",
        "_serializers",
        "_writers",
        "_writers_lock",
    )

    def __init__(
        self,
        registry_url: str = "mock://proofstream",
        *,
        subject_strategy: SubjectStrategy = SubjectStrategy.RECORD,
        auto_register: bool = True,
        conf: Mapping[str, Any] | None = None,
        client: SchemaRegistryClient | None = None,
        catalog: SchemaCatalog | None = None,
        max_event_bytes: int = MAX_EVENT_BYTES,
        max_input_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        try:
            from confluent_kafka.schema_registry import (
                Schema,
                record_subject_name_strategy,
                topic_record_subject_name_strategy,
            )
            from confluent_kafka.schema_registry import SchemaRegistryClient as Client
            from confluent_kafka.schema_registry.avro import AvroSerializer
            from confluent_kafka.serialization import MessageField, SerializationContext
        except ImportError as exc:
            raise ConfigError(
                f"ConfluentCodec needs the registry extra (pip install 'proofstream[registry]'): "
                f"{exc}"
            ) from exc

        self._catalog = catalog if catalog is not None else load_catalog()
        self._max_event = max_event_bytes
        self._max_input = max_input_bytes
        # The body decoder. Its input is the body re-framed as single-object encoding,
        # 10 - 5 = 5 bytes longer than the Confluent message: the cap moves with it.
        self._codec = EventCodec(
            self._catalog,
            max_event_bytes=max_event_bytes,
            max_input_bytes=max_input_bytes + HEADER_LEN - _CONFLUENT_HEADER_LEN,
        )
        if client is None:
            try:
                # new_client picks the in-process mock for mock:// URLs.
                client = Client.new_client({**(conf or {}), "url": registry_url})
            except Exception as exc:  # bad URL or property: ValueError, TypeError
                raise ConfigError(f"schema registry client for {registry_url!r}: {exc}") from exc
        self._client: SchemaRegistryClient = client

        strategy = {
            SubjectStrategy.RECORD: record_subject_name_strategy,
            SubjectStrategy.TOPIC_RECORD: topic_record_subject_name_strategy,
        }[SubjectStrategy(subject_strategy)]
        serializer_conf = {
            "auto.register.schemas": auto_register,
            "subject.name.strategy": strategy,
        }

        def to_dict(event: object, _ctx: object) -> Record:
            # The exact raw record of the single-object codec: timestamps as int
            # micros and UUIDs as str, which fastavro writes unchanged under the
            # timestamp-micros and uuid logical types.
            return to_record(event)  # type: ignore[arg-type]

        try:
            self._serializers: Mapping[str, Callable[[object, Any], bytes | None]] = (
                MappingProxyType(
                    {
                        et: AvroSerializer(
                            client,
                            Schema(_schema_str(sv), "AVRO"),
                            to_dict=to_dict,
                            conf=serializer_conf,
                        )
                        for et in self._catalog.event_types
                        for sv in (self._catalog.current(et),)
                    }
                )
            )
        except Exception as exc:  # the serializer validates its conf with ValueError
            raise ConfigError(f"cannot build the Avro serializers: {exc}") from exc
        self._ctx: Callable[[str], Any] = lambda topic: SerializationContext(
            topic, MessageField.VALUE
        )
        # schema id -> the released version it is, or None when it is none of ours.
        self._writers: dict[int, SchemaVersion | None] = {}
        self._writers_lock = threading.Lock()

    @property
    def catalog(self) -> SchemaCatalog:
        """The released schemas this codec writes (current versions) and reads."""
        return self._catalog

    @property
    def client(self) -> SchemaRegistryClient:
        """The Schema Registry client (a ``MockSchemaRegistryClient`` for ``mock://``)."""
        return self._client

    def encode(self, event: Event, topic: str) -> bytes:
        """Serialize ``event`` with the current schema of its type, for ``topic``.

        Returns ``00 | schema id | Avro body``. Registers the schema on first use
        when ``auto_register`` is on (the only I/O; later calls hit the cache).
        Raises :class:`SchemaError` for an event type with no schema,
        :class:`InvalidEventError` when the event does not fit its schema or the
        size cap, and the registry errors listed in the module docstring.
        """
        try:
            serializer = self._serializers[event.event_type]
        except KeyError:
            raise SchemaError(f"no schema for event type {event.event_type!r}") from None
        try:
            data = serializer(event, self._ctx(topic))
        except Exception as exc:
            raise _translate(exc, f"encode {event.event_type} for {topic!r}") from exc
        if data is None:  # only for a None event, which the type excludes
            raise InvalidEventError("<event>", "serializer returned no bytes")
        if len(data) > self._max_event:
            raise InvalidEventError(
                "<event>", f"encoded size {len(data)} B exceeds the cap of {self._max_event} B"
            )
        return data

    def decode(self, raw: bytes, topic: str | None = None) -> Event:
        """Decode a Confluent-framed value into the event model of the current schema.

        The writer schema is resolved into the current one (upcasters included)
        and the result is re-validated. ``topic`` only names the source in error
        messages: schema ids are global to a registry. Raises :class:`DecodeError`
        (carrying ``raw``) for bad bytes or a writer schema that is not a released
        proofstream schema, and :class:`RetryableError`/:class:`ConfigError` when
        the registry cannot be asked; never anything else.
        """
        body = self._reframe(raw, topic)
        try:
            return self._codec.decode(body)
        except DecodeError as exc:
            raise DecodeError(_where(topic) + exc.reason, bytes(raw)) from exc

    def decode_record(self, raw: bytes, topic: str | None = None) -> Record:
        """Like :meth:`decode`, but return the raw record (int micros, str UUIDs)
        without re-validating the model; the same errors."""
        body = self._reframe(raw, topic)
        try:
            return self._codec.decode_record(body)
        except DecodeError as exc:
            raise DecodeError(_where(topic) + exc.reason, bytes(raw)) from exc

    def _reframe(self, raw: bytes, topic: str | None) -> bytes:
        """The same body behind the single-object header of its writer schema."""
        if not isinstance(raw, bytes | bytearray | memoryview):
            raise DecodeError(f"{_where(topic)}expected bytes, got {type(raw).__name__}", b"")
        raw = bytes(raw)
        if len(raw) > self._max_input:
            raise DecodeError(
                f"{_where(topic)}{len(raw)} B exceeds the input cap of {self._max_input} B", raw
            )
        if len(raw) < _CONFLUENT_HEADER_LEN or not raw.startswith(CONFLUENT_MAGIC):
            raise DecodeError(f"{_where(topic)}not Confluent wire format (no 00 magic byte)", raw)
        schema_id = int.from_bytes(raw[1:_CONFLUENT_HEADER_LEN], "big")
        writer = self._writer(schema_id, raw, topic)
        return MAGIC + writer.fingerprint + raw[_CONFLUENT_HEADER_LEN:]

    def _writer(self, schema_id: int, raw: bytes, topic: str | None) -> SchemaVersion:
        if schema_id in self._writers:
            writer = self._writers[schema_id]
        else:
            try:
                schema = self._client.get_schema(schema_id)  # cached by the client too
            except Exception as exc:
                failure = _translate(exc, f"fetch schema id {schema_id}")
                if isinstance(failure, SchemaError):  # 404 and friends: the bytes are at fault
                    raise DecodeError(f"{_where(topic)}{failure}", raw) from exc
                raise failure from exc
            writer = self._released(schema.schema_type, schema.schema_str)
            with self._writers_lock:
                self._writers[schema_id] = writer
        if writer is None:
            raise DecodeError(
                f"{_where(topic)}schema id {schema_id} is not a released proofstream schema", raw
            )
        return writer

    def _released(self, schema_type: str | None, schema_str: str | None) -> SchemaVersion | None:
        if (schema_type or "AVRO") != "AVRO" or not schema_str:
            return None
        try:
            fingerprint = avro_fingerprint(json.loads(schema_str))
        except (ValueError, SchemaError):
            return None
        return self._catalog.by_fingerprint.get(fingerprint)


def _schema_str(version: SchemaVersion) -> str:
    """The released schema as JSON (the catalog keeps it in read-only mappings)."""
    return json.dumps(version.schema, default=dict)


def _where(topic: str | None) -> str:
    return "" if topic is None else f"{topic}: "


def _translate(exc: Exception, what: str) -> ProofstreamError:
    """The proofstream error for a failure inside confluent-kafka's registry code."""
    # Imported here, like the rest of the extra: only a built codec gets this far.
    from confluent_kafka.schema_registry.error import OAuthTokenError, SchemaRegistryError

    if isinstance(exc, ProofstreamError):
        return exc
    if isinstance(exc, _transport_errors()):
        return RetryableError(f"{what}: schema registry unreachable: {exc!r}")
    if isinstance(exc, OAuthTokenError):
        return ConfigError(f"{what}: schema registry token: {exc}")
    if isinstance(exc, SchemaRegistryError):
        return _refusal(exc.http_status_code, f"{what}: schema registry: {exc}", what)
    # Everything else comes from writing the record: fastavro's ValueError, TypeError,
    # KeyError, or confluent's SerializationError wrapping one.
    return InvalidEventError("<event>", f"does not fit its schema: {exc}")


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Network failures (DNS, refused, timeout) of the registry's HTTP client."""
    # Newer confluent-kafka releases use httpx2 where it is installed and httpx
    # otherwise; the module is looked up by name because either may be absent.
    errors: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def _refusal(status: int, message: str, what: str) -> ProofstreamError:
    """The proofstream error for an HTTP error status from the registry."""
    if status in (401, 403):
        return ConfigError(f"{message} (check the credentials in conf)")
    if status == 409:  # the subject's compatibility setting refuses the schema
        return IncompatibleSchemaError(what, "<schema>", message)
    if status >= 500 or status == 429:
        return RetryableError(message)
    return SchemaError(message)
