"""Every client of the pipeline over SASL_SSL + SCRAM-SHA-512 with the password read
from the secrets directory, and a wrong password or an untrusted certificate ending
each of them in about a second with one line (exit code 2 for the CLI), not a hang
and not a retry storm.

Clients under test: the producer library (``EventProducer``), the worker
(``python -m proofstream run``: its engine consumer and the faust host with an SSL context),
``proofstream emit``, ``tail``, ``replay verify facts`` and ``archive sync``.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import orjson
import pytest

from producers import EventProducer
from producers.settings import KafkaSettings, TopicSettings
from producers.topics import ensure_topics
from proofstream.devstack.tls import make_ca
from schemas.errors import AuthenticationError
from schemas.jsonio import event_to_json
from tests.factories import run_started
from tests.pipeline_process import (
    GroupProgress,
    WorkerRun,
    cli,
    facts_group,
    read_facts,
    worker_env,
)
from tests.ports import free_port
from tests.secure.conftest import SecureBroker
from tests.waiting import wait_until

pytestmark = pytest.mark.secure

FAIL_FAST_S = 15.0
"""A refusal must end a command within this (interpreter start included); librdkafka
alone would retry until its 30-60 s timeouts."""


def _topics() -> TopicSettings:
    suffix = uuid.uuid4().hex[:8]
    return TopicSettings(
        events=f"secure.{suffix}.events",
        dlq=f"secure.{suffix}.dlq",
        proof_gaps=f"secure.{suffix}.gaps",
    )


def _env(
    secure_broker: SecureBroker,
    state_dir: Path,
    topics: TopicSettings,
    *,
    secrets_dir: Path | None = None,
    ca: Path | None = None,
) -> dict[str, str]:
    """The worker/CLI environment: the launcher's client settings, no password."""
    extra = dict(secure_broker.client.env())
    extra.pop("PROOFSTREAM_KAFKA__BOOTSTRAP_SERVERS")
    extra["PROOFSTREAM_SECRETS_DIR"] = str(secrets_dir or secure_broker.client.secrets_dir)
    if ca is not None:
        extra["PROOFSTREAM_KAFKA__SSL_CA_LOCATION"] = str(ca)
    kafka = KafkaSettings(bootstrap_servers=secure_broker.client.bootstrap, topics=topics)
    env = worker_env(
        dict(os.environ),
        state_dir=state_dir,
        kafka=kafka,
        group_prefix=f"secure-{topics.events}",
        web_port=free_port(),
        extra=extra,
    )
    assert secure_broker.password not in "".join(env.values())
    return env


def test_the_password_comes_from_its_file(secure_broker: SecureBroker) -> None:
    settings = secure_broker.settings()
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == secure_broker.password
    assert secure_broker.password not in repr(settings)
    assert secure_broker.client.password_file.stat().st_mode & 0o077 == 0  # 0600


def test_event_producer_emits_with_the_password_from_the_secrets_dir(
    secure_broker: SecureBroker,
) -> None:
    settings = secure_broker.settings()
    kafka = settings.kafka.model_copy(update={"topics": _topics()})
    ensure_topics(kafka, partitions=1)
    with EventProducer(kafka) as producer:
        delivery = producer.emit(run_started(run_id="secure-1"))
    assert delivery.offset == 0
    assert not delivery.spooled


