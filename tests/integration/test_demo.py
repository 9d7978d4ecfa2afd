"""``proofstream demo``, the README's first command, end to end on its own topics."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from producers.settings import KafkaSettings, TopicSettings
from proofstream.settings import Settings, settings_env
from tests.conftest import TopicFactory
from tests.ports import free_port


def test_demo_runs_every_plane_and_ends_with_equal_digests(
    settings: Settings, new_topic: TopicFactory, tmp_path: Path
) -> None:
    topics = TopicSettings(
        events=new_topic(partitions=3), dlq=new_topic(partitions=1), proof_gaps=new_topic(1)
    )
    local = settings.model_copy(
        update={
            "state_dir": tmp_path / "state",
            "kafka": KafkaSettings(
                bootstrap_servers=settings.kafka.bootstrap_servers, topics=topics
            ),
            "processors": settings.processors.model_copy(
                update={"web_port": free_port(), "group_prefix": f"demo-{topics.events}"}
            ),
        }
    )
    env = {**os.environ, **settings_env(local), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "proofstream", "demo", "--runs", "6"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "3 undecodable records written by a misbehaving client" in out
    assert "prs_merged_without_browser_proof" in out
    assert "every PR merged without browser proof has an open gap" in out
    assert "RDF: which agents acted in run-0000?" in out
    assert "DataHub Lite catalog" in out
    assert "verified 1 ledger entr" in out
    assert "equal: live == fold(log)" in out
    port = local.processors.web_port
    assert f"overview page: http://127.0.0.1:{port}/pages/" in out
    report = local.state_dir.resolve() / "reports" / "pr-fractalops-portal-200.html"
    assert f"report of fractalops/portal#200: {report}" in out
    assert 'data-mark="verified"' in report.read_text()  # its evidence proved when written
