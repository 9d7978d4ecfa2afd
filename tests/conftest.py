"""Shared fixtures. Tests that need Kafka use the broker that `.ci/run` (or the
developer, with ``proofstream kafka up``) started; they never start a fake one.

The Settings object is built once here, as ``main()`` does for the CLI: the test
session is a composition root too.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from producers.settings import KafkaSettings, TopicSettings
from proofstream.settings import Settings

START_BROKER = "uv run --all-extras proofstream kafka up"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def bootstrap(settings: Settings) -> str:
    """The bootstrap address of a reachable broker, or a failed test that says how to
    start one. Never a skip: a missing broker is a broken test environment."""
    servers = settings.kafka.bootstrap_servers
    admin = AdminClient({**settings.kafka.client_config(), "log_level": "0"})
    try:
        metadata = admin.list_topics(timeout=10)
    except KafkaException as exc:
        pytest.fail(
            f"No Kafka broker answers at {servers} ({exc}). Start one with:\n    {START_BROKER}",
            pytrace=False,
        )
    if not metadata.brokers:
        pytest.fail(f"No Kafka broker at {servers}. Start one with:\n    {START_BROKER}")
    return servers


@pytest.fixture(scope="session")
def admin(settings: Settings, bootstrap: str) -> AdminClient:
    return AdminClient(settings.kafka.client_config())


class TopicFactory:
    """Creates uniquely named topics for one test and deletes them afterwards."""

    def __init__(self, admin: AdminClient, prefix: str) -> None:
        self._admin = admin
        self._prefix = prefix
        self.created: list[str] = []

    def __call__(self, partitions: int = 3, **config: str) -> str:
        name = f"{self._prefix}-{uuid.uuid4().hex[:10]}"
        futures = self._admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config)],
            operation_timeout=30,
        )
        futures[name].result(timeout=30)
        self.created.append(name)
        return name

    def kafka(self, base: KafkaSettings, partitions: int = 3) -> KafkaSettings:
        """``base`` (the test broker) with fresh topics of its own: the events topic
        with ``partitions``, a DLQ and a proof-gaps topic of one partition each."""
        topics = TopicSettings(events=self(partitions), dlq=self(1), proof_gaps=self(1))
        return KafkaSettings(bootstrap_servers=base.bootstrap_servers, topics=topics)

    def cleanup(self) -> None:
        if self.created:
            for future in self._admin.delete_topics(self.created, operation_timeout=30).values():
                # the broker may be restarting in a failure-injection test
                with contextlib.suppress(KafkaException):
                    future.result(timeout=30)


@pytest.fixture()
def new_topic(admin: AdminClient, request: pytest.FixtureRequest) -> Iterator[TopicFactory]:
    """``new_topic(partitions=3)`` returns the name of a fresh topic for this test."""
    safe = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40]
    factory = TopicFactory(admin, f"test-{safe}")
    yield factory
    factory.cleanup()


@pytest.fixture()
def topic(new_topic: TopicFactory) -> str:
    """A fresh 3-partition topic."""
    return new_topic(partitions=3)
