"""Create the project's topics when they are missing (events, DLQ, proof gaps)."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from producers.connection import AuthWatch, list_topics
from producers.settings import KafkaSettings
from schemas.errors import BrokerUnavailableError, ConfigError

__all__ = ["ensure_topics"]

_TIMEOUT_S = 30.0
_BROKER_DEFAULT = -1
"""``NewTopic`` replication factor meaning "the broker's default.replication.factor"."""


def ensure_topics(
    kafka: KafkaSettings,
    partitions: int = 6,
    replication: int | None = None,
    min_insync_replicas: int | None = None,
) -> list[str]:
    """Create the events, DLQ and proof-gap topics that do not exist yet; return the
    names created. Idempotent: existing topics are left exactly as they are (their
    partition count is never changed, which would move keys between partitions).

    ``replication=None`` takes the cluster's ``default.replication.factor`` and
    ``min_insync_replicas=None`` its ``min.insync.replicas``: 1 and 1 on the local
    single node, 3 and 2 on the local cluster (``proofstream kafka up --nodes 3``) and
    in ``compose.kafka.yml``. Pass them to pin the values on the topics themselves.

    The events topic keeps records forever (``retention.ms=-1``): it is the system
    of record. Raises :class:`BrokerUnavailableError` when the cluster cannot be
    reached, :class:`AuthenticationError` at once when it refuses the credentials or
    certificate, and :class:`ConfigError` when it refuses the request (e.g. more
    replicas than brokers).
    """
    watch = AuthWatch(kafka)
    admin = AdminClient(kafka.client_config(), error_cb=watch.on_error)
    names = kafka.topics
    wanted = {
        names.events: {"retention.ms": "-1"},
        names.dlq: {"retention.ms": "-1"},
        names.proof_gaps: {},
    }
    existing = set(list_topics(admin, watch, _TIMEOUT_S).topics)
    pinned = (
        {} if min_insync_replicas is None else {"min.insync.replicas": str(min_insync_replicas)}
    )
    missing = [
        NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=_BROKER_DEFAULT if replication is None else replication,
            config={**config, **pinned},
        )
        for name, config in wanted.items()
        if name not in existing
    ]
    if not missing:
        return []
    created: list[str] = []
    futures = admin.create_topics(missing, operation_timeout=_TIMEOUT_S)
    for name, future in futures.items():
        try:
            future.result(timeout=_TIMEOUT_S)
            created.append(name)
        except KafkaException as exc:
            err = exc.args[0]
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # created concurrently by someone else: that is the goal
            if isinstance(err, KafkaError) and err.retriable():
                raise BrokerUnavailableError(f"cannot create topic {name}: {exc}") from exc
            raise ConfigError(f"cannot create topic {name}: {exc}") from exc
    return created