def test_emit_tail_worker_replay_and_archive_over_sasl_ssl(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    topics = _topics()
    env = _env(secure_broker, tmp_path / "state", topics)
    events = [run_started(run_id=f"secure-run-{i}") for i in range(40)]
    lines = tmp_path / "events.jsonl"
    lines.write_text("".join(orjson.dumps(event_to_json(e)).decode() + "\n" for e in events))

    emitted = cli(env, "emit", "--file", str(lines))
    assert emitted.returncode == 0, emitted.stderr
    assert "sent 40, rejected 0" in emitted.stdout

    tailed = cli(env, "tail", "--from-beginning", "--json", "--max", "40", "--timeout", "20")
    assert tailed.returncode == 0, tailed.stderr
    assert {orjson.loads(line)["event_id"] for line in tailed.stdout.splitlines()} == {
        str(e.event_id) for e in events
    }

    worker = WorkerRun(env, tmp_path / "worker.log")
    kafka = secure_broker.settings().kafka.model_copy(update={"topics": topics})
    progress = GroupProgress(kafka, facts_group(env["PROOFSTREAM_PROCESSORS__GROUP_PREFIX"]))
    try:
        wait_until(
            lambda: (p := progress.read()) and p.committed == 40 and p.lag == 0,
            timeout=180,
            interval=0.5,
            what=f"the worker committing all 40 events ({worker.tail(5)})",
        )
        # the worker got its password from the file, never from its environment
        environ = Path(f"/proc/{worker.proc.pid}/environ").read_bytes()
        assert secure_broker.password.encode() not in environ
        assert worker.alive()
    finally:
        progress.close()
        worker.stop()
    facts = read_facts(env)
    assert facts.ids == {str(e.event_id) for e in events}
    assert facts.rows == 40

    verified = cli(env, "replay", "verify", "facts")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "equal" in verified.stdout

    archived = cli(env, "archive", "sync")
    assert archived.returncode == 0, archived.stderr
    assert "archived 40 records" in archived.stdout

    status = cli(env, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert orjson.loads(status.stdout)["kafka"]["state"] == "ok"
    for output in (emitted, tailed, verified, archived, status):
        assert secure_broker.password not in output.stdout + output.stderr


def test_kafka_status_secure_shows_client_settings_not_the_password(
    secure_broker: SecureBroker,
) -> None:
    root = secure_broker.client.secrets_dir.parents[1]  # <state>/kafka-secure/client-secrets
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROOFSTREAM_")},
        "PROOFSTREAM_STATE_DIR": str(root),
        "PROOFSTREAM_BROKER__SECURE_PORT": secure_broker.client.bootstrap.rsplit(":", 1)[1],
    }
    shown = cli(env, "kafka", "status", "--secure", "--json")
    assert shown.returncode == 0, shown.stderr
    report = orjson.loads(shown.stdout)
    assert report["running"] is True
    assert report["client"]["env"]["PROOFSTREAM_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
    assert report["client"]["password_file"] == str(secure_broker.client.password_file)
    assert secure_broker.password not in shown.stdout


# -- refusals ---------------------------------------------------------------------------------


@pytest.fixture()
def wrong_password(tmp_path: Path) -> Path:
    secrets = tmp_path / "wrong-secrets"
    secrets.mkdir()
    (secrets / "kafka__sasl_password").write_text("not-the-password\n")
    return secrets


@pytest.fixture()
def untrusted_ca(tmp_path: Path) -> Path:
    cert, _ = make_ca(tmp_path / "other-ca", name="not the broker's CA")
    return cert


def _fails_fast(kafka: KafkaSettings, match: str) -> None:
    started = time.monotonic()
    with (
        pytest.raises(AuthenticationError, match=match) as caught,
        EventProducer(kafka) as producer,
    ):
        producer.emit(run_started(run_id="refused"))
    took = time.monotonic() - started
    assert took < 5.0, f"EventProducer took {took:.1f}s to give up"
    assert "\n" not in str(caught.value)


def test_event_producer_refuses_a_wrong_password_at_once(
    secure_broker: SecureBroker, wrong_password: Path
) -> None:
    kafka = secure_broker.settings(secrets_dir=wrong_password).kafka
    _fails_fast(kafka, r"refused the credentials of 'proofstream' \(SCRAM-SHA-512\)")


def test_event_producer_refuses_an_untrusted_certificate_at_once(
    secure_broker: SecureBroker, untrusted_ca: Path
) -> None:
    kafka = secure_broker.settings(ssl_ca_location=untrusted_ca).kafka
    _fails_fast(kafka, "TLS certificate is not trusted")


COMMANDS = [
    ("emit", "--file", "{events}"),
    ("tail", "--max", "1"),
    ("run",),
    ("replay", "verify", "facts"),
    ("archive", "sync"),
]


@pytest.mark.parametrize("refusal", ["wrong password", "untrusted certificate"])
def test_every_command_fails_fast_with_one_line(
    secure_broker: SecureBroker,
    tmp_path: Path,
    wrong_password: Path,
    untrusted_ca: Path,
    refusal: str,
) -> None:
    if refusal == "wrong password":
        env = _env(secure_broker, tmp_path / "state", _topics(), secrets_dir=wrong_password)
        expected = "refused the credentials of 'proofstream'"
    else:
        env = _env(secure_broker, tmp_path / "state", _topics(), ca=untrusted_ca)
        expected = "TLS certificate is not trusted"
    events = tmp_path / "one.jsonl"
    events.write_text(orjson.dumps(event_to_json(run_started())).decode() + "\n")
    for command in COMMANDS:
        args = [a.format(events=events) for a in command]
        started = time.monotonic()
        done = cli(env, *args, timeout_s=60)
        took = time.monotonic() - started
        label = " ".join(command)
        assert done.returncode == 2, f"{label}: {done.stdout}{done.stderr}"
        assert took < FAIL_FAST_S, f"{label} took {took:.1f}s"
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, f"{label}: not one line:\n{done.stderr}"
        assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
        assert secure_broker.password not in done.stdout + done.stderr
        print(f"{refusal}: proofstream {label} -> exit 2 in {took:.1f}s")
