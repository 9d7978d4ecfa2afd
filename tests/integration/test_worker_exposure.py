"""The worker lets no one in: loopback by default, a bearer token on every route when
bound elsewhere, analyst queries bounded and never in ingestion's way.

Real broker, real worker process (``python -m proofstream run``), real chDB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from producers import EventProducer
from proofstream.settings import Settings, settings_env
from proofstream.worker_client import WorkerClient
from proofstream.worker_process import WorkerProcess
from proofstream.workload import simulate
from schemas.errors import InvalidQueryError
from tests.conftest import TopicFactory
from tests.ports import free_port
from tests.waiting import wait_until

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp*


def _worker_settings(settings: Settings, new_topic: TopicFactory, tmp_path: Path) -> Settings:
    kafka = new_topic.kafka(settings.kafka, partitions=3)
    topics = kafka.topics
    processors = settings.processors.model_copy(
        update={
            "web_port": free_port(),
            "projections": ("facts",),
            "proof_closure": False,
            "split": "off",
            "group_prefix": f"exp-{topics.events}",
        }
    )
    clickhouse = settings.clickhouse.model_copy(update={"query_timeout_s": 8.0})
    return settings.model_copy(
        update={
            "state_dir": tmp_path / "state",
            "kafka": kafka,
            "processors": processors,
            "clickhouse": clickhouse,
        }
    )


def _listening(pid: int) -> set[tuple[str, int]]:
    """The (address, port) pairs process ``pid`` listens on, from /proc (no tools)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        path = Path(f"/proc/{pid}/net/{table}")
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != _LISTEN or inode not in inodes:
                continue
            address, port = local.split(":")
            found.add((_address(address, width), int(port, 16)))
    return found


def _address(hexed: str, width: int) -> str:
    import ipaddress

    raw = bytes.fromhex(hexed)
    if width == 8:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(words))


def test_the_worker_api_listens_on_loopback_only(
    settings: Settings, new_topic: TopicFactory, tmp_path: Path
) -> None:
    worker_settings = _worker_settings(settings, new_topic, tmp_path)
    worker = WorkerProcess(worker_settings, dict(os.environ))
    worker.start()
    try:
        assert worker.pid is not None
        pids = [worker.pid, *_children(worker.pid)]
        sockets = set().union(*(_listening(pid) for pid in pids))
    finally:
        worker.stop()
    port = worker_settings.processors.web_port
    assert any(p == port for _, p in sockets), sockets
    assert {a for a, _ in sockets} <= {"127.0.0.1", "::1"}, sockets


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def test_binding_beyond_loopback_without_a_token_is_refused(
    settings: Settings, new_topic: TopicFactory, tmp_path: Path
) -> None:
    worker_settings = _worker_settings(settings, new_topic, tmp_path)
    exposed = worker_settings.processors.model_copy(update={"web_host": "0.0.0.0"})
    env = {**os.environ, **settings_env(worker_settings.model_copy(update={"processors": exposed}))}
    done = subprocess.run(
        [sys.executable, "-m", "proofstream", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "bearer token" in done.stderr and "processors__api_token" in done.stderr


def test_with_a_token_every_route_needs_it(
    settings: Settings, new_topic: TopicFactory, tmp_path: Path
) -> None:
    worker_settings = _worker_settings(settings, new_topic, tmp_path)
    token = "s3cret-" + os.urandom(8).hex()
    env = {**os.environ, "PROOFSTREAM_PROCESSORS__API_TOKEN": token}
    worker = WorkerProcess(worker_settings, env)
    port = worker_settings.processors.web_port
    worker.start(probe=lambda: _status(port, token) == 200)
    try:
        for path in ("/status", "/", "/router/", "/table/"):
            assert _status(port, None, path) == 401, path
            assert _status(port, "wrong", path) == 401, path
        assert _status(port, token) == 200
    finally:
        worker.stop()


def _status(port: int, token: str | None, path: str = "/status") -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def test_an_unbounded_query_is_cut_off_while_ingestion_goes_on(
    settings: Settings, new_topic: TopicFactory, tmp_path: Path
) -> None:
    worker_settings = _worker_settings(settings, new_topic, tmp_path)
    worker = WorkerProcess(worker_settings, dict(os.environ))
    worker.start()
    client = WorkerClient(worker_settings)

    def applied() -> int:
        status = client.status() or {}
        return int(status.get("projections", {}).get("facts", {}).get("applied", 0))

    events = list(simulate(runs=400, seed=17).events)
    outcome: list[BaseException] = []

    def unbounded() -> None:
        try:
            client.query("SELECT count() FROM system.numbers")
        except BaseException as exc:  # the assertion is on the type, below
            outcome.append(exc)

    def emit() -> None:  # a steady stream for as long as the query runs
        with EventProducer(worker_settings.kafka, worker_settings.producer) as producer:
            for start in range(0, len(events), 200):
                producer.emit_many(events[start : start + 200])
                time.sleep(0.1)  # pacing the stream, not waiting for a result

    try:
        query = threading.Thread(target=unbounded)
        query.start()
        emitter = threading.Thread(target=emit)
        emitter.start()
        during = []
        while query.is_alive():  # while the query runs, ingestion goes on
            during.append(applied())
            query.join(0.2)
        emitter.join(120)
        wait_until(lambda: applied() == len(events), timeout=120, what="all applied")
    finally:
        worker.stop()
    assert len(outcome) == 1 and isinstance(outcome[0], InvalidQueryError)
    assert "time limit" in str(outcome[0])
    assert len(during) >= 5 and during[-1] > during[0], during


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib honours *_proxy variables; the worker is on loopback
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
