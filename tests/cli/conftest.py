"""The CLI tier's one demo state: ``proofstream demo --runs 6`` on its own topics,
state dir and port, run once through the real entry point; every test of the tier
then runs commands against what it left (the worker stopped, Kafka running)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from producers.settings import KafkaSettings, TopicSettings
from proofstream.settings import Settings, settings_env
from tests.conftest import TopicFactory
from tests.ports import free_port

ENTRY_POINT = Path(sys.executable).with_name("proofstream")
"""The ``proofstream`` console script of this environment: the real entry point."""


@dataclass(frozen=True)
class Demo:
    settings: Settings
    env: dict[str, str]
    done: subprocess.CompletedProcess[str]
    artifact_sha256: str

    def run(self, *args: str, timeout_s: float = 300.0) -> subprocess.CompletedProcess[str]:
        """``proofstream <args>`` through the console script, on the demo's state."""
        return subprocess.run(
            [str(ENTRY_POINT), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )


@pytest.fixture(scope="session")
def demo(
    settings: Settings, admin: AdminClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    topics_of = TopicFactory(admin, f"cli-{uuid.uuid4().hex[:6]}")
    topics = TopicSettings(
        events=topics_of(partitions=3), dlq=topics_of(partitions=1), proof_gaps=topics_of(1)
    )
    state = tmp_path_factory.mktemp("cli") / "state"
    local = settings.model_copy(
        update={
            "state_dir": state,
            "kafka": KafkaSettings(
                bootstrap_servers=settings.kafka.bootstrap_servers, topics=topics
            ),
            "processors": settings.processors.model_copy(
                update={"web_port": free_port(), "group_prefix": f"cli-{topics.events}"}
            ),
        }
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROOFSTREAM_")},
        **settings_env(local),
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [str(ENTRY_POINT), "demo", "--runs", "6"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # "artifact  <state>/chronicle/sha256/70/c6e5…": the stored artifact's address
    match = re.search(r"chronicle/sha256/([0-9a-f]{2})/([0-9a-f]{62})", done.stdout)
    assert match, done.stdout[-2000:]
    yield Demo(local, env, done, match.group(1) + match.group(2))
    topics_of.cleanup()
