"""The producer side: what a service needs to emit agent-action events.

``EventProducer(settings.kafka, settings.producer).emit(RunStarted(...))`` returns
a :class:`Delivery` once the broker acknowledged the event; see
:mod:`producers.producer` for the full contract (validation, never-lose, spool,
telemetry) and :mod:`producers.records` for the key and headers on the wire.
"""

from producers.connection import check_credentials
from producers.producer import (
    AsyncEventProducer,
    Delivery,
    EventProducer,
    producer_config,
    translate_kafka_error,
)
from producers.records import CONTENT_TYPE, OutgoingRecord, encode_event, message_key
from producers.settings import ClientConfig, KafkaSettings, ProducerSettings, TopicSettings
from producers.topics import ensure_topics

__all__ = [
    "CONTENT_TYPE",
    "AsyncEventProducer",
    "ClientConfig",
    "Delivery",
    "EventProducer",
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
