"""The worker's shutdown deadline (a stop that hangs cannot hold the process) and its
stop with a non-zero exit once an engine failed."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from processors import worker


def test_giving_up_prints_every_thread_and_exits_zero(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    exits: list[int] = []
    monkeypatch.setattr(worker.os, "_exit", exits.append)
    stuck = threading.Event()
    thread = threading.Thread(target=stuck.wait, name="stuck-close", daemon=True)
    thread.start()
    try:
        worker._give_up(1.0, 0)
    finally:
        stuck.set()
        thread.join()
    assert exits == [0]
    err = capfd.readouterr().err
    # faulthandler: every thread's stack, the stuck one (in Event.wait) too
    assert "in wait" in err
    assert "test_giving_up_prints_every_thread_and_exits_zero" in err


def test_a_signal_arms_one_timer_and_the_deadline_ends_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fired = threading.Event()
    given: list[float] = []
    codes: list[int] = []

    def give_up(deadline_s: float, code: int) -> None:
        given.append(deadline_s)
        codes.append(code)
        fired.set()

    monkeypatch.setattr(worker, "_give_up", give_up)
    stopping: list[Any] = []
    # a lambda, not the bound append: the class attribute must bind ``self``
    monkeypatch.setattr(worker.faust.Worker, "_on_sigterm", lambda self: stopping.append(self))  # noqa: PLW0108
    host = worker._Worker.__new__(worker._Worker)  # the timer logic alone, no event loop
    host._deadline_s = 0.05
    host._watchdog = None
    host._arming = threading.Lock()
    host.failure = None
    host._on_sigterm()
    first = host._watchdog
    host._on_sigterm()  # a second signal does not re-arm
    assert host._watchdog is first and len(stopping) == 2
    assert fired.wait(5.0) and given == [0.05] and codes == [0]


class _Engine:
    def __init__(self, failure: str | None) -> None:
        self.failure = failure


def test_a_failed_engine_stops_the_worker_once_with_the_failure_exit_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fired = threading.Event()
    codes: list[int] = []

    def give_up(deadline_s: float, code: int) -> None:
        codes.append(code)
        fired.set()

    monkeypatch.setattr(worker, "_give_up", give_up)
    stopping: list[Any] = []
    monkeypatch.setattr(worker.faust.Worker, "_on_sigterm", lambda self: stopping.append(self))  # noqa: PLW0108
    host = worker._Worker.__new__(worker._Worker)  # the check alone, no event loop
    host._deadline_s = 0.05
    host._watchdog = None
    host._arming = threading.Lock()
    host.failure = None
    healthy, failed = _Engine(None), _Engine("lane facts: RuntimeError: the disk says no")
    host._engines = (healthy,)
    assert not host._check_engines() and not stopping and host._watchdog is None
    host._engines = (healthy, failed)
    assert host._check_engines()
    assert host._check_engines()  # checked again: the stop is not begun twice
    assert host.failure == "lane facts: RuntimeError: the disk says no"
    assert len(stopping) == 1
    assert fired.wait(5.0) and codes == [worker.EXIT_FAILED]
    assert worker.EXIT_FAILED != 0


HELD = """
import sys, time
import faust
from processors.signals import take_stop_signals
take_stop_signals()
from processors import worker
from mode.utils.logging import redirect_stdouts
app = faust.App("held", broker="kafka://127.0.0.1:1", web_enabled=False, autodiscover=False)
host = worker._Worker(app, engines=[], deadline_s=1.0, loglevel="warning", quiet=True)
host.listen_for_signals()
print("ready", flush=True)
with redirect_stdouts():  # as mode's worker runs: sys.stderr is a logger, no fileno
    time.sleep(60)  # the main thread held: no Python signal handler could run
"""


def test_a_signal_arms_the_deadline_while_the_main_thread_is_held() -> None:
    """SIGTERM is taken by the signal thread, not the main thread: a main thread held
    in a blocking call (which before left SIGTERM unhandled and the deadline unarmed
    for as long as it was held) still ends the process at the deadline, with its
    stacks, while sys.stderr is mode's logger proxy (whose fileno() raises: the
    deadline died on it, and the worker lived on)."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", HELD],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        took = time.monotonic() - started
    finally:
        proc.kill()
        proc.wait()
    err = proc.stderr.read() if proc.stderr else ""
    assert code == 0, err
    assert took < 10
    assert "the stop did not finish within 1 s" in err  # the deadline ended it,
    assert "in _give_up" in err  # printing every stack:
    sleep_line = (
        HELD.splitlines().index(
            "    time.sleep(60)  # the main thread held: no Python signal handler could run"
        )
        + 1
    )  # line numbers count from 1
    assert f'File "<string>", line {sleep_line} in <module>' in err  # the held main thread
