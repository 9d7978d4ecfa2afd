"""The pipeline as an operator runs it, through its stable contracts only: the worker
is ``python -m proofstream run`` configured by ``PROOFSTREAM_*`` variables, its
progress is its consumer group's committed offsets (group ``<prefix>.facts``), and
facts are read back with ``proofstream query ... --format json`` once it stopped.

Nothing here imports the worker's internals (they are being rewritten).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson
from confluent_kafka import Consumer, KafkaException, TopicPartition

from producers.settings import KafkaSettings, TopicSettings

ROOT = Path(__file__).resolve().parents[1]


def worker_env(
    base: Mapping[str, str],
    *,
    state_dir: Path,
    kafka: KafkaSettings,
    group_prefix: str,
    web_port: int,
    replication: int = 1,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The one place the worker's environment is spelled: ``base`` (PATH, ...) without
    any ``PROOFSTREAM_*`` of the caller, plus what this worker needs. No secret is ever
    put here: secrets come from the secrets directory named in ``extra``.

    The worker runs the facts plane only (for speed) and no proof closure.
    """
    env = {k: v for k, v in base.items() if not k.startswith("PROOFSTREAM_")}
    topics: TopicSettings = kafka.topics
    env.update(
        {
            "PROOFSTREAM_STATE_DIR": str(state_dir),
            # an empty directory: nothing from /run/secrets/proofstream leaks in
            "PROOFSTREAM_SECRETS_DIR": str(state_dir / "no-secrets"),
            "PROOFSTREAM_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "PROOFSTREAM_KAFKA__TOPICS__EVENTS": topics.events,
            "PROOFSTREAM_KAFKA__TOPICS__DLQ": topics.dlq,
            "PROOFSTREAM_KAFKA__TOPICS__PROOF_GAPS": topics.proof_gaps,
            "PROOFSTREAM_PROCESSORS__GROUP_PREFIX": group_prefix,
            "PROOFSTREAM_PROCESSORS__WEB_PORT": str(web_port),
            "PROOFSTREAM_PROCESSORS__PROJECTIONS": '["facts"]',
            "PROOFSTREAM_PROCESSORS__PROOF_CLOSURE": "false",
            "PROOFSTREAM_PROCESSORS__TOPIC_REPLICATION": str(replication),
        }
    )
    env.update(extra or {})
    return env


def facts_group(group_prefix: str) -> str:
    """The consumer group of the facts projection (README: ``<prefix>.<projection>``)."""
    return f"{group_prefix}.facts"


class WorkerRun:
    """``python -m proofstream run`` as a child process with its own log file."""

    def __init__(self, env: Mapping[str, str], log_file: Path) -> None:
        self.env = dict(env)
        self.log_file = log_file
        log_file.parent.mkdir(parents=True, exist_ok=True)
        (Path(self.env["PROOFSTREAM_SECRETS_DIR"])).mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "proofstream", "run"],
                env=self.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM (graceful), SIGKILL after ``timeout_s``; returns the exit code.
        Before the SIGKILL, SIGQUIT makes the worker print every thread's stack to
        its log (faulthandler), for :meth:`stacks`. Idempotent: a stopped worker
        just reports its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGQUIT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(2.0)  # the dump is written at once; no exit expected
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        return int(self.proc.returncode)

    def stacks(self) -> str:
        """The thread stacks faulthandler wrote to the log (SIGQUIT, or the shutdown
        deadline), without the log lines around them."""
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return "(no worker log)"
        kept = [
            line
            for line in lines
            if line.startswith(("Thread 0x", "Current thread 0x", '  File "'))
        ]
        return "\n".join(kept) or "(no stacks in the worker log)"

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no worker log)"


def cli(
    env: Mapping[str, str], *args: str, timeout_s: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m proofstream <args>`` with ``env``; never raises on exit codes."""
    return subprocess.run(
        [sys.executable, "-m", "proofstream", *args],
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@dataclass(frozen=True)
class Facts:
    """What the facts table holds: ``rows`` (FINAL) and the distinct ``ids``."""

    rows: int
    ids: frozenset[str]


def read_facts(env: Mapping[str, str]) -> Facts:
    """The facts, through ``proofstream query --format json`` (run it after the worker
    stopped: the CLI then opens the store itself). One row per distinct event id with
    its row count under FINAL, so a doubled fact shows as ``n > 1``."""
    answer = cli(
        env,
        "query",
        "SELECT toString(event_id) AS id, count() AS n FROM proof_facts FINAL GROUP BY id",
        "--format",
        "json",
    )
    assert answer.returncode == 0, answer.stderr
    rows = orjson.loads(answer.stdout)
    return Facts(rows=sum(int(r["n"]) for r in rows), ids=frozenset(str(r["id"]) for r in rows))


@dataclass(frozen=True)
class Progress:
    """A consumer group on the events topic: records ``committed`` in total, and
    ``lag``, the records not committed yet (summed over partitions)."""

    committed: int
    lag: int


class GroupProgress:
    """Reads where a consumer group stands on the events topic, with one long-lived
    consumer that never joins the group (``committed`` is a plain offset fetch).

    One client for the whole test on purpose: an admin client per reading, dropped
    while brokers come and go, trips a librdkafka assertion
    (``rd_kafka_enq_once_del_source_return``) and aborts the test process.
    """

    def __init__(self, kafka: KafkaSettings, group: str) -> None:
        self._topic = kafka.topics.events
        self._conf = {
            **kafka.client_config(),
            "group.id": group,
            "enable.auto.commit": False,
            "log_level": 0,
        }
        self._consumer = Consumer(self._conf)

    def read(self) -> Progress | None:
        """Now, or ``None`` while the cluster cannot answer (a coordinator moving, a
        leader election)."""
        topic = self._topic
        try:
            partitions = self._consumer.list_topics(topic, timeout=5).topics[topic].partitions
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            committed = self._consumer.committed(tps, timeout=5)
            ends = {
                tp.partition: self._consumer.get_watermark_offsets(tp, timeout=5)[1] for tp in tps
            }
        except (KafkaException, KeyError):
            self._renew()
            return None
        if any(tp.error is not None for tp in committed):
            self._renew()
            return None
        done = {tp.partition: max(0, tp.offset) for tp in committed}
        lag = sum(max(0, end - done.get(p, 0)) for p, end in ends.items())
        return Progress(committed=sum(done.values()), lag=lag)

    def _renew(self) -> None:
        """A new client after a failed reading: librdkafka keeps asking the group
        coordinator it knows, which after a broker failure may answer NOT_COORDINATOR
        for a long time (see the report on proofstream status in docs/kafka-ops.md)."""
        self._consumer.close()
        self._consumer = Consumer(self._conf)

    def close(self) -> None:
        self._consumer.close()
