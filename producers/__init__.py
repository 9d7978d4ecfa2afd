"""The producer side: what a service needs to emit agent-action events.

``EventProducer(settings.kafka, settings.producer).emit(RunStarted(...))`` returns
a :class:`Delivery` once the broker acknowledged the event; see
:mod:`producers.producer` for the full contract (validation, never-lose, spool,
telemetry) and :mod:`producers.records` for the key and headers on the wire.

Modules: ``producer`` (:class:`EventProducer` and the contract), ``async_producer``,
``core`` (the steps both share), ``serializer`` (the encode step, confluent-kafka's
``(obj, ctx) -> bytes`` shape), ``avro_writer`` (its compiled Avro writer),
``records`` (the wire layout), ``delivery``,
``telemetry``, ``errors`` (librdkafka's errors translated), ``config``, ``spool``,
``topics``, ``settings``.
"""

from producers.async_producer import AsyncEventProducer
from producers.config import producer_config
from producers.connection import check_credentials
from producers.delivery import Delivery
from producers.errors import translate_kafka_error
from producers.producer import EventProducer
from producers.records import CONTENT_TYPE, OutgoingRecord, message_key
from producers.serializer import EventSerializer, encode_event
from producers.settings import ClientConfig, KafkaSettings, ProducerSettings, TopicSettings
from producers.topics import ensure_topics

__all__ = [
    "CONTENT_TYPE",
    "AsyncEventProducer",
    "ClientConfig",
    "Delivery",
    "EventProducer",
    "EventSerializer",
    "KafkaSettings",
    "OutgoingRecord",
    "ProducerSettings",
    "TopicSettings",
    "check_credentials",
    "encode_event",
    "ensure_topics",
    "message_key",
    "producer_config",
    "translate_kafka_error",
]
