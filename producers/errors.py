"""librdkafka's errors, translated into the project's error tree at this boundary.

The producer raises only these (see :mod:`schemas.errors` for the whole tree)::

    ProofstreamError
    ├── EventError
    │   └── InvalidEventError       the event is not sent at all (nothing of its batch is)
    ├── RetryableError
    │   └── BrokerUnavailableError  not acknowledged in time (broker down, no leader),
    │                               or the spool is full; sending again may succeed
    └── PermanentError
        └── DeliveryError           refused for good (too large, not authorized, fatal)

:func:`translate_kafka_error` is pure; the caller raises its result ``from`` a
``KafkaException`` carrying the librdkafka error.
"""

from __future__ import annotations

from confluent_kafka import KafkaError

from schemas.errors import BrokerUnavailableError, DeliveryError, ProofstreamError

__all__ = ["translate_kafka_error"]

# librdkafka reports these when no broker took the record in time: retryable.
_UNAVAILABLE = frozenset(
    {
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._PURGE_QUEUE,
        KafkaError._PURGE_INFLIGHT,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
    }
)
_TOO_LARGE = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
    }
)


def translate_kafka_error(err: KafkaError, topic: str) -> ProofstreamError:
    """Map a librdkafka error to our tree. Pure; the caller raises it ``from`` the cause.

    Too large or fatal → :class:`DeliveryError`; unavailable or retriable →
    :class:`BrokerUnavailableError`; any other refusal → :class:`DeliveryError`.
    """
    code = err.code()
    reason = f"{topic}: {err.name()}: {err.str()}"
    if code in _TOO_LARGE:
        return DeliveryError(f"record too large for the broker: {reason}")
    if err.fatal():
        return DeliveryError(f"fatal producer error: {reason}")
    if code in _UNAVAILABLE or err.retriable():
        return BrokerUnavailableError(f"not acknowledged: {reason}")
    return DeliveryError(f"refused by the broker: {reason}")
